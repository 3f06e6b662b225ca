##  nn/bench.mk — measurement and PyTorch references of the network engine
##  (docs/benchmarks.md)

##  bench/bench_nn: training/inference images/s of every model, GFLOPS
##  against the sgemm peak, peak RSS; -L a per-layer profile. Built by
##  make check so it keeps compiling, never run by it.
check_PROGRAMS += bench/bench_nn
bench_bench_nn_SOURCES = bench/bench_nn.c bench/bench_median.h
##  the PyTorch side (needs python3-torch; nothing in make check uses it)
EXTRA_DIST += bench/bench_torch.py bench/compare.sh
##  bench/whole_process.sh: the whole fedctl train process against torch
EXTRA_DIST += bench/whole_process.sh

##  bench/bench_loader: fg_dataset_batch (decode + augment) img/s per core
##  against the training img/s of the model it feeds (issue 13's target:
##  >= 5x); built by make check, never run by it
check_PROGRAMS += bench/bench_loader
bench_bench_loader_SOURCES = bench/bench_loader.c bench/bench_median.h
##  accuracy references for `fedctl train` (docs/benchmarks.md "Accuracy",
##  docs/datasets.md); need python3-torch/torchvision/pil
EXTRA_DIST += bench/train_torch.py bench/torch_tinyimagenet.py

##  tests/test_ref: every layer kernel and the cnn-small forward/backward
##  against torch 1.13 fixtures; regenerate by hand (needs python3-torch):
##  /usr/bin/python3 tests/ref/gen_refs.py tests/ref
UNIT_TESTS += tests/test_ref
EXTRA_DIST += tests/ref/gen_refs.py \
    tests/ref/conv_3x3.ref tests/ref/conv_stride_pad.ref tests/ref/conv_groups.ref \
    tests/ref/conv_depthwise.ref tests/ref/conv_dw3_s1.ref tests/ref/conv_1x1.ref \
    tests/ref/conv_1x1_s2.ref tests/ref/bn_train.ref tests/ref/bn_eval.ref \
    tests/ref/act.ref tests/ref/maxpool_2x2.ref tests/ref/maxpool_3x3_pad.ref \
    tests/ref/maxpool_ties.ref tests/ref/avgpool_2x2.ref tests/ref/avgpool_3x3_pad.ref \
    tests/ref/gap.ref tests/ref/linear.ref tests/ref/flatten.ref tests/ref/se.ref \
    tests/ref/xent.ref tests/ref/cnn_small.ref

##  bench/layer_check: a few SGD steps dumped for the layer-by-layer
##  comparison with torch (bench/torch_layer_check.py, docs/datasets.md);
##  built by make check, never run by it
check_PROGRAMS += bench/layer_check
bench_layer_check_SOURCES = bench/layer_check.c
EXTRA_DIST += bench/torch_layer_check.py
