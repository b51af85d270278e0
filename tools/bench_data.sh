#!/usr/bin/env bash
# Data pipeline benchmark: mugs (release) vs the torchvision + PIL + timm reference, same inputs, same run, one core.
# Usage: tools/bench_data.sh [extra `mugs bench data` options]   (run from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${MUGS_REF_PYTHON:-$HOME/mugs-ref/bin/python}
scratch=${SCRATCH:-.build-bench}
swift build -c release --scratch-path "$scratch" --product mugs >/dev/null
"$scratch/release/mugs" bench data --reference "$python" "$@"
