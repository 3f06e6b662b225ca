##  ---- examples/: programs that use only <fedgrid.h> and the installed ---
##  library's exported (fg_*) symbols: make check builds them against
##  lib/libfedgrid.la and runs them (tests/test_examples.sh); make
##  installcheck (so make distcheck) compiles them against the installed
##  headers and library with pkg-config and runs them (docs/architecture.md)
FG_EXAMPLES = examples/train_dataset examples/coordinator_local
check_PROGRAMS += $(FG_EXAMPLES)
FG_EXAMPLE_CPPFLAGS = -I$(srcdir)/lib -I$(srcdir)/nn -I$(srcdir)/actors
examples_train_dataset_SOURCES = examples/train_dataset.c
examples_train_dataset_CPPFLAGS = $(FG_EXAMPLE_CPPFLAGS)
examples_train_dataset_LDADD = lib/libfedgrid.la
examples_coordinator_local_SOURCES = examples/coordinator_local.c
examples_coordinator_local_CPPFLAGS = $(FG_EXAMPLE_CPPFLAGS)
examples_coordinator_local_LDADD = lib/libfedgrid.la
TESTS += tests/test_examples.sh
EXTRA_DIST += tests/test_examples.sh

##  The installed library as a user gets it: pkg-config's flags only (its
##  include and library folders moved under DESTDIR when that is set). Checks
##  that fedgrid.h includes every installed header, builds both examples with
##  warnings as errors and runs them; a failure fails installcheck.
installcheck-examples:
	@set -e; work=$$(mktemp -d "$${TMPDIR:-/tmp}/fedgrid-installcheck.XXXXXX"); \
	trap 'rm -rf "$$work"' EXIT; \
	PKG_CONFIG_PATH="$(DESTDIR)$(libdir)/pkgconfig"; export PKG_CONFIG_PATH; \
	for h in "$(DESTDIR)$(pkgincludedir)"/*.h; do \
	    h=$${h##*/}; test "$$h" = fedgrid.h && continue; \
	    grep -q "^#include \"$$h\"" "$(DESTDIR)$(pkgincludedir)/fedgrid.h" \
	        || { echo "installcheck: $$h is installed but fedgrid.h does not include it"; exit 1; }; \
	done; \
	flags=$$($(PKG_CONFIG) --cflags --libs fedgrid \
	    | sed -e 's|-I$(includedir)/fedgrid|-I$(DESTDIR)$(includedir)/fedgrid|' -e 's|-L$(libdir)|-L$(DESTDIR)$(libdir)|'); \
	for e in train_dataset coordinator_local; do \
	    echo "installcheck: cc examples/$$e.c $$flags"; \
	    $(CC) -std=c11 -Wall -Wextra -Werror -o "$$work/$$e" $(srcdir)/examples/$$e.c $$flags; \
	done; \
	LD_LIBRARY_PATH="$(DESTDIR)$(libdir)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}"; export LD_LIBRARY_PATH; \
	"$$work/train_dataset" "$$work/no-such-folder" 128 >"$$work/train.out"; tail -n 1 "$$work/train.out"; \
	"$$work/coordinator_local" "$$work/exp" >"$$work/coord.out" 2>"$$work/coord.err" \
	    || { cat "$$work/coord.err"; exit 1; }; \
	tail -n 1 "$$work/coord.out"
installcheck-local: installcheck-examples
.PHONY: installcheck-examples
