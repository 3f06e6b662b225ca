/*  test_trust.c — a hostile node against a real coordinator.

    Every test starts an in-process coordinator (synthetic-tiny: 4 shards
    of round 1) listening on tcp://127.0.0.1 and talks to it over real
    ZeroMQ sockets with clients built on the codec (fg_wire_send /
    fg_wire_recv), as a node written from docs/protocol.md would. One test
    per attack of issue 11:
      - RESULT for units not issued to the sender (another node's attempt,
        an attempt never issued, a shard or round that does not exist):
        REJECT and a strike, nothing pulled; honest races (a result of a
        committed round, of the node's own copy after it reconnected) are
        never struck;
      - a false sample_count: REJECT and a strike, nothing pulled;
      - an oversized update (8 GiB, and one byte over fg_blob_bound):
        refused before any chunk is asked; at the bound, chunks are asked;
        a chunk that breaks the transfer is a lie, a stale one is dropped;
      - DATA-REQUESTs that are never read: samples are served only for the
        node's unit, at most 3 times over, so what the coordinator queues
        for the peer stays bounded, and it stays responsive to others;
      - HELLO floods, on one connection (other ids refused) and over many
        connections: the journal's node registry and events do not grow
        with the flood, and the log stays short;
      - with CURVE, more than 64 nodes on one public key: refused;
      - the fault switch FEDGRID_FAULT=hello-flood:N in a real trainer;
      - malformed and out-of-place messages: each gets the answer
        docs/actors.md documents (REJECT with a reason, or silence).
    The journal is read after the coordinator stops to count node records,
    events and strikes.                                                    */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fg_actors.h"
#include "fg_blob.h"
#include "fg_log.h"
#include "fg_model.h"
#include "fg_ops.h"
#include "fg_security.h"
#include "fg_test_node.h"
#include "fg_test_util.h"
#include "fg_unit.h"
#include "fg_wire_socket.h"

static char s_tmp [256];
static int s_seq;                       //  a fresh experiment folder per test

//  Log lines the coordinator wrote (the sink counts them).
static size_t s_log_lines;

static void
s_log_count (fg_log_level_t level, const char *line, void *arg)
{
    (void) level;
    (void) arg;
    __atomic_add_fetch (&s_log_lines, 1, __ATOMIC_RELAXED);
    if (getenv ("TEST_TRUST_LOG"))
        fprintf (stderr, "%s\n", line);
}

static int
s_setup (void **state)
{
    (void) state;
    zsys_init ();
    zsys_set_logstream (NULL);
    fg_log_set_level (FG_LOG_INFO);
    fg_log_set_sink (s_log_count, NULL);    //  TEST_TRUST_LOG=1 shows the lines
    return fg_test_tmpdir ("fg-test-trust", s_tmp, sizeof s_tmp);
}

static int
s_teardown (void **state)
{
    (void) state;
    fg_log_set_sink (NULL, NULL);
    return fg_test_rmtree (s_tmp);
}

//  ---- the coordinator ------------------------------------------------------

typedef struct {
    fg_config_t cfg;
    fg_dataset_t *train, *test;
    uint8_t hash [FG_SHA256_SIZE];      //  the training set's
    char dir [300];
    char endpoint [64];
    fg_coordinator_t *coordinator;
    uint64_t experiment;                //  learnt from the first ACK
    uint64_t bound;                     //  fg_blob_bound of the model
} s_grid_t;

