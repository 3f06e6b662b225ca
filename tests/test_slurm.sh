#!/bin/sh
#   test_slurm.sh — the worker fleet under Slurm (contrib/slurm,
#   docs/cluster.md): a one-node Slurm on localhost (munged with a fresh
#   key, slurmctld and slurmd in the foreground, everything under a temp
#   folder), a coordinator listening on 127.0.0.1 with no local trainer,
#   contrib/slurm/fedgrid-workers.sbatch submitted as a 2-task job array;
#   once round 1 is committed one array task is cancelled with scancel, and
#   the experiment must still finish with the final weights of the calm run
#   (the same configuration with in-process trainers and no Slurm). Then a
#   task whose worker fails (a cache it cannot make) must be requeued once
#   by the script (FEDGRID_MAX_REQUEUES=1) and then stop.
#   Skipped, with the reason, when Slurm cannot start here: not root, the
#   packages are absent (scripts/deps-slurm installs slurm-wlm and munge),
#   or a daemon does not come up. Every daemon it starts is stopped on any
#   exit. Run by `make slurmtest` (scripts/test), not by make check: it
#   needs root and takes about a minute. TAP output.
set -u
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_cleanup () {
    #   the array first (its workers are slurmd's children), then the
    #   daemons, by the process ids this test recorded
    for j_ in ${jobid:-} ${jobid2:-}; do scancel "$j_" 2>/dev/null; done
    [ -n "${jobid:-}${jobid2:-}" ] && sleep 1
    for p_ in ${daemons:-}; do kill "$p_" 2>/dev/null; done
    sleep 1
    for p_ in ${daemons:-}; do kill -9 "$p_" 2>/dev/null; done
    #   a job step outlives slurmd: stop any worker still running from this
    #   test (its command line holds this test's folder, which nothing else has)
    [ -n "${jobid:-}${jobid2:-}" ] || return 0
    for c_ in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' 2>/dev/null <"$c_" | grep -qF -- "$work/" || continue
        p_=${c_#/proc/}; p_=${p_%/cmdline}
        [ "$p_" != $$ ] && kill -9 "$p_" 2>/dev/null
    done
}
fg_test_begin slurm
trap 'exit 1' INT TERM      # so the EXIT trap stops the daemons on a signal too
skip_all () { echo "1..0 # SKIP $1"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (slurmd runs jobs as their user; a test Slurm runs as root)"
for c in munged slurmctld slurmd sbatch scancel squeue scontrol sinfo; do
    command -v "$c" >/dev/null 2>&1 || skip_all "$c not found (scripts/deps-slurm installs slurm-wlm and munge)"
done
sbatch_script="$top_srcdir/contrib/slurm/fedgrid-workers.sbatch"
fedctl_abs=$(cd "$(dirname "$FEDCTL")" && pwd)/$(basename "$FEDCTL")

#   two free TCP ports for slurmctld and slurmd
free_port () {
    for p_ in $(seq "$1" "$(($1 + 200))"); do
        ss -Hltn "sport = :$p_" 2>/dev/null | grep -q . || { echo "$p_"; return; }
    done
}
ctld_port=$(free_port 26817); slurmd_port=$(free_port $((ctld_port + 1)))
[ -n "$ctld_port" ] && [ -n "$slurmd_port" ] || skip_all "no free port for slurmctld / slurmd"

#   ---- munge with its own key and socket ------------------------------------
s=$work/slurm; mkdir -p "$s/state" "$s/spool" "$s/munge"
chmod 711 "$s/munge"      # munged wants its socket folder searchable by all
dd if=/dev/urandom of="$s/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$s/munge/munge.key"
munged -F -f --key-file="$s/munge/munge.key" --socket="$s/munge/socket" \
    --pid-file="$s/munge/pid" --log-file="$s/munge/log" --seed-file="$s/munge/seed" \
    >"$s/munge/out" 2>&1 &
daemons="$!"
for t in $(seq 1 50); do [ -S "$s/munge/socket" ] && break; sleep 0.1; done
[ -S "$s/munge/socket" ] || skip_all "munged did not start: $(tail -n 2 "$s/munge/log" 2>/dev/null)"

#   ---- slurm.conf: one node, no cgroups, no accounting -----------------------
cat >"$s/slurm.conf" <<CONF
ClusterName=fedgridtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$s/munge/socket
CredType=cred/munge
StateSaveLocation=$s/state
SlurmdSpoolDir=$s/spool
SlurmctldPidFile=$s/slurmctld.pid
SlurmdPidFile=$s/slurmd.pid
SlurmctldLogFile=$s/slurmctld.log
SlurmdLogFile=$s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=256 State=UNKNOWN
PartitionName=fedgrid Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$s/slurm.conf"
slurmctld -D -i -f "$s/slurm.conf" >"$s/slurmctld.out" 2>&1 &
daemons="$daemons $!"
slurmd -D -f "$s/slurm.conf" -N localhost >"$s/slurmd.out" 2>&1 &
daemons="$daemons $!"
up=""
for t in $(seq 1 100); do
    state=$(sinfo -h -n localhost -o %t 2>/dev/null)
    case "$state" in idle*|mix*|alloc*) up=1; break;; esac
    sleep 0.2
done
[ -n "$up" ] || skip_all "Slurm did not come up (node state '${state:-none}'): $(tail -n 3 "$s/slurmctld.log" "$s/slurmd.log" 2>/dev/null | tr '\n' ' ' | cut -c1-400)"
ok "one-node Slurm up on localhost (slurmctld port $ctld_port, slurmd port $slurmd_port)"

#   ---- the calm run: same experiment, in-process trainers, no Slurm ---------
new_exp "$work/calm" --set grid.curve=false
"$FEDCTL" start "$work/calm" --local 2 >"$work/calm.out" 2>&1
H=$(final_hash "$work/calm")
if [ -n "$H" ] && [ "$(state_of "$work/calm")" = finished ]; then ok "calm run: $H"
else bad "calm run did not finish: $(tail -n 3 "$work/calm.out")"; fi

#   ---- the coordinator and the array ---------------------------------------
new_exp "$work/exp" --set grid.curve=false
start_coordinator "$work/exp" start --local 0 --listen 'tcp://127.0.0.1:*'
[ -n "$port" ] || bad "coordinator did not start: $(tail -n 3 "$work/exp.out")"
jobid=$(cd "$s" && FEDCTL="$fedctl_abs" FEDGRID_CONNECT="tcp://127.0.0.1:$port" FEDGRID_SERVER_KEY="" \
        FEDGRID_CACHE_ROOT="$s/cache" FEDGRID_LOG=warn FEDGRID_RETRY_S=1 \
        sbatch --parsable --array=0-1 --job-name=fgtest "$sbatch_script" \
            --set grid.heartbeat_ms=250 --set grid.liveness=8 2>"$s/sbatch.err")
jobid=${jobid%%;*}
if [ -n "$jobid" ]; then ok "sbatch --array=0-1 fedgrid-workers.sbatch: job $jobid"
else bad "sbatch failed: $(cat "$s/sbatch.err")"; fi

#   once round 1 is committed and task 1 has delivered a result, cancel
#   task 1 while round 2 runs
for t in $(seq 1 1200); do
    [ -s "$work/exp/rounds.csv" ] && [ "$(grep -c '^[0-9]' "$work/exp/rounds.csv")" -ge 1 ] \
        && grep -q "fgtest-1" "$work/exp/clients.csv" 2>/dev/null && break
    kill -0 "$coord" 2>/dev/null || break; sleep 0.1
done
if grep -q "fgtest-0" "$work/exp/clients.csv" && grep -q "fgtest-1" "$work/exp/clients.csv"; then
    ok "both array tasks (nodes fgtest-0, fgtest-1) trained units of round 1"
else bad "array tasks in clients.csv: $(cut -d, -f1-4 "$work/exp/clients.csv" 2>/dev/null | tr '\n' ' ' | cut -c1-300)"; fi
rounds_before=$(grep -c '^[0-9]' "$work/exp/rounds.csv" 2>/dev/null)
running=$(squeue -h -j "$jobid" -t RUNNING -o %i 2>/dev/null | wc -l)
scancel "${jobid}_1" 2>"$s/scancel.err"
if [ $? -eq 0 ] && [ "$running" -ge 1 ] && [ "${rounds_before:-0}" -lt 3 ]; then
    ok "scancel ${jobid}_1 mid-run: $rounds_before of 3 rounds committed, $running task(s) running"
else bad "scancel ${jobid}_1 ($running running): $(cat "$s/scancel.err")"; fi

await_coordinator
if [ "$(state_of "$work/exp")" = finished ] && [ "$(final_hash "$work/exp")" = "$H" ]; then
    ok "the Slurm fleet, one task cancelled mid-run, gives the calm run's weights"
else
    bad "Slurm run: state $(state_of "$work/exp"), hash $(final_hash "$work/exp") (calm $H): $(tail -n 3 "$work/exp.out"; tail -n 3 "$s"/fedgrid-worker-*.out 2>/dev/null)"
fi
if grep -q "task 1" "$s/fedgrid-worker-${jobid}_1.out" 2>/dev/null \
&& sacct_state=$(scontrol show job "${jobid}_1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z]*\).*/\1/p') \
&& [ "$sacct_state" = CANCELLED ]; then
    ok "task 1 ran the worker and ended CANCELLED (not requeued)"
else bad "task 1: state ${sacct_state:-unknown}, log: $(tail -n 2 "$s/fedgrid-worker-${jobid}_1.out" 2>/dev/null)"; fi

#   ---- a task whose worker fails is requeued (once here), then gives up ----
#   its cache root is under a regular file, so the cache cannot be made
: >"$s/not-a-folder"
jobid2=$(cd "$s" && FEDCTL="$fedctl_abs" FEDGRID_CONNECT="tcp://127.0.0.1:9" FEDGRID_SERVER_KEY="" \
         FEDGRID_CACHE_ROOT="$s/not-a-folder/cache" FEDGRID_RETRY_S=0 FEDGRID_MAX_REQUEUES=1 \
         sbatch --parsable --array=0 --job-name=fgfail "$sbatch_script" 2>"$s/sbatch2.err")
jobid2=${jobid2%%;*}
log2="$s/fedgrid-worker-${jobid2}_0.out"
#   Slurm holds a requeued batch job a while (its begin time is set later;
#   here it was still pending after 2 minutes): the test lets it start now
released=""
for t in $(seq 1 600); do
    if [ -z "$released" ] && grep -q "requeued" "$log2" 2>/dev/null \
    && squeue -h -j "$jobid2" -t PENDING 2>/dev/null | grep -q .; then
        scontrol update JobId="${jobid2}_0" StartTime=now 2>/dev/null && released=1
    fi
    grep -q "restart 1" "$log2" 2>/dev/null \
        && ! squeue -h -j "$jobid2" 2>/dev/null | grep -q . && break
    sleep 0.2
done
state2=$(scontrol show job "${jobid2}_0" 2>/dev/null | sed -n 's/.*JobState=\([A-Z]*\).*/\1/p')
if [ -n "$jobid2" ] && grep -q "restart 0.*cannot make" "$log2" && grep -q "task 0 requeued" "$log2" \
&& grep -q "restart 1.*cannot make" "$log2" && [ "$(grep -c requeued "$log2")" -eq 1 ]; then
    ok "a failing task is requeued once (FEDGRID_MAX_REQUEUES=1), then stops (state ${state2:-gone})"
else bad "failing task $jobid2 (state ${state2:-unknown}): $(tr '\n' ' ' <"$log2" 2>/dev/null | cut -c1-400) $(cat "$s/sbatch2.err")"; fi
fg_test_end
