#!/bin/sh
#   chaostest.sh [--quick] — the unreliable grid, simulated (TAP output).
#
#   tests/chaos/chaos-grid runs a coordinator and 8 `fedctl worker`
#   processes with node profiles (tests/chaos/scenarios, docs/chaos.md) on
#   a small experiment (synthetic data, cnn-small, 8 shards, 4 rounds):
#     - calm: 8 workers, nothing injected: the reference hash and time;
#     - mixed (exact policy, grid.replication 2): a good PC, slowdown 2
#       and 4, a freezer, a crash loop, an office PC's availability trace,
#       a flaky link through a chaos-proxy (when built) and a liar
#       (FEDGRID_FAULT=add:1000): the calm run's final weights, the liar
#       struck, every injection logged, and the run within CHAOS_FACTOR
#       (default 5) times the calm run's time plus 30 s;
#     - mixed under the deadline policy (quorum 0.5): every round commits
#       with at least the quorum, in bounded time, and its included set
#       (what was left out) is journaled and matches rounds.csv;
#     - freeze-last: the slowest of 4 workers, holding the last unit of a
#       round, sleeps (SIGSTOP) for 10 minutes: the run does not wait for
#       it, the round moves on past its deadline (deadline policy; exact
#       too in the full run, where the unit is issued again and the final
#       hash is the calm 4-shard run's);
#   and in the full run (make chaostest) also the mixed scenario at two
#   more seeds, a crash storm (every worker kill -9 every ~4 s) and an
#   office day (half the grid off at night, half slow), all on the calm
#   run's hash. --quick (make check) runs calm, mixed (exact, seed 1) and
#   freeze-last (deadline policy, with the quorum and included-set checks).
set -u
. "$(dirname "$0")/fg_test_lib.sh"
quick=false; [ "${1:-}" = "--quick" ] && quick=true
bin=$(cd "$(dirname "$FEDCTL")/.." && pwd)
GRID=${CHAOS_GRID:-$bin/tests/chaos/chaos-grid}
PROXY=${CHAOS_PROXY:-$bin/tests/chaos/chaos-proxy}
SCN=$(cd "$(dirname "$0")/chaos/scenarios" && pwd)
FACTOR=${CHAOS_FACTOR:-5}
fg_test_begin chaos

#   chaos_exp DIR [--set k=v ...]: the test experiment with 8 shards and
#   4 rounds, units given up on after 2 s at the least
chaos_exp () {
    d_=$1; shift
    new_exp "$d_" --set grid.nodes=8 --set experiment.rounds=4 --set grid.deadline_floor_s=2 "$@"
}
#   scenario NAME: the path of a scenario to run; without a chaos-proxy
#   binary its proxy lines are dropped (those workers connect directly)
scenario () {
    if [ -x "$PROXY" ]; then echo "$SCN/$1.scn"; return; fi
    grep -v '^proxy' "$SCN/$1.scn" >"$work/$1.scn"
    cp "$SCN"/*.trace "$work/"
    echo "$work/$1.scn"
}
#   grid DIR SCENARIO SEED LIMIT: runs chaos-grid; sets rc and secs (wall)
grid () {
    t0_=$(date +%s.%N)
    proxy_=""; [ -x "$PROXY" ] && proxy_="--proxy $PROXY"
    "$GRID" --fedctl "$FEDCTL" --dir "$1" --scenario "$2" --seed "$3" --limit "$4" $proxy_ \
        >"$1.grid.out" 2>&1
    rc=$?
    secs=$(awk -v a="$t0_" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}
events () { grep -c "$2" "$1.chaos/events.log" 2>/dev/null; }   # events DIR PATTERN: how many
#   rounds_ok DIR ROUNDS MIN_UPDATES MAX_SECONDS: every round of rounds.csv
#   committed with >= MIN_UPDATES updates within MAX_SECONDS, ROUNDS rows
rounds_ok () {
    awk -F, -v r="$2" -v q="$3" -v m="$4" 'NR > 1 { n++; if ($5 < q || $7 > m) bad = bad " round " $1 " (" $5 " updates, " $7 " s)" }
        END { if (n != r) bad = bad " " n " rounds"; if (bad != "") { print bad; exit 1 } }' "$1/rounds.csv"
}
#   included_ok DIR: the journal's round records name an included set whose
#   size is rounds.csv's update count, round by round
included_ok () {
    "$FEDCTL" journal dump "$1" 2>/dev/null | sed -n 's/^ *included (\([0-9]*\)).*/\1/p' >"$1.included"
    sed 1d "$1/rounds.csv" | cut -d, -f5 | cmp -s - "$1.included"
}
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
[ -x "$PROXY" ] || echo "# no chaos-proxy at $PROXY: the flaky worker connects directly"

