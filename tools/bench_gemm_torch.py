"""PyTorch's CPU matmul (MKL in the PyPI wheel) at the shapes of `mugs bench gemm`, for the same-run ratio.

Usage: python tools/bench_gemm_torch.py [--threads N] [--reps R]
Prints one line per shape and a RESULT line with the geometric mean GFLOP/s (format as `mugs bench gemm`).
"""
import argparse
import math
import time

import torch

# name, M, N, K, transA, transB — keep in step with Sources/MugsCLI/Mugs+BenchGemm.swift
SHAPES = [
    ("cpu   qkv fwd", 4160, 576, 192, False, True),
    ("cpu   fc1 fwd", 4160, 768, 192, False, True),
    ("cpu   fc2 fwd", 4160, 192, 768, False, True),
    ("cpu   fc1 dInp", 4160, 192, 768, False, False),
    ("cpu   fc1 dW", 768, 192, 4160, True, False),
    ("paper qkv fwd", 3152, 1152, 384, False, True),
    ("paper fc2 fwd", 3152, 384, 1536, False, True),
    ("paper fc1 dInp", 3152, 384, 1536, False, False),
    ("paper fc1 dW", 1536, 384, 3152, True, False),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} mkl={torch.backends.mkl.is_available()} "
          f"cpu capability={torch.backends.cpu.get_cpu_capability()}")
    rates = []
    for name, M, N, K, ta, tb in SHAPES:
        g = torch.Generator().manual_seed(M * N + K)
        a = torch.randn(K, M, generator=g).t() if ta else torch.randn(M, K, generator=g)
        b = torch.randn(N, K, generator=g).t() if tb else torch.randn(K, N, generator=g)
        out = torch.empty(M, N)
        times = []
        for i in range(args.reps + 2):
            t0 = time.perf_counter()
            torch.mm(a, b, out=out)
            if i >= 2:
                times.append(time.perf_counter() - t0)
        times.sort()
        med, flops = times[len(times) // 2], 2.0 * M * N * K
        rates.append(flops / med * 1e-9)
        print(f"{name:15s} M={M:5d} N={N:5d} K={K:5d} {'T' if ta else 'N'}{'T' if tb else 'N'}  median {med * 1e3:7.3f} ms"
              f"  {flops / med * 1e-9:7.1f} GFLOP/s (best {flops / times[0] * 1e-9:7.1f})")
    geo = math.exp(sum(math.log(r) for r in rates) / len(rates))
    print(f"RESULT gemm engine=torch threads={args.threads} geomean {geo:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
