#!/usr/bin/env bash
# bench_gemm.sh — sgemm at the model's shapes: every mugs engine (`mugs bench gemm`) beside PyTorch's matmul (MKL)
# in the same run, with the FMA peak; prints SUMMARY lines with the ratios mugs/torch and mugs/peak.
#
# Usage: tools/bench_gemm.sh [--threads N] [--reps R]
# Env:   PYTHON (default ~/mugs-ref/bin/python), SCRATCH (default .build-release), MUGS (a prebuilt mugs binary).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2; reps=15
while [[ $# -gt 0 ]]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
source tools/bench_lib.sh
TORCH_BENCH=tools/bench_gemm_torch.py bench_setup bench_gemm_torch.py
ours=$("$MUGS" bench gemm --threads "$threads" --reps "$reps" | to_stderr_too)
theirs=$("$python" tools/bench_gemm_torch.py --threads "$threads" --reps "$reps" | to_stderr_too)
torch_geo=$(sed -n 's/^RESULT gemm engine=torch.* geomean \([0-9.]*\) GFLOP.*/\1/p' <<<"$theirs")
sed -n 's/^RESULT gemm engine=\([a-z]*\) threads=\([0-9]*\) geomean \([0-9.]*\) GFLOP\/s = \([0-9.]*\)% of the FMA peak.*/\1 \2 \3 \4/p' \
    <<<"$ours" | while read -r engine t geo peakpct; do
    [[ "$t" == "$threads" ]] || continue
    awk -v e="$engine" -v t="$t" -v a="$geo" -v b="$torch_geo" -v p="$peakpct" 'BEGIN {
        printf "SUMMARY gemm %-8s threads %s  mugs %6.1f GFLOP/s  torch %6.1f GFLOP/s  ratio %.2fx  %.1f%% of FMA peak\n",
               e, t, a, b, a / b, p }'
done
