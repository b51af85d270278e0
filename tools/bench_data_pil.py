#!/usr/bin/env python3
"""The reference data pipeline (sail-sg/mugs src/multicropdataset.py DataAugmentation: torchvision + PIL + timm),
timed on one core on the same inputs as `mugs bench data`.

paper: PIL open + convert("RGB") of the synthetic 500x375 JPEGs in --jpeg-dir, then 2 teacher + 2 student global
224 crops and 10 local 96 crops. cpu: Fashion-MNIST train images (in memory, L -> RGB) into global 32 / local 16
crops, 6 local. Prints a final line "RESULT <preset> img/s <value>".

Usage: ~/mugs-ref/bin/python tools/bench_data_pil.py --preset paper --images 200 --jpeg-dir /tmp/mugs-bench-jpeg-500x375
"""
import argparse, gzip, os, random, time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter, ImageOps
from timm.data import auto_augment
from timm.data.auto_augment import rand_augment_transform
from timm.data.random_erasing import RandomErasing

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _posterize(img, bits_to_keep, **_):
    # PosterizeIncreasing reaches 0 bits at magnitude 10; Pillow >= 11 raises for 0 where older Pillow (the one the
    # reference ran with) returned a black image. Restore that behaviour (mugs does the same).
    if bits_to_keep <= 0:
        return img.point(lambda _: 0)
    return auto_augment.posterize(img, bits_to_keep)


auto_augment.NAME_TO_OP["PosterizeIncreasing"] = _posterize


class GaussianBlur:
    def __init__(self, p=0.5, radius_min=0.1, radius_max=2.0):
        self.prob, self.radius_min, self.radius_max = p, radius_min, radius_max

    def __call__(self, img):
        if random.random() <= self.prob:
            return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(self.radius_min, self.radius_max)))
        return img


class Solarization:
    def __init__(self, p):
        self.p = p

    def __call__(self, img):
        return ImageOps.solarize(img) if random.random() < self.p else img


def strong(size, scale):
    # The reference's strong_transforms with its defaults (use_prefetcher=True: no Normalize in the transform).
    aa = rand_augment_transform("rand-m9-mstd0.5-inc1",
                                dict(translate_const=int(size * 0.45),
                                     img_mean=tuple(min(255, round(255 * x)) for x in MEAN)))
    return T.Compose([T.RandomHorizontalFlip(0.5), aa,
                      T.RandomResizedCrop(size, scale=scale, interpolation=T.InterpolationMode.BICUBIC),
                      T.ToTensor(), RandomErasing(0.25, mode="pixel", max_count=1, num_splits=0, device="cpu")])


class DataAugmentation:
    """The reference composition (weak/strong global and local crops, per-image weak flag), sizes as parameters."""

    def __init__(self, global_size, local_size, local_number, global_scale=(0.25, 1.0), local_scale=(0.05, 0.25),
                 prob=0.5):
        self.prob = prob
        flip_jitter = T.Compose([T.RandomHorizontalFlip(p=0.5),
                                 T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
                                 T.RandomGrayscale(p=0.2)])
        # use_prefetcher=True (the reference default): ToTensor here, normalisation later; we normalise here so
        # both pipelines end with normalised float crops.
        normalize = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
        bic = T.InterpolationMode.BICUBIC
        self.g1 = T.Compose([T.RandomResizedCrop(global_size, scale=global_scale, interpolation=bic), flip_jitter,
                             GaussianBlur(1.0), normalize])
        self.g2 = T.Compose([T.RandomResizedCrop(global_size, scale=global_scale, interpolation=bic), flip_jitter,
                             GaussianBlur(0.1), Solarization(0.2), normalize])
        self.g3 = T.Compose([strong(global_size, global_scale), T.Normalize(MEAN, STD)])
        self.local_number = local_number
        self.l1 = T.Compose([T.RandomResizedCrop(local_size, scale=local_scale, interpolation=bic), flip_jitter,
                             GaussianBlur(p=0.5), normalize])
        self.l2 = T.Compose([strong(local_size, local_scale), T.Normalize(MEAN, STD)])

    def __call__(self, image):
        crops = [self.g1(image), self.g2(image)]
        weak = False
        if self.prob < 1.0 and random.random() > self.prob:
            crops += [self.g3(image), self.g3(image)]
        else:
            crops += [self.g1(image), self.g2(image)]
            weak = True
        for _ in range(self.local_number):
            crops.append(self.l2(image) if self.prob < 1.0 and random.random() > self.prob else self.l1(image))
        return crops, weak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=["paper", "cpu"], required=True)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--jpeg-dir", default="/tmp/mugs-bench-jpeg-500x375")
    args = ap.parse_args()
    torch.set_num_threads(1)
    random.seed(0)
    torch.manual_seed(0)
    if args.preset == "paper":
        aug = DataAugmentation(224, 96, 10)
        files = sorted(os.listdir(args.jpeg_dir))[: args.images + 3]
        assert len(files) == args.images + 3, f"need {args.images + 3} JPEGs in {args.jpeg_dir}"
        load = lambda i: Image.open(os.path.join(args.jpeg_dir, files[i])).convert("RGB")
        warm = 3
    else:
        aug = DataAugmentation(32, 16, 6)
        raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
        imgs = np.frombuffer(raw[16:], np.uint8).reshape(-1, 28, 28)
        load = lambda i: Image.fromarray(imgs[i % len(imgs)], "L").convert("RGB")
        warm = 20
    for i in range(warm):
        aug(load(i))
    t0 = time.perf_counter()
    for i in range(warm, warm + args.images):
        crops, _ = aug(load(i))
    seconds = time.perf_counter() - t0
    print(f"{args.preset}: {args.images} images in {seconds:.2f} s, {len(crops)} crops each (torch "
          f"{torch.__version__}, 1 thread)")
    print(f"RESULT {args.preset} img/s {args.images / seconds:.3f}")


if __name__ == "__main__":
    main()
