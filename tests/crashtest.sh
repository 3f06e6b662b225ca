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
#       worker process at a random instant, then resume: same hash;
#     - the same experiment with server momentum (FedAvgM, beta 0.9): its
#       buffer is journaled with every round, so runs killed at crash
#       points (and at random instants) and resumed end with the hash of
#       the uninterrupted momentum run.
#     - update retention at keep_updates 0 and 1000, killed around the
#       commit that prunes: same hash; every finished run must pass
#       `fedctl journal verify` (pruned rounds are pruned, not missing).
#   --quick (make check) takes a subset; the full sweep is `make crashtest`;
#   CRASH_POINTS="p q" limits the per-point sweep to those points.
#   kill -9 never loses a committed LMDB transaction (pages are in the OS
#   cache): these runs test process crashes, not power loss.
set -u
. "$(dirname "$0")/fg_test_lib.sh"
quick=false; [ "${1:-}" = "--quick" ] && quick=true
if $quick; then RANDOM_KILLS=${RANDOM_KILLS:-3}; PASSES="1 3"; else RANDOM_KILLS=${RANDOM_KILLS:-50}; PASSES="1 2 3 5 8"; fi
fg_test_begin crash

#   resume until finished (a crash point armed again would kill again: not armed here)
finish () { "$FEDCTL" resume "$1" --local 2 >"$1.resume.out" 2>&1; }
kill_after () { sleep "$1"; kill -9 "$2" 2>/dev/null; wait "$2" 2>/dev/null; }   # kill_after SECONDS PID

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

#   update retention (journal.keep_updates, default 1): the finished run
#   keeps the updates of its last round only, and verify says so
if "$FEDCTL" journal verify "$ref" 2>&1 | grep -q "updates of rounds 1..2 pruned"; then
    ok "reference run: the updates of rounds 1..2 are pruned, verify OK"
else
    bad "reference run: the updates of rounds 1..2 are pruned ($("$FEDCTL" journal verify "$ref" 2>&1 | head -c 300))"
fi

#   deployment does not change results
d="$work/tcp"; new_exp "$d"
"$FEDCTL" start "$d" --local 2 --listen 'tcp://127.0.0.1:*' --local-transport tcp >/dev/null 2>&1
check "$d" "over tcp with CURVE (grid.curve's default): same final weights"
d="$work/tcp-plain"; new_exp "$d"
"$FEDCTL" start "$d" --local 2 --listen 'tcp://127.0.0.1:*' --local-transport tcp \
    --set grid.curve=false >/dev/null 2>&1
check "$d" "over plain tcp (grid.curve = false): same final weights"
d="$work/one"; new_exp "$d"
"$FEDCTL" start "$d" --local 1 >/dev/null 2>&1
check "$d" "one trainer: same final weights"
d="$work/three"; new_exp "$d"
"$FEDCTL" start "$d" --local 3 --set grid.threads=1 >/dev/null 2>&1
check "$d" "three trainers: same final weights"

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
start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*'
for w in 1 2 3; do
    "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$d/coordinator.key" --cache "$work/cache-$w" \
        --dataset synthetic --train-limit 800 --threads 1 >"$work/worker-$w.out" 2>&1 &
    eval "w$w=\$!"; pids="$pids $!"
done
sleep 0.5; kill -9 "$w1" 2>/dev/null
await_coordinator "$w2" "$w3"
check "$d" "three worker processes, one killed -9 mid-run: same final weights"

#   CURVE with an allow list (grid.allow_keys): the allowed worker trains
#   the whole run to the reference weights; a worker with a wrong server key
#   and one whose key is not in the list get no unit, and both sides say why
d="$work/curve"; new_exp "$d"
"$FEDCTL" keygen "$work/ok-cache" --name worker.key >/dev/null 2>&1
mkdir -p "$d/allowed" && cp "$work/ok-cache/worker.key" "$d/allowed/ok.key"
"$FEDCTL" keygen "$work/other-coordinator" >/dev/null 2>&1
start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*' --set grid.allow_keys=allowed
for who in stranger wrongkey allowed; do
    case $who in
        stranger) cache="$work/stranger-cache"; key="$d/coordinator.key" ;;
        wrongkey) cache="$work/wrongkey-cache"; key="$work/other-coordinator/coordinator.key" ;;
        allowed)  cache="$work/ok-cache"; key="$d/coordinator.key" ;;
    esac
    "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$key" --cache "$cache" \
        --id "$who" --dataset synthetic --train-limit 800 --threads 1 >"$work/$who.out" 2>&1 &
    pids="$pids $!"; eval "pid_$who=\$!"
done
await_coordinator
#   a refused worker says what to check after its liveness period without
#   an answer (5 s by default), which a quick run may not last: wait for it
for t in $(seq 1 300); do
    grep -q "not in the coordinator's grid.allow_keys" "$work/stranger.out" \
        && grep -q "no answer from.*--server-key" "$work/wrongkey.out" && break
    sleep 0.1
