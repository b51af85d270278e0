#!/usr/bin/env bash
# bench_backbone.sh — ViT backbone forward+backward: mugs vs PyTorch eager (timm), in the same run.
#
# For each shape (cpu: d=192/12/3, patch 4, 32 px, batch 64; paper: ViT-S/16 at 224 px, batch 16) it runs
# `mugs bench backbone` and `../shared/bench/torch_backbone.py` (2 threads) back to back, prints both img/s
# (medians) and the ratio mugs/torch; once per GEMM engine (`--engines`, default "onednn openblas").
#
# Usage: tools/bench_backbone.sh [--steps N] [--threads N] [--shapes "cpu paper"] [--engines "onednn openblas"]
# Env:   PYTHON (default ~/mugs-ref/bin/python), TORCH_BENCH (default ../shared/bench/torch_backbone.py),
#        SCRATCH (SwiftPM scratch path, default .build-release), MUGS (a prebuilt mugs binary; skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."

steps=10; threads=2; shapes="cpu paper"; engines="onednn openblas"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --shapes) shapes="$2"; shift 2 ;;
        --engines) engines="$2"; shift 2 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
source tools/bench_lib.sh  # the script runs from the repository root (cd above)
bench_setup torch_backbone.py

run_all() {
    local label="$1" gemm="$2"; shift 2
    echo "== $label"
    for shape in $shapes; do
        local torch_args=(); [[ "$shape" == paper ]] && torch_args=(--paper)
        local out_ours out_theirs ours theirs
        out_ours=$("$@" "$MUGS" bench backbone --gemm "$gemm" --preset "$shape" --threads "$threads" --steps "$steps")
        echo "$out_ours"
        out_theirs=$("$@" "$python" "$torch_bench" --threads "$threads" --steps "$steps" "${torch_args[@]}")
        echo "$out_theirs"
        ours=$(median_ips <<< "$out_ours"); theirs=$(median_ips <<< "$out_theirs")
        awk -v l="$label" -v s="$shape" -v a="$ours" -v b="$theirs" 'BEGIN {
            printf "SUMMARY %-40s %-5s mugs %7.1f img/s   torch %7.1f img/s   ratio %.2fx\n", l, s, a, b, a / b }'
    done
}

for engine in $engines; do
    run_all "gemm $engine (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" "$engine" env
done
