##  tests/chaos/chaos.mk — the chaos proxy (docs/chaos.md, "The chaos
##  proxy"): a TCP proxy that injects latency, jitter, a bandwidth cap,
##  stalls, resets, half-closes and drops between workers and a
##  coordinator. Built by make check; its test drives the real binary.
noinst_HEADERS += tests/chaos/chaos_proxy.h
check_PROGRAMS += tests/chaos/chaos-proxy
tests_chaos_chaos_proxy_SOURCES = tests/chaos/chaos_proxy.c tests/chaos/chaos_sched.c \
    tests/chaos/chaos_conn.c tests/chaos/chaos_loop.c
tests_chaos_chaos_proxy_LDADD = lib/libfglib.la $(LIBS) -lm
