#!/usr/bin/env bash
# Multi-host test on one machine: network namespaces joined by veth links to a bridge give the coordinator and four
# workers their own addresses (10.77.0.1 coordinator `head`, .11 .12 .13 .14 workers), each worker with its own host
# name (a UTS namespace) that resolves nowhere, as on a real cluster. Workers w1-w3 are started with the README's
# cluster command, flag for flag (only --threads is 1 here: this machine has 2 cores), so no --data-host/--data-bind:
# they must find their own addresses. Then: w4 joins advertising an address no interface has (--data-host
# 10.77.0.99): it must be evicted with the reason in /status while the job goes on; w3's link is cut mid-run (the job
# must keep committing steps without it) and restored (w3 must rejoin the ring).
# Exit 0: passed; 77: skipped (namespaces refused by the kernel or not root — a clear message says which);
# anything else: failed (the logs are printed).
#
#   deploy/test/netns_multihost.sh [BIN_DIR]       # BIN_DIR holds mugs, mugs-coordinator, mugs-worker
#                                                  # (default: .build/release, else .build/debug)
#   MUGS_NETNS_LOGS=DIR deploy/test/netns_multihost.sh   # also keep the daemons' logs and a /status in DIR
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
HOSTS=(co w1 w2 w3 w4)
declare -A IP=([co]=10.77.0.1 [w1]=10.77.0.11 [w2]=10.77.0.12 [w3]=10.77.0.13 [w4]=10.77.0.14)
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
    if [ -n "${MUGS_NETNS_LOGS:-}" ]; then
        mkdir -p "$MUGS_NETNS_LOGS" && cp "$WORK"/*.log "$WORK"/*.json "$MUGS_NETNS_LOGS/" 2>/dev/null
    fi
    for h in "${HOSTS[@]}"; do ip netns del "$TAG-$h" 2>/dev/null; rm -rf "/etc/netns/$TAG-$h"; done
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
    # `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts: the head node's name, and nothing for the
    # worker's own host name (so nothing can lean on it resolving).
    mkdir -p "/etc/netns/$ns"
    printf '127.0.0.1 localhost\n%s head\n' "${IP[co]}" > "/etc/netns/$ns/hosts"
done
log "namespaces up: coordinator ${IP[co]} (head), workers ${IP[w1]} ${IP[w2]} ${IP[w3]} ${IP[w4]}"

# The README's cluster commands, as a user copies them (token file job.token in the working directory).
README_WORKER=$(grep -o 'mugs-worker --coordinator tcp://head:5555 [^#]*' README.md | head -1 | sed 's/ *$//')
case "$README_WORKER" in
    "") echo "FAIL: README.md has no 'mugs-worker --coordinator tcp://head:5555 ...' line"; exit 1 ;;
    *--data-host*|*--data-bind*)
        echo "FAIL: the README's worker command sets the data address: $README_WORKER"; exit 1 ;;
esac
read -r -a WORKER_ARGS <<< "${README_WORKER#mugs-worker }"
for i in "${!WORKER_ARGS[@]}"; do    # --threads N (the README's cores) → 1 on this 2-core machine
    [ "${WORKER_ARGS[$i]}" = --threads ] && WORKER_ARGS[$((i + 1))]=1
done
log "worker command (README.md, --threads 1): mugs-worker ${WORKER_ARGS[*]}"
printf 'netns-test-token-%s' "$$" > "$WORK/job.token"; chmod 600 "$WORK/job.token"
ip netns exec "$TAG-co" "$BIN/mugs-coordinator" --data fashion-mnist:train --config deploy/test/tiny.yaml \
    --checkpoint-dir "$WORK/ckpt" --listen tcp://0.0.0.0:5555 --control 127.0.0.1:8750 --min-workers 1 \
    --token-file "$WORK/job.token" --steps 100000 --checkpoint-every 0 --checkpoint-minutes 0 --hash-every 5 \
    --heartbeat-timeout 3 --log-interval 2 > "$WORK/coordinator.log" 2>&1 &
PIDS+=($!)
# start_worker NAME [EXTRA FLAGS...]: the README's command in NAME's namespace, under NAME as its host name.
declare -A WPID
start_worker() {
    local w=$1; shift
    (cd "$WORK" && exec ip netns exec "$TAG-$w" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$w" \
        "$BIN/mugs-worker" "${WORKER_ARGS[@]}" "$@") > "$WORK/$w.log" 2>&1 &
    PIDS+=($!)
    WPID[$w]=$!
}
for w in w1 w2 w3; do start_worker "$w"; done

status() { ip netns exec "$TAG-co" "$BIN/mugs" status --control http://127.0.0.1:8750 "$@" 2>/dev/null; }
step() { status | sed -n 's|^step \([0-9]*\)/.*|\1|p'; }
workers() { status | sed -n 's|^workers \([0-9]*\) (min.*|\1|p'; }
fail() {
    echo "FAIL: $*"
    for f in coordinator w1 w2 w3 w4; do
        [ -f "$WORK/$f.log" ] && { echo "--- $f.log (last 25 lines)"; tail -n 25 "$WORK/$f.log"; }
    done
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
for w in w1 w2 w3; do
    line=$(grep -m1 'data port:' "$WORK/$w.log")
    want="peers connect to tcp://${IP[$w]}:5601 (the address of the interface that routes to the coordinator head)"
    case "$line" in *"$want"*"bound on tcp://0.0.0.0:5601 (all interfaces)"*) ;;
        *) fail "$w does not advertise its own address by default: '$line'" ;; esac
done
log "$(grep -m1 'data port:' "$WORK/w1.log")"
S0=$(step); log "3 workers (README command), step $S0: starting w4 with --data-host 10.77.0.99 (no interface has it)"
start_worker w4 --data-host 10.77.0.99
T4=$SECONDS
wait_for "w4 evicted with its reason in /status" \
    'status --json | grep -q "10.77.0.99:5601 cannot be reached from"'
log "w4 evicted $((SECONDS - T4)) s after it started: $(grep -m1 'w4-.* evicted' "$WORK/coordinator.log" | cut -c26-)"
S4=$(step)
wait_for "the job continuing without w4" '[ "$(step)" -ge $((S4 + 5)) ]'
status | sed 's/^/    /'
status --json > "$WORK/status-w4.json"
kill -TERM "${WPID[w4]}" 2>/dev/null
wait_for "w4 gone" '! kill -0 "${WPID[w4]}" 2>/dev/null && [ "$(workers)" = 3 ]'
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
echo "PASS: README workers trained from step 0; w4 (unreachable) evicted with its reason and the job went on to step" \
    "$S1; the job continued from step $S1 to $S2 without w3 and w3 rejoined (step $S3, 3 workers)"
exit 0
