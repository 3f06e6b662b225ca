##  nn/nn.mk — the network engine's layer kernels (fg_ops)
pkginclude_HEADERS += nn/fg_ops.h
noinst_HEADERS += nn/fg_ops_internal.h
nn_libfgnn_la_SOURCES += nn/fg_ops.c nn/fg_conv.c nn/fg_conv_direct.c nn/fg_conv_direct_avx2.c \
    nn/fg_norm.c \
    nn/fg_act.c nn/fg_pool.c nn/fg_linear.c nn/fg_elementwise.c \
    nn/fg_se.c nn/fg_loss.c
UNIT_TESTS += tests/test_ops

##  fg_gemm: BLIS with our context, micro-kernels and packm kernels; the
##  SIMD files build their functions with target attributes (no -m flags)
noinst_HEADERS += nn/fg_gemm.h nn/fg_gemm_kernels.h
nn_libfgnn_la_SOURCES += nn/fg_gemm.c nn/fg_gemm_portable.c \
    nn/fg_gemm_avx2.c nn/fg_gemm_avx512.c nn/fg_gemm_pack.c
UNIT_TESTS += tests/test_gemm

##  built by make check so it keeps compiling, never run by it:
##  bench/bench_ops [threads [reps]] times the conv kernels on model shapes
check_PROGRAMS += bench/bench_ops
bench_bench_ops_SOURCES = bench/bench_ops.c

## models, optimiser, training
pkginclude_HEADERS += nn/fg_model.h nn/fg_optim.h nn/fg_train.h
noinst_HEADERS += nn/fg_model_internal.h
nn_libfgnn_la_SOURCES += nn/fg_model.c nn/fg_model_zoo.c nn/fg_model_pass.c \
    nn/fg_optim.c nn/fg_train.c
UNIT_TESTS += tests/test_model tests/test_optim tests/test_train

##  PyTorch reference tensors for tests/test_ops (regenerate by hand with
##  /usr/bin/python3 tests/ref/gen_ops.py tests/ref/ops_ref.bin; needs torch)
EXTRA_DIST += tests/ref/gen_ops.py tests/ref/ops_ref.bin
##  torchvision reference logits for tests/test_model (regenerate by hand:
##  FG_MODEL_DUMP=dir tests/test_model; /usr/bin/python3 tests/ref/gen_models.py dir)
EXTRA_DIST += tests/ref/gen_models.py tests/ref/models.ref
