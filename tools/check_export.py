"""End-to-end check of a `mugs export` file against timm on Fashion-MNIST: timm builds the model from the file's
metadata, loads the file with strict=True, runs the reference eval transform (torchvision Resize(⌊S/0.875⌋,
bicubic), CenterCrop(S), Normalize) on the first N test images, and compares its [CLS] features with the ones mugs
wrote for the same images.

    mugs export --checkpoint ckpt/ --out backbone.safetensors
    mugs eval knn --checkpoint backbone.safetensors --train fashion-mnist:test --val fashion-mnist:test \\
        --limit-train 100 --limit-val 100 --features-only --out feats --no-cache
    ~/mugs-ref/bin/python tools/check_export.py backbone.safetensors feats/val_features.safetensors

Prints the timm call and the max |mugs − timm| (float32 on both sides: ~1e-6 for features of size ~1).
"""
import gzip
import sys

import numpy as np
import timm
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from torchvision import transforms as T


def main(export, features, idx="/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"):
    with safe_open(export, "pt") as f:
        meta = f.metadata()
    model = eval(meta["timm"], {"timm": timm}).eval()
    model.load_state_dict(load_file(export), strict=True)
    ours = load_file(features)["features"]
    n, size = ours.shape[0], int(meta["img_size"])
    raw = gzip.open(idx).read()[16:]
    images = np.frombuffer(raw, np.uint8).reshape(-1, 28, 28)[:n]
    tf = T.Compose([T.Resize(int(size / 0.875), interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size),
                    T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    x = torch.stack([tf(Image.fromarray(a, "L").convert("RGB")) for a in images])
    with torch.no_grad():
        ref = model(x)
    diff = (ours - ref).abs().max().item()
    print(f"{meta['timm']}: strict load ok; {n} images at {size} px; max |mugs - timm| {diff:.3g} "
          f"(max |feature| {ref.abs().max().item():.3g})")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
