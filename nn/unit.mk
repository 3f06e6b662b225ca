##  nn/unit.mk — work units (training a shard in slices, checkpoints, evaluation)
pkginclude_HEADERS += nn/fg_unit.h
nn_libfgnn_la_SOURCES += nn/fg_unit.c
UNIT_TESTS += tests/test_unit