//  allow: NULL for no CURVE, else the folder of allowed keys.
static void
s_grid_start_curve (s_grid_t *g, const char *allow)
{
    memset (g, 0, sizeof *g);
    fg_error_t err;
    fg_config_defaults (&g->cfg);
    assert_int_equal (fg_config_preset (&g->cfg, "synthetic-tiny", &err), 0);
    g->cfg.grid.heartbeat_ms = 200;
    g->cfg.grid.liveness = 100;         //  nobody is dropped as silent here
    //  each attack's answer is checked on its own, before quarantine ends
    //  the talk (quarantine: tests/test_replication.sh)
    g->cfg.grid.max_strikes = 1000000;
    g->cfg.grid.curve = allow != NULL;
    if (allow)
        snprintf (g->cfg.grid.allow_keys, sizeof g->cfg.grid.allow_keys, "%s", allow);
    g->cfg.grid.local_trainers = 1;
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN,
                                       (size_t) g->cfg.data.synthetic_train, &g->train, &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TEST,
                                       (size_t) g->cfg.data.synthetic_test, &g->test, &err), 0);
    fg_dataset_hash (g->train, g->hash);
    snprintf (g->dir, sizeof g->dir, "%s/exp-%d", s_tmp, ++s_seq);
    assert_int_equal (mkdir (g->dir, 0755), 0);
    fg_coordinator_args_t args = {
        .dir = g->dir, .cfg = &g->cfg, .train = g->train, .test = g->test,
        .listen = "tcp://127.0.0.1:*", .eval_threads = 1
    };
    g->coordinator = fg_coordinator_new (&args, &err);
    if (!g->coordinator)
        fail_msg ("coordinator: %s", err.msg);
    snprintf (g->endpoint, sizeof g->endpoint, "tcp://127.0.0.1:%d",
              fg_coordinator_port (g->coordinator));
    //  the largest update blob of this model: its layout, from any weights
    fg_model_spec_t spec;
    fg_unit_model_spec (g->cfg.model.name, g->train, &spec);
    fg_model_t *model = fg_model_new (&spec, &err);
    assert_non_null (model);
    g->bound = fg_blob_bound (fg_model_state (model));
    fg_model_destroy (&model);
    assert_true (g->bound > 0);
}

static void
s_grid_start (s_grid_t *g)
{
    s_grid_start_curve (g, NULL);
}

static void
s_grid_stop (s_grid_t *g)
{
    fg_coordinator_destroy (&g->coordinator);
    fg_dataset_destroy (&g->train);
    fg_dataset_destroy (&g->test);
}

//  What the journal of a stopped coordinator holds.
static fg_test_journal_counts_t
s_journal_counts (const char *dir)
{
    fg_test_journal_counts_t counts;
    assert_int_equal (fg_test_journal_counts (dir, &counts), 0);
    return counts;
}

//  ---- a node built on the codec ------------------------------------------

static zsock_t *
s_connect (const s_grid_t *g)
{
    zsock_t *dealer = fg_test_node_connect (g->endpoint, 0);
    assert_non_null (dealer);
    return dealer;
}

static void
s_send (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment)
{
    if (fg_test_node_send (dealer, msg, experiment))
        fail_msg ("cannot send %s", fg_wire_type_name (msg->type));
}

#define s_expect_within fg_test_node_recv

static void
s_expect (zsock_t *dealer, fg_wire_msg_t *msg)
{
    s_expect_within (dealer, msg, 5000);
}

//  A REJECT of of_type, for reason, whose text holds needle.
static void
s_expect_reject (zsock_t *dealer, int of_type, int reason, const char *needle)
{
    fg_wire_msg_t msg;
    s_expect (dealer, &msg);
    if (msg.type != FG_WIRE_REJECT)
        fail_msg ("%s instead of a REJECT of %s (%s)", fg_wire_type_name (msg.type),
                  fg_wire_type_name (of_type), needle);
    if (msg.reject.of_type != of_type || msg.reject.reason != reason
    ||  !strstr (msg.reject.text, needle))
        fail_msg ("REJECT of %s, %s \"%s\": expected of %s, %s with \"%s\"",
                  fg_wire_type_name (msg.reject.of_type), fg_wire_reason_name (msg.reject.reason),
                  msg.reject.text, fg_wire_type_name (of_type), fg_wire_reason_name (reason),
                  needle);
    fg_wire_msg_clear (&msg);
}

//  Nothing but heartbeats for ms.
static void
s_expect_silence (zsock_t *dealer, int ms)
{
    fg_wire_msg_t msg;
    s_expect_within (dealer, &msg, ms);
    if (msg.type)
        fail_msg ("a %s (%s) where silence was expected", fg_wire_type_name (msg.type),
                  msg.type == FG_WIRE_REJECT? msg.reject.text: "");
}

static void
s_hello_as (zsock_t *dealer, const char *id, const uint8_t *dataset)
{
    assert_int_equal (fg_test_node_hello (dealer, id, dataset), 0);
}

