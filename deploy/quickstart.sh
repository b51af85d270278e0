#!/usr/bin/env bash
# mugs quick start: from a clean clone to a trained, evaluated and exported backbone on this machine.
#
#   ./deploy/quickstart.sh
#
# 1. installs the Debian packages that are missing (deploy/apt-packages.txt, incl. dataset-fashion-mnist);
# 2. builds mugs in release mode (needs a Swift 6 toolchain: https://www.swift.org/install/linux/);
# 3. starts a coordinator and two workers on this machine and trains a small ViT (deploy/quickstart.yaml) on
#    fashion-mnist:train for five epochs — about 12 minutes on a 2-core AMD EPYC (Zen 4 in bf16, Zen 5 in fp32) —
#    showing progress;
# 4. runs the kNN evaluation (DINO/Mugs protocol, full: 60000-image bank) on fashion-mnist:test with the trained
#    teacher, the same network at its random initialisation, and raw pixels, and prints the three side by side;
# 5. exports the teacher backbone for timm and prints where everything is.
#
# Settings (environment): MUGS_QUICKSTART_DIR (default ~/.local/share/mugs/quickstart), MUGS_QUICKSTART_STEPS (stop
# earlier than the five-epoch schedule), MUGS_QUICKSTART_PRECISION (auto: bf16 where the CPU has AVX512_BF16, else
# fp32; or fp32, bf16), MUGS_QUICKSTART_KNN_TRAIN (train images in the kNN bank, default all 60000:
# the full protocol of docs/EVALUATION.md), MUGS_QUICKSTART_KNN_VAL (test images evaluated, default all
# 10000), MUGS_PORT (5555), MUGS_CONTROL_PORT (8750),
# MUGS_DATA_PORT (5601, the workers use it and the next one), MUGS_SWIFT_BUILD_FLAGS (extra `swift build` flags,
# e.g. --scratch-path .build-x).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BASE=${MUGS_QUICKSTART_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/mugs/quickstart}
RUN=$BASE/run-$(date +%Y%m%d-%H%M%S)
KNN_TRAIN=${MUGS_QUICKSTART_KNN_TRAIN:-60000}
KNN_VAL=${MUGS_QUICKSTART_KNN_VAL:-}
PORT=${MUGS_PORT:-5555}
CONTROL_PORT=${MUGS_CONTROL_PORT:-8750}
DATA_PORT=${MUGS_DATA_PORT:-5601}
say() { printf '\n== %s\n' "$*"; }
# Any command that fails ends the script with what failed and where to look (never silently: set -e alone exits
# without a word, and the EXIT trap then stops the job).
LOGS="(none yet)"
trap 'rc=$?; echo "quickstart: failed (exit $rc) at deploy/quickstart.sh line $LINENO: $BASH_COMMAND" >&2;
      echo "quickstart: logs: $LOGS" >&2' ERR
fail() { echo "quickstart: $*" >&2; echo "quickstart: logs: $LOGS" >&2; exit 1; }

# --- 1. system packages ---------------------------------------------------------------------------------------------
say "1/5 system packages"
missing=()
# chromium is only for the test suite's dashboard browser test: the quick start does not need or install it.
for p in $(grep -v '^#' deploy/apt-packages.txt | grep -vx chromium); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "every package of deploy/apt-packages.txt the quick start needs is installed"
fi
if ! command -v swift >/dev/null; then
    echo "no Swift toolchain on PATH: install Swift 6 (https://www.swift.org/install/linux/, Debian 12 tarball) and" \
         "run this script again" >&2
    exit 1
fi

# --- 2. build -------------------------------------------------------------------------------------------------------
say "2/5 building (release; the first build takes several minutes)"
mkdir -p "$BASE"
read -r -a BUILD_FLAGS <<<"${MUGS_SWIFT_BUILD_FLAGS:-}"
if ! swift build -c release "${BUILD_FLAGS[@]}" > "$BASE.build.log" 2>&1; then
    grep -E "error" "$BASE.build.log" | head -n 20 >&2
    echo "the build failed; full log: $BASE.build.log" >&2
    exit 1
