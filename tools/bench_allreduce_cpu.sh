#!/usr/bin/env bash
# bench_allreduce_cpu.sh — CPU time per all-reduce beside wall time: mugs (shared-memory payloads and every payload
# over loopback TCP) and torch.distributed gloo, same sizes, same machine, one after the other.
#
# Why: on a box with fewer cores than ranks (N=4 here on 2 cores) the all-reduce is CPU-bound, and busbw is then
# capped by the CPU each operation needs: at best cores / (CPU seconds per op). This prints that cap beside the
# measured figure, so a ratio against gloo can be read as "less CPU per byte" or "better overlap".
#
# Method: each implementation runs twice, with A and B timed iterations (`--iters "A B"`, default "5 35"), at one
# size (default 64 MiB, where no implementation halves its iteration count). The busy CPU time of the whole machine
# (/proc/stat: user+nice+system+irq+softirq+steal, in USER_HZ ticks) is read around each run; CPU per op is the
# difference divided by B−A, so process start-up, connection set-up and warm-ups cancel. mugs runs with --no-refill
# (the buffer is filled once, as gloo_allreduce.py does) so no untimed refill is counted. Wall ms is the median per-op
# time of the B run; "cores" = CPU/wall is how many cores the operation kept busy; "cap" is the busbw the machine's
# cores would allow at that CPU per op. The machine must otherwise be idle: every busy tick counts.
#
# Usage: tools/bench_allreduce_cpu.sh [--workers "2 4"] [--size 64] [--iters "5 35"]
# Env:   PYTHON, BENCH_DIR, SCRATCH, MUGS as for tools/bench_allreduce.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

workers="2 4"; size=64; iters="5 35"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --workers) workers="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --iters) iters="$2"; shift 2 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
read -r iters_a iters_b <<<"$iters"
[[ "$iters_a" =~ ^[0-9]+$ && "$iters_b" =~ ^[0-9]+$ && "$iters_b" -gt "$iters_a" ]] \
    || { echo "--iters wants two counts A < B, got \"$iters\"" >&2; exit 2; }
[[ "$size" =~ ^[0-9]+$ && "$size" -ge 1 && "$size" -lt 256 ]] \
    || { echo "--size wants MiB in 1...255 (at 256 both tools halve the iteration count), got \"$size\"" >&2; exit 2; }
bench_dir="${BENCH_DIR:-../shared/bench}"
source tools/bench_lib.sh
TORCH_BENCH="$bench_dir/gloo_allreduce.py" bench_setup gloo_allreduce.py
cores=$(nproc)
hz=$(getconf CLK_TCK)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# measure NAME N ITERS CMD...: runs CMD, appends "NAME N ITERS ticks median_ms" to $work/runs.
measure() {
    local name=$1 n=$2 it=$3; shift 3
    local t0 t1 out
    t0=$(busy_ticks)
    out=$("$@")
    t1=$(busy_ticks)
    local ms
    ms=$(sed -n 's/.*time median *\([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -1)
    [[ -n "$ms" ]] || { echo "$name N=$n: no time in its output:" >&2; echo "$out" >&2; exit 1; }
    echo "$name $n $it $((t1 - t0)) $ms" >>"$work/runs"
    echo "  $name N=$n iters=$it: $((t1 - t0)) busy ticks, median $ms ms/op" >&2
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $cores cores, $size MiB, iterations $iters_a and $iters_b" >&2
for n in $workers; do
    for it in "$iters_a" "$iters_b"; do
        measure mugs-shm "$n" "$it" "$MUGS" bench allreduce --workers "$n" --size "$size" --iters "$it" --no-refill
        measure mugs-tcp "$n" "$it" "$MUGS" bench allreduce --workers "$n" --size "$size" --iters "$it" --no-refill \
            --no-shared-memory
        measure gloo "$n" "$it" "$python" "$torch_bench" --worlds "$n" --sizes "$size" --iters "$it"
    done
done

python3 - "$work/runs" "$iters_a" "$iters_b" "$size" "$cores" "$hz" <<'PY'
import sys
path = sys.argv[1]
a, b, mib, cores, hz = (int(x) for x in sys.argv[2:7])
runs = {}
for line in open(path):
    name, n, it, ticks, ms = line.split()
    runs[(name, int(n), int(it))] = (int(ticks), float(ms))
nbytes = mib * 2**20
print(f"{mib} MiB all-reduce; CPU = whole-machine busy time per op ((run with {b} − run with {a}) / {b - a}); "
      f"{cores} cores; GB/s = 1e9 B/s")
print(f"{'impl':<9} {'N':>2} {'wall ms':>8} {'CPU ms':>8} {'cores':>6} {'busbw':>7} {'cap':>7}")
for n in sorted({k[1] for k in runs}):
    for name in ("mugs-shm", "mugs-tcp", "gloo"):
        if (name, n, a) not in runs or (name, n, b) not in runs: continue
        cpu_ms = (runs[(name, n, b)][0] - runs[(name, n, a)][0]) * 1000 / hz / (b - a)
        wall = runs[(name, n, b)][1]
        f = 2 * (n - 1) / n
        busbw = nbytes / (wall / 1e3) / 1e9 * f
        cap = nbytes / (cpu_ms / 1e3 / cores) / 1e9 * f if cpu_ms > 0 else float("inf")
        print(f"{name:<9} {n:>2} {wall:>8.1f} {cpu_ms:>8.1f} {cpu_ms / wall:>6.2f} {busbw:>7.2f} {cap:>7.2f}")
PY
