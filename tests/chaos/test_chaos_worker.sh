#!/bin/sh
#   test_chaos_worker.sh — fedctl workers behind the chaos proxy still
#   finish an experiment, on the calm run's weights (TAP output). The small
#   experiment of crashtest.sh (synthetic data, cnn-small, 4 shards, 3
#   rounds, CURVE on tcp) runs three times at once:
#     - calm: `fedctl start --local 2`, the reference hash;
#     - drops: a coordinator with --listen and two `fedctl worker`s, each
#       behind its own proxy with 20 ms latency, 10 ms jitter and a drop
#       every 3 s on average;
#     - rough: two workers behind one proxy that stalls (0.4 s every 2 s),
#       resets (after 4 s) and half-closes (after 5 s) their connections,
#       with 5 ms latency and a 2 MB/s cap each way.
#   Each chaotic run must finish on the calm run's hash, and the proxies'
#   logs must show the events happened and the workers reconnected.
set -u
. "$(dirname "$0")/../fg_test_lib.sh"
PROXY=${CHAOS_PROXY:-tests/chaos/chaos-proxy}
proxies=""; workers=""
fg_test_begin chaos

#   start_proxy NAME UPSTREAM-PORT OPTIONS...: background; sets pport
start_proxy () {
    name_=$1; up_=$2; shift 2
    "$PROXY" --listen 127.0.0.1:0 --upstream "127.0.0.1:$up_" --log "$work/$name_.log" "$@" \
        >"$work/$name_.port" 2>"$work/$name_.err" &
    pids="$pids $!"; proxies="$proxies $name_:$!"; pport=""
    for t in $(seq 1 200); do
        pport=$(head -1 "$work/$name_.port" 2>/dev/null); [ -n "$pport" ] && break; sleep 0.05
    done
}
#   start_worker DIR NAME PORT: a worker of DIR's coordinator through PORT
start_worker () {
    FEDGRID_LOG=info "$FEDCTL" worker --connect "tcp://127.0.0.1:$3" --server-key "$1/coordinator.key" \
        --cache "$1.cache-$2" --id "$2" --dataset synthetic --train-limit 800 --threads 1 \
        >"$1.$2.out" 2>&1 &
    pids="$pids $!"; workers="$workers $!"
}
#   await PID: at most 10 minutes (never hangs), then stop it
await () {
    for t_ in $(seq 1 6000); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$1" 2>/dev/null && { kill "$1" 2>/dev/null; sleep 2; }
    wait "$1" 2>/dev/null
}
events () { grep -c "event=$2 " "$work/$1.log" 2>/dev/null; }   # events LOG KIND: count

ref="$work/ref"; new_exp "$ref"
"$FEDCTL" start "$ref" --local 2 >"$ref.out" 2>&1 &
calm=$!; pids="$pids $calm"

drops="$work/drops"; new_exp "$drops"
start_coordinator "$drops" start --local 0 --listen 'tcp://127.0.0.1:*'; drops_coord=$coord
start_proxy drops-a "$port" --seed 11 --latency-ms 20 --jitter-ms 10 --drop-every 3
start_worker "$drops" a "$pport"
start_proxy drops-b "$port" --seed 12 --latency-ms 20 --jitter-ms 10 --drop-every 3
start_worker "$drops" b "$pport"
drops_workers=$workers; workers=""

rough="$work/rough"; new_exp "$rough"
start_coordinator "$rough" start --local 0 --listen 'tcp://127.0.0.1:*'; rough_coord=$coord
start_proxy rough "$port" --seed 21 --latency-ms 5 --bandwidth 2M --stall-every 2 --stall-for 0.4 \
    --reset-every 4 --half-close-every 5 --spread 0.25
start_worker "$rough" c "$pport"
start_worker "$rough" d "$pport"
rough_workers=$workers

await "$calm"
if [ "$(state_of "$ref")" = finished ]; then ok "calm run finishes"
else bad "calm run finishes ($(tail -3 "$ref.out"))"; fg_test_end; exit 1; fi
H=$(final_hash "$ref")

check () {     # check DIR WHAT
    h=$(final_hash "$1")
    if [ "$(state_of "$1")" = finished ] && [ "$h" = "$H" ]; then ok "$2"
    else bad "$2 (state $(state_of "$1"), hash ${h:-none}, want $H; $(tail -2 "$1.out" | tr '\n' ' '))"; fi
}
#   stop_workers PID...: SIGTERM, then wait (so they stop reconnecting)
stop_workers () { kill "$@" 2>/dev/null; for p in "$@"; do wait "$p" 2>/dev/null; done; }
await "$drops_coord"; stop_workers $drops_workers
check "$drops" "two workers, each behind latency + jitter + a drop every ~3 s: the calm run's weights"
await "$rough_coord"; stop_workers $rough_workers
check "$rough" "two workers behind stalls, resets, half-closes and a bandwidth cap: the calm run's weights"

#   the chaos happened: drops, and reconnections after them (connections
#   that carried bytes from the coordinator, the dropped ones included: a
#   second one means the worker came back after its first link was cut;
#   the last drop may come after the coordinator's end)
served () { grep -c "event=close .*down_out=[1-9]" "$work/$1.log" 2>/dev/null; }
d_a=$(events drops-a drop); d_b=$(events drops-b drop)
c_a=$(served drops-a); c_b=$(served drops-b)
if [ "${d_a:-0}" -ge 1 ] && [ "${d_b:-0}" -ge 1 ] && [ "${c_a:-0}" -ge 2 ] && [ "${c_b:-0}" -ge 2 ]; then
    ok "each worker's link was dropped and the worker reconnected (drops $d_a, $d_b; connections $c_a, $c_b)"
else
    bad "each worker's link was dropped and the worker reconnected (drops ${d_a:-0}, ${d_b:-0}; connections ${c_a:-0}, ${c_b:-0})"
fi
s_=$(events rough stall); r_=$(events rough reset); h_=$(events rough half-close); o_=$(served rough)
if [ "${s_:-0}" -ge 1 ] && [ $((${r_:-0} + ${h_:-0})) -ge 1 ] && [ "${o_:-0}" -gt 2 ]; then
    ok "the rough link stalled, reset or half-closed, and the workers reconnected (stalls $s_, resets $r_, half-closes $h_, connections $o_)"
else
    bad "the rough link stalled, reset or half-closed (stalls ${s_:-0}, resets ${r_:-0}, half-closes ${h_:-0}, connections ${o_:-0})"
fi

#   the proxies end cleanly on SIGTERM
all_ok=true
for np in $proxies; do
    name=${np%%:*}; pid=${np#*:}
    kill "$pid" 2>/dev/null; wait "$pid"; rc=$?
    { [ $rc -eq 0 ] && grep -q "event=exit signal=TERM" "$work/$name.log"; } || { all_ok=false; echo "# proxy $name: exit $rc"; }
done
$all_ok && ok "the proxies exit 0 on SIGTERM and log it" || bad "the proxies exit 0 on SIGTERM and log it"

fg_test_end
