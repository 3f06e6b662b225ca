##  lib/federated.mk — partitioner (shards of the training set) and
##  aggregation rules (FedAvg, median, trimmed mean, clipping, FedAvgM)
pkginclude_HEADERS += lib/fg_partition.h lib/fg_aggregate.h
lib_libfglib_la_SOURCES += lib/fg_partition.c lib/fg_aggregate.c
UNIT_TESTS += tests/test_partition tests/test_aggregate
