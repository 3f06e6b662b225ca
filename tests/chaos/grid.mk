##  tests/chaos/grid.mk — the grid supervisor (docs/chaos.md, "Node
##  profiles and scenarios"): chaos-grid runs a coordinator and workers
##  with node profiles (slow, frozen, crashing, switched off, lying, behind
##  a chaos proxy); tests/chaostest.sh drives it (make check: --quick;
##  make chaostest: every scenario).
noinst_HEADERS += tests/chaos/chaos_grid.h
check_PROGRAMS += tests/chaos/chaos-grid
tests_chaos_chaos_grid_SOURCES = tests/chaos/chaos_grid.c tests/chaos/chaos_grid_scenario.c
tests_chaos_chaos_grid_LDADD = lib/libfglib.la $(SODIUM_LIBS) $(JANSSON_LIBS) $(LIBS) -lm
TESTS += tests/test_chaos.sh
EXTRA_DIST += tests/chaostest.sh tests/test_chaos.sh tests/chaos/scenarios

##  Every scenario (docs/chaos.md: mixed profiles at three seeds, the
##  deadline policy, a frozen holder of the last unit, a crash storm, an
##  office day), TAP on stdout; about 10 minutes on a quiet machine.
chaostest: cli/fedctl tests/chaos/chaos-grid
	FEDCTL=$(abs_builddir)/cli/fedctl $(SHELL) $(srcdir)/tests/chaostest.sh
.PHONY: chaostest
