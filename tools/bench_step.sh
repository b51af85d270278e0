#!/usr/bin/env bash
# bench_step.sh — the full Mugs training step (teacher fwd, student fwd, losses, backward, update): mugs vs PyTorch
# eager, in the same run.
#
# For each configuration (cpu: the cpu_fashion_mnist preset, batch 64; paper: vit_small_imagenet, batch 8) it runs
# `mugs bench step` and `../shared/bench/torch_mugs_step.py` (2 threads) back to back, prints both img/s (medians
# of the timed steps, each run also prints its phase breakdown) and the ratio mugs/torch; once per GEMM engine
# (`--engines`, default "onednn openblas"; the torch run is repeated beside each).
#
# With --bf16 it instead measures mixed precision (issue 15) on oneDNN: per configuration one `mugs bench step
# --precision fp32,bf16` (the two precisions' steps interleaved in one process, so the machine's noise hits both
# alike; it prints their ratio), then PyTorch fp32 and PyTorch under CPU autocast bf16 (`--bf16`), and SUMMARY lines
# with mugs bf16 / mugs fp32, mugs bf16 / torch bf16 and mugs fp32 / torch fp32.
#
# Usage: tools/bench_step.sh [--steps N] [--warmup N] [--threads N] [--configs "cpu paper"] [--engines "onednn openblas"]
#                            [--bf16]
# Env:   PYTHON (default ~/mugs-ref/bin/python), TORCH_BENCH (default ../shared/bench/torch_mugs_step.py),
#        SCRATCH (SwiftPM scratch path, default .build-release), MUGS (a prebuilt mugs binary; skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."

steps=10; warmup=2; threads=2; configs="cpu paper"; engines="onednn openblas"; bf16=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --configs) configs="$2"; shift 2 ;;
        --engines) engines="$2"; shift 2 ;;
        --bf16) bf16=1; shift ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
source tools/bench_lib.sh  # the script runs from the repository root (cd above)
bench_setup torch_mugs_step.py

run_all() {
    local label="$1" gemm="$2"; shift 2
    echo "== $label"
    for config in $configs; do
        local preset=cpu_fashion_mnist batch=64
        [[ "$config" == paper ]] && { preset=vit_small_imagenet; batch=8; }
        local ours theirs
        ours=$("$@" "$MUGS" bench step --gemm "$gemm" --preset "$preset" --batch "$batch" --threads "$threads" --steps "$steps" \
               --warmup "$warmup" | to_stderr_too | median_ips)
        theirs=$("$@" "$python" "$torch_bench" --config "$config" --batch "$batch" --threads "$threads" \
                 --steps "$steps" --warmup "$warmup" --no-flops | to_stderr_too | median_ips)
        awk -v l="$label" -v s="$config" -v a="$ours" -v b="$theirs" 'BEGIN {
            printf "SUMMARY %-40s %-5s mugs %7.2f img/s   torch %7.2f img/s   ratio %.2fx\n", l, s, a, b, a / b }'
    done
}

run_bf16() {
    echo "== precision fp32 vs bf16 (gemm onednn, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
    for config in $configs; do
        local preset=cpu_fashion_mnist batch=64
        [[ "$config" == paper ]] && { preset=vit_small_imagenet; batch=8; }
        local out f32 b16 ratio t32 t16
        out=$("$MUGS" bench step --gemm onednn --precision fp32,bf16 --preset "$preset" --batch "$batch" \
              --threads "$threads" --steps "$steps" --warmup "$warmup" | to_stderr_too)
        f32=$(grep 'precision=fp32' <<< "$out" | median_ips)
        b16=$(grep 'precision=bf16' <<< "$out" | median_ips)
        ratio=$(sed -n 's/^RATIO bf16\/fp32 img\/s \([0-9.]*\).*/\1/p' <<< "$out")
        t32=$("$python" "$torch_bench" --config "$config" --batch "$batch" --threads "$threads" --steps "$steps" \
              --warmup "$warmup" --no-flops | to_stderr_too | median_ips)
        t16=$("$python" "$torch_bench" --config "$config" --batch "$batch" --threads "$threads" --steps "$steps" \
              --warmup "$warmup" --no-flops --bf16 | to_stderr_too | median_ips)
        awk -v s="$config" -v a="$f32" -v b="$b16" -v r="$ratio" -v c="$t32" -v d="$t16" 'BEGIN {
            printf "SUMMARY %-5s mugs fp32 %7.2f  mugs bf16 %7.2f img/s (bf16/fp32 %.2fx, interleaved)   torch fp32 %7.2f  torch bf16 %7.2f img/s   mugs bf16/torch bf16 %.2fx   mugs fp32/torch fp32 %.2fx\n", s, a, b, r, c, d, b / d, a / c }'
    done
}

if [[ $bf16 = 1 ]]; then run_bf16; exit 0; fi

for engine in $engines; do
    run_all "gemm $engine (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" "$engine" env
done
