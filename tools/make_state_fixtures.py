"""make_state_fixtures.py -- fixture for the APPLY part of a Mugs step (AdamW with the reference's parameter
groups, per-parameter clipping, last-layer freeze, teacher EMA, centre EMA), computed with torch exactly as
sail-sg/mugs main.py / src/optimizer.py / src/loss.py do it (re-implemented here from reading them).

Run:  ~/mugs-ref/bin/python tools/make_state_fixtures.py Tests/MugsModelTests/Fixtures/state_apply.safetensors

Contents (all F32 unless noted):
  init.student.<name>, init.teacher.<name>, init.center [P]
  step<k>.grad.<name>        raw gradient of step k (before clipping)
  step<k>.teacher_output     [2B, P] teacher group logits of step k (for the centre update)
  step<k>.student.<name>, step<k>.exp_avg.<name>, step<k>.exp_avg_sq.<name>, step<k>.teacher.<name>,
  step<k>.center             state after step k
metadata: steps, steps_per_epoch, freeze_last_layer, clip_grad, patch_embed_lr_mult, center_momentum,
  step<k>.lr / .wd / .momentum / .epoch (Python float reprs), step<k>.norms (JSON list of clip norms),
  frozen (JSON list of names with requires_grad False), generator command.
"""
import json
import sys

import numpy as np
import torch

torch.manual_seed(0)

SPECS = [
    ("backbone.cls_token", [1, 1, 8]),
    ("backbone.pos_embed", [1, 5, 8]),
    ("backbone.patch_embed.proj.weight", [8, 3, 2, 2]),
    ("backbone.patch_embed.proj.bias", [8]),
    ("backbone.blocks.0.norm1.weight", [8]),
    ("backbone.blocks.0.attn.qkv.weight", [24, 8]),
    ("backbone.blocks.0.attn.qkv.bias", [24]),
    ("instance_head.projector.0.weight", [16, 8]),
    ("instance_head.predictor.0.weight", [16, 16]),
    ("group_head.last_layer.weight_g", [12, 1]),
    ("group_head.last_layer.weight_v", [12, 16]),
]
FROZEN = {"group_head.last_layer.weight_g"}  # norm_last_layer = True
TEACHER = [n for n, _ in SPECS if "predictor" not in n]
P, B = 12, 4
STEPS, STEPS_PER_EPOCH, EPOCHS, WARMUP = 4, 2, 3, 1
FREEZE_LAST_LAYER, CLIP, PATCH_MULT, CENTER_M = 1, 3.0, 0.2, 0.9
LR, MIN_LR, BATCH, WD, WD_END, M_TEACHER = 0.04, 1e-3, 256, 0.04, 0.2, 0.9


def cosine_scheduler(base, final, epochs, niter, warmup_epochs=0, start_warmup_value=0):
    warm = np.array([])
    wi = warmup_epochs * niter
    if warmup_epochs > 0:
        warm = np.linspace(start_warmup_value, base, wi)
    iters = np.arange(epochs * niter - wi)
    sched = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warm, sched))


student = {n: torch.nn.Parameter(torch.randn(s) * 0.5) for n, s in SPECS}
student["group_head.last_layer.weight_g"].data.fill_(1)
for n in FROZEN:
    student[n].requires_grad = False
teacher = {n: student[n].detach().clone() + 0.1 * torch.randn(student[n].shape) for n in TEACHER}
center = torch.randn(1, P) * 0.1

# Parameter groups as src/optimizer.py get_params_groups builds them (order of named_parameters).
groups = {"normal_params": [], "patch_embed": [], "no_wd": [], "patch_embed_no_wd": []}
for n, _ in SPECS:
    p = student[n]
    if not p.requires_grad:
        continue
    if n.endswith(".bias") or len(p.shape) == 1:
        groups["patch_embed_no_wd" if "patch_embed" in n else "no_wd"].append(p)
    elif "patch_embed" in n:
        groups["patch_embed"].append(p)
    else:
        groups["normal_params"].append(p)
param_groups = [
    {"name": "normal_params", "params": groups["normal_params"]},
    {"name": "patch_embed", "params": groups["patch_embed"]},
    {"name": "no_wd", "params": groups["no_wd"], "apply_wd": False, "weight_decay": 0.0},
    {"name": "patch_embed_no_wd", "params": groups["patch_embed_no_wd"], "apply_wd": False, "weight_decay": 0.0},
]
optimizer = torch.optim.AdamW(param_groups)

