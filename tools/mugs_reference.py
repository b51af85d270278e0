"""mugs_reference.py -- a faithful PyTorch version of one Mugs training step (sail-sg/mugs semantics).

It mirrors, top to bottom, what sail-sg/mugs `main.py` `train_one_epoch` does for one iteration, with the modules of
`src/model.py` (heads, memory, wrapper) and the losses of `src/loss.py`, on the ViT of `tools/ref_vit.py`:

    Step 1  lr / wd of the four parameter groups from the schedules (patch_embed groups at lr x patch_embed_lr_mult)
    Step 2  teacher forward on the 2 teacher crops, student forward on 2 global + L local crops
    Step 3  instance (InfoNCE + queue), local-group (InfoNCE + queue) and group (clustering) losses, total
    Step 4  memory entries (teacher: first teacher crop; student: first student crop of `weak` images)
    Step 5  backward, per-parameter clipping, freeze_last_layer, AdamW; teacher EMA; centre EMA; enqueue

Deliberate differences from the reference, all documented in docs/METHOD.md:
  * the total is the *weighted* mean of the three losses (the reference never multiplies the weights in);
  * the neighbour memory is one buffer, searched and returned (the reference keeps queue_q / queue_k, identical
    once written), and its pointer advances once per batch (the reference advances it twice when it does not wrap);
  * the memory feature is taken from the global crops by crop size (the reference tests `shape[-1] == 224`);
  * single process (world size 1): `concat_all_gather` is the identity, the centre is the batch mean;
  * drop-path keep masks can be given explicitly (ref_vit's `set_drop_path_masks`) so another implementation can be
    compared number for number.

Parameter names: the backbone's under the VisionTransformer's own names (`blocks.0.attn.qkv.weight`, ...; the
reference's wrapper adds `backbone.`), the heads under the wrapper's (`instance_head.projector.0.weight`, ...).

Used by tools/make_step_fixtures.py; run with the reference venv (~/mugs-ref/bin/python).
"""
import math
import os
import sys
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_vit  # noqa: E402  (tools/ref_vit.py)


# ---------------------------------------------------------------------------------------------------- heads

def _contrast_mlp(num_layers, in_dim, hidden, out_dim):
    """src/model.py `_build_mlp` of the instance / local-group heads (no bias, GELU between, no BN)."""
    layers = []
    for i in range(num_layers):
        d1 = in_dim if i == 0 else hidden
        d2 = out_dim if i == num_layers - 1 else hidden
        layers.append(nn.Linear(d1, d2, bias=False))
        if i < num_layers - 1:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


def _init_linear(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0)


class ContrastHead(nn.Module):
    """Instance_Superivsion_Head / Local_Group_Superivsion_Head with nlayers 3, norm_before_pred True."""

    def __init__(self, in_dim, hidden, out_dim, pred_hidden):
        super().__init__()
        self.projector = _contrast_mlp(3, in_dim, hidden, out_dim)
        self.apply(_init_linear)          # the reference initialises the projector only (predictor: torch default)
        self.predictor = _contrast_mlp(2, out_dim, pred_hidden, out_dim) if pred_hidden > 0 else None

    def forward(self, x, return_target=False):
        feat = F.normalize(self.projector(x), dim=-1, p=2)
        if return_target:
            return feat
        return F.normalize(self.predictor(feat), dim=-1, p=2)


class WeightNormLinear(nn.Module):
    """nn.utils.weight_norm(nn.Linear(in, out, bias=False)) with dim 0: W = g · v / ‖v‖ per output row;
    parameters `weight_g` [out, 1] then `weight_v` [out, in] as torch registers them."""

    def __init__(self, in_dim, out_dim):
        super().__init__()
        lin = nn.Linear(in_dim, out_dim, bias=False)
        self.weight_g = nn.Parameter(lin.weight.detach().norm(dim=1, keepdim=True).clone())
        self.weight_v = nn.Parameter(lin.weight.detach().clone())

    def forward(self, x):
        return F.linear(x, self.weight_g * self.weight_v / self.weight_v.norm(dim=1, keepdim=True))


class GroupHead(nn.Module):
    """Group_Superivsion_Head (DINO head) with nlayers 3, no BN."""

    def __init__(self, in_dim, out_dim, hidden, bottleneck, norm_last_layer):
        super().__init__()
        self.projector = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                       nn.Linear(hidden, bottleneck))
        self.apply(_init_linear)
        self.last_layer = WeightNormLinear(bottleneck, out_dim)
        self.last_layer.weight_g.data.fill_(1)
        if norm_last_layer:
            self.last_layer.weight_g.requires_grad = False

    def forward(self, x):
        return self.last_layer(F.normalize(self.projector(x), dim=-1, p=2))


