#!/bin/sh
#   bench/replication.sh FEDCTL [REPS] — the cost of replication: the small
#   experiment of the tests (synthetic-tiny, 5 rounds, 2 local epochs, 2
#   in-process trainers) under grid.replication = 1, grid.replication = 2
#   and grid.spot_check = 0.1, REPS runs of each (default 2), interleaved so
#   that a loaded machine slows them alike. One line per run: its config,
#   rep, each round's seconds (rounds.csv), the final weights' hash (the same
#   for all) and the unit results computed (clients.csv rows).
F=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); reps=${2:-2}
work=$(mktemp -d /tmp/fg-repl-bench-XXXXXX); trap 'rm -rf "$work"' EXIT
cd "$work"; export FEDGRID_LOG=warn
for i in $(seq 1 $reps); do
  for c in r1 r2 s01; do
    case $c in r1) set_="--set grid.replication=1";; r2) set_="--set grid.replication=2";; s01) set_="--set grid.spot_check=0.1";; esac
    d=run-$c-$i; $F init $d --preset synthetic-tiny --set experiment.rounds=5 --set training.local_epochs=2 >/dev/null 2>&1
    $F start $d --local 2 $set_ >/dev/null 2>&1
    echo "$c $i $(tail -n +2 $d/rounds.csv | cut -d, -f7 | tr '\n' ' ') hash $($F status $d --json | sed -n 's/.*"weights_sha256": "\([0-9a-f]\{16\}\).*/\1/p') copies $(tail -n +2 $d/clients.csv | wc -l)"
  done
done
