"""Convert an official Mugs or DINO PyTorch checkpoint (.pth) into a backbone safetensors file that mugs reads
(`mugs eval knn|linear --checkpoint`, `mugs attention`, `mugs embed --weights`, `mugs export`) and timm loads.

    ~/mugs-ref/bin/python tools/convert_pth.py mugs_vit_small_800ep.pth vit_small_mugs.safetensors
    ~/mugs-ref/bin/python tools/convert_pth.py dino_deitsmall16_pretrain.pth dino_vits16.safetensors --verify
    ~/mugs-ref/bin/python tools/convert_pth.py --self-test

Layouts it understands (checked against sail-sg/mugs `main.py` / `utils.load_pretrained_weights` and DINO):

* a full Mugs training checkpoint: {"student": {"module.backbone.<name>", "module.instance_head.…", …},
  "teacher": {"backbone.<name>", "backbone.relation_blocks.0.…", "instance_head.…", "group_head.…", …},
  "optimizer", "epoch", "args", "student_mem", "teacher_mem", …}: the teacher is taken (`--key` to choose);
* a full DINO checkpoint: {"student": {"module.backbone.…", "module.head.…"}, "teacher": {"backbone.…", "head.…"}};
* a backbone-only release file (DINO `dino_deitsmall16_pretrain.pth`, Mugs backbone weights): the state dict
  itself, timm names, maybe under "state_dict" or "model".

Leading `module.`, `backbone.` and `encoder.` prefixes are stripped (as the reference's `load_pretrained_weights`
does); only the timm ViT backbone is kept — cls_token, pos_embed, patch_embed.proj.*, blocks.N.*, norm.* — and
everything else (Mugs relation block and heads, DINO head) is listed as dropped. Tensors are written as float32
in timm's order, with metadata (embed_dim, depth, num_heads, patch_size, img_size, the timm call) that mugs uses
to rebuild the architecture. `--verify` loads the result into timm with strict=True.

Loading an official checkpoint runs `torch.load(weights_only=False)` (they hold an argparse Namespace): only
convert files you trust.
"""
import argparse
import json
import os
import re
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

PRESETS = {"vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16)}
BLOCK_PARTS = ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
               "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"]
STRIP = ("module.", "backbone.", "encoder.")


def timm_names(depth):
    """The backbone's names in timm's state_dict order (ViT, num_classes=0, class token, no registers)."""
    names = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    for l in range(depth):
        names += [f"blocks.{l}.{p}" for p in BLOCK_PARTS]
    return names + ["norm.weight", "norm.bias"]


def pick_state_dict(obj, key):
    """The state dict of the network to convert, and a description of where it was found."""
    if not isinstance(obj, dict):
        raise SystemExit(f"the file holds a {type(obj).__name__}, not a dict of tensors or of state dicts")
    if key is not None:
        if key not in obj:
            raise SystemExit(f"--key {key}: not in the checkpoint (keys: {', '.join(map(str, list(obj)[:12]))})")
        return obj[key], f"['{key}']"
    for k in ("teacher", "state_dict", "model"):
        if k in obj and isinstance(obj[k], dict):
            return obj[k], f"['{k}']"
    if all(torch.is_tensor(v) for v in obj.values()):
        return obj, "(top level)"
    raise SystemExit("no state dict found: expected 'teacher', 'state_dict', 'model' or a dict of tensors; keys: "
                     + ", ".join(map(str, list(obj)[:12])))


def strip(name):
    changed = True
    while changed:
        changed = False
        for p in STRIP:
            if name.startswith(p):
                name, changed = name[len(p):], True
    return name