# ---------------------------------------------------------------------------------------------------- memory

class NeighbourMemory(nn.Module):
    """vit_mem / Block_mem with one buffer: top-n cosine neighbours of a query; entries written by `enqueue`."""

    def __init__(self, K, dim, top_n):
        super().__init__()
        self.top_n = top_n
        self.register_buffer("mem", torch.randn(K, dim))
        self.ptr = 0
        self.last_index = None

    @torch.no_grad()
    def forward(self, query):
        cosine = F.normalize(query.float(), dim=-1) @ F.normalize(self.mem, dim=-1).T
        index = torch.topk(cosine, self.top_n, dim=-1).indices
        self.last_index = index
        got = self.mem[index.reshape(-1)].reshape(index.shape[0], self.top_n, -1)
        return got, got

    @torch.no_grad()
    def enqueue(self, rows):
        self.ptr = ring_write(self.mem, self.ptr, rows)


def ring_write(buf, ptr, rows):
    """Writes rows at ptr, wrapping; returns the pointer advanced once by len(rows) (modulo the size)."""
    K, n = buf.shape[0], rows.shape[0]
    for j in range(n):
        buf[(ptr + j) % K] = rows[j]
    return (ptr + n) % K


# ---------------------------------------------------------------------------------------------------- network

class MugsNet(nn.Module):
    """Mugs_Wrapper: backbone (+ relation block) and the three heads."""

    def __init__(self, cfg, student):
        super().__init__()
        self.cfg = cfg
        self.backbone = ref_vit.VisionTransformer(
            img_size=[cfg["global_crop_size"]], patch_size=cfg["patch_size"], embed_dim=cfg["embed_dim"],
            depth=cfg["depth"], num_heads=cfg["num_heads"], mlp_ratio=4, qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6), num_relation_blocks=1,
            drop_path_rate=cfg["drop_path_rate"] if student else 0.0)
        C, H, PH = cfg["embed_dim"], cfg["head_hidden_dim"], cfg["pred_hidden_dim"] if student else 0
        self.instance_head = ContrastHead(C, H, cfg["instance_out_dim"], PH)
        self.local_group_head = ContrastHead(C, H, cfg["local_group_out_dim"], PH)
        self.group_head = GroupHead(C, cfg["group_out_dim"], H, cfg["group_bottleneck_dim"], cfg["norm_last_layer"])

    def forward(self, groups, memory, return_target, masks=None):
        """groups: list of [n·B, 3, s, s] tensors, one per crop size (crop-major rows); masks: per group a
        [depth, 2, n·B] 0/1 keep mask or None. Returns instance, local-group, group outputs, memory features
        (mean of final-normed patch tokens of the global-size group) and the pre-norm queries."""
        cls, lg, mem_feat = [], [], None
        for g, x in enumerate(groups):
            self.backbone.set_drop_path_masks(None if masks is None else masks[g])
            tokens, rel = self.backbone(x, return_all=True, local_group_memory_inputs={"mem": memory})
            cls.append(tokens[:, 0])
            lg.append(rel)
            if x.shape[-1] == self.cfg["global_crop_size"]:
                mem_feat = tokens[:, 1:].mean(dim=1)
        cls, lg = torch.cat(cls), torch.cat(lg)
        return (self.instance_head(cls, return_target), self.local_group_head(lg, return_target),
                self.group_head(cls), mem_feat.detach())

    def flat_parameters(self):
        """(name, parameter) under mugs's names: backbone names without the wrapper's `backbone.` prefix."""
        return [(n[len("backbone."):] if n.startswith("backbone.") else n, p) for n, p in self.named_parameters()]


# ---------------------------------------------------------------------------------------------------- losses

def pair_terms(n_student_crops):
    """(t, v, large) for the reference's loops: teacher crop t, student crop v != t, large iff v < 2."""
    return [(t, v, v < 2) for t in range(2) for v in range(n_student_crops) if v != t]


def info_nce(student, teacher, queue, temperature, n_crops):
    """InfoNCELoss.forward: queue [K, D] rows (the reference stores it as [D, K]) as it was before the step."""
    preds, targets = student.chunk(n_crops), teacher.detach().chunk(2)
    large, small, nl, ns = 0, 0, 0, 0
    for t, v, is_large in pair_terms(n_crops):
        l_pos = torch.einsum("nc,nc->n", preds[v], targets[t]).unsqueeze(-1)
        l_neg = torch.einsum("nc,kc->nk", preds[v], queue)
        logits = torch.cat([l_pos, l_neg], dim=1) / temperature
        loss = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
        if is_large:
            large, nl = large + loss, nl + 1
        else:
            small, ns = small + loss, ns + 1
    return 0.5 * (large / nl + small / ns)


