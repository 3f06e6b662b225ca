##  actors/actors.mk — coordinator, partitioner, aggregator, trainer (CZMQ actors)
pkginclude_HEADERS += actors/fg_actors.h
noinst_HEADERS += actors/fg_actors_internal.h actors/fg_coordinator_internal.h \
    actors/fg_trainer_internal.h
actors_libfgactors_la_SOURCES += actors/fg_coordinator.c actors/fg_coord_nodes.c \
    actors/fg_coord_serve.c actors/fg_coord_files.c actors/fg_coord_start.c \
    actors/fg_coord_trust.c actors/fg_coord_vote.c actors/fg_coord_check.c \
    actors/fg_coord_results.c actors/fg_coord_waste.c actors/fg_actor.c
actors_libfgactors_la_SOURCES += actors/fg_partitioner.c actors/fg_aggregator.c \
    actors/fg_trainer.c actors/fg_trainer_fetch.c actors/fg_trainer_fault.c \
    actors/fg_trainer_compute.c \
    actors/fg_swarm.c
UNIT_TESTS += tests/test_fetch tests/test_vote tests/test_trust tests/test_actor \
    tests/test_slowdown tests/test_waste
##  a worker process whose batches outlast heartbeat x liveness (the
##  trainer's compute thread): never dropped, the reference weights
TESTS += tests/test_long_batch.sh
EXTRA_DIST += tests/test_long_batch.sh
##  fetching a file-backed set: small layouts of seeded JPEGs and PNGs
##  (tests/fg_test_layouts.h) for test_fetch_files and test_worker_files.sh;
##  the scripted peers both fetch tests share (tests/fg_test_fetch.h)
UNIT_TESTS += tests/test_fetch_files
tests_test_fetch_files_SOURCES = tests/test_fetch_files.c tests/fg_test_layouts.c
noinst_HEADERS += tests/fg_test_layouts.h tests/fg_test_fetch.h
check_PROGRAMS += tests/fg_make_tiny
tests_fg_make_tiny_SOURCES = tests/fg_make_tiny.c tests/fg_test_layouts.c
TESTS += tests/test_worker_files.sh
EXTRA_DIST += tests/test_worker_files.sh
##  CURVE keys, allow-lists and the coordinator's authentication guard
pkginclude_HEADERS += actors/fg_security.h
noinst_HEADERS += actors/fg_security_internal.h
actors_libfgactors_la_SOURCES += actors/fg_security.c actors/fg_security_allow.c \
    actors/fg_security_guard.c actors/fg_security_handshake.c
UNIT_TESTS += tests/test_security
FUZZ_HARNESSES += cert
check_PROGRAMS += fuzz/replay_cert
TESTS += fuzz/replay_cert
fuzz_replay_cert_SOURCES = fuzz/fuzz_cert.c fuzz/replay_main.c
fuzz_replay_cert_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"cert"'
##  The wire codec over CZMQ sockets (lib/fg_wire.c is the codec, socket-free)
pkginclude_HEADERS += actors/fg_wire_socket.h
actors_libfgactors_la_SOURCES += actors/fg_wire_socket.c
##  fuzz harness of the coordinator's message handling (its zclock_mono is
##  the harness's clock); make check replays its corpus, which
##  fuzz/gen_coordinator_corpus writes (run by hand:
##  fuzz/gen_coordinator_corpus fuzz/corpus/coordinator) and checks
FUZZ_HARNESSES += coordinator
check_PROGRAMS += fuzz/replay_coordinator fuzz/gen_coordinator_corpus
TESTS += fuzz/replay_coordinator
noinst_HEADERS += fuzz/fuzz_frames.h
fuzz_replay_coordinator_SOURCES = fuzz/fuzz_coordinator.c fuzz/replay_main.c
fuzz_replay_coordinator_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"coordinator"'
fuzz_replay_coordinator_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=zclock_mono
fuzz_gen_coordinator_corpus_SOURCES = fuzz/gen_coordinator_corpus.c fuzz/fuzz_coordinator.c
fuzz_gen_coordinator_corpus_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=zclock_mono
EXTRA_DIST += fuzz/coverage-ignore.txt
##  What a hostile node costs the coordinator, attack by attack (issue 11's
##  figures; built by make check so it keeps compiling, run by hand:
##  bench/bench_trust [PRESET [ATTACK...]], see docs/actors.md)
check_PROGRAMS += bench/bench_trust
bench_bench_trust_SOURCES = bench/bench_trust.c
bench_bench_trust_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/tests
##  The swarm mode (fedctl worker --swarm N): many identities, one process,
##  the real coordinator over tcp; bench/swarm.sh measures the coordinator
##  at 100 / 1,000 / 10,000 identities (docs/benchmarks.md), never make check
TESTS += tests/test_swarm.sh
EXTRA_DIST += tests/test_swarm.sh bench/swarm.sh

##  bench/round.sh: a federated round's wall time against the slowest
##  trainer's compute + evaluation (docs/benchmarks.md); never run by make check
EXTRA_DIST += bench/round.sh
