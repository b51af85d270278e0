#!/usr/bin/env bash
# bench_time_to_baseline.sh — how long a training run on this machine takes to pass the raw-pixel kNN baseline on
# Fashion-MNIST, and where the run gets to: the figure of BENCHMARKS.md's "Time to pass the raw-pixel baseline".
#
# In one run it measures the reference, raw pixels (`mugs eval knn --raw-pixels`, k-NN on the 28×28 pixel values),
# then trains CONFIG with a coordinator and two local workers (1 thread each) on fashion-mnist:train, checkpointing
# every EVERY epochs. At each checkpoint it pauses the whole job (SIGSTOP: the job resumes without evictions, see
# docs/OPERATIONS.md), evaluates the teacher with the full protocol (60000-image bank, 10000 test images, k, T 0.07)
# on both cores, and resumes it (SIGCONT). Training time excludes those pauses, so it is what a run without
# evaluations takes. Each evaluation prints a row; the first one above the baseline prints PASSED; the end prints
# RESULT lines (time to pass, or "not passed", and the last accuracy against the baseline).
#
# A run that was stopped (machine or session ended) continues with --resume --dir DIR: the job resumes from its
# newest checkpoint, which must be the last one evaluated (results.tsv); the baseline is not measured again (its
# figure comes from results.txt), and training and wall time continue from that checkpoint's row. The work done after
# that checkpoint was lost with the stopped processes and is redone; it counts once, in the resumed run.
#
# Usage: tools/bench_time_to_baseline.sh [--config FILE] [--every EPOCHS] [--k K] [--dir DIR] [--stop-when-passed]
#                                        [--resume]
#   --config            training config (default deploy/fashion-mnist-30ep.yaml)
#   --every             epochs between evaluated checkpoints (default 2)
#   --k                 neighbours (default 20)
#   --dir               run directory: checkpoints, logs, results.tsv (default /tmp/mugs-time-to-baseline-DATE);
#                       kept after the run
#   --stop-when-passed  stop the job at the first checkpoint above the baseline (default: train to the end)
#   --resume            continue the stopped run in --dir (same config and --every as it was started with)
# Env:   SCRATCH (SwiftPM scratch path, default .build-release), BIN (prebuilt binaries' directory; skips the build),
#        PORT (coordinator listen port; control PORT+1, workers' data ports PORT+2, PORT+3; default 5655),
#        COORDINATOR_ARGS (extra mugs-coordinator options, e.g. "--online-knn-every 117": the online kNN rows land in
#        DIR/coordinator.log).
set -euo pipefail
cd "$(dirname "$0")/.."

config=deploy/fashion-mnist-30ep.yaml; every=2; k=20; dir=""; stop_when_passed=0; resume=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --config) config="$2"; shift 2 ;;
        --every) every="$2"; shift 2 ;;
        --k) k="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --stop-when-passed) stop_when_passed=1; shift ;;
        --resume) resume=1; shift ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[[ -f "$config" ]] || { echo "no config file $config" >&2; exit 2; }