fi
tail -n 1 "$BASE.build.log"
BIN=$(swift build -c release "${BUILD_FLAGS[@]}" --show-bin-path)
for b in mugs mugs-coordinator mugs-worker; do
    [ -x "$BIN/$b" ] || { echo "the build did not produce $BIN/$b; run 'swift build -c release' to see why" >&2; exit 1; }
done

# --- 3. train -------------------------------------------------------------------------------------------------------
for p in "$PORT" "$CONTROL_PORT" "$DATA_PORT" $((DATA_PORT + 1)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p on 127.0.0.1 is in use (another mugs job?); set MUGS_PORT / MUGS_CONTROL_PORT / MUGS_DATA_PORT" >&2
        exit 1
    fi
done
# Precision of the matrix products: bf16 (fp32 accumulation, fp32 update path) where the CPU has AVX512_BF16 — the
# same learning, faster (docs/RECIPES.md: T0 bf16, and the quick start's bf16 run in docs/DEPLOY.md) — and fp32
# everywhere else. Chosen before the run directory exists, so a bad setting leaves nothing behind.
PRECISION=${MUGS_QUICKSTART_PRECISION:-auto}
BF16_INFO=$("$BIN/mugs" info 2>&1 | grep '^precision bf16:' || true)
case "$PRECISION" in
    auto) case "$BF16_INFO" in "precision bf16: available"*) PRECISION=bf16 ;; *) PRECISION=fp32 ;; esac ;;
    fp32|bf16) ;;
    *) fail "MUGS_QUICKSTART_PRECISION must be auto, fp32 or bf16, got '$PRECISION'" ;;
esac
mkdir -p "$RUN"
LOGS="$RUN/{coordinator,worker0,worker1}.log"
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RUN/token")
STEPS_ARG=(); [ -n "${MUGS_QUICKSTART_STEPS:-}" ] && STEPS_ARG=(--steps "$MUGS_QUICKSTART_STEPS")
say "3/5 training: a coordinator and two workers on this machine (logs in $RUN)"
echo "  precision: $PRECISION (${BF16_INFO:-mugs info printed no bf16 line}; set MUGS_QUICKSTART_PRECISION=fp32|bf16 to choose)"
PIDS=()
stop_all() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 100); do
        alive=0; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break; sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    { wait; } 2>/dev/null || true
    PIDS=()
}
trap 'stop_all' EXIT
trap 'echo; echo "interrupted: the checkpoint directory $RUN/checkpoints keeps what was committed"; exit 130' INT TERM
"$BIN/mugs-coordinator" --data fashion-mnist:train --config deploy/quickstart.yaml \
    --checkpoint-dir "$RUN/checkpoints" --listen "tcp://127.0.0.1:$PORT" --control "127.0.0.1:$CONTROL_PORT" \
    --token-file "$RUN/token" --checkpoint-every 200 --log-interval 10 --precision "$PRECISION" "${STEPS_ARG[@]}" \
    > "$RUN/coordinator.log" 2>&1 &
COORD=$!
PIDS+=("$COORD")
for i in 0 1; do
    "$BIN/mugs-worker" --coordinator "tcp://127.0.0.1:$PORT" --threads 1 --loader-threads 1 \
        --data-port $((DATA_PORT + i)) --token-file "$RUN/token" --name "worker$i" > "$RUN/worker$i.log" 2>&1 &
    PIDS+=("$!")
done
echo "  dashboard: http://127.0.0.1:$CONTROL_PORT/ (curves, workers and attention maps, live; works offline)"
started=$SECONDS
echo "  watch it: $BIN/mugs status --control http://127.0.0.1:$CONTROL_PORT"
while kill -0 "$COORD" 2>/dev/null; do
    sleep 10
    # One line per poll from `mugs status --progress` (it parses /status, whose unknowns are explicit nulls); a poll
    # that fails (the coordinator still starting, or just finished) says so and the loop goes on.
    if line=$("$BIN/mugs" status --control "http://127.0.0.1:$CONTROL_PORT" --progress 2>&1); then
        printf '  %4ds  %s\n' $((SECONDS - started)) "$line"
    elif kill -0 "$COORD" 2>/dev/null; then  # (a poll that fails because the job just ended says nothing)
        printf '  %4ds  (status not available: %s)\n' $((SECONDS - started)) "$line"
    fi
