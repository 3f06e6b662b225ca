##  nn/nn.mk — the network engine's layer kernels (fg_ops)
pkginclude_HEADERS += nn/fg_ops.h
noinst_HEADERS += nn/fg_ops_internal.h
lib_libfedgrid_core_la_SOURCES += nn/fg_ops.c nn/fg_conv.c nn/fg_norm.c \
    nn/fg_act.c nn/fg_pool.c nn/fg_linear.c nn/fg_misc.c
UNIT_TESTS += tests/test_ops
