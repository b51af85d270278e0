"""Writes Tests/MugsModelTests/Fixtures/vit_reduced_bf16.safetensors: the reduced ViT forward/backward of
vit_reduced.safetensors (tools/make_vit_fixtures.py) in float64 and under PyTorch's CPU bfloat16 autocast.

    ~/mugs-ref/bin/python tools/make_bf16_fixtures.py           # from the repository root; a few seconds, 2 threads

It reads vit_reduced.safetensors (param.*, input.K, keep.K, dout.K, and out.K / grad.* / grad_input.K as the fp32
result), builds the same reference backbone (tools/ref_vit.py, configuration from that file's metadata) in training
mode with the same keep masks and runs L = Σ_K Σ(out.K · dout.K), one backward through both inputs, two ways:

* f64       the model and every tensor in float64 (the "exact" reference);
* autocast  float32 model and tensors, each forward under `torch.autocast("cpu", dtype=torch.bfloat16)`; the loss
            Σ(out.K.float() · dout.K) and the backward outside the autocast block (as PyTorch recommends).

The inputs, masks, dout and parameters are not repeated here: the Swift test takes them from vit_reduced.safetensors.
Keys (all float32; W = f64 (float64 result rounded to float32) or autocast):
    W.out.K           [B,T,C] normed tokens after the final norm, K = 0, 1
    W.grad.<name>     ∂L/∂param for every backbone parameter (the reference names, as param.<name> there)
    W.grad_input.K    ∂L/∂input.K

`__metadata__` (JSON strings): generator, command, torch, threads, source (file name and sha256 of
vit_reduced.safetensors), loss, bounds, fp32_rerun_max_abs_diff (our float32 rerun vs the stored fp32 tensors),
errors ({tensor: {fp32|autocast: {rel, max_abs}}}, rel = ‖x − x_f64‖₂ / ‖x_f64‖₂ and max_abs = max |x − x_f64|
against the unrounded float64 result; tensor names without the W. prefix), and what autocast ran in bfloat16:
autocast_modules (output dtype of each module of block 0 and of the embedding/final norm), autocast_attention
(the aten ops inside block 0's attention in order, with input → output dtypes), autocast_forward_ops /
autocast_backward_ops (every aten op of one forward / backward with its dtype signatures) and autocast_summary.
The script fails (exit 1, nothing written) if any autocast rel exceeds 0.1 or any fp32 rel exceeds 1e-4.
Deterministic: a re-run (same torch, 2 threads) gives the same bytes; the header is rewritten in a fixed key order
because the safetensors package writes `__metadata__` in hash-map order.
"""
import copy
import hashlib
import json
import os
import sys
from functools import partial

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_vit  # noqa: E402
from make_vit_fixtures import OUT, run, save  # noqa: E402

COMMAND = "~/mugs-ref/bin/python tools/make_bf16_fixtures.py"
SOURCE = os.path.join(OUT, "vit_reduced.safetensors")
BOUNDS = {"autocast": 0.1, "fp32": 1e-4}
SHAPE_OPS = {"view", "_unsafe_view", "reshape", "permute", "transpose", "t", "select", "unsqueeze", "squeeze",
             "expand", "slice", "detach", "alias", "split", "unbind", "clone", "contiguous"}


