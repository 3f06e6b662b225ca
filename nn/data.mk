##  nn/data.mk — datasets: IDX (MNIST, Fashion-MNIST; gzip), CIFAR-10/100
##  binary, a synthetic set; normalisation and augmentation (docs/datasets.md)
nn_libfgnn_la_SOURCES += nn/fg_dataset.c nn/fg_dataset_idx.c nn/fg_dataset_cifar.c \
    nn/fg_dataset_synthetic.c nn/fg_augment.c
pkginclude_HEADERS += nn/fg_dataset.h
noinst_HEADERS += nn/fg_dataset_internal.h
UNIT_TESTS += tests/test_dataset

FUZZ_HARNESSES += dataset
check_PROGRAMS += fuzz/replay_dataset
TESTS += fuzz/replay_dataset
fuzz_replay_dataset_SOURCES = fuzz/fuzz_dataset.c fuzz/replay_main.c
fuzz_replay_dataset_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"dataset"'
