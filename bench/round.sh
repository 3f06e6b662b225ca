#!/bin/sh
#   bench/round.sh — one federated round's wall time against what it must
#   cost: the slowest trainer's compute plus the evaluation of the test set
#   (issue 15's round-level target: wall <= 1.1 x that; transfers, journal
#   and coordination <= 10 %). docs/benchmarks.md.
#
#   bench/round.sh [-f FEDCTL] [-p preset] [-n nodes] [-i images per shard]
#                  [-T test images] [-r rounds] [-e local epochs] [-k DIR]
#
#   Defaults: build/cli/fedctl (or $FEDCTL), cifar10-vgg16-iid, 1 node,
#   200 images per shard, 1000 test images, 4 rounds, 1 local epoch, data
#   under $FEDGRID_DATA (default /work/shared/data). `fedctl start` runs
#   the nodes as local trainers (grid.local_trainers = nodes, BLIS threads
#   shared as fedctl shares them); heartbeats are slowed (5 s x 20) and the
#   round deadline raised so a loaded machine does not turn slowness into
#   re-issued units. -k keeps the experiment in DIR (else a mkdtemp folder,
#   removed).
#
#   Per round (rows of rounds.csv and clients.csv, and the trainers'
#   "unit time split" debug lines):
#     wall     from the previous round's commit (round 1: from its start)
#              to this round's commit (committed_unix_s; round 1: seconds
#              + commit_seconds)
#     unit     the slowest accepted unit's seconds (the node's own clock:
#              model built, trained, result encoded and hashed)
#     eval     the test set's evaluation (eval_seconds)
#     x        wall / (unit + eval): the target is <= 1.10
#     xfer     units_seconds - unit: TASK, weights fetched, result kept,
#              pulled, checked and journaled, between commit and TASK
#     agg, commit   aggregate_seconds, commit_seconds
#     other    wall - units_seconds - agg - eval - commit (the round's
#              start: partition, aggregator BEGIN, the next TASK)
#   and, as medians over the units: the trainer's weights (TASK to weights
#   at hand), start-up (model built, weights copied in), training, result
#   (encode, SHA-256) and kept (trainer journal) milliseconds.
#   The last lines: medians over rounds 2.. (round 1 also builds the
#   evaluation's model and fetches what no cache holds), the process's CPU
#   time, the load, and oth% (the CPU share other processes took while it
#   ran: a wall figure with oth% > 0 is a loaded machine's).
set -eu
fedctl=${FEDCTL:-build/cli/fedctl}
preset=cifar10-vgg16-iid; nodes=1; images=200; tests=1000; rounds=4; epochs=1; keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        -f) fedctl=$2; shift 2 ;;
        -p) preset=$2; shift 2 ;;
        -n) nodes=$2; shift 2 ;;
        -i) images=$2; shift 2 ;;
        -T) tests=$2; shift 2 ;;
        -r) rounds=$2; shift 2 ;;
        -e) epochs=$2; shift 2 ;;
        -k) keep=$2; shift 2 ;;
        *) echo "round.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
export FEDGRID_DATA="${FEDGRID_DATA:-/work/shared/data}"
if [ -n "$keep" ]; then d=$keep; rm -rf "$d"; mkdir -p "$d"; else d=$(mktemp -d /tmp/fedgrid-round.XXXXXX); fi
[ -n "$keep" ] || trap 'rm -rf "$d"' EXIT
"$fedctl" init "$d" --force --preset "$preset" --set grid.nodes="$nodes" \
    --set data.train_limit=$((nodes * images)) --set data.test_limit="$tests" \
    --set experiment.rounds="$rounds" --set training.local_epochs="$epochs" \
    --set grid.local_trainers="$nodes" --set grid.heartbeat_ms=5000 --set grid.liveness=20 \
    --set grid.deadline_floor_s=36000 >/dev/null 2>"$d/init.err" || { cat "$d/init.err" >&2; exit 1; }

