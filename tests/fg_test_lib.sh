#   fg_test_lib.sh — what the shell tests share (sourced, never run):
#       . "$(dirname "$0")/fg_test_lib.sh"; fg_test_begin NAME
#   TAP helpers (ok, bad, fg_test_end), a work folder removed on exit with
#   every background process registered in $pids killed, the small test
#   experiment (new_exp: synthetic data, cnn-small, 4 shards, 3 rounds)
#   and what `fedctl status` says of an experiment (final_hash, state_of,
#   accuracy_of), a background coordinator over tcp (start_coordinator,
#   await_coordinator), and check DIR WHAT against the reference hash $H (and journal verify);
#   a worker without the dataset (run_fetcher, fetched_of).
#   A test that needs more cleanup defines fg_test_cleanup before it calls
#   fg_test_begin.
FEDCTL=${FEDCTL:-cli/fedctl}
export FEDGRID_LOG=warn
n=0; failed=0; pids=""
ok () { n=$((n + 1)); echo "ok $n - $1"; }
bad () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
#   the plan, then the exit status: 0 when nothing failed
fg_test_end () { echo "1..$n"; [ "$failed" -eq 0 ]; }

fg_test_begin () {   # fg_test_begin NAME: sets work, the trap
    work=$(mktemp -d "/tmp/fg-$1-XXXXXX")
    trap fg_test_exit EXIT
}
fg_test_exit () {
    for p_ in $pids; do kill -CONT "$p_" 2>/dev/null; kill -9 "$p_" 2>/dev/null; done
    command -v fg_test_cleanup >/dev/null 2>&1 && fg_test_cleanup
    rm -rf "$work"
}

new_exp () {   # new_exp DIR [--set k=v ...]: the test experiment
    d_=$1; shift
    "$FEDCTL" init "$d_" --preset synthetic-tiny --set grid.heartbeat_ms=250 --set grid.liveness=8 \
        --set training.local_epochs=2 "$@" >/dev/null 2>&1
}
#   reference_run DIR [--set k=v ...]: DIR (synthetic-tiny with these
#   settings) run by two in-process trainers; H is its final hash. When it
#   does not finish, says so and ends the test.
reference_run () {
    d_=$1; shift
    "$FEDCTL" init "$d_" --preset synthetic-tiny "$@" >/dev/null 2>&1
    if "$FEDCTL" start "$d_" --local 2 >"$d_.out" 2>&1 && [ "$(state_of "$d_")" = finished ]; then
        ok "reference run with two in-process trainers finishes"
    else
        bad "reference run finishes ($(tail -3 "$d_.out"))"; fg_test_end; exit 1
    fi
    H=$(final_hash "$d_")
}
final_hash () { "$FEDCTL" status "$1" --json 2>/dev/null | sed -n 's/.*"weights_sha256": "\([0-9a-f]*\)".*/\1/p'; }
state_of () { "$FEDCTL" status "$1" --json 2>/dev/null | sed -n 's/.*"state": "\([^"]*\)".*/\1/p'; }
accuracy_of () { "$FEDCTL" status "$1" --json 2>/dev/null | sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p'; }

check () {     # check DIR WHAT: finished, the final hash equals $H, the journal verifies
    h_=$(final_hash "$1")
    if [ "$(state_of "$1")" = finished ] && [ -n "$h_" ] && [ "$h_" = "$H" ] \
       && "$FEDCTL" journal verify "$1" >"$1.verify" 2>&1; then ok "$2"
    else bad "$2 (state $(state_of "$1"), hash ${h_:-none}, want ${H:-none}; $(head -c 300 "$1.verify" 2>/dev/null))"; fi
}

#   start_coordinator DIR start|resume ARGS...: fedctl in the background
#   (output appended to DIR.out); sets coord and, once status.json shows
#   it, port
start_coordinator () {
    dir_=$1; how_=$2; shift 2
    rm -f "$dir_/status.json"
    "$FEDCTL" "$how_" "$dir_" "$@" >>"$dir_.out" 2>&1 &
    coord=$!; pids="$pids $coord"; port=""
    for t_ in $(seq 1 200); do
        port=$(sed -n 's/.*"port": \([0-9]*\).*/\1/p' "$dir_/status.json" 2>/dev/null)
        [ -n "$port" ] && [ "$port" != 0 ] && break; sleep 0.05
    done
}
#   await_coordinator [PID...]: wait for the background coordinator ($coord)
#   to finish its run, at most 10 minutes (a run takes seconds; under the
#   sanitizers on a loaded 2-core machine one took over 3 minutes), then
#   stop the given workers and, if it is still running, the coordinator
#   (the check that follows then reports the state it reached): never hangs
await_coordinator () {
    for t_ in $(seq 1 6000); do kill -0 "$coord" 2>/dev/null || break; sleep 0.1; done
    [ $# -gt 0 ] && kill "$@" 2>/dev/null
    kill -0 "$coord" 2>/dev/null && { sleep 2; kill "$coord" 2>/dev/null; }
    wait "$coord" 2>/dev/null
}
#   run_fetcher DIR: DIR's coordinator over tcp and one `fedctl worker`
#   without the dataset on the shared cache $work/cache (its log: DIR.worker)
run_fetcher () {
    start_coordinator "$1" start --local 0 --listen 'tcp://127.0.0.1:*'
    FEDGRID_LOG=info "$FEDCTL" worker --connect "tcp://127.0.0.1:$port" --server-key "$1/coordinator.key" \
        --cache "$work/cache" --id fetcher --threads 1 >"$1.worker" 2>&1 &
    w_=$!; pids="$pids $w_"
    await_coordinator "$w_"
    wait "$w_" 2>/dev/null
}
#   fetched_of DIR: fetched_bytes (the 10th column of clients.csv) summed
fetched_of () { awk -F, 'NR > 1 { s += $10 } END { print s + 0 }' "$1/clients.csv"; }