#   the calm reference
calm="$work/calm"; chaos_exp "$calm"
grid "$calm" "$(scenario calm)" 1 600
H=$(final_hash "$calm"); calm_secs=$secs
if [ $rc -eq 0 ] && [ "$(state_of "$calm")" = finished ] && [ -n "$H" ]; then
    ok "calm: 8 workers finish the experiment in $secs s"
else
    bad "calm: 8 workers finish the experiment (exit $rc, state $(state_of "$calm"): $(tail -3 "$calm.grid.out"))"
    fg_test_end; exit 1
fi
echo "# calm run: $calm_secs s, final weights $H"

#   mixed profiles, exact policy: the calm run's bits
SEEDS="1"; $quick || SEEDS="1 2 3"
for seed in $SEEDS; do
    d="$work/mixed-$seed"; chaos_exp "$d" --set grid.replication=2
    grid "$d" "$(scenario mixed)" "$seed" 900
    if [ $rc -eq 0 ]; then ok "mixed (seed $seed): chaos-grid exits 0 (coordinator finished, no process died unasked)"
    else bad "mixed (seed $seed): chaos-grid exits 0 (exit $rc: $(grep -i 'unasked\|limit\|exited' "$d.chaos/events.log" | head -3))"; fi
    check "$d" "mixed (seed $seed, exact policy, replication 2): the calm run's final weights"
    freezes=$(events "$d" 'freeze: SIGSTOP'); crashes=$(events "$d" 'crash: kill -9')
    downs=$(events "$d" 'trace: down'); ups=$(events "$d" 'trace: up')
    #   office.trace powers the PC on again 9 s after the coordinator
    #   started: a run over by then (a quiet machine) saw the power go only
    if [ "$ups" -eq 0 ] && awk -v s="$secs" 'BEGIN { exit !(s < 11) }'; then ups="none due"; fi
    if [ "$freezes" -ge 1 ] && [ "$crashes" -ge 1 ] && [ "$downs" -ge 1 ] && [ "$ups" != 0 ] \
       && [ "$(events "$d" 'liar .*FEDGRID_FAULT=add:1000')" -ge 1 ]; then
        ok "mixed (seed $seed): injections logged ($freezes freezes, $crashes crashes, $downs trace downs, $ups ups)"
    else
        bad "mixed (seed $seed): injections logged ($freezes freezes, $crashes crashes, $downs downs, $ups ups)"
    fi
    if [ -x "$PROXY" ]; then
        resets=$(grep -c 'event=reset' "$d.chaos/flaky.proxy.log"); stalls=$(grep -c 'event=stall ' "$d.chaos/flaky.proxy.log")
        #   both when the run lasts (a reset every ~5 s, a stall every ~3 s);
        #   a quiet machine's run of ~6 s may see only one kind
        if [ "$resets" -ge 1 ] && [ "$stalls" -ge 1 ]; then
            ok "mixed (seed $seed): the flaky link's proxy injected $resets resets and $stalls stalls"
        elif [ $((resets + stalls)) -ge 1 ] && awk -v s="$secs" 'BEGIN { exit !(s < 10) }'; then
            ok "mixed (seed $seed): the flaky link's proxy injected $resets resets and $stalls stalls in a $secs s run"
        else
            bad "mixed (seed $seed): the flaky link's proxy injected resets and stalls ($resets, $stalls in $secs s)"
        fi
    fi
    struck=$("$FEDCTL" journal dump "$d" 2>/dev/null | grep -c 'strike [0-9]* against node liar')
    honest=$("$FEDCTL" journal dump "$d" 2>/dev/null | grep 'strike [0-9]* against node' | grep -vc 'node liar')
    if [ "$struck" -ge 1 ] && [ "$honest" -eq 0 ] && ! grep -q ',liar,.*,\(agreed\|accepted\),' "$d/clients.csv"; then
        ok "mixed (seed $seed): the liar is struck ($struck strikes), never accepted; no honest node struck"
    else
        bad "mixed (seed $seed): the liar is struck, never accepted ($struck strikes, $honest strikes on honest nodes)"
    fi
    f=$(ratio "$secs" "$calm_secs")
    echo "# mixed (seed $seed): $secs s, $f x the calm run"
    if awk -v s="$secs" -v c="$calm_secs" -v k="$FACTOR" 'BEGIN { exit !(s <= k * c + 30) }'; then
        ok "mixed (seed $seed): $secs s, within $FACTOR x the calm run's $calm_secs s (+30 s)"
    else
        bad "mixed (seed $seed): $secs s, not within $FACTOR x the calm run's $calm_secs s (+30 s)"
    fi
done

