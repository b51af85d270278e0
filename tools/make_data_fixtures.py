#!/usr/bin/env python3
"""Writes Tests/MugsDataTests/Fixtures: reference outputs of torchvision/PIL/timm image ops on small fixed
images with FIXED parameters (no random draws), for the Swift data-pipeline parity tests.

Usage: ~/mugs-ref/bin/python tools/make_data_fixtures.py [OUT_DIR]
Outputs: fixtures.json (manifest) + raw files: *.rgb (uint8 HWC RGB), *.f32 (float32 little-endian CHW),
and a few encoded images (*.jpg, *.png) with PIL's decoding of them.
"""
import io, json, os, sys

import numpy as np
import PIL
import timm
import torch
import torchvision
from PIL import Image, ImageFilter, ImageOps
import torchvision.transforms as T
import torchvision.transforms.functional as F
from timm.data import auto_augment as aa

out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "Tests", "MugsDataTests", "Fixtures")
os.makedirs(out_dir, exist_ok=True)

rng = np.random.default_rng(20240601)


def synthetic(w, h, seed):
    """A deterministic 'natural-ish' image: gradients, a disc, stripes, noise, saturated and grey areas."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 127 + 100 * np.sin(x / 3.0) * np.cos(y / 5.0)
    disc = (x - w * 0.6) ** 2 + (y - h * 0.4) ** 2 < (min(w, h) * 0.25) ** 2
    img[disc] = [250, 30, 20]
    img[: h // 5, : w // 4] = 128  # a flat grey patch (hue-less pixels)
    img[-3:, :] = [0, 0, 0]
    img += r.normal(0, 12, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


images = {"A": synthetic(61, 47, 1), "B": synthetic(40, 52, 2), "C": synthetic(130, 97, 3)}
manifest = {"versions": {"pillow": PIL.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
                         "torch": torch.__version__},
            "images": {}, "cases": []}
for name, im in images.items():
    fn = f"img_{name}.rgb"
    open(os.path.join(out_dir, fn), "wb").write(np.asarray(im).tobytes())
    manifest["images"][name] = {"width": im.width, "height": im.height, "file": fn}

counter = [0]


def add(op, image, params, result):
    counter[0] += 1
    if isinstance(result, Image.Image):
        assert result.mode == "RGB", result.mode
        fn = f"case_{counter[0]:03d}_{op}.rgb"
        open(os.path.join(out_dir, fn), "wb").write(np.asarray(result).tobytes())
        shape = [result.height, result.width, 3]
        kind = "u8"
    else:
        arr = result.detach().numpy().astype("<f4") if isinstance(result, torch.Tensor) else np.asarray(result, "<f4")
        fn = f"case_{counter[0]:03d}_{op}.f32"
        open(os.path.join(out_dir, fn), "wb").write(arr.tobytes())
        shape = list(arr.shape)
        kind = "f32"
    manifest["cases"].append({"op": op, "image": image, "params": params, "file": fn, "shape": shape,
                              "kind": kind})


A, B, C = images["A"], images["B"], images["C"]
BIC = T.InterpolationMode.BICUBIC

# RandomResizedCrop = crop, then PIL bicubic resize (torchvision resized_crop on PIL images).
for img_name, (i, j, h, w, s) in [("A", (3, 5, 40, 50, 24)), ("A", (0, 0, 47, 61, 96)), ("B", (7, 2, 30, 21, 16)),
                                  ("C", (10, 20, 80, 100, 32)), ("C", (0, 0, 97, 130, 224)), ("B", (1, 1, 9, 7, 32)),
                                  # Pillow >= 11 runs the vertical pass first when the height shrinks more than
                                  # twice as much as the width: cover both orders, with and without upscaling.
                                  ("C", (0, 10, 90, 30, 16)), ("C", (5, 0, 80, 20, 40)), ("C", (3, 3, 60, 90, 45))]:
    im = images[img_name]
    add("resized_crop", img_name, {"top": i, "left": j, "height": h, "width": w, "size": s},
        F.resized_crop(im, i, j, h, w, [s, s], BIC))

# RandomResizedCrop's fallback after 10 failed tries is deterministic: force it with an impossible scale.
for (w, h) in [(61, 47), (20, 80), (80, 20), (50, 50)]:
    box = T.RandomResizedCrop.get_params(Image.new("RGB", (w, h)), scale=[1.5, 2.0], ratio=[3 / 4, 4 / 3])
    add("rrc_fallback", "", {"width": w, "height": h}, np.array(box, dtype=np.float32))

# ColorJitter's four functional ops (PIL), grayscale, flip, solarize.
for f in [0.63, 1.0, 1.37]:
    add("brightness", "A", {"factor": f}, F.adjust_brightness(A, f))
    add("contrast", "A", {"factor": f}, F.adjust_contrast(A, f))
    add("saturation", "A", {"factor": f}, F.adjust_saturation(A, f))
add("saturation", "B", {"factor": 0.0}, F.adjust_saturation(B, 0.0))
for hf in [0.07, -0.1, 0.0, 0.003, -0.045]:
    add("hue", "A", {"factor": hf}, F.adjust_hue(A, hf))
add("hue", "C", {"factor": 0.1}, F.adjust_hue(C, 0.1))
add("grayscale", "A", {}, F.rgb_to_grayscale(A, 3))
add("hflip", "B", {}, F.hflip(B))
add("solarize", "A", {"threshold": 128}, ImageOps.solarize(A))

# GaussianBlur as the reference calls it: img.filter(ImageFilter.GaussianBlur(radius)).
for img_name, r in [("A", 0.1), ("A", 0.7), ("A", 1.37), ("A", 2.0), ("B", 1.9), ("C", 0.55)]:
    add("gaussian_blur", img_name, {"radius": r}, images[img_name].filter(ImageFilter.GaussianBlur(radius=r)))

# RandAugment ops (timm's functions = the reference's src/RandAugment.py ones) at fixed arguments.
fill = (124, 116, 104)
bil, bic = Image.BILINEAR, Image.BICUBIC
add("ra_autocontrast", "A", {}, aa.auto_contrast(A))
add("ra_autocontrast", "B", {}, aa.auto_contrast(B.point(lambda v: 60 + v // 3)))
add("ra_equalize", "A", {}, aa.equalize(A))
add("ra_equalize", "C", {}, aa.equalize(C))
add("ra_invert", "A", {}, aa.invert(A))
for bits in [1, 2, 4]:
    add("ra_posterize", "A", {"bits": bits}, aa.posterize(A, bits))
add("ra_solarize", "A", {"threshold": 200}, aa.solarize(A, 200))
add("ra_solarize_add", "A", {"add": 70}, aa.solarize_add(A, 70))
for f in [0.19, 1.81]:
    add("ra_color", "A", {"factor": f}, aa.color(A, f))
    add("ra_contrast", "A", {"factor": f}, aa.contrast(A, f))
    add("ra_brightness", "A", {"factor": f}, aa.brightness(A, f))
    add("ra_sharpness", "A", {"factor": f}, aa.sharpness(A, f))
for img_name, deg, filt in [("A", 17.3, "bilinear"), ("A", -25.0, "bicubic"), ("C", 29.1, "bicubic"),
                            ("B", -3.6, "bilinear")]:
    add("ra_rotate", img_name, {"degrees": deg, "filter": filt},
        aa.rotate(images[img_name], deg, fillcolor=fill, resample=bil if filt == "bilinear" else bic))
for img_name, op, v, filt in [("A", "shear_x", 0.21, "bicubic"), ("A", "shear_y", -0.3, "bilinear"),
                              ("C", "shear_x", -0.27, "bilinear"), ("A", "translate_x_rel", 0.3, "bilinear"),
                              ("A", "translate_y_rel", -0.25, "bicubic"), ("C", "translate_x_rel", -0.405, "bicubic")]:
    fn = getattr(aa, op)
    add("ra_" + op, img_name, {"value": v, "filter": filt},
        fn(images[img_name], v, fillcolor=fill, resample=bil if filt == "bilinear" else bic))

# ToTensor + Normalize, and the eval transform (Resize(S/0.875) bicubic, CenterCrop(S), Normalize).
norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
add("normalize", "A", {}, norm(F.to_tensor(A)))
for img_name, s in [("A", 24), ("C", 32), ("B", 16)]:
    ev = T.Compose([T.Resize(int(s / 0.875), interpolation=BIC), T.CenterCrop(s), T.ToTensor(), norm])
    add("eval", img_name, {"size": s}, ev(images[img_name]))

# Decoding: PIL's pixels for a few encoded files (JPEG colour/grey, PNG RGBA/palette/grey).
def encoded(name, im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    open(os.path.join(out_dir, name), "wb").write(buf.getvalue())
    decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    counter[0] += 1
    fn = f"case_{counter[0]:03d}_decode.rgb"
    open(os.path.join(out_dir, fn), "wb").write(np.asarray(decoded).tobytes())
    manifest["cases"].append({"op": "decode", "image": "", "params": {"file": name}, "file": fn,
                              "shape": [decoded.height, decoded.width, 3], "kind": "u8"})

encoded("enc_color.jpg", C, "JPEG", quality=90)
encoded("enc_gray.jpg", C.convert("L"), "JPEG", quality=85)
encoded("enc_444.jpg", A, "JPEG", quality=95, subsampling=0)
rgba = A.convert("RGBA"); rgba.putalpha(Image.linear_gradient("L").resize(A.size))
encoded("enc_rgba.png", rgba, "PNG")
encoded("enc_palette.png", B.quantize(colors=16), "PNG")
encoded("enc_gray.png", B.convert("L"), "PNG")

json.dump(manifest, open(os.path.join(out_dir, "fixtures.json"), "w"), indent=1)
total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
print(f"wrote {len(manifest['cases'])} cases, {total / 1e6:.2f} MB, to {out_dir}")
