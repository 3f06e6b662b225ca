#!/bin/sh
#   test_swarm.sh — the swarm mode with real processes (TAP output): a
#   small experiment (synthetic data, cnn-small, 48 shards, 2 rounds) run
#   by one `fedctl worker --swarm 96` process over tcp (96 identities,
#   each its own DEALER and node id, their units trained by a pool of 2
#   threads) against `fedctl start --local 0 --listen`:
#     - the final weights are those of the same experiment run by two
#       in-process trainers, byte for byte;
#     - the units were spread over many identities (clients.csv), every
#       identity joined (journal-free: fedctl status's alive count), and
#       the swarm stops on SIGINT, saying how many units it trained.
#   Bounded: the coordinator is stopped after 5 minutes (never hangs).
set -u
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin swarm
IDS=96
SETS="--set grid.nodes=48 --set experiment.rounds=2 --set grid.curve=false
      --set data.synthetic_train=768 --set grid.heartbeat_ms=250 --set grid.liveness=20"


# shellcheck disable=SC2086
reference_run "$work/ref" $SETS

exp="$work/swarm"
# shellcheck disable=SC2086
"$FEDCTL" init "$exp" --preset synthetic-tiny $SETS >/dev/null 2>&1
start_coordinator "$exp" start --local 0 --listen 'tcp://127.0.0.1:*'
FEDGRID_LOG=info "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$exp.cache" \
    --id sw --dataset synthetic --train-limit 768 --swarm $IDS --pool 2 \
    --set grid.heartbeat_ms=250 --set grid.liveness=20 >"$exp.swarm.out" 2>&1 &
swarm=$!; pids="$pids $swarm"

#   all identities join: the coordinator's status counts them alive
alive=0
for t in $(seq 1 600); do
    alive=$("$FEDCTL" status "$exp" --json 2>/dev/null | sed -n 's/.*"nodes_alive": \([0-9]*\).*/\1/p')
    [ "${alive:-0}" -ge $IDS ] && break
    kill -0 "$coord" 2>/dev/null || break
    sleep 0.1
done
if [ "${alive:-0}" -ge $IDS ]; then ok "all $IDS identities joined the coordinator"
else bad "all $IDS identities joined (status counted ${alive:-none} alive)"; fi

for t in $(seq 1 3000); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
kill -0 "$coord" 2>/dev/null && { kill "$coord" 2>/dev/null; sleep 1; }
wait "$coord" 2>/dev/null
h=$(final_hash "$exp")
if [ "$(state_of "$exp")" = finished ] && [ "$h" = "$H" ]; then
    ok "the swarm's run ends on the reference weights ($H)"
else
    bad "the swarm's run ends on the reference weights (state $(state_of "$exp"), hash ${h:-none}, want $H; $(tail -2 "$exp.out"))"
fi

#   units spread over the identities: accepted results from many node ids
nodes=$(awk -F, 'NR > 1 && $9 == "accepted" { print $3 }' "$exp/clients.csv" | sort -u | wc -l)
units=$(awk -F, 'NR > 1 && $9 == "accepted"' "$exp/clients.csv" | wc -l)
if [ "$units" -eq 96 ] && [ "$nodes" -ge 24 ]; then
    ok "96 units accepted from $nodes identities"
else
    bad "96 units accepted from many identities ($units units from $nodes identities)"
fi

kill -INT "$swarm" 2>/dev/null
for t in $(seq 1 300); do kill -0 "$swarm" 2>/dev/null || break; sleep 0.1; done
wait "$swarm"; rc=$?
trained=$(sed -n 's/.*swarm: [0-9]* identities stop after \([0-9]*\) units.*/\1/p' "$exp.swarm.out")
if [ "$rc" -eq 0 ] && [ "${trained:-0}" -ge 96 ]; then
    ok "the swarm stops on SIGINT after ${trained} units"
else
    bad "the swarm stops on SIGINT (exit $rc, units ${trained:-none}; $(tail -2 "$exp.swarm.out"))"
fi

fg_test_end
