"""make_step_fixtures.py -- parity fixtures for one Mugs training step and a 10-step loss curve.

Run:  ~/mugs-ref/bin/python tools/make_step_fixtures.py        (writes Tests/MugsModelTests/Fixtures/step_*.safetensors)

Reduced configuration (MugsConfig field names): d=32, depth 2, 2 heads, patch 4, global 16 / local 8, 2 local crops,
batch 4, head hidden 64, predictor hidden 48, out 16, 32 prototypes, queues 16, memory 16, top-n 4. The schedules
use 4 epochs of 5 steps (1 warm-up epoch, lr 0.5 at B=256 so that steps move the weights visibly) and the teacher
temperature warms up 0.04 -> 0.07 over 2 epochs.

Procedure (tools/mugs_reference.py, world size 1): steps 0-2 run from the reference initialisation with drawn
drop-path masks so that queues, memories, centre and AdamW moments are realistic; their result is the fixture's
initial state. Step 3 (epoch 0: last layer frozen) runs on the stored crops with explicit drop-path keep masks and
its losses, raw gradients, network outputs and the whole next state are stored. Steps 4-12 continue (crossing the
end of freeze_last_layer and the teacher-temperature warm-up) for the 10-step loss curve.

step_reduced.safetensors
  init.student.<name>, init.teacher.<name>, init.exp_avg.<name>, init.exp_avg_sq.<name>
  init.instance_queue [K,D], init.local_group_queue [K,D], init.student_memory [K2,C], init.teacher_memory [K2,C],
  init.center [P]
  crops.teacher_global [2,B,3,G,G], crops.student_global [2,B,3,G,G], crops.student_local [L,B,3,l,l],
  crops.weak [B] (0/1), drop.global [depth,2,2B], drop.local [depth,2,L*B] (keep masks 0/1; branch 0 attention,
  1 MLP; rows crop-major)
  out.loss [4] (instance, local_group, group, total), grad.<name> (raw, before clipping / freeze),
  out.teacher_instance [2B,D], out.teacher_local_group [2B,D], out.teacher_group [2B,P],
  out.student_instance [(2+L)B,D], out.student_local_group, out.student_group [(2+L)B,P],
  out.teacher_memory_feature [B,C], out.student_memory_feature [B,C], out.teacher_neighbours [2B,n] (indices)
  next.student.<name>, next.teacher.<name>, next.exp_avg.<name>, next.exp_avg_sq.<name>, next.instance_queue, ...
  metadata: config (JSON), step, pointers and AdamW per-parameter step counts before/after (JSON), schedules used.
step_curve.safetensors
  curve.loss [10,4] for steps 3..12; step<k>.crops.*, step<k>.drop.* for k = 4..12.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mugs_reference import MugsReference  # noqa: E402

CFG = dict(arch="custom", embed_dim=32, depth=2, num_heads=2, patch_size=4, global_crop_size=16, local_crop_size=8,
           local_crops_number=2, batch_size=4, head_hidden_dim=64, pred_hidden_dim=48, instance_out_dim=16,
           local_group_out_dim=16, group_out_dim=32, group_bottleneck_dim=16, instance_queue_size=16,
           local_group_queue_size=16, local_group_memory_size=16, local_group_knn_top_n=4, drop_path_rate=0.1,
           norm_last_layer=True, instance_temp=0.2, local_group_temp=0.2, group_student_temp=0.1,
           group_warmup_teacher_temp=0.04, group_teacher_temp=0.07, group_warmup_teacher_temp_epochs=2,
           center_momentum=0.9, loss_weights=[1.0, 1.0, 1.0], momentum_teacher=0.996, weight_decay=0.04,
           weight_decay_end=0.2, clip_grad=3.0, epochs=4, warmup_epochs=1, freeze_last_layer=1, lr=0.5,
           patch_embed_lr_mult=0.2, min_lr=1e-6, seed=0)
STEPS_PER_EPOCH, FIRST, CURVE = 5, 3, 10
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "MugsModelTests", "Fixtures")


def make_crops(gen):
    B, L, G, l = CFG["batch_size"], CFG["local_crops_number"], CFG["global_crop_size"], CFG["local_crop_size"]
    crops = dict(teacher_global=torch.randn(2, B, 3, G, G, generator=gen),
                 student_global=torch.randn(2, B, 3, G, G, generator=gen),
                 student_local=torch.randn(L, B, 3, l, l, generator=gen))
    weak = (torch.rand(B, generator=gen) < 0.5).float()
    weak[0] = 1.0                                        # at least one weak image, and one strong
    weak[-1] = 0.0
    return crops, weak


def make_masks(ref, gen):
    B, L, depth = CFG["batch_size"], CFG["local_crops_number"], CFG["depth"]
    rates = ref.student.backbone.drop_path_rates

    def draw(rows):
        m = torch.ones(depth, 2, rows)
        for i, r in enumerate(rates):
            m[i] = torch.floor((1 - r) + torch.rand(2, rows, generator=gen))
        return m
    return {"global": draw(2 * B), "local": draw(L * B)}


def state_tensors(ref, prefix):
    t = {}
    for n, p in ref.student.flat_parameters():
        t[f"{prefix}student.{n}"] = p.detach().clone()
    for n, p in ref.teacher.flat_parameters():
        t[f"{prefix}teacher.{n}"] = p.detach().clone()
    avg, sq, _ = ref.adam_state()
    for n in avg:
        t[f"{prefix}exp_avg.{n}"] = avg[n]
        t[f"{prefix}exp_avg_sq.{n}"] = sq[n]
    t[prefix + "instance_queue"] = ref.instance_queue.clone()
    t[prefix + "local_group_queue"] = ref.local_group_queue.clone()
    t[prefix + "student_memory"] = ref.student_mem.mem.clone()
    t[prefix + "teacher_memory"] = ref.teacher_mem.mem.clone()
    t[prefix + "center"] = ref.center.reshape(-1).clone()
    return t


def pointers(ref):
    return dict(instance_queue_ptr=ref.instance_ptr, local_group_queue_ptr=ref.local_group_ptr,
                student_memory_ptr=ref.student_mem.ptr, teacher_memory_ptr=ref.teacher_mem.ptr,
                adam_steps=ref.adam_state()[2])


def losses(r):
    return torch.tensor([r["loss_instance"], r["loss_local_group"], r["loss_group"], r["loss_total"]])


def main():
    torch.manual_seed(CFG["seed"])
    torch.set_num_threads(1)
    ref = MugsReference(CFG, STEPS_PER_EPOCH)
    gen = torch.Generator().manual_seed(1234)
    for it in range(FIRST):
        crops, weak = make_crops(gen)
        ref.step(it, crops, weak)                      # drawn masks
    t = state_tensors(ref, "init.")
    meta_before = pointers(ref)
    crops, weak = make_crops(gen)
    masks = make_masks(ref, gen)
    r = ref.step(FIRST, crops, weak, masks)
    for k, v in crops.items():
        t["crops." + k] = v
    t["crops.weak"] = weak
    t["drop.global"], t["drop.local"] = masks["global"], masks["local"]
    t["out.loss"] = losses(r)
    for n, g in r["grads"].items():
        t["grad." + n] = g
    for k in ("teacher_instance", "teacher_local_group", "teacher_group", "student_instance", "student_local_group",
              "student_group", "teacher_memory_feature", "student_memory_feature"):
        t["out." + k] = r[k].detach().clone()
    t["out.teacher_neighbours"] = r["teacher_neighbours"].float()
    t.update(state_tensors(ref, "next."))
    meta = {"generator": "tools/make_step_fixtures.py", "config": json.dumps(CFG),
            "steps_per_epoch": str(STEPS_PER_EPOCH), "step": str(FIRST),
            "before": json.dumps(meta_before), "after": json.dumps(pointers(ref)),
            "schedules": json.dumps({k: r[k] for k in ("lr", "wd", "momentum", "teacher_temp", "epoch")})}
    t = {k: v.contiguous().float() for k, v in t.items()}
    save_file(t, os.path.join(OUT, "step_reduced.safetensors"), metadata=meta)

    curve = {}
    curve_losses = [losses(r)]
    for it in range(FIRST + 1, FIRST + CURVE):
        crops, weak = make_crops(gen)
        masks = make_masks(ref, gen)
        rr = ref.step(it, crops, weak, masks)
        for k, v in crops.items():
            curve[f"step{it}.crops.{k}"] = v
        curve[f"step{it}.crops.weak"] = weak
        curve[f"step{it}.drop.global"], curve[f"step{it}.drop.local"] = masks["global"], masks["local"]
        curve_losses.append(losses(rr))
        print(f"step {it} epoch {rr['epoch']} lr {rr['lr']:.5f} loss {rr['loss_total']:.6f}")
    curve["curve.loss"] = torch.stack(curve_losses)
    curve = {k: v.contiguous().float() for k, v in curve.items()}
    save_file(curve, os.path.join(OUT, "step_curve.safetensors"),
              metadata={"generator": "tools/make_step_fixtures.py", "first_step": str(FIRST),
                        "config": json.dumps(CFG)})
    print("step", FIRST, {k: r[k] for k in ("loss_instance", "loss_local_group", "loss_group", "loss_total")})


if __name__ == "__main__":
    main()
