#!/bin/sh
#   test_federated.sh — make check's federated runs and crash injection: the
#   quick subset of tests/crashtest.sh (inproc, tcp, worker processes, every
#   crash point at two passes, three random kill -9). `make crashtest` runs
#   the full sweep.
exec sh "${top_srcdir:-.}/tests/crashtest.sh" --quick
