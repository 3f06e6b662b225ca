##  lib/store.mk — a trainer's own stores (docs/journal.md): its small journal
##  (the unit in progress, the unacknowledged result) and its sample cache
noinst_HEADERS += lib/fg_trainer_journal.h lib/fg_sample_cache.h
lib_libfglib_la_SOURCES += lib/fg_trainer_journal.c lib/fg_sample_cache.c
UNIT_TESTS += tests/test_sample_cache tests/test_trainer_journal
