#!/bin/sh
#   bench/waste.sh — compute thrown away on discarded copies (waste) and
#   round times under each grid.backup policy, on a mixed-speed grid:
#   a coordinator (--local 0, tcp) and `fedctl worker` processes of the
#   given speed factors (--slowdown), synthetic data, cnn-small.
#
#   bench/waste.sh [FEDCTL] — env: SLOWDOWNS ("1 1 4"), POLICIES
#   ("always late"), ROUNDS (6), NODES (6 shards), EPOCHS (2), WORK (a
#   folder, kept). Prints one line per policy: rounds, median round
#   seconds, waste seconds in all, wasted copies, backups issued, and the
#   final weights' SHA-256 (the same for every policy).
set -u
FEDCTL=${1:-build/cli/fedctl}
SLOWDOWNS=${SLOWDOWNS:-"1 1 4"}
POLICIES=${POLICIES:-"always late"}
ROUNDS=${ROUNDS:-6}
NODES=${NODES:-6}
EPOCHS=${EPOCHS:-2}
work=${WORK:-$(mktemp -d /tmp/fg-waste-XXXXXX)}
mkdir -p "$work"
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done' EXIT

median () { sort -n | awk '{ v [NR] = $1 } END { if (NR % 2) print v [(NR + 1) / 2]; else print (v [NR / 2] + v [NR / 2 + 1]) / 2 }'; }

for policy in $POLICIES; do
    d=$work/$policy
    rm -rf "$d" "$d".*
    "$FEDCTL" init "$d" --preset synthetic-tiny --set grid.backup="$policy" --set grid.curve=false \
        --set experiment.rounds="$ROUNDS" --set grid.nodes="$NODES" \
        --set training.local_epochs="$EPOCHS" >/dev/null || exit 1
    "$FEDCTL" start "$d" --local 0 --listen 'tcp://127.0.0.1:*' >"$d.out" 2>"$d.err" &
    coord=$!; pids="$coord"
    port=""
    for t in $(seq 1 600); do
        port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$d/status.json" 2>/dev/null)
        [ -n "$port" ] && [ "$port" != 0 ] && break; sleep 0.1
    done
    i=0
    for f in $SLOWDOWNS; do
        i=$((i + 1))
        "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --cache "$d.cache-$i" --id "w$i-x$f" \
            --dataset synthetic --train-limit 800 --threads 1 --slowdown "$f" >"$d.w$i.out" 2>&1 &
        pids="$pids $!"
    done
    wait "$coord"
    for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    pids=""
    med=$(awk -F, 'NR > 1 { print $7 }' "$d/rounds.csv" | median)
    waste=$(awk -F, 'NR > 1 { s += $8; c += $9 } END { printf "%.1f s, %d copies", s, c }' "$d/rounds.csv")
    backups=$(awk -F, 'NR > 1 && $11 == "backup" { n++ } END { print n + 0 }' "$d/clients.csv")
    hash=$("$FEDCTL" status "$d" --json | sed -n 's/.*"weights_sha256": "\([0-9a-f]*\)".*/\1/p')
    echo "grid.backup=$policy slowdowns=\"$SLOWDOWNS\": $(($(wc -l <"$d/rounds.csv") - 1)) rounds, median round $med s, waste $waste, $backups backups, weights $hash"
done
