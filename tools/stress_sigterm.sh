#!/usr/bin/env bash
# stress_sigterm.sh — checks for the worker crash at SIGTERM that the oneDNN engine used to cause (glibc "corrupted size
# vs. prev_size while consolidating", exit 134, or a segfault, exit 139): a coordinator and two local workers train
# deploy/quickstart.yaml for about 30 s, then all three get SIGTERM at once (as deploy/quickstart.sh's stop_all and
# systemd send it). Each iteration prints the three exit codes (coordinator, worker0, worker1; 0 is a clean exit, HUNG
# a process still alive 10 s after the signal) and the logs that show a crash; the last line counts the crashed runs.
#
# Usage: tools/stress_sigterm.sh [ITERATIONS]   (default 5; each takes ~35 s)
# Env:   BIN (prebuilt binaries, default .build-release/release), MUGS_GEMM (onednn | openblas: the worker's engine),
#        WORKER_ARGS (extra mugs-worker options, e.g. --no-shared-memory), HOG=1 (two busy `yes` beside the job),
#        DIR (run directories, default a new mktemp -d), PORT (default 5755; uses PORT..PORT+3).
# Cause (docs/ARCHITECTURE.md, "Signals"): the SIGTERM handler ran on the compute thread inside a oneDNN 2.6 GEMM kernel
# that points rsp into the heap (oneDNN issue #4845), so the signal frame overwrote heap memory. Measured 2026-12-04 on
# an AMD EPYC Zen 4 (family 25 model 17): with the handler, 3 of 4 runs crashed a worker (binaries of f724e25; earlier
# that day 1 of 3, and at least 8 of 12 beside HOG; MUGS_GEMM=openblas 0 of 9); with the signals taken by a sigwait
# thread (ProcessLifecycle.install), 0 of 6 and 0 of 6 beside HOG.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BIN:-.build-release/release}
N=${1:-5}
port=${PORT:-5755}
dir=${DIR:-$(mktemp -d)}
for p in mugs-coordinator mugs-worker; do [[ -x "$B/$p" ]] || { echo "no $B/$p: build first (see BENCHMARKS.md)" >&2; exit 2; }; done
hogs=()
if [[ "${HOG:-0}" = 1 ]]; then yes > /dev/null & hogs+=($!); yes > /dev/null & hogs+=($!); fi
pids=()
trap 'kill ${hogs[@]:-} 2>/dev/null; kill -9 ${pids[@]:-} 2>/dev/null' EXIT
crashed=0
read -r -a wargs <<< "${WORKER_ARGS:-}"
for i in $(seq "$N"); do
    d="$dir/run$i"; mkdir -p "$d"; echo "stress-token-$$-$i" > "$d/token"
    "$B/mugs-coordinator" --data fashion-mnist:train --config deploy/quickstart.yaml --checkpoint-dir "$d/ckpt" \
        --listen "tcp://127.0.0.1:$port" --control "127.0.0.1:$((port + 1))" --token-file "$d/token" \
        --checkpoint-every 50 --log-interval 5 > "$d/coordinator.log" 2>&1 &
    pids=($!)
    for w in 0 1; do
        "$B/mugs-worker" --coordinator "tcp://127.0.0.1:$port" --data-port $((port + 2 + w)) --threads 1 \
            --loader-threads 1 --token-file "$d/token" --name "worker$w" "${wargs[@]}" > "$d/worker$w.log" 2>&1 &
        pids+=($!)
    done
    # Train until the coordinator has logged step 100 or more (at most 60 s), then SIGTERM all three at once.
    for _ in $(seq 240); do
        grep -qE "coordinator step [0-9]{3,}/" "$d/coordinator.log" 2>/dev/null && break
        kill -0 "${pids[0]}" 2>/dev/null || break
        sleep 0.25
    done
    kill -TERM "${pids[@]}" 2>/dev/null
    codes=""
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then kill -9 "$p"; codes+=" HUNG"; wait "$p" 2>/dev/null; else wait "$p"; codes+=" $?"; fi
    done
    pids=()
    bad=$(grep -lE "corrupted|double free|Fatal error|Program crashed" "$d"/*.log 2>/dev/null | tr '\n' ' ')
    [[ -n "$bad" || "$codes" = *HUNG* ]] && crashed=$((crashed + 1))
    echo "run $i: exit codes$codes${bad:+  crashed: $bad}"
done
echo "RESULT $crashed of $N runs had a crashed or hung process (logs in $dir)"
