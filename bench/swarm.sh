#!/bin/sh
#   bench/swarm.sh [N ...] — the coordinator with N node identities
#   (default 100 1000), each a real DEALER over tcp from `fedctl worker
#   --swarm` processes (at most 4,000 identities each: two descriptors per
#   identity), against `fedctl start DIR --local 0 --listen` (grid.curve =
#   false; CURVE=1 for true). Two phases per N, figures on stdout:
#
#   idle    N identities that cannot run the experiment's units (another
#           copy of the dataset, no cache: each refuses its first TASK and
#           is marked unable), so the coordinator holds N live nodes that
#           only beat. After all joined and SETTLE s, over WINDOW s: the
#           coordinator's RSS minus its RSS before the swarm, per node; its
#           process CPU per second (heartbeats in and out, liveness sweep,
#           status.json); messages in per second (one heartbeat per node
#           per grid.heartbeat_ms).
#   rounds  N identities that can: ROUNDS rounds of SHARDS units (synthetic
#           data, cnn-small, SAMPLES training samples): per round its
#           seconds and the coordinator thread's CPU (the "coordinator"
#           figure of each round line), and the process's CPU and peak RSS.
#
#   Environment: FEDCTL (default cli/fedctl: run from the build folder),
#   SHARDS (64), ROUNDS (3), SAMPLES (2048), POOL (2), SETTLE (10),
#   WINDOW (20), HEARTBEAT_MS (1000), LIVENESS (10: a loaded host), CURVE,
#   BACKUP (grid.backup: late, the default, always or never).
set -u
FEDCTL=${FEDCTL:-cli/fedctl}
SHARDS=${SHARDS:-64}; ROUNDS=${ROUNDS:-3}; SAMPLES=${SAMPLES:-2048}; POOL=${POOL:-2}
SETTLE=${SETTLE:-10}; WINDOW=${WINDOW:-20}; HB=${HEARTBEAT_MS:-1000}; LIVE=${LIVENESS:-10}
CURVE=${CURVE:-0}; BACKUP=${BACKUP:-late}
[ $# -gt 0 ] || set -- 100 1000
work=$(mktemp -d /tmp/fg-bench-swarm-XXXXXX)
pids=""
cleanup () { for p in $pids; do kill "$p" 2>/dev/null; done; sleep 1
             for p in $pids; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
export FEDGRID_LOG=warn
curve=false; [ "$CURVE" = 1 ] && curve=true
tick=$(getconf CLK_TCK)

rss_kb () { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null; }
anon_kb () { sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null; }
#   CPU seconds of each thread: "name seconds" lines (the coordinator's
#   actors are unnamed threads; ZeroMQ's I/O thread is ZMQbg/IO/0)
threads_cpu () { for t in /proc/"$1"/task/*; do
    awk -v t="$tick" '{ sub(/^[0-9]+ \(/, ""); n = $0; sub(/\).*/, "", n); sub(/^[^)]*\) /, "")
                        printf "%s %.3f\n", n, ($12 + $13) / t }' "$t/stat" 2>/dev/null; done; }
cpu_s ()  { awk -v t="$tick" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null; }
alive ()  { "$FEDCTL" status "$1" --json 2>/dev/null | sed -n 's/.*"nodes_alive": \([0-9]*\).*/\1/p'; }

start_coordinator () {   # DIR: background, sets coord and port
    rm -f "$1/status.json"
    "$FEDCTL" start "$1" --local 0 --listen 'tcp://127.0.0.1:*' >"$1.out" 2>&1 &
    coord=$!; pids="$pids $coord"; port=""
    for t in $(seq 1 400); do
        port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$1/status.json" 2>/dev/null)
        [ -n "$port" ] && [ "$port" != 0 ] && break; sleep 0.05
    done
}
start_swarms () {   # DIR N TRAIN-LIMIT: swarm processes of at most 4000 identities
    left=$2; k=0; swarms=""
    key=""; [ "$CURVE" = 1 ] && key="--server-key $1/coordinator.key"
    while [ "$left" -gt 0 ]; do
        m=$left; [ "$m" -gt 4000 ] && m=4000
        # shellcheck disable=SC2086
        "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" $key --cache "$1.cache$k" --id "s$k" \
            --dataset synthetic --train-limit "$3" --swarm "$m" --pool "$POOL" \
            --set grid.heartbeat_ms="$HB" --set grid.liveness="$LIVE" >"$1.swarm$k.out" 2>&1 &
        swarms="$swarms $!"; pids="$pids $!"
        left=$((left - m)); k=$((k + 1))
    done
}
stop_swarms () { kill -INT $swarms 2>/dev/null; for p in $swarms; do wait "$p" 2>/dev/null; done; }
new_exp () {   # DIR
    "$FEDCTL" init "$1" --preset synthetic-tiny --set grid.nodes="$SHARDS" \
        --set experiment.rounds="$ROUNDS" --set grid.curve="$curve" \
        --set data.synthetic_train="$SAMPLES" --set grid.heartbeat_ms="$HB" \
        --set grid.liveness="$LIVE" --set grid.backup="$BACKUP" >/dev/null 2>&1
}

