##  nn/texture.mk — the texture set: large images cut into fragments on
##  demand (docs/datasets.md, "The texture set")
nn_libfgnn_la_SOURCES += nn/fg_texture.c
noinst_HEADERS += nn/fg_texture.h
UNIT_TESTS += tests/test_texture
nn_libfgnn_la_SOURCES += nn/fg_dataset_texture.c
##  the image table a trainer without the folder fetches (fg_texture.h)
nn_libfgnn_la_SOURCES += nn/fg_texture_table.c
UNIT_TESTS += tests/test_texture_table
##  bench/bench_texture: random fragment batches per second (cold and warm
##  cache), hit rate, memory, one decode and one scale. Built by make check
##  so it keeps compiling, never run by it (docs/datasets.md).
check_PROGRAMS += bench/bench_texture
bench_bench_texture_SOURCES = bench/bench_texture.c
bench_bench_texture_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/tests
##  tests/fg_make_texture writes a generated texture set (seeded patterns)
##  for test_worker_texture.sh: a worker without the folder fetches the
##  image table and the source files in pieces, and ends on the same bits
check_PROGRAMS += tests/fg_make_texture
tests_fg_make_texture_SOURCES = tests/fg_make_texture.c
TESTS += tests/test_worker_texture.sh
##  the trainer's side against a scripted coordinator (hostile pieces, tables)
UNIT_TESTS += tests/test_fetch_texture
EXTRA_DIST += tests/test_worker_texture.sh
##  the image table a peer sends is fuzzed (fuzz/fuzz_texture_table.c; its
##  corpus written by tests/test_texture_table --corpus fuzz/corpus/texture_table)
FUZZ_HARNESSES += texture_table
check_PROGRAMS += fuzz/replay_texture_table
TESTS += fuzz/replay_texture_table
fuzz_replay_texture_table_SOURCES = fuzz/fuzz_texture_table.c fuzz/replay_main.c
fuzz_replay_texture_table_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"texture_table"'
