#!/bin/sh
#   test_replication.sh — replication and quarantine with real processes
#   (TAP output): the small experiment of crashtest.sh (synthetic data,
#   cnn-small, 4 shards, 3 rounds) run by 5 `fedctl worker` processes over
#   tcp with CURVE, one of which lies (FEDGRID_FAULT), under
#   grid.replication = 2 and grid.max_strikes = 0:
#     - the final weights are the honest run's, byte for byte;
#     - the liar is outvoted (clients.csv), struck and quarantined
#       (journal events, node record, fedctl status, journal verify);
#     - the coordinator is killed after round 1 commits (crash point) and
#       resumed: the quarantine is remembered, the liar's HELLO is refused
#       with the reason and it gets no unit, the run ends on the same hash.
#   Then the same with a liar that sends zero deltas with sample_count
#   10^12, one that adds 1000 to every weight, and one that sends its
#   previous unit's result: outvoted, same hash. Last, a result two nodes
#   agree on that fails validation: the exact policy stops, the deadline
#   policy leaves the unit out.
set -u
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin repl
workers=""
start_workers () {   # start_workers DIR FAULT: the liar first, then 4 honest workers
    workers=""
    for w in liar h1 h2 h3 h4; do
        f_=""; [ "$w" = liar ] && f_=$2
        FEDGRID_LOG=info FEDGRID_FAULT=$f_ "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" \
            --server-key "$1/coordinator.key" --cache "$1.cache-$w" --id "$w" --dataset synthetic \
            --train-limit 800 --threads 1 >>"$1.$w.out" 2>&1 &
        workers="$workers $!"; pids="$pids $!"
    done
}
stop_workers () { kill $workers 2>/dev/null; for p in $workers; do wait "$p" 2>/dev/null; done; }

ref="$work/ref"
new_exp "$ref"
if "$FEDCTL" start "$ref" --local 2 >"$ref.out" 2>&1 && [ "$(state_of "$ref")" = finished ]; then
    ok "honest reference run finishes"
else
    bad "honest reference run finishes ($(tail -3 "$ref.out"))"; echo "1..$n"; exit 1
fi
H=$(final_hash "$ref")

#   a bad fault switch is refused, not run as an honest worker
FEDGRID_FAULT=zero-deltas "$FEDCTL" worker --connect tcp://127.0.0.1:1 --server-key "$ref/coordinator.key" \
    --cache "$work/badfault" --id x >"$work/badfault.out" 2>&1
rc=$?
[ $rc -eq 64 ] && grep -q "FEDGRID_FAULT: unknown fault 'zero-deltas'" "$work/badfault.out" \
    && ok "a bad FEDGRID_FAULT is refused with the reason" \
    || bad "a bad FEDGRID_FAULT is refused with the reason (exit $rc: $(head -c 200 "$work/badfault.out"))"

#   one liar of five, replication 2; the coordinator dies after round 1
d="$work/liar"
new_exp "$d" --set grid.replication=2 --set grid.max_strikes=0
FEDGRID_CRASH=journal.round.after:1 start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*'
start_workers "$d" zero-delta
await_coordinator
stop_workers
if grep -q ',liar,.*,outvoted,' "$d/clients.csv" && ! grep -q ',liar,.*,\(agreed\|accepted\),' "$d/clients.csv"; then
    ok "replication 2: the liar's results are outvoted, never accepted"
else
    bad "replication 2: the liar's results are outvoted, never accepted ($(grep ',liar,' "$d/clients.csv" | head -3))"
fi
events=$("$FEDCTL" journal dump "$d" 2>/dev/null)
#   outvoted in its vote, or (on a loaded machine) late, after two honest
#   copies agreed: either way an outvote is its first strike
if echo "$events" | grep -q 'strike 1 against node liar: \(round 1 shard [0-9]*: its result was outvoted\|its result was outvoted by the majority\)' \
   && echo "$events" | grep -q 'node liar quarantined for this experiment: 1 strikes, over grid.max_strikes = 0' \
   && echo "$events" | grep -q '"liar".*strikes [1-9][0-9]*, QUARANTINED' \
   && ! echo "$events" | grep -q '"h[1-4]".*strikes [1-9]'; then
    ok "the liar is struck and quarantined in round 1 (events and node record); honest nodes have no strike"
else
    bad "the liar is struck and quarantined in round 1 ($(echo "$events" | grep -i 'strike\|quarant' | head -5))"