//  A node admitted as id (its connection, after the ACK).
static zsock_t *
s_node (s_grid_t *g, const char *id)
{
    zsock_t *dealer = s_connect (g);
    s_hello_as (dealer, id, g->hash);
    fg_wire_msg_t msg;
    s_expect (dealer, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    assert_int_equal (msg.ack.of_type, FG_WIRE_HELLO);
    g->experiment = msg.experiment;
    fg_wire_msg_clear (&msg);
    return dealer;
}

static void
s_simple (zsock_t *dealer, int type, uint64_t experiment)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = type;
    if (type == FG_WIRE_READY)
        msg.ready.slots = 1;
    s_send (dealer, &msg, experiment);
}

//  READY, then the TASK it gets: *shard, *attempt, *samples.
static void
s_take_task (s_grid_t *g, zsock_t *dealer, uint32_t *shard, uint32_t *attempt,
             uint64_t *samples)
{
    s_simple (dealer, FG_WIRE_READY, g->experiment);
    fg_wire_msg_t msg;
    s_expect (dealer, &msg);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    assert_int_equal (msg.round, 1);
    *shard = msg.shard;
    *attempt = msg.attempt;
    *samples = msg.task.sample_count;
    fg_wire_msg_clear (&msg);
}

//  A RESULT of (round, shard, attempt) announcing an update of size bytes
//  (none carried) trained on samples.
static void
s_result (zsock_t *dealer, uint64_t experiment, uint32_t round, uint32_t shard,
          uint32_t attempt, uint64_t samples, uint64_t size)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_RESULT;
    msg.round = round;
    msg.shard = shard;
    msg.attempt = attempt;
    msg.result.weights_version = round? round - 1: 0;
    msg.result.sample_count = samples;
    msg.result.elapsed_ms = 10;
    msg.result.update_size = size;
    memset (msg.result.update_hash, 0x5a, FG_SHA256_SIZE);
    s_send (dealer, &msg, experiment);
}

//  ---- RESULT for units not issued to the sender ------------------------------

static void
test_result_of_a_unit_not_issued (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g);
    zsock_t *honest = s_node (&g, "honest");
    uint32_t shard, attempt;
    uint64_t samples;
    s_take_task (&g, honest, &shard, &attempt, &samples);
    zsock_t *liar = s_node (&g, "liar");
    //  the honest node's unit, claimed by another node
    s_result (liar, g.experiment, 1, shard, attempt, samples, 1000);
    s_expect_reject (liar, FG_WIRE_RESULT, FG_WIRE_REASON_UNKNOWN, "issued to another node");
    //  an attempt never issued, a shard and a round that do not exist
    s_result (liar, g.experiment, 1, shard, 8, samples, 1000);
    s_expect_reject (liar, FG_WIRE_RESULT, FG_WIRE_REASON_UNKNOWN, "never issued");
    s_result (liar, g.experiment, 1, 9, 1, samples, 1000);
    s_expect_reject (liar, FG_WIRE_RESULT, FG_WIRE_REASON_UNKNOWN, "no shard 9");
    s_result (liar, g.experiment, 2, 0, 1, samples, 1000);
    s_expect_reject (liar, FG_WIRE_RESULT, FG_WIRE_REASON_UNKNOWN, "has not begun");
    //  nothing of any of them is pulled
    s_expect_silence (liar, 300);

    //  honest races are never struck: a result of a committed round is
    //  stale; the node's own unit still counts after it reconnected
    s_result (honest, g.experiment, 0, shard, attempt, samples, 1000);
    s_expect_reject (honest, FG_WIRE_RESULT, FG_WIRE_REASON_STALE, "committed");
    s_hello_as (honest, "honest", g.hash);
    fg_wire_msg_t msg;
    s_expect (honest, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    fg_wire_msg_clear (&msg);
    s_result (honest, g.experiment, 1, shard, attempt, samples, g.bound);
    s_expect (honest, &msg);
    assert_int_equal (msg.type, FG_WIRE_WEIGHTS_REQUEST);
    assert_int_equal (msg.weights_request.blob, FG_WIRE_BLOB_UPDATE);
    fg_wire_msg_clear (&msg);

    zsock_destroy (&liar);
    zsock_destroy (&honest);
    s_grid_stop (&g);
    fg_test_journal_counts_t counts = s_journal_counts (g.dir);
    assert_int_equal (counts.strikes, 4);           //  the liar's four, none of honest's
}

