#!/usr/bin/env bash
# Multi-host test on one machine: network namespaces joined by veth links to a bridge give the coordinator and three
# workers their own addresses (10.77.0.1 coordinator, .11 .12 .13 workers). A short job runs across them; one
# worker's link is cut mid-run (the job must keep committing steps without it) and restored (the worker must rejoin
# the ring). Exit 0: passed; 77: skipped (namespaces refused by the kernel or not root — a clear message says which);
# anything else: failed (the logs are printed).
#
#   deploy/test/netns_multihost.sh [BIN_DIR]       # BIN_DIR holds mugs, mugs-coordinator, mugs-worker
#                                                  # (default: .build/release, else .build/debug)
# Needs: root (CAP_NET_ADMIN, CAP_SYS_ADMIN), iproute2, the Fashion-MNIST files (dataset-fashion-mnist).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-}
if [ -z "$BIN" ]; then
    for d in .build/release .build/debug; do [ -x "$d/mugs-worker" ] && BIN=$d && break; done
fi
for b in mugs mugs-coordinator mugs-worker; do
    [ -x "$BIN/$b" ] || { echo "FAIL: no $b in '${BIN:-?}' (swift build first, or pass BIN_DIR)"; exit 1; }
done
BIN=$(cd "$BIN" && pwd)
TAG=m$$                                   # namespace/link names unique per run (and ≤ 15 characters)
SW=$TAG-sw
HOSTS=(co w1 w2 w3)
declare -A IP=([co]=10.77.0.1 [w1]=10.77.0.11 [w2]=10.77.0.12 [w3]=10.77.0.13)
WORK=$(mktemp -d /tmp/mugs-netns.XXXXXX)
PIDS=()
TIMEOUT=${MUGS_NETNS_TIMEOUT:-150}        # seconds allowed for each phase

skip() { echo "SKIP: $*"; exit 77; }
log() { echo "[netns $(date +%H:%M:%S)] $*"; }

cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 50); do
        alive=0; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break; sleep 0.1
    done
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null && echo "note: process $p did not exit within 5 s of SIGTERM; killing it"
        kill -KILL "$p" 2>/dev/null
    done
    { wait; } 2>/dev/null
    for h in "${HOSTS[@]}"; do ip netns del "$TAG-$h" 2>/dev/null; done
    ip netns del "$SW" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip "not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN"
command -v ip >/dev/null || skip "iproute2 ('ip') is not installed"
ip netns add "$SW" 2>"$WORK/err" || skip "the kernel refused a network namespace: $(cat "$WORK/err")"
ip -n "$SW" link add br0 type bridge 2>"$WORK/err" || skip "no bridge in a namespace: $(cat "$WORK/err")"
ip -n "$SW" link set br0 up
ip -n "$SW" link set lo up
for h in "${HOSTS[@]}"; do
    ns=$TAG-$h
    ip netns add "$ns" || skip "cannot create namespace $ns"
    ip link add "$TAG-$h" type veth peer name eth0 netns "$ns" 2>"$WORK/err" || skip "no veth pair: $(cat "$WORK/err")"
    ip link set "$TAG-$h" netns "$SW"
    ip -n "$SW" link set "$TAG-$h" master br0 up
    ip -n "$ns" addr add "${IP[$h]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done
log "namespaces up: coordinator ${IP[co]}, workers ${IP[w1]} ${IP[w2]} ${IP[w3]}"

printf 'netns-test-token-%s' "$$" > "$WORK/token"; chmod 600 "$WORK/token"
ip netns exec "$TAG-co" "$BIN/mugs-coordinator" --data fashion-mnist:train --config deploy/test/tiny.yaml \
    --checkpoint-dir "$WORK/ckpt" --listen "tcp://${IP[co]}:5555" --control 127.0.0.1:8750 --min-workers 1 \
    --token-file "$WORK/token" --steps 100000 --checkpoint-every 0 --checkpoint-minutes 0 --hash-every 5 \
    --heartbeat-timeout 3 --log-interval 2 > "$WORK/coordinator.log" 2>&1 &
PIDS+=($!)
for w in w1 w2 w3; do
    ip netns exec "$TAG-$w" "$BIN/mugs-worker" --coordinator "tcp://${IP[co]}:5555" --data-host "${IP[$w]}" \
        --data-port 5601 --token-file "$WORK/token" --name "$w" --ring-timeout 3 --max-backoff 2 \
        > "$WORK/$w.log" 2>&1 &
    PIDS+=($!)
done

status() { ip netns exec "$TAG-co" "$BIN/mugs" status --control http://127.0.0.1:8750 --json 2>/dev/null; }
step() { status | grep -o '"step":[0-9]*' | tail -1 | cut -d: -f2; }   # top level: last (sorted keys)
workers() { status | grep -o '"rank":' | wc -l; }
fail() {
    echo "FAIL: $*"
    for f in coordinator w1 w2 w3; do echo "--- $f.log (last 25 lines)"; tail -n 25 "$WORK/$f.log"; done
    exit 1
}
# wait_for DESCRIPTION CONDITION: polls every 0.5 s, at most $TIMEOUT s.
wait_for() {
    local what=$1 cond=$2 t0=$SECONDS
    until eval "$cond"; do
        [ $((SECONDS - t0)) -ge "$TIMEOUT" ] && fail "$what: not within ${TIMEOUT} s (step $(step), workers $(workers))"
        for p in "${PIDS[@]:0:1}"; do kill -0 "$p" 2>/dev/null || fail "$what: the coordinator exited"; done
        sleep 0.5
    done
}

wait_for "three workers training" '[ "$(workers)" = 3 ] && [ "$(step)" -ge 3 ]'
S1=$(step); log "3 workers, step $S1: cutting w3's link"
ip -n "$SW" link set "$TAG-w3" down
wait_for "the job continuing with two workers" '[ "$(workers)" = 2 ] && [ "$(step)" -ge $((S1 + 10)) ]'
S2=$(step); log "2 workers, step $S2 (job continued $((S2 - S1)) steps): restoring w3's link"
ip -n "$SW" link set "$TAG-w3" up
wait_for "w3 rejoining the ring" '[ "$(workers)" = 3 ] && [ "$(step)" -ge $((S2 + 5)) ]'
S3=$(step); log "3 workers again at step $S3"
for w in w1 w2 w3; do
    grep -q "differs from the coordinator" "$WORK/$w.log" && fail "$w logged a state hash different from the coordinator's"
done
echo "PASS: job continued from step $S1 to $S2 without w3 and w3 rejoined (step $S3, 3 workers)"
exit 0