#   mixed profiles, deadline policy: bounded rounds, the quorum, the
#   included sets journaled
$quick || {
d="$work/mixed-deadline"
chaos_exp "$d" --set grid.replication=2 --set experiment.policy=deadline --set experiment.quorum=0.5
grid "$d" "$(scenario mixed)" 7 900
if [ $rc -eq 0 ] && [ "$(state_of "$d")" = finished ] && "$FEDCTL" journal verify "$d" >/dev/null 2>&1; then
    ok "mixed, deadline policy: finishes in $secs s; journal verifies"
else
    bad "mixed, deadline policy: finishes (exit $rc, state $(state_of "$d"))"
fi
if why=$(rounds_ok "$d" 4 4 60); then ok "mixed, deadline policy: every round commits with >= 4 of 8 updates within 60 s"
else bad "mixed, deadline policy: every round commits with the quorum within 60 s:$why"; fi
if included_ok "$d"; then
    ok "mixed, deadline policy: each round's included set is journaled ($(tr '\n' ' ' <"$d.included")of 8)"
else
    bad "mixed, deadline policy: included sets journaled ($(tr '\n' ' ' <"$d.included") vs rounds.csv $(sed 1d "$d/rounds.csv" | cut -d, -f5 | tr '\n' ' '))"
fi
}

#   the sleeper holds the last unit and never wakes during the run; no
#   backup copies (grid.backup = never): under "late" a quick idle worker
#   takes a copy of the slow sleeper's unit and finishes first, so on a
#   quiet machine the run can end before the freeze matters; this scenario
#   is about the deadline and liveness that move a frozen holder's unit on
POLICIES="deadline"; $quick || POLICIES="deadline exact"
for policy in $POLICIES; do
    d="$work/freeze-last-$policy"
    new_exp "$d" --set grid.deadline_floor_s=2 --set experiment.policy=$policy --set experiment.quorum=0.75 \
        --set grid.backup=never
    grid "$d" "$(scenario freeze-last)" 3 300
    moved=$("$FEDCTL" journal dump "$d" 2>/dev/null | grep -c 'passed its deadline on sleeper\|node sleeper removed: silent')
    thaws=$(events "$d" 'sleeper.*thaw')
    if [ $rc -eq 0 ] && [ "$(state_of "$d")" = finished ] && [ "$(events "$d" 'sleeper.*freeze: SIGSTOP')" -eq 1 ] \
       && [ "$thaws" -eq 0 ] && [ "$moved" -ge 1 ]; then
        ok "freeze-last ($policy policy): the run finishes in $secs s while the sleeper stays frozen; its unit moves on ($moved journal events)"
    else
        bad "freeze-last ($policy policy): exit $rc, state $(state_of "$d"), $thaws thaws, $moved journal events"
    fi
    if why=$(rounds_ok "$d" 3 3 60); then ok "freeze-last ($policy policy): every round commits with >= 3 of 4 updates, none waits for the sleeper (each within 60 s)"
    else bad "freeze-last ($policy policy): a round waited or missed the quorum:$why"; fi
    if [ $policy = deadline ]; then
        if included_ok "$d" && "$FEDCTL" journal verify "$d" >/dev/null 2>&1; then
            ok "freeze-last (deadline policy): each round's included set is journaled ($(tr '\n' ' ' <"$d.included")of 4); journal verifies"
        else
            bad "freeze-last (deadline policy): included sets journaled ($(tr '\n' ' ' <"$d.included") vs rounds.csv $(sed 1d "$d/rounds.csv" | cut -d, -f5 | tr '\n' ' '))"
        fi
    fi
    if [ $policy = exact ]; then
        r="$work/calm4"; new_exp "$r" --set grid.deadline_floor_s=2 --set experiment.policy=exact --set experiment.quorum=0.75
        "$FEDCTL" start "$r" --local 2 --slowdown 1,3 >"$r.out" 2>&1   #  one slow local trainer: same bits
        H4=$(final_hash "$r")
        h=$(final_hash "$d")
        [ -n "$H4" ] && [ "$h" = "$H4" ] && ok "freeze-last (exact policy): the calm 4-shard run's final weights" \
            || bad "freeze-last (exact policy): final weights ${h:-none}, calm ${H4:-none}"
    fi
done

if ! $quick; then
    for name in storm office-day; do
        d="$work/$name"; chaos_exp "$d"
        grid "$d" "$(scenario $name)" 11 900
        [ $rc -eq 0 ] && ok "$name: chaos-grid exits 0 in $secs s ($(ratio "$secs" "$calm_secs") x calm)" \
            || bad "$name: chaos-grid exits 0 (exit $rc)"
        echo "# $name: $secs s, $(ratio "$secs" "$calm_secs") x the calm run"
        check "$d" "$name: the calm run's final weights"
    done
fi

fg_test_end