//  ---- a false sample count ----------------------------------------------------

static void
test_false_sample_count (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g);
    zsock_t *node = s_node (&g, "counter");
    uint32_t shard, attempt;
    uint64_t samples;
    s_take_task (&g, node, &shard, &attempt, &samples);
    assert_true (samples > 0 && samples < 1000);
    s_result (node, g.experiment, 1, shard, attempt, 1000000000000ull, g.bound);
    s_expect_reject (node, FG_WIRE_RESULT, FG_WIRE_REASON_OTHER, "sample count 1000000000000");
    s_result (node, g.experiment, 1, shard, attempt, samples - 1, g.bound);
    s_expect_reject (node, FG_WIRE_RESULT, FG_WIRE_REASON_OTHER, "sample count");
    s_expect_silence (node, 300);                   //  no chunk asked
    zsock_destroy (&node);
    s_grid_stop (&g);
    assert_int_equal (s_journal_counts (g.dir).strikes, 2);
}

//  ---- an oversized update -----------------------------------------------------

static void
s_chunk (zsock_t *dealer, uint64_t experiment, uint32_t shard, uint32_t attempt,
         uint64_t offset, uint64_t total, const uint8_t *data, size_t size)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_WEIGHTS_CHUNK;
    msg.round = 1;
    msg.shard = shard;
    msg.attempt = attempt;
    msg.weights_chunk.blob = FG_WIRE_BLOB_UPDATE;
    msg.weights_chunk.version = 0;
    msg.weights_chunk.offset = offset;
    msg.weights_chunk.total = total;
    memset (msg.weights_chunk.hash, 0x5a, FG_SHA256_SIZE);
    msg.weights_chunk.size = size;
    msg.weights_chunk.data = data;
    s_send (dealer, &msg, experiment);
}

static void
test_oversized_update (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g);
    zsock_t *node = s_node (&g, "big");
    uint32_t shard, attempt;
    uint64_t samples;
    s_take_task (&g, node, &shard, &attempt, &samples);
    //  8 GiB, and one byte past the bound: refused before any chunk is asked
    s_result (node, g.experiment, 1, shard, attempt, samples, (uint64_t) 8 << 30);
    s_expect_reject (node, FG_WIRE_RESULT, FG_WIRE_REASON_SHAPE, "bytes announced");
    s_result (node, g.experiment, 1, shard, attempt, samples, g.bound + 1);
    s_expect_reject (node, FG_WIRE_RESULT, FG_WIRE_REASON_SHAPE, "bytes announced");
    s_result (node, g.experiment, 1, shard, attempt, samples, 10);
    s_expect_reject (node, FG_WIRE_RESULT, FG_WIRE_REASON_SHAPE, "bytes announced");
    //  at the bound: the pull starts, chunks asked a few at a time
    s_result (node, g.experiment, 1, shard, attempt, samples, g.bound);
    fg_wire_msg_t msg;
    s_expect (node, &msg);
    assert_int_equal (msg.type, FG_WIRE_WEIGHTS_REQUEST);
    assert_int_equal (msg.weights_request.offset, 0);
    assert_true (msg.weights_request.credit <= 16);
    fg_wire_msg_clear (&msg);
    //  a chunk of the same update at another offset (an earlier pull's
    //  answer, from an honest node that announced its result again) is
    //  dropped: no REJECT, no strike, the pull goes on
    uint8_t data [4096];
    memset (data, 7, sizeof data);
    s_chunk (node, g.experiment, shard, attempt, 4096, g.bound, data, sizeof data);
    s_expect_silence (node, 300);
    //  one of another total size is a lie and ends the transfer
    s_chunk (node, g.experiment, shard, attempt, 0, g.bound - 1, data, sizeof data);
    s_expect_reject (node, FG_WIRE_WEIGHTS_CHUNK, FG_WIRE_REASON_OTHER, "another total size");
    //  the chunks after it are stale: dropped silently
    s_chunk (node, g.experiment, shard, attempt, 0, g.bound, data, sizeof data);
    s_expect_silence (node, 300);
    zsock_destroy (&node);
    s_grid_stop (&g);
    assert_int_equal (s_journal_counts (g.dir).strikes, 4);
}

