/*  gen_coordinator_corpus.c — writes the seed corpus of fuzz_coordinator
    into a folder and checks that each seed goes as far as it should:
        gen_coordinator_corpus fuzz/corpus/coordinator
    Every seed runs through the harness (fuzz_coordinator_run, with its
    invariants) and must commit the rounds and accept the units it was
    written for; the program fails otherwise. Built by make check (so it
    keeps compiling), run by hand when the harness's input changes; its
    outputs are committed.

    Seeds: honest grids (1, 2 and 4 shards, 1 and 2 rounds, 1 to 3
    peers), a backup copy, the deadline policy by the timer, a node that
    fetches its samples, weights requests, a silent node dropped, raw
    HELLO and READY frames; and the attacks of issue 11, which the
    coordinator accepts before its ownership checks (so they pass with the
    harness's S_OWNERSHIP off and must be refused once it is on): a RESULT
    for another peer's unit, a false sample count, the base blob of round
    1 completing a unit of round 2.                                        */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_file.h"
#include "fg_ops.h"
#include "fg_wire.h"

void fuzz_coordinator_run (const uint8_t *data, size_t size, uint32_t *commits,
                           uint32_t *accepted);

//  Operation bytes of the harness (fuzz_coordinator.c, s_op): kind << 2 | peer.
enum {
    HELLO = 0, READY = 1, WEIGHTS = 3, RESULT = 4, CHUNKS = 6, DATA = 9, RAW = 11,
    AGGREGATOR = 12, TIMER = 13, HONEST = 14
};
#define OP(kind, peer) ((uint8_t) ((kind) << 2 | (peer)))

typedef struct {
    uint8_t bytes [4096];
    size_t  size;
} s_seed_t;

static int s_failed;

static void
s_put (s_seed_t *seed, const uint8_t *bytes, size_t n)
{
    if (seed->size + n <= sizeof seed->bytes) {
        memcpy (seed->bytes + seed->size, bytes, n);
        seed->size += n;
    }
}

static void
s_ops (s_seed_t *seed, size_t n, ...)
{
    va_list args;
    va_start (args, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t) va_arg (args, int);
        s_put (seed, &b, 1);
    }
    va_end (args);
}

//  A raw operation carrying msg's frames (fuzz_wire's layout).
static void
s_raw (s_seed_t *seed, int peer, fg_wire_msg_t *msg)
{
    fg_wire_frames_t frames;
    fg_error_t err;
    fg_wire_limits_t limits = { 65536, 1024 };
    if (fg_wire_encode (msg, &limits, &frames, &err)) {
        fprintf (stderr, "gen_coordinator_corpus: %s\n", err.msg);
        s_failed = 1;
        return;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < frames.count; i++)
        bytes += frames.frame [i].size + (i + 1 < frames.count? 2: 0);
    //  0x40: the harness writes the experiment id, 0x80: and the checksum
    s_ops (seed, 4, OP (RAW, peer), 0xc0 | (int) frames.count, (int) (bytes & 0xff),
           (int) (bytes >> 8));
    for (size_t i = 0; i < frames.count; i++) {
        if (i + 1 < frames.count) {
            uint8_t len [2] = { (uint8_t) frames.frame [i].size,
                                (uint8_t) (frames.frame [i].size >> 8) };
            s_put (seed, len, 2);
        }
        s_put (seed, frames.frame [i].data, frames.frame [i].size);
    }
    fg_wire_frames_clear (&frames);
}

static void
s_write (const char *dir, const char *name, const s_seed_t *seed, uint32_t commits,
         uint32_t accepted)
{
    uint32_t got_commits = 0, got_accepted = 0;
    fuzz_coordinator_run (seed->bytes, seed->size, &got_commits, &got_accepted);
    if (got_commits != commits || got_accepted != accepted) {
        fprintf (stderr, "gen_coordinator_corpus: %s: %u rounds committed and %u units "
                 "accepted, expected %u and %u\n", name, got_commits, got_accepted, commits,
                 accepted);
        s_failed = 1;
        return;
    }
    char path [4096];
    fg_error_t err;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    if (fg_file_write_atomic (path, seed->bytes, seed->size, 0644, 0, &err)) {
        fprintf (stderr, "gen_coordinator_corpus: %s\n", err.msg);
        s_failed = 1;
        return;
    }
    printf ("%s: %zu bytes, %u rounds committed, %u units accepted\n", path, seed->size,
            commits, accepted);
}

