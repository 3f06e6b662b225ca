##  lib/journal.mk — the coordinator's LMDB journal (docs/journal.md)
pkginclude_HEADERS += lib/fg_journal.h
noinst_HEADERS += lib/fg_journal_internal.h lib/fg_lmdb.h
##  fg_lmdb: the LMDB mechanics of every store (this journal, lib/store.mk's)
lib_libfglib_la_SOURCES += lib/fg_lmdb.c
lib_libfglib_la_SOURCES += lib/fg_journal.c lib/fg_journal_rounds.c \
    lib/fg_journal_tables.c lib/fg_journal_verify.c lib/fg_journal_dump.c lib/fg_journal_rec.c \
    lib/fg_journal_mark.c lib/fg_journal_prune.c
UNIT_TESTS += tests/test_journal tests/test_journal_mark tests/test_journal_prune tests/test_lmdb
noinst_HEADERS += tests/fg_test_journal.h
tests_test_journal_SOURCES = tests/test_journal.c tests/fg_test_journal.c
tests_test_journal_mark_SOURCES = tests/test_journal_mark.c tests/fg_test_journal.c
tests_test_journal_prune_SOURCES = tests/test_journal_prune.c tests/fg_test_journal.c
##  the readers, the mark and the reasons of failed writes with the real fedctl
TESTS += tests/test_journal_cli.sh
EXTRA_DIST += tests/test_journal_cli.sh
FUZZ_HARNESSES += journal
check_PROGRAMS += fuzz/replay_journal
TESTS += fuzz/replay_journal
fuzz_replay_journal_SOURCES = fuzz/fuzz_journal.c fuzz/replay_main.c
fuzz_replay_journal_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"journal"'
##  the corpus generator (run by hand: fuzz/gen_journal_corpus fuzz/corpus/journal)
##  and the commit timing (bench/bench_journal [DIR [MB [RUNS]]], see docs/journal.md)
check_PROGRAMS += fuzz/gen_journal_corpus bench/bench_journal
fuzz_gen_journal_corpus_SOURCES = fuzz/gen_journal_corpus.c
bench_bench_journal_SOURCES = bench/bench_journal.c