//  ---- DATA-REQUESTs never read ---------------------------------------------

//  Resident memory of this process (the coordinator runs in it), bytes.
static uint64_t
s_rss (void)
{
    FILE *file = fopen ("/proc/self/status", "r");
    char line [256];
    uint64_t kib = 0;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = strtoull (line + 6, NULL, 10);
    if (file)
        fclose (file);
    return kib * 1024;
}

#define S_FLOOD_REQUESTS 200

static void
test_unread_data_requests (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g);
    zsock_t *reader = s_node (&g, "reader");
    //  the flooder reads nothing until the end, and keeps little in flight
    zsock_t *flooder = fg_test_node_connect (g.endpoint, 1);
    assert_non_null (flooder);
    s_hello_as (flooder, "flooder", NULL);
    fg_wire_msg_t msg;
    s_expect (flooder, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    fg_wire_msg_clear (&msg);
    //  samples are served only for a unit issued to the node
    fg_wire_range_t all = { 0, (uint32_t) g.cfg.data.synthetic_train };
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_DATA_REQUEST;
    msg.round = 1;
    memcpy (msg.data_request.dataset_hash, g.hash, FG_SHA256_SIZE);
    msg.data_request.sample_count = all.count;
    msg.data_request.range_count = 1;
    msg.data_request.ranges = &all;
    s_send (flooder, &msg, g.experiment);
    s_expect_reject (flooder, FG_WIRE_DATA_REQUEST, FG_WIRE_REASON_UNKNOWN, "unit issued");
    uint32_t shard, attempt;
    uint64_t samples;
    s_take_task (&g, flooder, &shard, &attempt, &samples);
    uint64_t before = s_rss ();
    //  every request asks for the whole training set: one chunk of 800
    //  samples, 4 times the unit's 200
    for (int i = 0; i < S_FLOOD_REQUESTS; i++) {
        msg.shard = shard;
        msg.attempt = attempt;
        s_send (flooder, &msg, g.experiment);
    }
    //  the coordinator stays responsive to others meanwhile: a READY gets
    //  its TASK at once
    int64_t asked = zclock_mono ();
    s_simple (reader, FG_WIRE_READY, g.experiment);
    s_expect (reader, &msg);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    fg_wire_msg_clear (&msg);
    assert_true (zclock_mono () - asked < 3000);
    zclock_sleep (1500);                //  every request handled
    uint64_t after = s_rss ();
    //  then the flooder reads what was queued for it: chunks up to 3 times
    //  its unit's samples (one here), then refusals
    size_t chunks = 0;
    while (true) {
        s_expect_within (flooder, &msg, 3000);
        if (!msg.type)
            break;
        if (msg.type == FG_WIRE_DATA_CHUNK)
            chunks++;
        fg_wire_msg_clear (&msg);
    }
    printf ("# unread DATA-REQUESTs: %d sent, %zu chunks queued, RSS %+.1f MB\n",
            S_FLOOD_REQUESTS, chunks, ((double) after - (double) before) / 1e6);
    assert_true (chunks >= 1 && chunks <= 3);
    zsock_destroy (&flooder);
    zsock_destroy (&reader);
    s_grid_stop (&g);
}

//  ---- HELLO floods ------------------------------------------------------------

#define S_FLOOD_HELLOS      2000
#define S_FLOOD_CONNECTIONS 100