done
if ! wait "$COORD"; then
    echo "quickstart: the coordinator failed; its log ends with:" >&2
    tail -n 20 "$RUN/coordinator.log" >&2
    fail "training did not finish"
fi
PIDS=("${PIDS[@]:1}")
stop_all
TRAIN_SECONDS=$((SECONDS - started))
{ grep -E "exits at step|checkpoint written" "$RUN/coordinator.log" || true; } | tail -n 2 | sed 's/^/  /'

# --- 4. evaluate ----------------------------------------------------------------------------------------------------
say "4/5 kNN evaluation on fashion-mnist:test (k-NN bank: the first $KNN_TRAIN train images, T = 0.07)"
KNN=(--train fashion-mnist:train --val fashion-mnist:test --limit-train "$KNN_TRAIN" --k 10,20,100,200)
if [ -n "$KNN_VAL" ]; then KNN+=(--limit-val "$KNN_VAL"); fi
LOGS="$RUN/knn-*.txt"
knn() {
    local out=$1; shift
    "$BIN/mugs" eval knn "$@" "${KNN[@]}" 2>&1 | tee "$out" || fail "mugs eval knn $* failed (output above)"
}
knn "$RUN/knn-trained.txt" --checkpoint "$RUN/checkpoints" --cache-dir "$RUN/features"
knn "$RUN/knn-random.txt" --checkpoint "$RUN/checkpoints" --random-init
knn "$RUN/knn-pixels.txt" --raw-pixels
top1() {
    local v; v=$(awk '$1 == 20 { print $2 }' "$1")
    [ -n "$v" ] || fail "no k = 20 row in $1"
    echo "$v"
}

# --- 5. export ------------------------------------------------------------------------------------------------------
say "5/5 export for timm"
"$BIN/mugs" export --checkpoint "$RUN/checkpoints" --out "$RUN/backbone.safetensors" \
    || fail "mugs export --checkpoint $RUN/checkpoints failed"

say "result"
printf '  kNN top-1 on fashion-mnist:test (k = 20):\n'
printf '    trained teacher (%d s of training)   %6s %%\n' "$TRAIN_SECONDS" "$(top1 "$RUN/knn-trained.txt")"
printf '    same network, random init          %6s %%\n' "$(top1 "$RUN/knn-random.txt")"
printf '    raw pixels                         %6s %%\n' "$(top1 "$RUN/knn-pixels.txt")"
TRAINED=$(top1 "$RUN/knn-trained.txt"); PIXELS=$(top1 "$RUN/knn-pixels.txt")
if awk -v a="$TRAINED" -v b="$PIXELS" 'BEGIN { exit !(a > b) }'; then
    printf '  the trained teacher is %s points above raw pixels\n' "$(awk -v a="$TRAINED" -v b="$PIXELS" 'BEGIN { printf "%.2f", a - b }')"
else
    printf '  the trained teacher is %s points below raw pixels: this short run does not beat them yet; longer\n' \
        "$(awk -v a="$TRAINED" -v b="$PIXELS" 'BEGIN { printf "%.2f", b - a }')"
    printf '  recipes and their measured kNN are in docs/RECIPES.md\n'
fi
printf '  checkpoint:        %s\n' "$(readlink -f "$RUN/checkpoints/latest")"
printf '  exported backbone: %s\n' "$RUN/backbone.safetensors"
printf '  logs:              %s/{coordinator,worker0,worker1}.log\n' "$RUN"
printf '  next: mugs eval linear --checkpoint %s --train fashion-mnist:train --val fashion-mnist:test --epochs 20\n' \
    "$RUN/checkpoints"
printf '        mugs attention --checkpoint %s --image fashion-mnist:test#0 --out %s/attention\n' "$RUN/checkpoints" "$RUN"
