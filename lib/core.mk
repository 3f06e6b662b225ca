##  lib/core.mk — errors, log, rng, hashing, files, configuration, state, clocks
pkginclude_HEADERS += lib/fedgrid.h lib/fg_version.h lib/fg_error.h lib/fg_log.h lib/fg_rng.h \
    lib/fg_sha256.h lib/fg_config.h lib/fg_state.h lib/fg_crash.h lib/fg_fault.h
lib_libfglib_la_SOURCES += lib/fg_error.c lib/fg_log.c lib/fg_rng.c \
    lib/fg_sha256.c lib/fg_config.c lib/fg_preset.c lib/fg_file.c lib/fg_state.c \
    lib/fg_crash.c lib/fg_fault.c lib/fg_endpoint.c
noinst_HEADERS += lib/fg_endpoint.h lib/fg_file.h lib/fg_le.h lib/fg_clock.h

##  bench/bench_hash_rng [MiB [Mdraws]]: SHA-256 MB/s and Philox draws/s in
##  CPU time (docs/architecture.md). Built by make check, never run by it.
check_PROGRAMS += bench/bench_hash_rng
bench_bench_hash_rng_SOURCES = bench/bench_hash_rng.c