static void
test_hello_flood (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g);
    size_t lines_before = __atomic_load_n (&s_log_lines, __ATOMIC_RELAXED);
    //  one connection, 2,000 node ids: the first is admitted, the rest refused
    zsock_t *dealer = s_connect (&g);
    for (int i = 0; i < S_FLOOD_HELLOS; i++) {
        char id [32];
        snprintf (id, sizeof id, "flood-%d", i);
        s_hello_as (dealer, id, g.hash);
    }
    size_t acks = 0, refused = 0;
    for (int i = 0; i < S_FLOOD_HELLOS; i++) {
        fg_wire_msg_t msg;
        s_expect (dealer, &msg);
        if (msg.type == FG_WIRE_ACK)
            acks++;
        else
        if (msg.type == FG_WIRE_REJECT && msg.reject.reason == FG_WIRE_REASON_NOT_ALLOWED
        &&  strstr (msg.reject.text, "one node id per connection"))
            refused++;
        else
            fail_msg ("HELLO %d: %s", i, fg_wire_type_name (msg.type));
        fg_wire_msg_clear (&msg);
    }
    assert_int_equal (acks, 1);
    assert_int_equal (refused, S_FLOOD_HELLOS - 1);
    //  the same id again on the same connection stays fine
    s_hello_as (dealer, "flood-0", g.hash);
    fg_wire_msg_t msg;
    s_expect (dealer, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    fg_wire_msg_clear (&msg);
    //  many connections, one HELLO each: nodes, but none journaled
    for (int i = 0; i < S_FLOOD_CONNECTIONS; i++) {
        char id [32];
        snprintf (id, sizeof id, "conn-%d", i);
        zsock_t *other = s_connect (&g);
        s_hello_as (other, id, g.hash);
        s_expect (other, &msg);
        assert_int_equal (msg.type, FG_WIRE_ACK);
        fg_wire_msg_clear (&msg);
        zsock_destroy (&other);
    }
    size_t lines = __atomic_load_n (&s_log_lines, __ATOMIC_RELAXED) - lines_before;
    zsock_destroy (&dealer);
    s_grid_stop (&g);
    fg_test_journal_counts_t counts = s_journal_counts (g.dir);
    printf ("# HELLO flood: %zu node records, %zu events (%zu strikes), %zu log lines\n",
            counts.nodes, counts.events, counts.strikes, lines);
    //  one record: the connection's node, struck for the other ids
    assert_int_equal (counts.nodes, 1);
    assert_true (counts.strikes >= 1 && counts.strikes <= 15);
    assert_true (counts.events <= 25);
    assert_true (lines <= 300);
}

//  With CURVE and an allow-list, one public key holds at most 64 nodes at
//  a time (the key travels with every message as metadata of the guard's
//  certificates).
#define S_PER_KEY 64