#   busy jiffies of the whole machine (user nice system irq softirq steal)
busy () { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
hz=$(getconf CLK_TCK)
load0=$(cut -d' ' -f1 /proc/loadavg)
b0=$(busy)
t0=$(date +%s.%N)
FEDGRID_LOG=debug /usr/bin/time -f "%e %U %S" -o "$d/time.txt" "$fedctl" start "$d" \
    >"$d/start.out" 2>"$d/start.err" || { echo "round.sh: fedctl start failed:" >&2;
                                          tail -5 "$d/start.err" >&2; exit 1; }
t1=$(date +%s.%N)
b1=$(busy)
load1=$(cut -d' ' -f1 /proc/loadavg)

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cpus, cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "# $fedctl ($("$fedctl" --version 2>/dev/null | head -1)), preset $preset, $nodes node(s) x $images images, $epochs local epoch(s), $tests test images, $rounds rounds"
echo "# isa flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni)$' | tr '\n' ' ')${FEDGRID_GEMM:+(FEDGRID_GEMM=$FEDGRID_GEMM)}"
echo "# kernel: $(sed -n 's/.*joined (\(.*\))$/\1/p' "$d/start.err" | head -1)"
grep 'unit time split' "$d/start.err" |
    sed 's/.*weights \([0-9]*\) ms.*start-up \([0-9]*\) ms.*training \([0-9]*\) ms.*result \([0-9]*\) ms.*kept \([0-9]*\) ms.*/\1 \2 \3 \4 \5/' \
    >"$d/split.txt" || true
awk -F, -v hz="$hz" -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v ncpu="$(nproc)" \
    -v l0="$load0" -v l1="$load1" -v timefile="$d/time.txt" -v splitfile="$d/split.txt" '
    function median (a, n,    i, j, t) {
        for (i = 2; i <= n; i++) { t = a [i]; for (j = i - 1; j >= 1 && a [j] > t; j--) a [j + 1] = a [j]; a [j + 1] = t }
        return n == 0? 0: n % 2? a [(n + 1) / 2]: (a [n / 2] + a [n / 2 + 1]) / 2
    }
    FNR == 1 { file++; next }
    file == 1 { r = $1; sec [r] = $7; units [r] = $10; agg [r] = $11; ev [r] = $12
                com [r] = $13; at [r] = $14; last = r }
    file == 2 && ($9 == "accepted" || $9 == "agreed") { if ($7 > unit [$1]) unit [$1] = $7 }
    END {
        printf "%5s %8s %8s %7s %6s | %7s %7s %7s %7s\n", "round", "wall", "unit", "eval", "x",
               "xfer", "agg", "commit", "other"
        n = 0
        for (r = 1; r <= last; r++) {
            wall = r == 1? sec [r] + com [r]: at [r] - at [r - 1]
            comp = unit [r] + ev [r]
            xfer = units [r] - unit [r]
            other = wall - units [r] - agg [r] - ev [r] - com [r]
            printf "%5d %8.2f %8.2f %7.2f %6.2f | %7.2f %7.2f %7.2f %7.2f\n", r, wall, unit [r],
                   ev [r], (comp > 0? wall / comp: 0), xfer, agg [r], com [r], other
            if (r == 1 && last > 1) continue
            n++; W [n] = wall; U [n] = unit [r]; E [n] = ev [r]; X [n] = (comp > 0? wall / comp: 0)
            XF [n] = xfer; A [n] = agg [r]; C [n] = com [r]; O [n] = other
        }
        printf "median of rounds %s: wall %.2f s, slowest unit %.2f s + eval %.2f s, x %.2f; " \
               "xfer %.2f s, agg %.2f s, commit %.2f s, other %.2f s\n", (last > 1? "2.." last: "1"),
               median (W, n), median (U, n), median (E, n), median (X, n), median (XF, n),
               median (A, n), median (C, n), median (O, n)
        m = 0
        while ((getline line < splitfile) > 0) {
            split (line, f, " "); m++
            SW [m] = f [1]; SS [m] = f [2]; ST [m] = f [3]; SR [m] = f [4]; SK [m] = f [5]
        }
        if (m)
            printf "trainer, median of %d units: weights %d ms, start-up %d ms, training %d ms, " \
                   "result %d ms, kept %d ms\n", m, median (SW, m), median (SS, m), median (ST, m),
                   median (SR, m), median (SK, m)
        getline tl < timefile; split (tl, tt, " ")
        wall = t1 - t0; cpu = tt [2] + tt [3]
        oth = wall > 0? 100 * ((b1 - b0) / hz - cpu) / (wall * ncpu): 0
        printf "process: %.1f s wall, %.1f s CPU (user %.1f, sys %.1f); load %s -> %s; oth%% %.0f\n",
               wall, cpu, tt [2], tt [3], l0, l1, (oth < 0? 0: oth)
    }' "$d/rounds.csv" "$d/clients.csv"
sed -n 's/^finished: final weights sha256 /weights sha256 /p' "$d/start.out"