fi
#   resumed: the liar (same id, same cache) is refused, the others finish
start_coordinator "$d" resume --local 0 --listen 'tcp://127.0.0.1:*'
start_workers "$d" zero-delta
await_coordinator
stop_workers
check "$d" "liar among five, coordinator killed after round 1 and resumed: the honest run's final weights"
if grep -q "HELLO refused (not allowed): node liar is quarantined for this experiment" "$d.liar.out" \
   && [ "$(grep -c ',liar,' "$d/clients.csv")" -eq "$(grep ',liar,' "$d/clients.csv" | grep -c '^1,')" ]; then
    ok "after the restart the quarantine holds: the liar's HELLO is refused with the reason, no unit"
else
    bad "after the restart the quarantine holds ($(grep -i 'refused' "$d.liar.out" | head -2); rows $(grep ',liar,' "$d/clients.csv" | cut -d, -f1,2 | tr '\n' ' '))"
fi
status=$("$FEDCTL" status "$d" 2>&1)
if echo "$status" | grep -q 'trust .*strikes; 1 nodes quarantined: "liar"' \
   && "$FEDCTL" status "$d" --json | grep -q '"quarantined": \["liar"\]' \
   && "$FEDCTL" journal verify "$d" >/dev/null 2>&1; then
    ok "fedctl status names the quarantined liar; journal verify passes"
else
    bad "fedctl status names the quarantined liar; journal verify passes ($status)"
fi

#   other lies, same outcome (max_strikes 3: not quarantined within 3
#   rounds of a unit or two each, so it lies all along; other-unit is
#   honest on its first unit, which has no previous one)
for fault in "zero-delta,samples:1000000000000" "add:1000" "other-unit"; do
    d="$work/lie-$(echo "$fault" | tr ':,' '__')"
    new_exp "$d" --set grid.replication=2
    start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*'
    start_workers "$d" "$fault"
    await_coordinator
    stop_workers
    lies=$(grep -c 'FEDGRID_FAULT' "$d.liar.out")
    outvoted=$(grep -c ',liar,.*,outvoted,' "$d/clients.csv")
    taken=$(grep -c ',liar,.*,\(agreed\|accepted\),' "$d/clients.csv")
    #   a false sample count is refused before its update is pulled (a
    #   strike, no vote): caught either way
    struck=$("$FEDCTL" journal dump "$d" 2>/dev/null | grep -c 'strike [0-9]* against node liar')
    honest=0; [ "$fault" = other-unit ] && honest=1
    if [ "$lies" -ge 1 ] && [ $((outvoted + struck)) -ge 1 ] && [ "$taken" -le "$honest" ]; then
        check "$d" "replication 2, a liar ($fault; $lies lies, $outvoted outvoted, $struck strikes): the honest run's final weights"
    else
        bad "replication 2, a liar ($fault): $lies lies, $outvoted outvoted, $struck strikes, $taken accepted"
    fi
done

#   a result that two nodes agree on and that fails validation (both
#   workers scale their delta to infinity on shard 0): no honest
#   alternative. The exact policy stops naming the unit and the knobs;
#   the deadline policy leaves the unit out, journals why, and goes on.
for policy in exact deadline; do
    d="$work/agreed-invalid-$policy"
    new_exp "$d" --set grid.replication=2 --set experiment.policy=$policy --set experiment.quorum=0.5
    start_coordinator "$d" start --local 0 --listen 'tcp://127.0.0.1:*'
    workers=""
    for w in a b; do
        FEDGRID_FAULT=scale:1e40@shard=0 "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" \
            --server-key "$d/coordinator.key" --cache "$d.cache-$w" --id "$w" --dataset synthetic \
            --train-limit 800 --threads 1 >>"$d.$w.out" 2>&1 &
        workers="$workers $!"; pids="$pids $!"
    done
    await_coordinator
    stop_workers
    if [ $policy = exact ]; then
        grep -q 'round 1 shard 0: the result 2 nodes agree on fails validation (.*infinite.*training.lr.*aggregation.max_update_norm.*policy = "exact"' "$d.out" \
            && [ "$(state_of "$d")" = stopped ] \
            && ok "exact policy: an agreed result that fails validation stops the run, naming the unit and the knobs" \
            || bad "exact policy: an agreed result that fails validation stops the run ($(tail -c 300 "$d.out"))"
    else
        left=$("$FEDCTL" journal dump "$d" 2>/dev/null | grep -c 'shard 0 left out of the round: the result 2 nodes agree on fails validation')
        [ "$(state_of "$d")" = finished ] && [ "$left" -eq 3 ] && "$FEDCTL" journal verify "$d" >/dev/null 2>&1 \
            && ok "deadline policy: the unit is left out of each round with the reason journaled; the run finishes" \
            || bad "deadline policy: the unit is left out of each round (state $(state_of "$d"), $left rounds say so)"
    fi
done

fg_test_end