def clustering(student, teacher, center, student_temp, teacher_temp, n_crops):
    """ClusteringLoss.forward (centre update done by the caller)."""
    s = (student / student_temp).chunk(n_crops)
    q = F.softmax((teacher - center) / teacher_temp, dim=-1).detach().chunk(2)
    large, small, nl, ns = 0.0, 0.0, 0, 0
    for t, v, is_large in pair_terms(n_crops):
        loss = torch.sum(-q[t] * F.log_softmax(s[v], dim=-1), dim=-1).mean()
        if is_large:
            large, nl = large + loss, nl + 1
        else:
            small, ns = small + loss, ns + 1
    return 0.5 * (large / nl + small / ns)


# ---------------------------------------------------------------------------------------------------- schedules

def cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0):
    """src/optimizer.py `cosine_scheduler`."""
    warmup = np.array([])
    warmup_iters = warmup_epochs * niter_per_ep
    if warmup_epochs > 0:
        warmup = np.linspace(start_warmup_value, base, warmup_iters)
    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    sched = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warmup, sched))


def teacher_temp_schedule(cfg):
    e = cfg["group_warmup_teacher_temp_epochs"]
    return np.concatenate((np.linspace(cfg["group_warmup_teacher_temp"], cfg["group_teacher_temp"], e),
                           np.ones(cfg["epochs"] - e) * cfg["group_teacher_temp"]))


# ---------------------------------------------------------------------------------------------------- trainer

