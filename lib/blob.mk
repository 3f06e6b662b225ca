##  lib/blob.mk — the weights blob codec (DESIGN §4, docs/blob.md)
lib_libfglib_la_SOURCES += lib/fg_blob.c
pkginclude_HEADERS += lib/fg_blob.h
noinst_HEADERS += lib/fg_blob_internal.h fuzz/blob_seed.h
UNIT_TESTS += tests/test_blob

##  fuzz harness for fg_blob_decode; make check replays its corpus
FUZZ_HARNESSES += blob
check_PROGRAMS += fuzz/replay_blob
TESTS += fuzz/replay_blob
fuzz_replay_blob_SOURCES = fuzz/fuzz_blob.c fuzz/replay_main.c
fuzz_replay_blob_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"blob"'

##  built by make check so they keep compiling, never run by it:
##  the corpus generator (run by hand: fuzz/gen_blob_corpus fuzz/corpus/blob)
##  and the measurement program (bench/bench_blob, see docs/blob.md)
check_PROGRAMS += fuzz/gen_blob_corpus bench/bench_blob
fuzz_gen_blob_corpus_SOURCES = fuzz/gen_blob_corpus.c
bench_bench_blob_SOURCES = bench/bench_blob.c
