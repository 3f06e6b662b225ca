#!/bin/sh
#   test_chaos.sh — make check's unreliable grid: the quick subset of
#   tests/chaostest.sh (calm, mixed profiles under the exact and the
#   deadline policy, a frozen holder of the last unit). `make chaostest`
#   runs every scenario.
exec sh "${top_srcdir:-.}/tests/chaostest.sh" --quick