lr_s = cosine_scheduler(LR * BATCH / 256.0, MIN_LR, EPOCHS, STEPS_PER_EPOCH, warmup_epochs=WARMUP)
wd_s = cosine_scheduler(WD, WD_END, EPOCHS, STEPS_PER_EPOCH)
m_s = cosine_scheduler(M_TEACHER, 1, EPOCHS, STEPS_PER_EPOCH)

out, meta = {}, {}
for n, _ in SPECS:
    out[f"init.student.{n}"] = student[n].detach().clone()
for n in TEACHER:
    out[f"init.teacher.{n}"] = teacher[n].clone()
out["init.center"] = center[0].clone()

for k in range(STEPS):
    it, epoch = k + 1, (k + 1) // STEPS_PER_EPOCH  # start at global step 1 so warm-up lr is non-zero
    for g in optimizer.param_groups:  # main.py step 1
        g["lr"] = lr_s[it] * (PATCH_MULT if "patch_embed" in g["name"] else 1.0)
        if g.get("apply_wd", True):
            g["weight_decay"] = wd_s[it]
    optimizer.zero_grad()
    for n, s in SPECS:
        if student[n].requires_grad:
            scale = 2.0 if ("qkv" in n or "last_layer" in n or "cls" in n) else 0.05
            student[n].grad = torch.randn(s) * scale
            out[f"step{k}.grad.{n}"] = student[n].grad.clone()
    # clip_gradients(model, clip) then cancel_gradients_last_layer(epoch, model, freeze_last_layer)
    norms = []
    for n, _ in SPECS:
        p = student[n]
        if p.grad is not None:
            param_norm = p.grad.data.norm(2)
            norms.append(param_norm.item())
            clip_coef = CLIP / (param_norm + 1e-6)
            if clip_coef < 1:
                p.grad.data.mul_(clip_coef)
    if epoch < FREEZE_LAST_LAYER:
        for n, _ in SPECS:
            if "last_layer" in n:
                student[n].grad = None
    optimizer.step()
    with torch.no_grad():
        m = m_s[it]
        for n in TEACHER:
            teacher[n].mul_(m).add_((1 - m) * student[n].detach().data)
        t_out = torch.randn(2 * B, P)
        out[f"step{k}.teacher_output"] = t_out
        batch_center = torch.mean(t_out, dim=0, keepdim=False) / 1  # world size 1
        center = center * CENTER_M + batch_center * (1 - CENTER_M)
    for n, _ in SPECS:
        out[f"step{k}.student.{n}"] = student[n].detach().clone()
        st = optimizer.state.get(student[n], {})
        if "exp_avg" in st:
            out[f"step{k}.exp_avg.{n}"] = st["exp_avg"].clone()
            out[f"step{k}.exp_avg_sq.{n}"] = st["exp_avg_sq"].clone()
            meta[f"step{k}.adam_step.{n}"] = repr(float(st["step"]))
    for n in TEACHER:
        out[f"step{k}.teacher.{n}"] = teacher[n].clone()
    out[f"step{k}.center"] = center[0].clone()
    meta[f"step{k}.global_step"] = str(it)
    meta[f"step{k}.epoch"] = str(epoch)
    meta[f"step{k}.lr"] = repr(float(lr_s[it]))
    meta[f"step{k}.wd"] = repr(float(wd_s[it]))
    meta[f"step{k}.momentum"] = repr(float(m_s[it]))
    meta[f"step{k}.norms"] = json.dumps(norms)

meta.update({
    "generator": "tools/make_state_fixtures.py", "torch": torch.__version__, "steps": str(STEPS),
    "steps_per_epoch": str(STEPS_PER_EPOCH), "epochs": str(EPOCHS), "warmup_epochs": str(WARMUP),
    "freeze_last_layer": str(FREEZE_LAST_LAYER), "clip_grad": repr(CLIP), "patch_embed_lr_mult": repr(PATCH_MULT),
    "center_momentum": repr(CENTER_M), "lr": repr(LR), "min_lr": repr(MIN_LR), "batch_size": str(BATCH),
    "weight_decay": repr(WD), "weight_decay_end": repr(WD_END), "momentum_teacher": repr(M_TEACHER),
    "specs": json.dumps(SPECS), "frozen": json.dumps(sorted(FROZEN)), "teacher": json.dumps(TEACHER),
    "B": str(B), "P": str(P),
})
from safetensors.torch import save_file

save_file({k: v.contiguous().float() for k, v in out.items()}, sys.argv[1], metadata=meta)
print(f"wrote {sys.argv[1]}: {len(out)} tensors")