//  The seeds written as operation bytes (-1 ends one). The first byte is
//  the experiment (fuzz_coordinator.c): shards 1 + (b & 3), deadline
//  policy (b & 4), rounds 1 + (b >> 3 & 1), quorum 0.25 x (1 + (b >> 4 & 3)).
#define H1          OP (HONEST, 0)
#define H2          OP (HONEST, 0), OP (HONEST, 1)
#define H3          OP (HONEST, 0), OP (HONEST, 1), OP (HONEST, 2)
#define X2(...)     __VA_ARGS__, __VA_ARGS__
#define X4(...)     X2 (__VA_ARGS__), X2 (__VA_ARGS__)
#define AGG         OP (AGGREGATOR, 0)
#define X8(...)     X4 (__VA_ARGS__), X4 (__VA_ARGS__)
//  100 ms pass, peer 0 (BEAT2: and peer 1) says it is alive; 11 of them
//  pass the deadline floor of 1 s and keep the peers admitted
#define BEAT        OP (TIMER, 0), 1, OP (2, 0), 0
#define BEAT2       BEAT, OP (2, 1), 0
#define BEATS(b)    X8 (b), X2 (b), b

typedef struct {
    const char *name;
    uint32_t commits, accepted;     //  what the seed must reach
    int ops [96];
} s_script_t;