done
kill "$pid_stranger" "$pid_wrongkey" "$pid_allowed" 2>/dev/null
check "$d" "CURVE + allow list: the allowed worker runs the experiment to the same final weights"
if [ -s "$d/clients.csv" ] && ! cut -d, -f3 "$d/clients.csv" | grep -q 'stranger\|wrongkey'; then
    ok "CURVE + allow list: a key not in the list and a wrong server key get no unit"
else
    bad "CURVE + allow list: a key not in the list and a wrong server key get no unit ($(cut -d, -f3 "$d/clients.csv" | sort -u | tr '\n' ' '))"
fi
if grep -q "refused a worker.*not in grid.allow_keys" "$d.out" \
   && grep -q "does not hold this coordinator's public key" "$d.out" \
   && grep -q "not in the coordinator's grid.allow_keys" "$work/stranger.out" \
   && grep -q "no answer from.*--server-key" "$work/wrongkey.out"; then
    ok "CURVE + allow list: coordinator and refused workers say what to check"
else
    bad "CURVE + allow list: coordinator and refused workers say what to check ($(tail -c 300 "$d.out"; tail -c 200 "$work/stranger.out"; tail -c 200 "$work/wrongkey.out"))"
fi

#   worker processes without the dataset (fresh caches) fetch their shards'
#   samples: same weights; under the static strategy a node that meets a
#   shard again fetches nothing (fetched_bytes 0). A node holds a shard's
#   samples once one of its copies gave a result (outcome, the 9th column,
#   not stopped, failed or lost): a copy stopped while it fetched (a backup
#   that lost the race) keeps only the windows it stored, and its next copy
#   of that shard fetches the rest. (A first result row may show 0: a
#   stopped copy fetched everything before it was stopped.)
d="$work/fetchers"; new_exp "$d"
start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*'
for w in 1 2; do
    "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$d/coordinator.key" --cache "$work/fcache-$w" --threads 1 \
        >"$work/fetcher-$w.out" 2>&1 &
    eval "f$w=\$!"; pids="$pids $!"
done
await_coordinator "$f1" "$f2"
check "$d" "two worker processes without the dataset (fresh caches): same final weights"
#   columns: round,shard,node,...,outcome,fetched_bytes (the 10th),kind,...
verdict=$(awk -F, 'NR > 1 { key = $3 "/" $2; b = $10 + 0; total += b
                           if (key in seen) { again++; if (b != 0) bad = bad " round " $1 " shard " $2 " node " $3 " fetched " b }
                           if ($9 != "stopped" && $9 != "failed" && $9 != "lost") seen [key] = 1 }
                   END { if (bad == "" && again > 0 && total > 0) print "ok " total " bytes, " again; else print "bad" bad " (" total " bytes, " again " again)" }' "$d/clients.csv")
case "$verdict" in
    ok*) ok "static strategy: a node fetches a shard once, then nothing (${verdict#ok } units fetched nothing)" ;;
    *)   bad "static strategy: a node fetches a shard once, then nothing: $verdict" ;;
esac

#   a fetching worker killed by a crash point mid-fetch (after its first
#   window of samples is stored: small chunks make a shard three windows)
#   and restarted with the same cache fetches only the rest
d="$work/refetch"; new_exp "$d"
start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*' --set grid.chunk_size=8192
FEDGRID_LOG=info FEDGRID_CRASH=trainer.data.stored:1 "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$d/coordinator.key" \
    --cache "$d.cache" --id refetcher --threads 1 --set grid.chunk_size=8192 >"$d.w1" 2>&1
FEDGRID_LOG=info "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$d/coordinator.key" --cache "$d.cache" \
    --id refetcher --threads 1 --set grid.chunk_size=8192 >"$d.w2" 2>&1 &
w=$!; pids="$pids $w"
await_coordinator "$w"
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
    start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*'
    FEDGRID_LOG=info FEDGRID_CRASH=$point "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$d/coordinator.key" \
        --cache "$d.cache" --id restarted $data --threads 1 >"$d.w1" 2>&1
    FEDGRID_LOG=info "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$d/coordinator.key" --cache "$d.cache" \
        --id restarted $data --threads 1 >"$d.w2" 2>&1 &
    w=$!; pids="$pids $w"
    await_coordinator "$w"
    what="worker"; [ "$how" = fetch ] && what="fetching worker"
    if grep -q "$needle" "$d.w2"; then ok "$what killed at $point, restarted: '$needle'"
    else bad "$what killed at $point, restarted: '$needle' (log: $(tail -c 300 "$d.w2"))"; fi
    check "$d" "$what killed at $point, restarted: same final weights"
done

#   every crash point, at several passes
#   (trainer.data.stored is reached only by a worker without the dataset:
#   tested above, never by the local trainers of this sweep);
#   CRASH_POINTS="a b" sweeps only those
points=${CRASH_POINTS:-$("$FEDCTL" debug crashpoints | awk '{ print $1 }' | grep -v '^test\.' | grep -v '^trainer\.data\.')}
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