def load_reference():
    tensors = load_file(SOURCE)
    with safe_open(SOURCE, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
    model = ref_vit.VisionTransformer(img_size=[cfg["img_size"]] * 2, patch_size=cfg["patch_size"],
                                      embed_dim=cfg["embed_dim"], depth=cfg["depth"], num_heads=cfg["num_heads"],
                                      mlp_ratio=cfg["mlp_ratio"], qkv_bias=cfg["qkv_bias"],
                                      drop_path_rate=cfg["drop_path_rate"],
                                      norm_layer=partial(nn.LayerNorm, eps=cfg["layer_norm_eps"]))
    assert model.drop_path_rates == cfg["drop_path_rates"], (model.drop_path_rates, cfg["drop_path_rates"])
    model.load_state_dict({k[len("param."):]: v for k, v in tensors.items() if k.startswith("param.")}, strict=True)
    return model, tensors


def under_autocast(model):
    """The model with forward_features run under CPU bf16 autocast (so make_vit_fixtures.run computes the loss
    Σ(out·dout) — bf16·fp32 promotes to fp32, i.e. out.float()·dout — and the backward outside the block)."""
    m = copy.deepcopy(model)
    inner = m.forward_features

    def forward_features(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return inner(x)
    m.forward_features = forward_features
    return m


def _dt(t):
    return {torch.float32: "f32", torch.bfloat16: "bf16", torch.float64: "f64"}.get(t.dtype, str(t.dtype))


def _sig(args, out):
    ins = [_dt(a) for a in args if isinstance(a, torch.Tensor)]
    outs = [_dt(o) for o in (out if isinstance(out, (tuple, list)) else [out]) if isinstance(o, torch.Tensor)]
    return f"{','.join(ins)}->{','.join(outs)}"


class OpLog(TorchDispatchMode):
    """Records every aten op that runs (after autocast has inserted its casts) with its dtype signature."""

    def __init__(self):
        super().__init__()
        self.ops, self.trace, self.tracing = {}, [], False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name not in SHAPE_OPS:
            sig = _sig(args, out)
            self.ops.setdefault(name, set()).add(sig)
            if self.tracing:
                self.trace.append(f"{name}({sig})")
        return out


def record_autocast_dtypes(model, x, mask, dout):
    """One autocast forward (input 0) and backward with the op log and module hooks on."""
    m = under_autocast(model)
    m.train()
    m.set_drop_path_masks(mask)
    log, modules, hooks = OpLog(), {}, []
    names = ["patch_embed.proj", "blocks.0.norm1", "blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.attn",
             "blocks.0.norm2", "blocks.0.mlp.fc1", "blocks.0.mlp.act", "blocks.0.mlp.fc2", "blocks.0", "norm"]
    for name, mod in m.named_modules():
        if name in names:
            hooks.append(mod.register_forward_hook(
                lambda _m, _i, o, name=name: modules.__setitem__(name, _dt(o[0] if isinstance(o, tuple) else o))))
    attn = m.blocks[0].attn
    attn.register_forward_pre_hook(lambda *_: setattr(log, "tracing", True))
    attn.register_forward_hook(lambda *_: setattr(log, "tracing", False))
    x = x.clone().requires_grad_(True)
    with log:
        out = m.forward_features(x)[0]
    fwd = {k: sorted(v) for k, v in sorted(log.ops.items())}
    log.ops = {}
    loss = (out.float() * dout).sum()
    with log:
        loss.backward()
    bwd = {k: sorted(v) for k, v in sorted(log.ops.items())}
    modules = {n: modules[n] for n in names}
    bf16 = [k for k, v in fwd.items() if any(s.endswith("bf16") for s in v) and k != "_to_copy"]
    f32 = [k for k, v in fwd.items() if any(s.endswith("f32") for s in v) and k != "_to_copy"]
    summary = (f"forward ops with a bf16 result: {', '.join(bf16)}; with an f32 result: {', '.join(f32)}. "
               f"Module outputs (block 0): {', '.join(f'{k} {v}' for k, v in modules.items())}. "
               f"out.K dtype {_dt(out)}; param/input grads {_dt(m.blocks[0].attn.qkv.weight.grad)}.")
    return {"autocast_summary": summary, "autocast_modules": modules, "autocast_attention": log.trace,
            "autocast_forward_ops": fwd, "autocast_backward_ops": bwd}


def flat(result):
    """run()'s (outs, prenorms, grads, input grads) as {out.K, grad.<name>, grad_input.K: tensor}."""
    outs, _, grads, gin = result
    d = {f"out.{k}": o for k, o in enumerate(outs)}
    d.update({f"grad.{n}": g for n, g in grads.items()})
    d.update({f"grad_input.{k}": g for k, g in enumerate(gin)})
    return d


def error(x, ref):
    diff = x.double() - ref
    norm = float(ref.norm())
    return {"rel": float(diff.norm()) / norm if norm > 0 else float(diff.norm()), "max_abs": float(diff.abs().max())}


def canonical_header(path, meta_keys):
    """Rewrites the safetensors header in a fixed order: the package writes `__metadata__` in hash-map order, which
    differs between runs. Same JSON content and data; header padded with spaces to a multiple of 8 as it does."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    ordered = {"__metadata__": {k: meta[k] for k in meta_keys}}
    ordered.update(sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]))
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + raw[8 + n:])


def main():
    torch.set_num_threads(2)
    model, st = load_reference()
    n = len([k for k in st if k.startswith("input.")])
    inputs, masks, douts = ([st[f"{p}.{k}"] for k in range(n)] for p in ("input", "keep", "dout"))
    names = [nm for nm, _ in model.named_parameters()]

    r64 = flat(run(copy.deepcopy(model).double(), [x.double() for x in inputs], [m.double() for m in masks],
                   [d.double() for d in douts]))
    rac = flat(run(under_autocast(model), inputs, masks, douts))
    r32 = flat(run(model, inputs, masks, douts))
    keys = [f"out.{k}" for k in range(n)] + [f"grad.{nm}" for nm in names] + [f"grad_input.{k}" for k in range(n)]
    assert sorted(keys) == sorted(r64) == sorted(rac), "missing gradients"
    rerun = max(float((r32[k] - st[k]).abs().max()) for k in keys)

    errors, failed = {}, []
    print(f"{'tensor':<30} {'fp32 rel':>9} {'fp32 max':>9} {'bf16 rel':>9} {'bf16 max':>9}")
    for k in keys:
        errors[k] = {"fp32": error(st[k], r64[k]), "autocast": error(rac[k], r64[k])}
        e = errors[k]
        print(f"{k:<30} {e['fp32']['rel']:9.2e} {e['fp32']['max_abs']:9.2e} "
              f"{e['autocast']['rel']:9.2e} {e['autocast']['max_abs']:9.2e}")
        failed += [f"{k} {w} rel {e[w]['rel']:.3g} > {b}" for w, b in BOUNDS.items() if not e[w]["rel"] <= b]
    print(f"fp32 rerun vs stored fp32: max abs diff {rerun:.3g}")

    dtypes = record_autocast_dtypes(model, inputs[0], masks[0], douts[0])
    print(dtypes["autocast_summary"])
    if failed:
        print("error bounds exceeded (nothing written):\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)

    tensors = {f"f64.{k}": r64[k] for k in keys}
    tensors.update({f"autocast.{k}": rac[k] for k in keys})
    with open(SOURCE, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    meta = {"generator": "tools/make_bf16_fixtures.py", "command": COMMAND, "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "source": {"file": "vit_reduced.safetensors", "sha256": sha,
                       "reused": "param.*, input.K, keep.K, dout.K; its out.K / grad.* / grad_input.K are fp32"},
            "loss": "L = sum_K sum(out.K.float() * dout.K); autocast: forward under torch.autocast('cpu', "
                    "dtype=torch.bfloat16), loss and backward outside; f64: everything float64, stored as float32",
            "bounds": {"autocast_rel_max": BOUNDS["autocast"], "fp32_rel_max": BOUNDS["fp32"]},
            "fp32_rerun_max_abs_diff": rerun, "errors": errors, **dtypes}
    path = os.path.join(OUT, "vit_reduced_bf16.safetensors")
    save(path, tensors, meta)
    canonical_header(path, list(meta))
    check = load_file(path)
    assert all(torch.equal(check[k], v.float()) for k, v in tensors.items()) and len(check) == len(tensors)


if __name__ == "__main__":
    main()
