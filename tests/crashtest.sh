#!/bin/sh
#   crashtest.sh [--quick] — crash injection for fedgrid (TAP output).
#
#   One small experiment (synthetic data, cnn-small, 4 shards, 3 rounds) is
#   run once without interruption; its final weights hash is the reference.
#   Then:
#     - the same experiment over tcp, with other trainer counts, and with
#       separate `fedctl worker` processes, with and without their own copy
#       of the dataset (a worker without it fetches its shards' samples from
#       the coordinator): deployment never changes results;
#     - the static strategy fetches a shard's samples once per node
#       (clients.csv fetched_bytes); a fetching worker killed mid-fetch or
#       mid-unit and restarted with its cache fetches only what it lacks;
#     - once per named crash point (fedctl debug crashpoints): the process
#       kills itself there (FEDGRID_CRASH=point:n), `fedctl resume` finishes
#       the run, and the final hash must equal the reference;
#     - RANDOM_KILLS runs where kill -9 hits the coordinator process or a
#       worker process at a random instant, then resume: same hash.
#   --quick (make check) takes a subset; the full sweep is `make crashtest`.
#   kill -9 never loses a committed LMDB transaction (pages are in the OS
#   cache): these runs test process crashes, not power loss.
set -u
FEDCTL=${FEDCTL:-cli/fedctl}
quick=false; [ "${1:-}" = "--quick" ] && quick=true
if $quick; then RANDOM_KILLS=${RANDOM_KILLS:-3}; PASSES="1 3"; else RANDOM_KILLS=${RANDOM_KILLS:-50}; PASSES="1 2 3 5 8"; fi
work=$(mktemp -d /tmp/fg-crash-XXXXXX)
pids=""
cleanup () { for p in $pids; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
n=0; failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
bad () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
export FEDGRID_LOG=warn

new_exp () {   # new_exp DIR: the test experiment
    "$FEDCTL" init "$1" --preset synthetic-tiny --set grid.heartbeat_ms=250 --set grid.liveness=8 --set training.local_epochs=2 >/dev/null 2>&1
}
final_hash () { "$FEDCTL" status "$1" --json 2>/dev/null | sed -n 's/.*"weights_sha256": "\([0-9a-f]*\)".*/\1/p'; }
state_of () { "$FEDCTL" status "$1" --json 2>/dev/null | sed -n 's/.*"state": "\([^"]*\)".*/\1/p'; }
accuracy_of () { "$FEDCTL" status "$1" --json 2>/dev/null | sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p'; }
#   resume until finished (a crash point armed again would kill again: not armed here)
finish () { "$FEDCTL" resume "$1" --local 2 >"$1.resume.out" 2>&1; }

ref="$work/ref"
new_exp "$ref"
if "$FEDCTL" start "$ref" --local 2 >"$ref.out" 2>&1 && [ "$(state_of "$ref")" = finished ]; then
    ok "reference run finishes"
else
    bad "reference run finishes ($(tail -3 "$ref.out"))"; echo "1..$n"; exit 1
fi
H=$(final_hash "$ref")
acc=$(accuracy_of "$ref")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.80) }' && ok "reference run reaches >= 80% test accuracy ($acc)" \
    || bad "reference run reaches >= 80% test accuracy ($acc)"

check () {     # check DIR WHAT: the final hash equals the reference
    h=$(final_hash "$1")
    if [ "$(state_of "$1")" = finished ] && [ "$h" = "$H" ]; then ok "$2"
    else bad "$2 (state $(state_of "$1"), hash ${h:-none}, want $H)"; fi
}

#   deployment does not change results
d="$work/tcp"; new_exp "$d"
"$FEDCTL" start "$d" --local 2 --listen 'tcp://127.0.0.1:*' --local-transport tcp >/dev/null 2>&1
check "$d" "over tcp: same final weights"
d="$work/one"; new_exp "$d"
"$FEDCTL" start "$d" --local 1 >/dev/null 2>&1
check "$d" "one trainer: same final weights"
d="$work/three"; new_exp "$d"
"$FEDCTL" start "$d" --local 3 --set grid.threads=1 >/dev/null 2>&1
check "$d" "three trainers: same final weights"

start_coordinator () {   # start_coordinator DIR ARGS...: background, sets coord and port
    dir=$1; shift
    "$FEDCTL" start "$dir" "$@" >"$dir.out" 2>&1 &
    coord=$!; pids="$pids $coord"; port=""
    for t in $(seq 1 100); do
        port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$dir/status.json" 2>/dev/null)
        [ -n "$port" ] && [ "$port" != 0 ] && break; sleep 0.05
    done
}
#   the deadline policy: rounds commit with a quorum once their deadline
#   passed; the included shards are journaled (timing decides which, so
#   there is no reference hash to compare)
d="$work/deadline"; new_exp "$d"
"$FEDCTL" start "$d" --local 1 --set experiment.policy=deadline --set experiment.quorum=0.5 \
    --set grid.deadline_floor_s=1 >/dev/null 2>&1