def convert(state, heads=None, arch=None):
    """(timm-named backbone dict, dropped names, metadata)."""
    renamed, dropped = {}, []
    for name, value in state.items():
        if not torch.is_tensor(value):
            dropped.append(name)
            continue
        short = strip(name)
        if short in renamed:
            raise SystemExit(f"two tensors map to '{short}' (one is '{name}')")
        renamed[short] = value
    if "cls_token" not in renamed:
        raise SystemExit("no 'cls_token' after stripping module./backbone./encoder. prefixes: not a ViT backbone "
                         f"(names: {', '.join(list(renamed)[:8])})")
    depth = 1 + max([int(m.group(1)) for n in renamed if (m := re.match(r"blocks\.(\d+)\.", n))], default=-1)
    wanted = timm_names(depth)
    missing = [n for n in wanted if n not in renamed]
    if missing:
        raise SystemExit(f"the backbone lacks {len(missing)} tensors, e.g. {', '.join(missing[:5])}")
    out = {n: renamed[n].detach().to(torch.float32).contiguous() for n in wanted}
    dropped += sorted(n for n in renamed if n not in out)
    C = out["cls_token"].shape[-1]
    P = out["patch_embed.proj.weight"].shape[-1]
    grid = round((out["pos_embed"].shape[1] - 1) ** 0.5)
    if heads is None and arch is not None:
        if arch not in PRESETS:
            raise SystemExit(f"--arch {arch}: unknown (use {', '.join(PRESETS)})")
        heads = PRESETS[arch][2]
    if heads is None:
        heads = next((h for (c, d, h) in PRESETS.values() if c == C and d == depth), None)
    if heads is None:
        raise SystemExit(f"embedding dim {C} with {depth} blocks is no preset: give --heads")
    preset = next((n for n, dims in PRESETS.items() if dims == (C, depth, heads)), None)
    args = ["num_classes=0"]
    model = f"{preset}_patch16_224" if preset else "vit_small_patch16_224"
    if not preset:
        args += [f"embed_dim={C}", f"depth={depth}", f"num_heads={heads}"]
    if P != 16:
        args.append(f"patch_size={P}")
    if grid * P != 224:
        args.append(f"img_size={grid * P}")
    meta = {"format": "pt", "generator": "tools/convert_pth.py", "embed_dim": str(C), "depth": str(depth),
            "num_heads": str(heads), "patch_size": str(P), "img_size": str(grid * P),
            "arch": preset or f"custom {C}/{depth}/{heads}",
            "timm": f"timm.create_model('{model}', {', '.join(args)})"}
    return out, dropped, meta


def timm_model(meta):
    import timm  # noqa: F401  (used by the eval'd call)
    return eval(meta["timm"], {"timm": timm})


def verify(path):
    """Loads the converted file into timm with strict=True; returns the model."""
    tensors = load_file(path)
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    model = timm_model(meta)
    model.load_state_dict(tensors, strict=True)
    return model


def run(inp, out, key=None, heads=None, arch=None, check=False, quiet=False):
    obj = torch.load(inp, map_location="cpu", weights_only=False)
    state, where = pick_state_dict(obj, key)
    tensors, dropped, meta = convert(state, heads=heads, arch=arch)
    meta["source"] = os.path.basename(inp)
    meta["source_key"] = where
    tmp = out + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, out)
    if not quiet:
        print(f"{inp} {where}: {len(tensors)} backbone tensors ({meta['arch']}, patch {meta['patch_size']}, "
              f"{meta['img_size']} px) -> {out}")
        if dropped:
            print(f"  left out {len(dropped)} tensors that are not the timm backbone, e.g. {', '.join(dropped[:4])}")
        print(f"  timm: m = {meta['timm']}; m.load_state_dict(load_file('{out}'), strict=True)")
    if check:
        verify(out)
        if not quiet:
            print("  verified: timm loads it with strict=True")
    return tensors, meta


