##  nn/data.mk — datasets: IDX (MNIST, Fashion-MNIST; gzip), CIFAR-10/100
##  binary, a synthetic set; normalisation and augmentation (docs/datasets.md)

##  fg_image: JPEG (libjpeg-turbo) and PNG (libspng) decoding and the resize
##  rule of image files; their flags join every program's (the static core
##  library carries no link flags of its own)
nn_libfgnn_la_SOURCES += nn/fg_image.c nn/fg_image_fit.c
pkginclude_HEADERS += nn/fg_image.h
AM_CFLAGS += $(JPEG_CFLAGS) $(SPNG_CFLAGS)
FG_DEP_LIBS += $(JPEG_LIBS) $(SPNG_LIBS)
UNIT_TESTS += tests/test_image
##  tests/ref/image_*.ref: PIL's decode of real JPEGs (regenerate by hand with
##  /usr/bin/python3 tests/ref/gen_image.py tests/ref; needs python3-pil)
EXTRA_DIST += tests/ref/gen_image.py

FUZZ_HARNESSES += image
check_PROGRAMS += fuzz/replay_image
TESTS += fuzz/replay_image
fuzz_replay_image_SOURCES = fuzz/fuzz_image.c fuzz/replay_main.c
fuzz_replay_image_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"image"'
nn_libfgnn_la_SOURCES += nn/fg_dataset.c nn/fg_dataset_idx.c nn/fg_dataset_cifar.c \
    nn/fg_dataset_synthetic.c nn/fg_augment.c
pkginclude_HEADERS += nn/fg_dataset.h
noinst_HEADERS += nn/fg_dataset_internal.h
UNIT_TESTS += tests/test_dataset tests/test_dataset_files
##  file-backed sets (Tiny-ImageNet, folders of images): an index, each
##  file's stored bytes read on first use, decoded on use by fg_image
nn_libfgnn_la_SOURCES += nn/fg_dataset_files.c nn/fg_dataset_tiny.c nn/fg_dataset_folder.c

FUZZ_HARNESSES += dataset
check_PROGRAMS += fuzz/replay_dataset
TESTS += fuzz/replay_dataset
fuzz_replay_dataset_SOURCES = fuzz/fuzz_dataset.c fuzz/replay_main.c
fuzz_replay_dataset_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"dataset"'

##  the file-backed sets end to end through fedctl (skipped without the
##  shared Tiny-ImageNet copy)
TESTS += tests/test_image_sets.sh
EXTRA_DIST += tests/test_image_sets.sh