included=$("$FEDCTL" journal dump "$d" 2>/dev/null | grep -c 'included (')
if [ "$(state_of "$d")" = finished ] && "$FEDCTL" journal verify "$d" >/dev/null 2>&1 \
   && [ "$included" -eq 3 ]; then
    ok "deadline policy: every round commits with its included set"
else
    bad "deadline policy: every round commits with its included set (state $(state_of "$d"), $included rounds with an included set)"
fi

#   separate worker processes over tcp, one of them killed mid-run
d="$work/workers"; new_exp "$d"
start_coordinator "$d" --local 0 --listen 'tcp://127.0.0.1:*'
for w in 1 2 3; do
    "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$work/cache-$w" \
        --dataset synthetic --train-limit 800 --threads 1 >"$work/worker-$w.out" 2>&1 &
    eval "w$w=\$!"; pids="$pids $!"
done
sleep 0.5; kill -9 "$w1" 2>/dev/null
for i in $(seq 1 300); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
kill "$w2" "$w3" 2>/dev/null; wait "$coord" 2>/dev/null
check "$d" "three worker processes, one killed -9 mid-run: same final weights"

#   worker processes without the dataset (fresh caches) fetch their shards'
#   samples: same weights; under the static strategy a node that meets a
#   shard again fetches nothing (fetched_bytes 0). (Its first row may show
#   0 too: a backup copy it ran earlier and that lost the race left the
#   samples in its cache without a row.)
d="$work/fetchers"; new_exp "$d"
start_coordinator "$d" --local 0 --listen 'tcp://127.0.0.1:*'
for w in 1 2; do
    "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$work/fcache-$w" --threads 1 \
        >"$work/fetcher-$w.out" 2>&1 &
    eval "f$w=\$!"; pids="$pids $!"
done
for i in $(seq 1 600); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
kill "$f1" "$f2" 2>/dev/null; wait "$coord" 2>/dev/null
check "$d" "two worker processes without the dataset (fresh caches): same final weights"
#   columns: round,shard,node,...,outcome,fetched_bytes (the last)
verdict=$(awk -F, 'NR > 1 { key = $3 "/" $2; b = $NF + 0; total += b
                           if (key in seen) { again++; if (b != 0) bad = bad " round " $1 " shard " $2 " node " $3 " fetched " b }
                           seen [key] = 1 }
                   END { if (bad == "" && again > 0 && total > 0) print "ok " total " bytes, " again; else print "bad" bad " (" total " bytes, " again " again)" }' "$d/clients.csv")
case "$verdict" in
    ok*) ok "static strategy: a node fetches a shard once, then nothing (${verdict#ok } units fetched nothing)" ;;
    *)   bad "static strategy: a node fetches a shard once, then nothing: $verdict" ;;
esac

#   a fetching worker killed by a crash point mid-fetch (after its first
#   window of samples is stored: small chunks make a shard three windows)
#   and restarted with the same cache fetches only the rest
d="$work/refetch"; new_exp "$d"
start_coordinator "$d" --local 0 --listen 'tcp://127.0.0.1:*' --set grid.chunk_size=8192
FEDGRID_LOG=info FEDGRID_CRASH=trainer.data.stored:1 "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" \
    --cache "$d.cache" --id refetcher --threads 1 --set grid.chunk_size=8192 >"$d.w1" 2>&1
FEDGRID_LOG=info "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$d.cache" \
    --id refetcher --threads 1 --set grid.chunk_size=8192 >"$d.w2" 2>&1 &
w=$!; pids="$pids $w"
for t in $(seq 1 600); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
kill "$w" 2>/dev/null; wait "$coord" 2>/dev/null
if grep -q "crash point reached" "$d.w1" && grep -q "round 1 shard 0: fetching 120 of 200 samples" "$d.w2"; then
    ok "fetching worker killed mid-fetch, restarted: fetches only the 120 samples it lacks"
else
    bad "fetching worker killed mid-fetch, restarted: fetches only the 120 samples it lacks (log: $(head -c 300 "$d.w2"))"
fi
check "$d" "fetching worker killed mid-fetch, restarted: same final weights"