static void
test_nodes_per_key (void **state)
{
    (void) state;
    fg_error_t err;
    fg_keypair_t server, shared, own;
    char keys [300];
    snprintf (keys, sizeof keys, "%s/allowed-keys", s_tmp);
    assert_int_equal (fg_security_keygen (keys, "shared.key", &shared, &err), 0);
    assert_int_equal (fg_security_keygen (keys, "own.key", &own, &err), 0);
    s_grid_t g;
    s_grid_start_curve (&g, keys);
    bool created;
    assert_int_equal (fg_security_ensure_pair (g.dir, FG_SECURITY_SERVER_NAME, &server,
                                               &created, &err), 0);
    assert_false (created);             //  the coordinator's own
    zsock_t *dealers [S_PER_KEY + 2];
    for (int i = 0; i < S_PER_KEY + 2; i++) {
        const fg_keypair_t *pair = i == S_PER_KEY + 1? &own: &shared;
        dealers [i] = zsock_new (ZMQ_DEALER);
        zsock_set_linger (dealers [i], 0);
        zsock_set_curve_serverkey (dealers [i], server.public_txt);
        zsock_set_curve_publickey (dealers [i], pair->public_txt);
        zsock_set_curve_secretkey (dealers [i], pair->secret_txt);
        assert_int_equal (zsock_connect (dealers [i], "%s", g.endpoint), 0);
        char id [32];
        snprintf (id, sizeof id, "keyed-%d", i);
        s_hello_as (dealers [i], id, g.hash);
        fg_wire_msg_t msg;
        s_expect (dealers [i], &msg);
        if (i == S_PER_KEY) {           //  one too many on the shared key
            assert_int_equal (msg.type, FG_WIRE_REJECT);
            assert_int_equal (msg.reject.reason, FG_WIRE_REASON_NOT_ALLOWED);
            assert_non_null (strstr (msg.reject.text, "public key already holds 64 nodes"));
        }
        else {
            assert_int_equal (msg.type, FG_WIRE_ACK);
            g.experiment = msg.experiment;
        }
        fg_wire_msg_clear (&msg);
    }
    //  a node of the shared key leaves: there is room again
    fg_wire_msg_t msg;
    s_simple (dealers [0], FG_WIRE_BYE, g.experiment);
    s_simple (dealers [0], FG_WIRE_HEARTBEAT, g.experiment);
    s_expect_reject (dealers [0], FG_WIRE_HEARTBEAT, FG_WIRE_REASON_NOT_ALLOWED, "HELLO first");
    s_hello_as (dealers [S_PER_KEY], "keyed-again", g.hash);
    s_expect (dealers [S_PER_KEY], &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    fg_wire_msg_clear (&msg);
    for (int i = 0; i < S_PER_KEY + 2; i++)
        zsock_destroy (&dealers [i]);
    s_grid_stop (&g);
}

//  The fault switch: a real trainer with FEDGRID_FAULT=hello-flood:500
//  floods its connection with HELLOs of other ids once; they are refused,
//  it reconnects and its units count; the registry holds it alone.
static void
test_fault_hello_flood (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g);
    setenv ("FEDGRID_FAULT", "hello-flood:500", 1);
    fg_trainer_args_t args = {
        .endpoint = g.endpoint, .node_id = "flooding-worker", .train = g.train,
        .threads = 1, .heartbeat_ms = 200, .liveness = 50
    };
    fg_error_t err;
    fg_trainer_t *trainer = fg_trainer_new (&args, &err);
    assert_non_null (trainer);
    //  round 1 commits: the flooding worker ran all its units
    zpoller_t *poller = zpoller_new (fg_coordinator_actor (g.coordinator), NULL);
    bool committed = false;
    int64_t until = zclock_mono () + 120000;
    while (!committed && zclock_mono () < until) {
        if (!zpoller_wait (poller, 1000))
            continue;
        char *kind = NULL, *text = NULL;
        assert_int_equal (fg_coordinator_event (g.coordinator, &kind, &text), 0);
        committed = strcmp (kind, "ROUND") == 0;
        if (strcmp (kind, "FAILED") == 0)
            fail_msg ("coordinator failed: %s", text);
        zstr_free (&kind);
        zstr_free (&text);
    }
    zpoller_destroy (&poller);
    fg_trainer_destroy (&trainer);
    unsetenv ("FEDGRID_FAULT");
    s_grid_stop (&g);
    assert_true (committed);
    fg_test_journal_counts_t counts = s_journal_counts (g.dir);
    printf ("# FEDGRID_FAULT=hello-flood:500: %zu node records, %zu events (%zu strikes)\n",
            counts.nodes, counts.events, counts.strikes);
    assert_int_equal (counts.nodes, 1);
    assert_true (counts.strikes >= 1 && counts.strikes <= 15);
}

//  ---- malformed and out-of-place messages --------------------------------------

//  Sends msg encoded, with its header's byte at offset replaced by value.
static void
s_send_damaged (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment, size_t offset,
                uint8_t value)
{
    msg->experiment = experiment;
    fg_wire_frames_t frames;
    assert_int_equal (fg_wire_encode (msg, NULL, &frames, NULL), 0);
    zmsg_t *zmsg = zmsg_new ();
    for (size_t i = 0; i < frames.count; i++)
        zmsg_addmem (zmsg, frames.frame [i].data, frames.frame [i].size);
    zframe_t *header = zmsg_first (zmsg);
    zframe_data (header) [offset] = value;
    fg_wire_frames_clear (&frames);
    assert_int_equal (zmsg_send (&zmsg, dealer), 0);
}

