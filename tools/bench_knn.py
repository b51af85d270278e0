"""Reference side of tools/bench_knn.sh: writes random features in mugs' feature-file layout and times the DINO/Mugs
reference `knn_classifier` (torch, CPU) on them.

    ~/mugs-ref/bin/python tools/bench_knn.py write DIR NTRAIN NVAL DIM     # DIR/{train,val}.safetensors
    ~/mugs-ref/bin/python tools/bench_knn.py time DIR K1,K2,...            # prints 'reference_seconds S' and accuracies
"""
import sys
import time

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from make_eval_fixtures import knn_classifier  # noqa: E402  (the reference's function, re-implemented)


def write(d, ntrain, nval, dim):
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(10, dim, generator=g)
    for name, n in (("train", ntrain), ("val", nval)):
        labels = torch.randint(0, 10, (n,), generator=g)
        feats = centres[labels] + 8.0 * torch.randn(n, dim, generator=g)
        save_file({"features": feats.contiguous(), "labels": labels.float()}, f"{d}/{name}.safetensors",
                  metadata={"format": "mugs features", "class_names": "[]"})


def timed(d, ks):
    tr, va = load_file(f"{d}/train.safetensors"), load_file(f"{d}/val.safetensors")
    a = torch.nn.functional.normalize(tr["features"], dim=1, p=2)
    b = torch.nn.functional.normalize(va["features"], dim=1, p=2)
    ya, yb = tr["labels"].long(), va["labels"].long()
    t0 = time.time()
    out = []
    for k in ks:
        top1, top5, *_ = knn_classifier(a, ya, b, yb, k, 0.07, 10)
        out.append(f"k={k}: {top1:.2f}/{top5:.2f}")
    print(f"reference_seconds {time.time() - t0:.2f}  ({'; '.join(out)})")


if __name__ == "__main__":
    torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
    if sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        timed(sys.argv[2], [int(k) for k in sys.argv[3].split(",")])
