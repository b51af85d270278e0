#!/usr/bin/env bash
# kNN classification speed: mugs (`mugs eval knn --train-features/--val-features`, batched sgemm + per-query heaps)
# against the DINO/Mugs reference `knn_classifier` (torch CPU, dense chunks + topk) on the same random features,
# same run, same thread count. Prints both times, their ratio and both accuracies (they must agree).
#
#   tools/bench_knn.sh [NTRAIN NVAL DIM]        # default 60000 10000 192 (Fashion-MNIST × the CPU preset's width)
# Env: MUGS (default .build/release/mugs), PY (default ~/mugs-ref/bin/python), THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
NTRAIN=${1:-60000}; NVAL=${2:-10000}; DIM=${3:-192}
MUGS=${MUGS:-.build/release/mugs}; PY=${PY:-$HOME/mugs-ref/bin/python}; export THREADS=${THREADS:-2}
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT
"$PY" tools/bench_knn.py write "$D" "$NTRAIN" "$NVAL" "$DIM"
KS=10,20,100,200
t0=$(date +%s.%N)
"$MUGS" eval knn --train-features "$D/train.safetensors" --val-features "$D/val.safetensors" --k $KS \
    --threads "$THREADS" --quiet > "$D/mugs.txt"
t1=$(date +%s.%N)
ref=$("$PY" tools/bench_knn.py time "$D" $KS)
mugs_s=$(echo "$t1 - $t0" | bc -l)
ref_s=$(awk '{ print $2 }' <<<"$ref")
echo "kNN $NTRAIN train × $NVAL val × $DIM-d, k = $KS, $THREADS threads"
echo "  mugs       $(printf '%.2f' "$mugs_s") s (whole command: read files, normalise, search, vote)"
sed -n '4,$p' "$D/mugs.txt" | sed 's/^/    /'
echo "  reference  $ref_s s (knn_classifier only)   ${ref#* * }"
echo "  ratio (reference / mugs): $(printf '%.2f' "$(echo "$ref_s / $mugs_s" | bc -l)")×"