static const s_script_t s_scripts [] = {
    { "honest-2-shards", 1, 2, { 0x01, X4 (H2), X2 (H2), AGG, -1 } },
    //  1 shard, 2 rounds, 1 peer
    { "honest-2-rounds", 2, 2, { 0x08, X4 (H1), H1, AGG, X4 (H1), AGG, -1 } },
    { "honest-4-shards", 1, 4, { 0x03, X4 (H3), X4 (H3), AGG, -1 } },
    //  1 shard, 2 peers: the second gets a backup copy and sends the same
    //  bytes after the first is accepted (a duplicate, acknowledged)
    { "backup-copy", 1, 1, { 0x00, X4 (H2), AGG, -1 } },
    //  deadline policy, 3 shards, quorum 0.25: one unit, then the deadline
    { "deadline-quorum", 1, 1, { 0x06, X4 (H1), OP (TIMER, 0), 3, AGG, -1 } },
    //  a node without the dataset fetches samples [3, 13), then trains
    { "fetch-samples", 1, 1, { 0x00, OP (HELLO, 0), 6 | 8, OP (READY, 0), 0, OP (DATA, 0), 0,
                               3, 9, X2 (H1), H1, AGG, -1 } },
    //  the base weights fetched: from 0 with credit 8, and near the end
    { "weights-request", 1, 1, { 0x00, X2 (H1), OP (WEIGHTS, 0), 0x0c, OP (WEIGHTS, 0), 0x0d,
                                 200, X2 (H1), H1, AGG, -1 } },
    //  peer 0 falls silent with its unit; peer 1 beats, then takes it over
    { "silent-node", 1, 1, { 0x00, X2 (H1), OP (HONEST, 1),
                             OP (TIMER, 0), 1, OP (2, 1), 0, OP (TIMER, 0), 1, OP (2, 1), 0,
                             OP (TIMER, 0), 1, OP (2, 1), 0, OP (TIMER, 0), 1, OP (2, 1), 0,
                             X4 (OP (HONEST, 1)), AGG, -1 } },
    //  deadline policy, 3 shards, quorum 0.25, 1 round: after the round is
    //  committed with one unit, peer 0's result for the unit it then held
    //  is refused (it stopped the coordinator: the journal's round was
    //  committed) ...
    { "deadline-late-result", 1, 1, { 0x06, X4 (H1), H1, BEATS (BEAT), AGG, OP (RESULT, 0),
                                      0x00, 0x44, OP (CHUNKS, 0), OP (CHUNKS, 0), -1 } },
    //  ... and so are peer 1's chunks while the round is folded (its
    //  update went to the aggregator after FINISH: the commit failed)
    { "deadline-fold-chunks", 1, 1, { 0x06, X2 (H2), OP (RESULT, 1), 0x00, 0x04, X2 (H1),
                                      BEATS (BEAT2), OP (CHUNKS, 1), OP (CHUNKS, 1), AGG, -1 } },
    //  1 shard: peer 0's unit passes its deadline while both peers beat
    //  (1.3 s), peer 1 gets it again and is accepted; peer 0's late copy
    //  of the same bytes is acknowledged as a duplicate
    { "deadline-expired", 1, 1, { 0x00, H2, H1, OP (TIMER, 0), 7, 0x33, X2 (OP (HONEST, 1)),
                                  OP (HONEST, 1), X2 (H1), AGG, -1 } },
    //  The attacks of issue 11 that the coordinator accepts before its
    //  ownership checks: the counts are those of that code; once the
    //  checks are in, the harness's S_OWNERSHIP turns them into failures
    //  unless the coordinator refuses them.
    //  Peer 2, never issued a unit, sends the RESULT of peer 0's (param
    //  0x01: another peer's unit, prefix of one chunk), then its chunks.
    { "attack-other-unit", 1, 2, { 0x01, H3, H2, OP (RESULT, 2), 0x01, 0x40, OP (CHUNKS, 2),
                                   OP (CHUNKS, 2), X2 (H2), H2, AGG, -1 } },
    //  its own unit with 10^12 samples (1,000,000 x 1,000,003)
    { "attack-sample-count", 1, 1, { 0x00, X2 (H1), OP (RESULT, 0), 0x00, 0x43, 0x40, 0x42,
                                     0x0f, 0x00, X2 (H1), AGG, -1 } },
    //  1 shard, 2 rounds: peer 0 announces the base blob as its update
    //  (param 0x0c, no prefix) and sends no chunk; peer 1's backup copy
    //  completes round 1; then peer 0's chunks would complete round 2's
    //  unit (they did before the coordinator refused a pull of a
    //  committed round: 2 rounds, 2 units)
    { "attack-stale-round", 1, 1, { 0x08, X2 (H2), OP (RESULT, 0), 0x0c, 0x00, OP (HONEST, 1),
                                    OP (HONEST, 1), AGG, X4 (OP (CHUNKS, 0)), AGG, -1 } },
};

//  HELLO and READY as raw frames, then honest steps.
static void
s_raw_seed (const char *dir)
{
    s_seed_t seed = { .size = 0 };
    s_ops (&seed, 1, 0x00);
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_HELLO;
    msg.hello.proto_min = msg.hello.proto_max = FG_WIRE_VERSION;
    msg.hello.cores = 1;
    snprintf (msg.hello.node_id, sizeof msg.hello.node_id, "raw-0");
    snprintf (msg.hello.kernel, sizeof msg.hello.kernel, "%s", fg_ops_kernel_identity ());
    s_raw (&seed, 0, &msg);
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_READY;
    msg.round = 1;
    msg.ready.slots = 1;
    s_raw (&seed, 0, &msg);
    s_ops (&seed, 4, H1, H1, H1, AGG);
    s_write (dir, "raw-hello-ready", &seed, 1, 1);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_coordinator_corpus DIR\n");
        return 64;
    }
    for (size_t i = 0; i < sizeof s_scripts / sizeof s_scripts [0]; i++) {
        s_seed_t seed = { .size = 0 };
        for (const int *op = s_scripts [i].ops; *op >= 0; op++)
            s_ops (&seed, 1, *op);
        s_write (argv [1], s_scripts [i].name, &seed, s_scripts [i].commits,
                 s_scripts [i].accepted);
    }
    s_raw_seed (argv [1]);
    return s_failed;
}
