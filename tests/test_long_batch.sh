#!/bin/sh
#   test_long_batch.sh — a worker process whose mini-batches take longer
#   than the coordinator's grid.heartbeat_ms x grid.liveness (TAP output).
#
#   A trainer's batches run on its compute thread (actors/fg_trainer_compute.c)
#   while its actor thread beats, so a batch of any length does not make it
#   silent. Here a `fedctl worker --slowdown F` over tcp trains every unit
#   of a small experiment (one round, 2 shards of 48 samples, batches of
#   16: 3 batches a unit, F chosen from the reference run's unit time so
#   that each batch takes about 5 s, also under the sanitizers) against
#   a coordinator that drops a node silent for 100 ms x 10 = 1 s:
#     - the run finishes with the reference weights (the same experiment
#       run by two in-process trainers at full speed);
#     - the journal holds no "removed: silent" event: the node was never
#       dropped, and it trained every unit itself (clients.csv);
#     - a unit of its took longer than 3 x 1 s, so one of its batches did
#       (the premise: a batch longer than heartbeat x liveness; a lower
#       bound, which load only raises).
#   Bounded: the coordinator is stopped after 10 minutes (never hangs).
set -u
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin long-batch
SETS="--set experiment.rounds=1 --set grid.nodes=2 --set data.synthetic_train=96
      --set grid.curve=false"

# shellcheck disable=SC2086
reference_run "$work/ref" $SETS
#   the slowest full-speed unit (ms, mostly its 3 batches) -> F for ~15 s
ms=$(awk -F, 'NR > 1 && $9 == "accepted" { v = int ($7 * 1000); if (v > m) m = v } END { print m + 0 }' \
    "$work/ref/clients.csv")
F=$(awk -v ms="$ms" 'BEGIN { f = ms > 0? int (15000 / ms) + 1: 1000; print (f < 2? 2: (f > 200? 200: f)) }')

exp="$work/slow"
# shellcheck disable=SC2086
"$FEDCTL" init "$exp" --preset synthetic-tiny $SETS --set grid.heartbeat_ms=100 \
    --set grid.liveness=10 >/dev/null 2>&1
start_coordinator "$exp" start --local 0 --listen 'tcp://127.0.0.1:*'
"$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$exp.cache" --id slow \
    --dataset synthetic --train-limit 96 --threads 1 --slowdown "$F" \
    --set grid.heartbeat_ms=100 --set grid.liveness=10 >"$exp.worker" 2>&1 &
w=$!; pids="$pids $w"
await_coordinator "$w"
wait "$w" 2>/dev/null
check "$exp" "a worker with batches longer than heartbeat x liveness gives the reference weights"

"$FEDCTL" journal dump "$exp" >"$exp.dump" 2>&1
if grep -q "removed: silent\|announced itself again" "$exp.dump"; then
    bad "the slow node was dropped: $(grep "removed: silent\|announced itself again" "$exp.dump" | head -3)"
else
    ok "the slow node was never dropped (no removal in the journal)"
fi
units=$(awk -F, 'NR > 1 && $3 == "slow" && $9 == "accepted"' "$exp/clients.csv" | wc -l)
long=$(awk -F, 'NR > 1 && $3 == "slow" && $7 > 3.0' "$exp/clients.csv" | wc -l)
if [ "$units" -eq 2 ] && [ "$long" -ge 1 ]; then
    ok "it trained both units at slowdown $F (full speed ${ms} ms), one over 3 batches x 1 s ($(awk -F, 'NR > 1 { printf "%s s ", $7 }' "$exp/clients.csv"))"
else
    bad "both units by the slow node, one over 3 s: $units units, $long over ($(cat "$exp/clients.csv"))"
fi
fg_test_end
