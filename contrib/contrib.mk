##  ---- contrib/: running workers under other tools (docs/cluster.md) -----
##  slurm/fedgrid-workers.sbatch: a Slurm job array of fedctl workers;
##  systemd/fedgrid-worker{,@}.service: a worker started at boot.
EXTRA_DIST += contrib/slurm/fedgrid-workers.sbatch contrib/systemd/fedgrid-worker.service \
    contrib/systemd/fedgrid-worker@.service tests/test_systemd.sh tests/test_slurm.sh
##  systemd-analyze verify of both units (seconds; skipped without systemd)
TESTS += tests/test_systemd.sh

##  The Slurm fleet on a one-node Slurm on localhost (tests/test_slurm.sh):
##  needs root and slurm-wlm + munge (scripts/deps-slurm), starts daemons and
##  takes about a minute, so it is not part of make check; scripts/test runs it. TAP
##  on stdout; the exit status says whether a check failed.
slurmtest: cli/fedctl$(EXEEXT)
	FEDCTL=$(abs_builddir)/cli/fedctl top_srcdir=$(abs_top_srcdir) $(SHELL) $(srcdir)/tests/test_slurm.sh
.PHONY: slurmtest