[[ "$every" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "--every must be a number of epochs, got '$every'" >&2; exit 2; }
if [[ -z "${BIN:-}" ]]; then
    scratch="${SCRATCH:-.build-release}"
    for p in mugs mugs-coordinator mugs-worker; do swift build -c release --scratch-path "$scratch" --product "$p" >&2; done
    BIN="$scratch/release"
fi
BIN=$(cd "$BIN" && pwd)
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
train0=0; wall0=0; passed=""; done_steps=" "
if [[ $resume = 1 ]]; then
    [[ -n "$dir" && -d "$dir/ckpt" && -f "$dir/results.tsv" && -f "$dir/results.txt" ]] \
        || { echo "--resume needs --dir of an earlier run (with ckpt/, results.tsv and results.txt)" >&2; exit 2; }
    dir=$(cd "$dir" && pwd)
    read -r base1 base5 < <(sed -n 's/^reference: raw pixels *top-1 \([0-9.]*\) % *top-5 \([0-9.]*\) %.*/\1 \2/p' \
        "$dir/results.txt" | tail -1) || true
    [[ -n "${base1:-}" ]] || { echo "$dir/results.txt has no 'reference: raw pixels' line to resume from" >&2; exit 2; }
    newest=$(ls -d "$dir"/ckpt/step-* 2>/dev/null | sort | tail -1)
    read -r lstep train0 wall0 < <(awk -F'\t' 'NR > 1 { s = $1; t = $3; w = $4 } END { print s, t, w }' \
        "$dir/results.tsv")
    [[ -n "$newest" && -n "${lstep:-}" && $((10#${newest##*-})) = "$lstep" ]] || {
        echo "cannot resume $dir: its newest checkpoint (${newest:-none}) is not the last evaluated one" \
            "(step ${lstep:-none} in results.tsv), so the training time up to it is unknown" >&2; exit 2; }
    for d in "$dir"/ckpt/step-*; do done_steps+="${d##*-} "; done
    passed=$(awk -F'\t' -v b="$base1" 'NR > 1 && $5 > b { print $1, $2, $3, $5; exit }' "$dir/results.tsv")
else
    dir="${dir:-/tmp/mugs-time-to-baseline-$(date -u +%Y%m%d-%H%M%S)}"
    mkdir -p "$dir"
    [[ -e "$dir/ckpt" ]] && { echo "$dir/ckpt exists: give a new --dir, or --resume to continue it" >&2; exit 2; }
fi
port="${PORT:-5655}"
[[ $resume = 1 && -f "$dir/token" ]] || echo "bench-token-$$-$RANDOM" > "$dir/token"
pids=()
cleanup() { for p in "${pids[@]:-}"; do [[ -n "$p" ]] && { kill -CONT "$p"; kill -9 "$p"; } 2>/dev/null || true; done; }
trap cleanup EXIT
log() { echo "$@" | tee -a "$dir/results.txt"; }

batch=$(sed -n 's/^batch_size: *\([0-9]*\).*/\1/p' "$config")
images=60000
steps_every=$(python3 -c "print(max(1, round($every * $images / $batch)))")
log "== $(date -u '+%Y-%m-%d %H:%M UTC') $(uname -n), $(nproc) cores; config $config (batch $batch); dir $dir"
[[ $resume = 0 ]] \
    || log "   resumed from step $lstep: training time continues from $train0 min, wall time from $wall0 min"
log "   OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; kNN k = $k, full protocol (60000 bank, 10000 test, T 0.07)"

knn() {  # $@ = what to evaluate; prints "top1 top5"
    "$BIN/mugs" eval knn "$@" --train fashion-mnist:train --val fashion-mnist:test --k "$k" --threads "$(nproc)" \
        --no-cache --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print("%.2f %.2f" % (r["top1"], r["top5"]))'
}

if [[ $resume = 0 ]]; then
    read -r base1 base5 < <(knn --raw-pixels) || true
    [[ -n "${base1:-}" ]] \
        || { echo "the raw-pixel evaluation failed (is dataset-fashion-mnist installed?)" >&2; exit 1; }
    log "reference: raw pixels  top-1 $base1 %  top-5 $base5 %"
fi

"$BIN/mugs-coordinator" --data fashion-mnist:train --config "$config" --checkpoint-dir "$dir/ckpt" \
    --listen "tcp://127.0.0.1:$port" --control "127.0.0.1:$((port + 1))" --token-file "$dir/token" \
    --checkpoint-every "$steps_every" --checkpoint-minutes 0 --keep-checkpoints 1000 --log-interval 60 \
    ${COORDINATOR_ARGS:-} >> "$dir/coordinator.log" 2>&1 &
coordinator=$!; pids+=("$coordinator")
for w in 0 1; do
    "$BIN/mugs-worker" --coordinator "tcp://127.0.0.1:$port" --data-port $((port + 2 + w)) --threads 1 \
        --loader-threads 1 --token-file "$dir/token" --name "worker$w" >> "$dir/worker$w.log" 2>&1 &
    pids+=("$!")
done
start=$(date +%s.%N); pauses=""; last=""
log "$(printf '%8s %7s %14s %12s %9s %9s' step epoch 'train min' 'wall min' 'top-1 %' 'top-5 %')"
[[ $resume = 1 ]] || printf 'step\tepoch\ttrain_min\twall_min\ttop1\ttop5\n' > "$dir/results.tsv"

evaluate() {  # $1 = checkpoint directory; the job is paused around the evaluation
    local d=$1 step t0 t1 at top1 top5 train wall epoch
    step=$((10#${d##*-}))
    at=$(stat -c %.9Y "$d") # when the checkpoint's last file was written
    t0=$(date +%s.%N)
    for p in "${pids[@]}"; do kill -STOP "$p" 2>/dev/null || true; done
    read -r top1 top5 < <(knn --checkpoint "$d") || true
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
    t1=$(date +%s.%N)
    pauses+="($t0, $t1),"
    # Only the pauses that began before this checkpoint was written count against its training time.
    train=$(python3 -c "print(f'{$train0 + ($at - $start - sum(b - a for a, b in [$pauses] if a < $at)) / 60:.1f}')")
    wall=$(python3 -c "print(f'{$wall0 + ($at - $start) / 60:.1f}')")
    epoch=$(python3 -c "print(f'{$step * $batch / $images:.2f}')")
    [[ -n "${top1:-}" ]] || { log "evaluating $d failed; see the output above"; return; }
    log "$(printf '%8d %7s %14s %12s %9s %9s' "$step" "$epoch" "$train" "$wall" "$top1" "$top5")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$step" "$epoch" "$train" "$wall" "$top1" "$top5" >> "$dir/results.tsv"
    last="$step $epoch $train $top1"
    if [[ -z "$passed" ]] && python3 -c "import sys; sys.exit(0 if $top1 > $base1 else 1)"; then
        passed="$step $epoch $train $top1"
        log "PASSED the raw-pixel baseline ($base1 %) at step $step (epoch $epoch): $top1 % after $train min of training"
        if [[ $stop_when_passed = 1 ]]; then kill -TERM "$coordinator" 2>/dev/null || true; fi
    fi
}

while true; do
    running=1; kill -0 "$coordinator" 2>/dev/null || running=0
    for d in "$dir"/ckpt/step-*; do
        [[ -d "$d" && "$done_steps" != *" ${d##*-} "* ]] || continue
        done_steps+="${d##*-} "
        evaluate "$d"
    done
    [[ $running = 0 ]] && break
    sleep 2
done
wait "$coordinator" && status=0 || status=$?
[[ $status = 0 ]] || log "coordinator exited with status $status; see $dir/coordinator.log"
[[ -n "$last" ]] || { log "RESULT no checkpoint was evaluated; see $dir/coordinator.log"; exit 1; }
read -r lstep lepoch ltrain ltop1 <<< "$last"
if [[ -n "$passed" ]]; then
    read -r pstep pepoch ptrain ptop1 <<< "$passed"
    log "RESULT passed the raw-pixel baseline: ${ptrain} min of training (epoch $pepoch, step $pstep), $ptop1 % vs $base1 %"
else
    log "RESULT not passed: the last checkpoint (epoch $lepoch, ${ltrain} min of training) reached $ltop1 % vs $base1 %"
fi
log "RESULT last checkpoint: epoch $lepoch, ${ltrain} min of training, top-1 $ltop1 % = $(python3 -c "print(f'{$ltop1 / $base1:.3f}')") × the raw-pixel baseline"