class MugsReference:
    """Student, teacher, memories, queues, centre, AdamW: one process, world size 1."""

    def __init__(self, cfg, steps_per_epoch):
        self.cfg, self.steps_per_epoch = cfg, steps_per_epoch
        self.student, self.teacher = MugsNet(cfg, True), MugsNet(cfg, False)
        self.teacher.load_state_dict(self.student.state_dict(), strict=False)
        for p in self.teacher.parameters():
            p.requires_grad = False
        C, top_n = cfg["embed_dim"], cfg["local_group_knn_top_n"]
        self.student_mem = NeighbourMemory(cfg["local_group_memory_size"], C, top_n)
        self.teacher_mem = NeighbourMemory(cfg["local_group_memory_size"], C, top_n)
        self.instance_queue = F.normalize(torch.randn(cfg["instance_queue_size"], cfg["instance_out_dim"]), dim=1)
        self.local_group_queue = F.normalize(torch.randn(cfg["local_group_queue_size"], cfg["local_group_out_dim"]),
                                             dim=1)
        self.instance_ptr, self.local_group_ptr = 0, 0
        self.center = torch.zeros(1, cfg["group_out_dim"])
        self.optimizer = torch.optim.AdamW(self.param_groups())
        B = cfg["batch_size"]
        self.lr_schedule = cosine_scheduler(cfg["lr"] * B / 256.0, cfg["min_lr"], cfg["epochs"], steps_per_epoch,
                                            warmup_epochs=cfg["warmup_epochs"])
        self.wd_schedule = cosine_scheduler(cfg["weight_decay"], cfg["weight_decay_end"], cfg["epochs"],
                                            steps_per_epoch)
        self.momentum_schedule = cosine_scheduler(cfg["momentum_teacher"], 1, cfg["epochs"], steps_per_epoch)
        self.tt_schedule = teacher_temp_schedule(cfg)

    def param_groups(self):
        """src/optimizer.py `get_params_groups` (on the student wrapper)."""
        reg, not_reg, pe, pe_not_reg = [], [], [], []
        for name, p in self.student.named_parameters():
            if not p.requires_grad:
                continue
            if name.endswith(".bias") or len(p.shape) == 1:
                (pe_not_reg if "patch_embed" in name else not_reg).append(p)
            elif "patch_embed" in name:
                pe.append(p)
            else:
                reg.append(p)
        return [{"name": "normal_params", "params": reg}, {"name": "patch_embed", "params": pe},
                {"name": "no_wd", "params": not_reg, "apply_wd": False, "weight_decay": 0.0},
                {"name": "patch_embed_no_wd", "params": pe_not_reg, "apply_wd": False, "weight_decay": 0.0}]

    def step(self, it, crops, weak, masks=None):
        """One training iteration at global step `it`. crops: dict with teacher_global [2,B,3,G,G],
        student_global [2,B,3,G,G], student_local [L,B,3,l,l]; weak [B] 0/1; masks: None or dict with 'global'
        [depth,2,2B] and 'local' [depth,2,L·B]. Returns a dict of everything a parity test compares."""
        cfg = self.cfg
        epoch = it // self.steps_per_epoch
        lr, wd = float(self.lr_schedule[it]), float(self.wd_schedule[it])
        for g in self.optimizer.param_groups:                                   # Step 1
            g["lr"] = lr * (cfg["patch_embed_lr_mult"] if "patch_embed" in g["name"] else 1.0)
            if g.get("apply_wd", True):
                g["weight_decay"] = wd
        n_crops, B = 2 + cfg["local_crops_number"], cfg["batch_size"]
        tg = crops["teacher_global"].reshape(-1, *crops["teacher_global"].shape[2:])
        sg = crops["student_global"].reshape(-1, *crops["student_global"].shape[2:])
        sl = crops["student_local"].reshape(-1, *crops["student_local"].shape[2:])
        self.student.train()
        self.teacher.train()
        with torch.no_grad():                                                   # Step 2
            t_inst, t_lg, t_group, t_mem = self.teacher([tg], self.teacher_mem, True)
        t_index = self.teacher_mem.last_index
        s_masks = None if masks is None else [masks["global"], masks["local"]]
        s_inst, s_lg, s_group, s_mem = self.student([sg, sl], self.student_mem, False, s_masks)
        teacher_temp = float(self.tt_schedule[epoch])                           # Step 3
        l_inst = info_nce(s_inst, t_inst, self.instance_queue, cfg["instance_temp"], n_crops)
        l_lg = info_nce(s_lg, t_lg, self.local_group_queue, cfg["local_group_temp"], n_crops)
        l_group = clustering(s_group, t_group, self.center, cfg["group_student_temp"], teacher_temp, n_crops)
        w = cfg["loss_weights"]
        total = (w[0] * l_inst + w[1] * l_lg + w[2] * l_group) / sum(w)
        self.optimizer.zero_grad()                                              # Step 5
        total.backward()
        raw_grads = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                     for n, p in self.student.flat_parameters()}
        clip = cfg["clip_grad"]
        if clip:
            for _, p in self.student.named_parameters():
                if p.grad is not None:
                    coef = clip / (p.grad.norm(2) + 1e-6)
                    if coef < 1:
                        p.grad.mul_(coef)
        if epoch < cfg["freeze_last_layer"]:
            for n, p in self.student.named_parameters():
                if "last_layer" in n:
                    p.grad = None
        self.optimizer.step()
        m = float(self.momentum_schedule[it])
        with torch.no_grad():
            for part in ("backbone", "instance_head", "local_group_head", "group_head"):
                for ps, pt in zip(getattr(self.student, part).parameters(), getattr(self.teacher, part).parameters()):
                    pt.data.mul_(m).add_((1 - m) * ps.detach().data)
            batch_center = t_group.mean(dim=0, keepdim=True)                    # update_center (world size 1)
            self.center = self.center * cfg["center_momentum"] + batch_center * (1 - cfg["center_momentum"])
            for t in range(2):                                                  # enqueue, teacher crop by crop
                self.instance_ptr = ring_write(self.instance_queue, self.instance_ptr, t_inst[t * B:(t + 1) * B])
                self.local_group_ptr = ring_write(self.local_group_queue, self.local_group_ptr,
                                                  t_lg[t * B:(t + 1) * B])
            weak_idx = torch.nonzero(weak).squeeze(-1)                          # Step 4
            if len(weak_idx) > 0:
                self.student_mem.enqueue(s_mem[:B][weak_idx])
            self.teacher_mem.enqueue(t_mem[:B])
        return dict(loss_instance=l_inst.item(), loss_local_group=l_lg.item(), loss_group=l_group.item(),
                    loss_total=total.item(), lr=lr, wd=wd, momentum=m, teacher_temp=teacher_temp, epoch=epoch,
                    grads=raw_grads, teacher_instance=t_inst, teacher_local_group=t_lg, teacher_group=t_group,
                    teacher_memory_feature=t_mem[:B], student_instance=s_inst.detach(),
                    student_local_group=s_lg.detach(), student_group=s_group.detach(),
                    student_memory_feature=s_mem[:B], teacher_neighbours=t_index)

    def adam_state(self):
        """(exp_avg, exp_avg_sq, steps) by mugs name: zeros and step 0 for parameters the optimiser has not
        updated yet. torch counts AdamW steps per parameter, so a parameter whose gradient was cancelled
        (`last_layer` during freeze_last_layer) starts its bias correction later than the others."""
        avg, sq, steps = {}, {}, {}
        for n, p in self.student.flat_parameters():
            st = self.optimizer.state.get(p, {})
            avg[n] = st["exp_avg"].clone() if "exp_avg" in st else torch.zeros_like(p)
            sq[n] = st["exp_avg_sq"].clone() if "exp_avg_sq" in st else torch.zeros_like(p)
            steps[n] = int(st["step"]) if "step" in st else 0
        return avg, sq, steps