echo "# bench/swarm.sh: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); ulimit -n $(ulimit -n)"
echo "# shards $SHARDS, rounds $ROUNDS, samples $SAMPLES, heartbeat $HB ms, liveness $LIVE, curve $curve, backup $BACKUP"
for N in "$@"; do
    #   idle: identities with another copy of the data (SAMPLES + 1 samples)
    d="$work/idle$N"; new_exp "$d"; start_coordinator "$d"
    sleep 2; rss0=$(rss_kb "$coord"); anon0=$(anon_kb "$coord")
    t0=$(date +%s); start_swarms "$d" "$N" $((SAMPLES + 1))
    for t in $(seq 1 1200); do [ "$(alive "$d")" = "$N" ] && break; sleep 0.5; done
    joined=$(($(date +%s) - t0)); n_alive=$(alive "$d")
    sleep "$SETTLE"
    c1=$(cpu_s "$coord"); threads_cpu "$coord" >"$d.t1"; w1=$(date +%s.%N); sleep "$WINDOW"
    c2=$(cpu_s "$coord"); threads_cpu "$coord" >"$d.t2"; w2=$(date +%s.%N)
    rss1=$(rss_kb "$coord"); anon1=$(anon_kb "$coord")
    n_alive2=$(alive "$d")
    stop_swarms; kill "$coord" 2>/dev/null; wait "$coord" 2>/dev/null
    awk -v n="$N" -v a="$n_alive" -v a2="$n_alive2" -v j="$joined" -v r0="$rss0" -v r1="$rss1" \
        -v c1="$c1" -v c2="$c2" -v w1="$w1" -v w2="$w2" -v hb="$HB" \
        -v an0="$anon0" -v an1="$anon1" 'BEGIN {
        cps = (c2 - c1) / (w2 - w1)
        printf "idle   N=%-6d alive %s/%s (joined in %d s)  RSS %.1f -> %.1f MB: %.1f KB/node " \
               "(anonymous %.1f KB/node)  cpu %.2f%% of a core  heartbeats in %.0f/s: %.1f us " \
               "each (in and out)\n", n, a, a2, j, r0 / 1024, r1 / 1024, (r1 - r0) / n,
               (an1 - an0) / n, 100 * cps, n * 1000 / hb, 1e6 * cps / (n * 1000 / hb) }'
    #   the busiest threads over the window: the coordinator's, ZeroMQ's I/O
    paste -d' ' "$d.t1" "$d.t2" | awk -v n="$N" -v w="$WINDOW" -v hb="$HB" '
        { d = $4 - $2; if (d > 0.005) printf "idle   N=%-6d thread %-12s %.2f%% of a core, " \
          "%.1f us per heartbeat\n", n, $1, 100 * d / w, 1e6 * d / w / (n * 1000 / hb) }'

    #   rounds: identities with the experiment's data
    d="$work/run$N"; new_exp "$d"; start_coordinator "$d"
    start_swarms "$d" "$N" "$SAMPLES"
    peak=0
    for t in $(seq 1 6000); do
        kill -0 "$coord" 2>/dev/null || break
        r=$(rss_kb "$coord"); [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
        c=$(cpu_s "$coord"); [ -n "$c" ] && cpu=$c
        sleep 0.5
    done
    wait "$coord" 2>/dev/null
    stop_swarms
    sed -n 's/^round \([0-9]*\)\/[0-9]* .* \([0-9.]*\) s  coordinator \([0-9.]*\) s (\([0-9.]*\)%).*/\1 \2 \3 \4/p' "$d.out" |
    awk -v n="$N" -v cpu="${cpu:-0}" -v peak="$peak" '
        { printf "rounds N=%-6d round %d: %.1f s, coordinator thread %.3f s (%.1f%%)\n", n, $1, $2, $3, $4
          s += $2; c += $3; k++ }
        END { if (k) printf "rounds N=%-6d mean: %.1f s per round, coordinator thread %.3f s " \
                            "(%.2f%%); process CPU %.1f s in all; peak RSS %.1f MB\n",
                            n, s / k, c / k, 100 * c / s, cpu, peak / 1024
              else printf "rounds N=%-6d no round committed\n", n }'
    grep -h "finished: final" "$d.out" | sed "s/^/rounds N=$N /"
    #   the copies computed per outcome and kind (clients.csv), and the waste
    awk -F, -v n="$N" 'NR > 1 { k [$9 "/" $11]++ }
        END { for (x in k) printf "rounds N=%-6d copies %s: %d\n", n, x, k [x] }' "$d/clients.csv" | sort
    "$FEDCTL" status "$d" 2>/dev/null | sed -n "s/^waste */rounds N=$N waste: /p"
done
