##  ---- man/: manual pages --------------------------------------------------
##  fedctl(1) and libfedgrid(3) are written by hand (roff, man(7) macros);
##  fedgrid.toml(5) is generated from the configuration key table by the
##  built fedctl (`fedctl config man`, cli/fedctl_man.c), so it cannot drift
##  from what the parser accepts. tests/test_man.sh renders every page with
##  warnings on and checks fedctl(1) against `fedctl --help`.
dist_man_MANS = man/fedctl.1 man/libfedgrid.3
nodist_man_MANS = man/fedgrid.toml.5
man/fedgrid.toml.5: cli/fedctl$(EXEEXT)
	@$(MKDIR_P) man
	$(AM_V_GEN)cli/fedctl$(EXEEXT) config man >$@.tmp && mv $@.tmp $@
CLEANFILES = man/fedgrid.toml.5
TESTS += tests/test_man.sh
EXTRA_DIST += tests/test_man.sh
