##  tests/chaos/chaos.mk — the chaos proxy (docs/chaos.md, "The chaos
##  proxy"): a TCP proxy that injects latency, jitter, a bandwidth cap,
##  stalls, resets, half-closes and drops between workers and a
##  coordinator. Built by make check; its test drives the real binary.
noinst_HEADERS += tests/chaos/chaos_proxy.h
check_PROGRAMS += tests/chaos/chaos-proxy
tests_chaos_chaos_proxy_SOURCES = tests/chaos/chaos_proxy.c tests/chaos/chaos_sched.c \
    tests/chaos/chaos_conn.c tests/chaos/chaos_loop.c
tests_chaos_chaos_proxy_LDADD = lib/libfglib.la $(LIBS) -lm
##  test_chaos_proxy: the real binary between a client and a server of
##  the test (latency, jitter, bandwidth, stall, reset, half-close, drop,
##  back-pressure, the seeded schedule, bad options); a few seconds
check_PROGRAMS += tests/chaos/test_chaos_proxy
TESTS += tests/chaos/test_chaos_proxy
noinst_HEADERS += tests/chaos/chaos_test_util.h
tests_chaos_test_chaos_proxy_SOURCES = tests/chaos/test_chaos_proxy.c tests/chaos/chaos_test_util.c
tests_chaos_test_chaos_proxy_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/tests
##  test_chaos_worker.sh: fedctl workers behind proxies (latency + drops;
##  stalls + resets + half-closes + a bandwidth cap) finish the small
##  experiment on the calm run's weights; about a minute
TESTS += tests/chaos/test_chaos_worker.sh
EXTRA_DIST += tests/chaos/test_chaos_worker.sh