#   a worker process killed by a crash point and restarted with the same
#   cache: it resumes its unit from its epoch checkpoint, or sends its
#   unacknowledged result again (a worker without the dataset too: it
#   trains on the samples its cache kept)
cases="trainer.epoch.checkpoint:1:local resumes after epoch|trainer.result.sent:1:local sending it again"
$quick || cases="$cases|trainer.epoch.checkpoint:1:fetch resumes after epoch"
IFS='|'; set -- $cases; unset IFS
for case in "$@"; do
    spec=${case%% *}; needle=${case#* }
    point=${spec%:*}; how=${spec##*:}
    data="--dataset synthetic --train-limit 800"; [ "$how" = fetch ] && data=""
    d="$work/restart-${point%%:*}-$how"; new_exp "$d"
    start_coordinator "$d" --local 0 --listen 'tcp://127.0.0.1:*'
    FEDGRID_LOG=info FEDGRID_CRASH=$point "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" \
        --cache "$d.cache" --id restarted $data --threads 1 >"$d.w1" 2>&1
    FEDGRID_LOG=info "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$d.cache" \
        --id restarted $data --threads 1 >"$d.w2" 2>&1 &
    w=$!; pids="$pids $w"
    for t in $(seq 1 600); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
    kill "$w" 2>/dev/null; wait "$coord" 2>/dev/null
    what="worker"; [ "$how" = fetch ] && what="fetching worker"
    if grep -q "$needle" "$d.w2"; then ok "$what killed at $point, restarted: '$needle'"
    else bad "$what killed at $point, restarted: '$needle' (log: $(tail -c 300 "$d.w2"))"; fi
    check "$d" "$what killed at $point, restarted: same final weights"
done

#   every crash point, at several passes
#   (trainer.data.stored is reached only by a worker without the dataset:
#   tested above, never by the local trainers of this sweep)
points=$("$FEDCTL" debug crashpoints | awk '{ print $1 }' | grep -v '^test\.' | grep -v '^trainer\.data\.')
for p in $points; do
    for pass in $PASSES; do
        d="$work/cp-$p-$pass"; new_exp "$d"
        FEDGRID_CRASH="$p:$pass" "$FEDCTL" start "$d" --local 2 >"$d.out" 2>&1
        rc=$?
        if [ $rc -ne 137 ] && [ $rc -ne 0 ]; then bad "crash at $p:$pass (start exited $rc)"; continue; fi
        finish "$d"
        if [ $rc -eq 0 ]; then check "$d" "crash point $p:$pass not reached; run complete"
        else check "$d" "killed at $p:$pass, resumed: same final weights"; fi
    done
done

#   kill -9 at random instants: odd runs kill the coordinator process (with
#   its in-process trainers) and resume; even runs kill a `fedctl worker`
#   process (the coordinator re-issues its unit and finishes on its own),
#   every other one a worker without the dataset (mid-fetch or mid-unit)
i=0
while [ $i -lt "$RANDOM_KILLS" ]; do
    i=$((i + 1))
    d="$work/kill-$i"; new_exp "$d"
    delay=$(awk -v s="$i" 'BEGIN { srand (s * 7919); printf "%.2f", 0.2 + rand () * 1.6 }')
    if [ $((i % 2)) -eq 1 ]; then
        "$FEDCTL" start "$d" --local 2 >/dev/null 2>&1 &
        victim=$!
        sleep "$delay"; kill -9 "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
        finish "$d"
        check "$d" "coordinator process killed -9 after $delay s, resumed: same final weights"
    else
        start_coordinator "$d" --local 1 --listen 'tcp://127.0.0.1:*'
        data="--dataset synthetic --train-limit 800"; what="worker"
        [ $((i % 4)) -eq 2 ] && { data=""; what="fetching worker"; }
        "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$work/kcache-$i" \
            $data --threads 1 >/dev/null 2>&1 &
        victim=$!; pids="$pids $victim"
        sleep "$delay"; kill -9 "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
        for t in $(seq 1 600); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
        wait "$coord" 2>/dev/null
        check "$d" "$what process killed -9 after $delay s: same final weights"
    fi
done

#   refusals
d="$work/cp-journal.round.after-1"
if [ -d "$d" ]; then
    "$FEDCTL" start "$d" --local 1 >/dev/null 2>"$work/err"; rc=$?
    [ $rc -eq 73 ] && grep -q "fedctl resume" "$work/err" && ok "start on an existing journal is refused" \
        || bad "start on an existing journal is refused (exit $rc)"
    "$FEDCTL" resume "$d" --local 1 --set experiment.seed=99 >/dev/null 2>"$work/err"; rc=$?
    [ $rc -eq 65 ] && grep -q "another configuration" "$work/err" && ok "resume under another configuration is refused" \
        || bad "resume under another configuration is refused (exit $rc: $(head -c 200 "$work/err"))"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
