##  lib/wire.mk — the wire codec of the coordinator-trainer protocol
pkginclude_HEADERS += lib/fg_wire.h
noinst_HEADERS += lib/fg_wire_internal.h
lib_libfglib_la_SOURCES += lib/fg_wire.c lib/fg_wire_types.c lib/fg_wire_shard.c
UNIT_TESTS += tests/test_wire tests/test_wire_samples
FUZZ_HARNESSES += wire
check_PROGRAMS += fuzz/replay_wire
TESTS += fuzz/replay_wire
fuzz_replay_wire_SOURCES = fuzz/fuzz_wire.c fuzz/replay_main.c
fuzz_replay_wire_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"wire"'