static void
test_malformed_messages (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g);
    zsock_t *stranger = s_connect (&g);
    fg_wire_msg_t msg;
    //  before HELLO: told to say HELLO first
    s_simple (stranger, FG_WIRE_READY, 0);
    s_expect_reject (stranger, FG_WIRE_READY, FG_WIRE_REASON_NOT_ALLOWED, "HELLO first");
    s_simple (stranger, FG_WIRE_HEARTBEAT, 0);
    s_expect_reject (stranger, FG_WIRE_HEARTBEAT, FG_WIRE_REASON_NOT_ALLOWED, "HELLO first");
    zsock_destroy (&stranger);

    zsock_t *node = s_node (&g, "mangler");
    //  undecodable: a bad magic, another version, a single garbage frame
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_HEARTBEAT;
    s_send_damaged (node, &msg, g.experiment, 0, 'X');
    s_expect_reject (node, 0, FG_WIRE_REASON_OTHER, "");
    s_send_damaged (node, &msg, g.experiment, 4, 9);
    s_expect_reject (node, 0, FG_WIRE_REASON_VERSION, "");
    zstr_send (node, "garbage");
    s_expect_reject (node, 0, FG_WIRE_REASON_OTHER, "");
    //  another experiment
    s_simple (node, FG_WIRE_READY, g.experiment + 1);
    s_expect_reject (node, FG_WIRE_READY, FG_WIRE_REASON_EXPERIMENT, "another experiment");
    //  types only a coordinator sends
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_ACK;
    msg.ack.of_type = FG_WIRE_TASK;
    s_send (node, &msg, g.experiment);
    s_expect_reject (node, FG_WIRE_ACK, FG_WIRE_REASON_OTHER, "does not receive");
    fg_wire_range_t range = { 0, 1 };
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_TASK;
    msg.round = 1;
    msg.task.local_epochs = 1;
    msg.task.batch_size = 1;
    msg.task.sample_count = 1;
    msg.task.range_count = 1;
    msg.task.ranges = &range;
    s_send (node, &msg, g.experiment);
    s_expect_reject (node, FG_WIRE_TASK, FG_WIRE_REASON_OTHER, "does not receive");
    //  weights it does not have, weights it never asks for
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_WEIGHTS_REQUEST;
    msg.weights_request.blob = FG_WIRE_BLOB_GLOBAL;
    msg.weights_request.version = 7;
    msg.weights_request.credit = 1;
    msg.weights_request.chunk_size = 1024;
    s_send (node, &msg, g.experiment);
    s_expect_reject (node, FG_WIRE_WEIGHTS_REQUEST, FG_WIRE_REASON_UNKNOWN, "weights version");
    uint8_t data [16] = { 0 };
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_WEIGHTS_CHUNK;
    msg.weights_chunk.blob = FG_WIRE_BLOB_GLOBAL;
    msg.weights_chunk.total = sizeof data;
    msg.weights_chunk.size = sizeof data;
    msg.weights_chunk.data = data;
    s_send (node, &msg, g.experiment);
    s_expect_reject (node, FG_WIRE_WEIGHTS_CHUNK, FG_WIRE_REASON_UNKNOWN, "no global weights");
    //  documented silences: a stale update chunk, a heartbeat, a report of
    //  a failure that is not about its unit, a REJECT of ours
    s_chunk (node, g.experiment, 0, 1, 0, sizeof data, data, sizeof data);
    s_simple (node, FG_WIRE_HEARTBEAT, g.experiment);
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_ERROR;
    msg.round = 1;
    msg.error.code = FG_EIO;
    snprintf (msg.error.text, sizeof msg.error.text, "disk full");
    s_send (node, &msg, g.experiment);
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_REJECT;
    msg.reject.of_type = FG_WIRE_HEARTBEAT;
    s_send (node, &msg, g.experiment);
    s_expect_silence (node, 500);
    //  a RESULT of a committed round: stale, not struck
    s_result (node, g.experiment, 0, 0, 1, 200, 1000);
    s_expect_reject (node, FG_WIRE_RESULT, FG_WIRE_REASON_STALE, "committed");
    zsock_destroy (&node);
    s_grid_stop (&g);
    assert_int_equal (s_journal_counts (g.dir).strikes, 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_result_of_a_unit_not_issued),
        cmocka_unit_test (test_false_sample_count),
        cmocka_unit_test (test_oversized_update),
        cmocka_unit_test (test_unread_data_requests),
        cmocka_unit_test (test_hello_flood),
        cmocka_unit_test (test_nodes_per_key),
        cmocka_unit_test (test_fault_hello_flood),
        cmocka_unit_test (test_malformed_messages),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
