#!/usr/bin/env bash
# bench_job.sh — overhead of the distributed path: steady-state img/s of mugs-coordinator + N mugs-workers against
# the single-process step (`mugs bench step`) in the same run, on the cpu_fashion_mnist preset, fashion-mnist:train.
#
# It runs, back to back: `mugs bench step --threads T` (before), a job with 1 worker (--threads T), a job with 2
# workers (--threads T each), two `mugs bench step --batch B/2` side by side (what the machine gives two concurrent
# compute processes), and `mugs bench step` again (after). Job img/s = global batch / median interval between
# committed steps (the first interval is dropped). Prints every figure and the ratios.
#
# Usage: tools/bench_job.sh [--steps N] [--threads T]
# Env:   SCRATCH (SwiftPM scratch path, default .build-release), BIN (prebuilt binaries' directory; skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."

steps=11; threads=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
if [[ -z "${BIN:-}" ]]; then
    scratch="${SCRATCH:-.build-release}"
    for p in mugs mugs-coordinator mugs-worker; do swift build -c release --scratch-path "$scratch" --product "$p" >&2; done
    BIN="$scratch/release"
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo "bench-token-$$" > "$work/token"
pids=()
cleanup() { for p in "${pids[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

bench_step() {  # $1 = extra args; prints img/s median
    "$BIN/mugs" bench step --preset cpu_fashion_mnist --threads "$threads" --steps 6 --warmup 2 $1 \
        | sed -n 's/.*img\/s median \([0-9.]*\).*/\1/p'
}

job() {  # $1 = workers; prints img/s
    local n=$1 dir="$work/job$1" port=$((5700 + RANDOM % 200)) ctl=$((8700 + RANDOM % 200))
    mkdir -p "$dir"
    "$BIN/mugs-coordinator" --data fashion-mnist:train --preset cpu_fashion_mnist --checkpoint-dir "$dir/ckpt" \
        --listen "tcp://127.0.0.1:$port" --control "127.0.0.1:$ctl" --token-file "$work/token" --steps "$steps" \
        --checkpoint-every 0 --checkpoint-minutes 0 --log-format json 2> "$dir/coordinator.log" &
    local c=$!; pids+=("$c")
    for ((w = 0; w < n; w++)); do
        "$BIN/mugs-worker" --coordinator "tcp://127.0.0.1:$port" --data-port $((port + 300 + w)) --threads "$threads" \
            --token-file "$work/token" --name "w$w" 2> "$dir/w$w.log" &
        pids+=("$!")
    done
    wait "$c"
    python3 - "$dir/coordinator.log" <<'PY'
import json, sys, datetime
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
t = [datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() for e in ev if e["event"] == "step"]
d = sorted(b - a for a, b in zip(t[1:], t[2:]))
m = d[len(d) // 2] if len(d) % 2 else (d[len(d) // 2 - 1] + d[len(d) // 2]) / 2
print(f"{64 / m:.2f}")
PY
}

before=$(bench_step "")
one=$(job 1)
two=$(job 2)
half_a=$(mktemp); bench_step "--batch 32" > "$half_a" & hp=$!; half_b=$(bench_step "--batch 32"); wait $hp
pair=$(python3 -c "print(f'{$(cat "$half_a") + $half_b:.2f}')")
after=$(bench_step "")
ref=$(python3 -c "print(f'{($before + $after) / 2:.2f}')")
echo "single-process step (mugs bench step, $threads thread(s)): before $before img/s, after $after img/s, mean $ref"
echo "1 worker ($threads thread(s)):  $one img/s   ratio to the single process $(python3 -c "print(f'{$one / $ref:.3f}')")"
echo "2 workers ($threads thread(s) each): $two img/s   two concurrent single processes at batch 32: $pair img/s" \
     "  ratio $(python3 -c "print(f'{$two / $pair:.3f}')")"
