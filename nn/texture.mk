##  nn/texture.mk — the texture set: large images cut into fragments on
##  demand (docs/datasets.md, "The texture set")
nn_libfgnn_la_SOURCES += nn/fg_texture.c
noinst_HEADERS += nn/fg_texture.h
UNIT_TESTS += tests/test_texture