#   update retention at its extremes: 0 prunes a round's updates in the
#   very transaction that commits it, 1000 never prunes; a crash on either
#   side of that transaction (and of the mark, and of an update) resumes to
#   the same weights and a journal that verifies
if $quick; then UPOINTS="0:journal.round.after:2"
else UPOINTS="0:journal.round.before:2 0:journal.round.after:2 0:journal.mark.before:2 0:journal.update.after:5 0:aggregator.fold:3 1000:journal.round.after:2"; fi
for up in $UPOINTS; do
    keep=${up%%:*}; cp=${up#*:}
    d="$work/keep-$keep-$cp"; new_exp "$d" --set journal.keep_updates="$keep"
    FEDGRID_CRASH="$cp" "$FEDCTL" start "$d" --local 2 >"$d.out" 2>&1
    rc=$?
    if [ $rc -ne 137 ]; then bad "keep_updates $keep: crash at $cp (start exited $rc, not killed)"; continue; fi
    finish "$d"
    check "$d" "keep_updates $keep: killed at $cp, resumed: same final weights"
    want="updates of rounds 1..3 pruned"; [ "$keep" = 1000 ] && want="retained ([0-9,]*)\$"
    grep -q "$want" "$d.verify" && ok "keep_updates $keep: verify says what is kept ($want)" \
        || bad "keep_updates $keep: verify says what is kept ($want; $(head -c 300 "$d.verify"))"
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
        kill_after "$delay" "$victim"
        finish "$d"
        check "$d" "coordinator process killed -9 after $delay s, resumed: same final weights"
    else
        start_coordinator "$d" start --local 1 --listen 'tcp://127.0.0.1:*'
        data="--dataset synthetic --train-limit 800"; what="worker"
        [ $((i % 4)) -eq 2 ] && { data=""; what="fetching worker"; }
        "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$d/coordinator.key" --cache "$work/kcache-$i" \
            $data --threads 1 >/dev/null 2>&1 &
        victim=$!; pids="$pids $victim"
        kill_after "$delay" "$victim"
        await_coordinator
        check "$d" "$what process killed -9 after $delay s: same final weights"
    fi
done

#   server momentum (FedAvgM): the buffer commits with each round's weights
#   and is restored on resume; without it a resumed run gives other bits
#   (checked by hand when this was written: another final hash)
MOM="--set aggregation.server_momentum=0.9"
if $quick; then MPOINTS="journal.round.after:1"; MKILLS=0
else MPOINTS="journal.round.after:1 journal.round.after:2 journal.round.before:2 aggregator.fold:2 coordinator.result.received:3 coordinator.result.received:6 journal.update.after:5"; MKILLS=4; fi
d="$work/mref"; new_exp "$d" $MOM
if "$FEDCTL" start "$d" --local 2 >"$d.out" 2>&1 && [ "$(state_of "$d")" = finished ]; then
    ok "momentum reference run finishes"
else
    bad "momentum reference run finishes ($(tail -3 "$d.out"))"
fi
HM=$(final_hash "$d")
[ -n "$HM" ] && [ "$HM" != "$H" ] && ok "server momentum changes the final weights" \
    || bad "server momentum changes the final weights (${HM:-none} vs $H)"
nbuf=$("$FEDCTL" journal dump "$d" 2>/dev/null | grep -c 'momentum buffer, blob')
if "$FEDCTL" journal verify "$d" >/dev/null 2>&1 && [ "$nbuf" -ge 1 ]; then
    ok "momentum journal verifies, $nbuf momentum buffers beside the checkpoints"
else
    bad "momentum journal verifies ($nbuf momentum buffers)"
fi
mcheck () {    # mcheck DIR WHAT: the final hash equals the momentum reference
    h=$(final_hash "$1")
    if [ "$(state_of "$1")" = finished ] && [ -n "$HM" ] && [ "$h" = "$HM" ]; then ok "$2"
    else bad "$2 (state $(state_of "$1"), hash ${h:-none}, want ${HM:-none})"; fi
}
for cp in $MPOINTS; do
    d="$work/mcp-$cp"; new_exp "$d" $MOM
    FEDGRID_CRASH="$cp" "$FEDCTL" start "$d" --local 2 >"$d.out" 2>&1
    rc=$?
    if [ $rc -ne 137 ]; then bad "momentum: crash at $cp (start exited $rc, not killed)"; continue; fi
    finish "$d"
    mcheck "$d" "momentum: killed at $cp, resumed: same final weights"
done
i=0
while [ $i -lt "$MKILLS" ]; do
    i=$((i + 1))
    d="$work/mkill-$i"; new_exp "$d" $MOM
    delay=$(awk -v s="$i" 'BEGIN { srand (s * 104729); printf "%.2f", 0.5 + rand () * 3.5 }')
    "$FEDCTL" start "$d" --local 2 >/dev/null 2>&1 &
    victim=$!
    kill_after "$delay" "$victim"
    finish "$d"
    mcheck "$d" "momentum: coordinator process killed -9 after $delay s, resumed: same final weights"
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

fg_test_end