def fabricate(depth=2, C=48, heads=3, P=4, img=16, seed=0):
    """A random backbone under timm names plus a relation block and head tensors, as the reference builds them."""
    g = torch.Generator().manual_seed(seed)
    T = (img // P) ** 2 + 1
    shapes = {"cls_token": [1, 1, C], "pos_embed": [1, T, C], "patch_embed.proj.weight": [C, 3, P, P],
              "patch_embed.proj.bias": [C], "norm.weight": [C], "norm.bias": [C]}
    part = {"norm1.weight": [C], "norm1.bias": [C], "attn.qkv.weight": [3 * C, C], "attn.qkv.bias": [3 * C],
            "attn.proj.weight": [C, C], "attn.proj.bias": [C], "norm2.weight": [C], "norm2.bias": [C],
            "mlp.fc1.weight": [4 * C, C], "mlp.fc1.bias": [4 * C], "mlp.fc2.weight": [C, 4 * C], "mlp.fc2.bias": [C]}
    for l in range(depth):
        shapes.update({f"blocks.{l}.{k}": v for k, v in part.items()})
    backbone = {n: torch.randn(s, generator=g) * 0.1 for n, s in shapes.items()}
    extra = {f"relation_blocks.0.{k}": torch.randn(v, generator=g) for k, v in part.items()}
    return backbone, extra


def self_test():
    """Fabricates the official layouts, converts each and checks names, values and the timm strict load."""
    backbone, relation = fabricate()
    heads_mugs = {"instance_head.projector.0.weight": torch.randn(8, 48), "group_head.last_layer.weight_g":
                  torch.ones(16, 1)}
    layouts = {
        "mugs-full": {"teacher": {**{"backbone." + k: v for k, v in {**backbone, **relation}.items()}, **heads_mugs},
                      "student": {"module.backbone." + k: v + 1 for k, v in backbone.items()},
                      "epoch": 3, "args": argparse.Namespace(arch="custom")},
        "dino-full": {"teacher": {**{"backbone." + k: v for k, v in backbone.items()}, "head.mlp.0.weight":
                                  torch.randn(8, 48)},
                      "student": {"module.backbone." + k: v + 1 for k, v in backbone.items()}},
        "plain": dict(backbone),
        "state-dict-module": {"state_dict": {"module." + k: v for k, v in backbone.items()}},
    }
    with tempfile.TemporaryDirectory() as d:
        for name, obj in layouts.items():
            src, dst = os.path.join(d, name + ".pth"), os.path.join(d, name + ".safetensors")
            torch.save(obj, src)
            run(src, dst, heads=3, check=True, quiet=True)
            got = load_file(dst)
            assert list(got) == timm_names(2) or set(got) == set(timm_names(2)), f"{name}: names {list(got)[:4]}"
            for k, v in backbone.items():
                assert torch.equal(got[k], v), f"{name}: {k} differs"
            print(f"self-test {name}: {len(got)} tensors, values equal, timm strict load ok")
        # The student on request.
        src = os.path.join(d, "mugs-full.pth")
        run(src, os.path.join(d, "s.safetensors"), key="student", heads=3, quiet=True)
        assert torch.equal(load_file(os.path.join(d, "s.safetensors"))["norm.bias"], backbone["norm.bias"] + 1)
        print("self-test --key student: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", nargs="?", help="official .pth checkpoint")
    ap.add_argument("output", nargs="?", help="output .safetensors")
    ap.add_argument("--key", help="which network of a full checkpoint (default: teacher)")
    ap.add_argument("--arch", help="vit_tiny/vit_small/vit_base/vit_large (default: from the embedding dim)")
    ap.add_argument("--heads", type=int, help="attention heads of a custom-sized backbone")
    ap.add_argument("--verify", action="store_true", help="load the result into timm with strict=True")
    ap.add_argument("--self-test", action="store_true", help="convert fabricated checkpoints of every layout")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return
    if not a.input or not a.output:
        ap.error("give INPUT.pth and OUTPUT.safetensors (or --self-test)")
    run(a.input, a.output, key=a.key, heads=a.heads, arch=a.arch, check=a.verify)


if __name__ == "__main__":
    sys.exit(main())
