#!/usr/bin/env bash
# bench_allreduce.sh — ring all-reduce: mugs (ZeroMQ ring) vs torch.distributed gloo, in the same run, plus the raw
# ZeroMQ loopback limit.
#
# 1. `mugs bench allreduce --workers N --size S…` (N local processes on 127.0.0.1), twice: as co-located workers run
#    (segment bytes through shared memory, headers over ZeroMQ/TCP) and with --no-shared-memory (every payload over
#    loopback TCP, as between hosts),
# 2. ../shared/bench/gloo_allreduce.py (same sizes, same timing rules: barrier, timed op, max over ranks),
# 3. ../shared/bench/zmq_pingpong_thr.c (raw libzmq PUSH/PULL throughput, compiled here with gcc -O2),
# then a table per (N, size): busbw of each (nccl-tests: busbw = algbw · 2(N−1)/N), the ratios mugs/gloo (target
# ≥ 1.5 at 64 and 256 MiB) and mugs busbw as a fraction of the raw zero-copy ZeroMQ throughput for 1 MiB messages.
#
# Usage: tools/bench_allreduce.sh [--workers "2 4"] [--sizes "1 16 64 256"] [--iters N]
# Env:   PYTHON (default ~/mugs-ref/bin/python), BENCH_DIR (default ../shared/bench),
#        SCRATCH (SwiftPM scratch path, default .build-release), MUGS (a prebuilt mugs binary; skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."

workers="2 4"; sizes="1 16 64 256"; iters=10
while [[ $# -gt 0 ]]; do
    case "$1" in
        --workers) workers="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        --iters) iters="$2"; shift 2 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
bench_dir="${BENCH_DIR:-../shared/bench}"
source tools/bench_lib.sh  # the script runs from the repository root (cd above)
TORCH_BENCH="$bench_dir/gloo_allreduce.py" bench_setup gloo_allreduce.py
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== mugs ring all-reduce (co-located: shared-memory payloads)"
# shellcheck disable=SC2086
"$MUGS" bench allreduce --workers $workers --size $sizes --iters "$iters" | tee "$work/mugs.txt"

echo "== mugs ring all-reduce (--no-shared-memory: every payload over loopback TCP)"
# shellcheck disable=SC2086
"$MUGS" bench allreduce --workers $workers --size $sizes --iters "$iters" --no-shared-memory | tee "$work/tcp.txt"

echo "== torch.distributed gloo"
# shellcheck disable=SC2086
"$python" "$torch_bench" --worlds $workers --sizes $sizes --iters "$iters" | tee "$work/gloo.txt"

echo "== raw ZeroMQ loopback (zmq_pingpong_thr.c)"
gcc -O2 -o "$work/zmq_thr" "$bench_dir/zmq_pingpong_thr.c" -lzmq
"$work/zmq_thr" | tee "$work/zmq.txt"

echo "== summary (GB/s = 1e9 B/s; busbw per nccl-tests)"
python3 - "$work/mugs.txt" "$work/gloo.txt" "$work/zmq.txt" "$work/tcp.txt" <<'PY'
import re, sys
mugs, gloo, tcp = {}, {}, {}
for path, table in ((sys.argv[1], mugs), (sys.argv[4], tcp)):
    for line in open(path):
        m = re.search(r"ranks=(\d+) size=(\d+) MiB .*busbw\s+([\d.]+) GB/s", line)
        if m: table[(int(m[1]), int(m[2]))] = float(m[3])
for line in open(sys.argv[2]):
    m = re.search(r"world=(\d+) size=\s*(\d+) MiB .*busbw\s+([\d.]+) GB/s", line)
    if m: gloo[(int(m[1]), int(m[2]))] = float(m[3])
raw = None
for line in open(sys.argv[3]):
    m = re.search(r"thr-zerocopy\s+msg=\s*1\.0 MiB.*->\s*([\d.]+) GB/s", line)
    if m: raw = float(m[1])
print(f"raw ZeroMQ zero-copy 1 MiB messages: {raw} GB/s")
print("busbw GB/s; 'shm' = mugs as co-located workers run it, 'tcp' = mugs --no-shared-memory")
print(f"{'N':>2} {'size':>8} {'shm':>7} {'tcp':>7} {'gloo':>7} {'shm/gloo':>9} {'tcp/gloo':>9} {'shm/raw':>8} {'tcp/raw':>8}")
def ratio(a, b, w):
    return f"{a / b:{w}.2f}" if a and b else f"{'-':>{w}}"
for key in sorted(mugs):
    n, mib = key
    s, t, g = mugs.get(key), tcp.get(key), gloo.get(key)
    print(f"{n:>2} {mib:>4} MiB {s:>7.2f} {t if t else float('nan'):>7.2f} {g if g else float('nan'):>7.2f} "
          f"{ratio(s, g, 9)} {ratio(t, g, 9)} {ratio(s, raw, 8)} {ratio(t, raw, 8)}")
PY
