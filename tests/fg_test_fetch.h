/*  fg_test_fetch.h — the scripted peers of the trainer-facing tests
    (tests/test_fetch.c, test_fetch_files.c, test_fetch_texture.c,
    test_slowdown.c): a scripted coordinator (a ROUTER the test drives) for
    a real trainer, and a scripted trainer (a DEALER) for a real
    coordinator. Header-only (static inline: each test uses some of them). */

#ifndef FG_TEST_FETCH_H_INCLUDED
#define FG_TEST_FETCH_H_INCLUDED

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
#include "fg_model.h"
#include "fg_ops.h"
#include "fg_unit.h"
#include "fg_wire_socket.h"

//  Next message on sock that is not a HEARTBEAT, or type 0 after 5 s.
static inline void
fetch_expect (zsock_t *sock, zframe_t **routing, fg_wire_msg_t *msg)
{
    zsock_set_rcvtimeo (sock, 5000);
    while (true) {
        if (routing)
            zframe_destroy (routing);
        fg_error_t err;
        if (fg_wire_recv (sock, routing, NULL, msg, &err)) {
            memset (msg, 0, sizeof *msg);
            return;
        }
        if (msg->type != FG_WIRE_HEARTBEAT)
            return;
        fg_wire_msg_clear (msg);
    }
}

//  Nothing but heartbeats for ms milliseconds.
static inline void
fetch_expect_silence (zsock_t *sock, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until) {
        zsock_set_rcvtimeo (sock, (int) (until - zclock_mono ()) + 1);
        zframe_t *routing = NULL;
        fg_wire_msg_t msg;
        int rc = fg_wire_recv (sock, zsock_type (sock) == ZMQ_ROUTER? &routing: NULL, NULL,
                               &msg, NULL);
        zframe_destroy (&routing);
        if (rc)
            return;
        int type = msg.type;
        fg_wire_msg_clear (&msg);
        assert_int_equal (type, FG_WIRE_HEARTBEAT);
    }
}

//  The scripted coordinator: its ROUTER, the trainer's identity, the
//  global weights it announces and serves.
typedef struct {
    zsock_t  *router;
    zframe_t *peer;
    uint8_t  *weights;
    size_t    weights_size;
    uint8_t   weights_hash [FG_SHA256_SIZE];
    int       heartbeats;               //  HEARTBEATs seen by fetch_next
} fetch_coord_t;

//  A scripted coordinator bound on endpoint, taking over a restarted
//  peer's identity as the real one does (router handover).
static inline void
fetch_coord_bind (fetch_coord_t *c, const char *endpoint)
{
    memset (c, 0, sizeof *c);
    c->router = zsock_new (ZMQ_ROUTER);
    assert_non_null (c->router);
    zsock_set_router_handover (c->router, 1);
    assert_int_equal (zsock_bind (c->router, "%s", endpoint), 0);
}

//  Global weights to announce: cnn-small for train's geometry, seed 1.
static inline void
fetch_coord_weights (fetch_coord_t *c, const fg_dataset_t *train)
{
    fg_model_spec_t spec;
    fg_unit_model_spec (FG_MODEL_CNN_SMALL, train, &spec);
    fg_model_t *model = fg_model_new (&spec, NULL);
    assert_non_null (model);
    fg_model_init (model, 1);
    assert_int_equal (fg_blob_encode (fg_model_state (model), NULL, &c->weights,
                                      &c->weights_size, NULL), 0);
    fg_sha256 (c->weights, c->weights_size, c->weights_hash);
    fg_model_destroy (&model);
}

static inline void
fetch_coord_close (fetch_coord_t *c)
{
    zframe_destroy (&c->peer);
    free (c->weights);
    c->weights = NULL;
    zsock_destroy (&c->router);
}

static inline void
fetch_send_to (fetch_coord_t *c, fg_wire_msg_t *msg)
{
    msg->experiment = 42;
    assert_int_equal (fg_wire_send (c->router, c->peer, msg, NULL, NULL), 0);
}

//  Next message that is not a HEARTBEAT within ms (type 0 when none
//  came). HEARTBEATs are counted and answered: a live coordinator beats
//  too, and without it a trainer slowed past heartbeat x liveness (a
//  loaded machine, the sanitizers) would take this one for dead and say
//  HELLO again mid-unit.
static inline void
fetch_next (fetch_coord_t *c, fg_wire_msg_t *msg, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (true) {
        int left = (int) (until - zclock_mono ());
        memset (msg, 0, sizeof *msg);
        if (left <= 0)
            return;
        zsock_set_rcvtimeo (c->router, left);
        zframe_destroy (&c->peer);
        if (fg_wire_recv (c->router, &c->peer, NULL, msg, NULL)) {
            memset (msg, 0, sizeof *msg);
            return;
        }
        if (msg->type != FG_WIRE_HEARTBEAT)
            return;
        c->heartbeats++;
        fg_wire_msg_clear (msg);
        fg_wire_msg_t beat;
        memset (&beat, 0, sizeof beat);
        beat.type = FG_WIRE_HEARTBEAT;
        beat.round = 1;
        fetch_send_to (c, &beat);
    }
}

//  Answers a WEIGHTS-REQUEST with the chunks it asks for.
static inline void
fetch_serve_weights (fetch_coord_t *c, const fg_wire_msg_t *request)
{
    const fg_wire_weights_request_t *r = &request->weights_request;
    assert_int_equal (r->blob, FG_WIRE_BLOB_GLOBAL);
    fg_wire_msg_t header;
    fg_wire_msg_reply (&header, 0, request);
    header.experiment = 42;
    assert_int_equal (fg_wire_send_chunks (c->router, c->peer, &header, FG_WIRE_BLOB_GLOBAL,
                                           r->version, c->weights, c->weights_size,
                                           c->weights_hash, r->offset, r->credit,
                                           r->chunk_size, NULL, NULL), 0);
}

//  A TASK of round 1, shard `shard` over ranges, of dataset kind with
//  content hash, and geometry g (NULL: none; with the texture words when
//  g->table_size is set).
static inline void
fetch_send_task (fetch_coord_t *c, uint32_t shard, const fg_wire_range_t *ranges, uint32_t n,
                int kind, const uint8_t *hash, const fg_wire_geometry_t *g)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_TASK;
    msg.round = 1;
    msg.shard = shard;
    msg.attempt = 1;
    fg_wire_task_t *t = &msg.task;
    t->weights_version = 0;
    t->weights_size = c->weights_size;
    memcpy (t->weights_hash, c->weights_hash, FG_SHA256_SIZE);
    t->seed = 1;
    t->local_epochs = 1;
    t->batch_size = 8;
    t->lr = 0.01;
    t->model = FG_MODEL_CNN_SMALL;
    t->dataset = (uint8_t) kind;
    memcpy (t->dataset_hash, hash, FG_SHA256_SIZE);
    t->has_geometry = g != NULL;
    t->has_texture = g && g->table_size;    //  the texture words, when set
    if (g)
        t->geometry = *g;
    uint64_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        count += ranges [i].count;
    t->sample_count = count;
    t->range_count = n;
    t->ranges = ranges;
    fetch_send_to (c, &msg);
}

//  Expects a DATA-REQUEST of dataset hash for exactly ranges.
static inline void
fetch_expect_request (fetch_coord_t *c, const uint8_t *hash, const fg_wire_range_t *ranges,
                     uint32_t n)
{
    fg_wire_msg_t msg;
    fetch_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_DATA_REQUEST);
    assert_memory_equal (msg.data_request.dataset_hash, hash, FG_SHA256_SIZE);
    assert_int_equal (msg.data_request.range_count, n);
    assert_memory_equal (msg.data_request.ranges, ranges, n * sizeof *ranges);
    assert_int_equal (msg.round, 1);
    fg_wire_msg_clear (&msg);
}

static inline void
fetch_expect_type (fetch_coord_t *c, int type)
{
    fg_wire_msg_t msg;
    fetch_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, type);
    fg_wire_msg_clear (&msg);
}

//  A trainer without a dataset on cache dir, greeted by the scripted
//  coordinator; returns after its first READY.
static inline fg_trainer_t *
fetch_trainer (fetch_coord_t *c, const char *endpoint, const char *cache)
{
    fg_trainer_args_t args = {
        .endpoint = endpoint, .node_id = "fetcher", .train = NULL, .cache_dir = cache,
        .threads = 1, .heartbeat_ms = 100, .liveness = 100
    };
    fg_error_t err;
    fg_trainer_t *trainer = fg_trainer_new (&args, &err);
    assert_non_null (trainer);
    fg_wire_msg_t msg;
    fetch_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_HELLO);
    assert_int_equal (msg.hello.dataset_count, 0);        //  holds no dataset
    fg_wire_msg_clear (&msg);
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_ACK;
    msg.ack.of_type = FG_WIRE_HELLO;
    fetch_send_to (c, &msg);
    fetch_expect_type (c, FG_WIRE_READY);
    return trainer;
}

static inline void
fetch_dealer_send (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment)
{
    msg->experiment = experiment;
    assert_int_equal (fg_wire_send (dealer, NULL, msg, NULL, NULL), 0);
}

//  A HELLO from node "scripted" (one core, no dataset) with this kernel string
static inline void
fetch_hello (zsock_t *dealer, const char *kernel)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_HELLO;
    msg.hello.proto_min = msg.hello.proto_max = FG_WIRE_VERSION;
    msg.hello.cores = 1;
    snprintf (msg.hello.node_id, sizeof msg.hello.node_id, "scripted");
    snprintf (msg.hello.kernel, sizeof msg.hello.kernel, "%s", kernel);
    fetch_dealer_send (dealer, &msg, 0);
}

//  READY for one unit
static inline void
fetch_ready (zsock_t *dealer, uint64_t experiment)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_READY;
    msg.ready.slots = 1;
    fetch_dealer_send (dealer, &msg, experiment);
}

//  HELLO (this node's kernel string), its ACK, READY, then the first TASK
//  into *task (shard 0; the caller clears it). Returns the experiment id.
static inline uint64_t
fetch_first_task (zsock_t *dealer, fg_wire_msg_t *task)
{
    char kernel [FG_WIRE_NAME_MAX + 1];
    fetch_hello (dealer, fg_ops_blis_info (kernel, sizeof kernel));
    fetch_expect (dealer, NULL, task);
    assert_int_equal (task->type, FG_WIRE_ACK);
    uint64_t experiment = task->experiment;
    fg_wire_msg_clear (task);
    fetch_ready (dealer, experiment);
    fetch_expect (dealer, NULL, task);
    assert_int_equal (task->type, FG_WIRE_TASK);
    assert_int_equal (task->shard, 0);
    return experiment;
}

static inline void
fetch_data_request (zsock_t *dealer, uint64_t experiment, const uint8_t *hash,
                const fg_wire_range_t *ranges, uint32_t n)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_DATA_REQUEST;
    msg.round = 1;
    msg.shard = 0;
    msg.attempt = 1;
    memcpy (msg.data_request.dataset_hash, hash, FG_SHA256_SIZE);
    uint64_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        count += ranges [i].count;
    msg.data_request.sample_count = count;
    msg.data_request.range_count = n;
    msg.data_request.ranges = ranges;
    fetch_dealer_send (dealer, &msg, experiment);
}

static inline void
fetch_expect_reject (zsock_t *dealer, int reason, const char *needle)
{
    fg_wire_msg_t msg;
    fetch_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_REJECT);
    assert_int_equal (msg.reject.of_type, FG_WIRE_DATA_REQUEST);
    assert_int_equal (msg.reject.reason, reason);
    if (!strstr (msg.reject.text, needle))
        fail_msg ("REJECT text '%s' lacks '%s'", msg.reject.text, needle);
    fg_wire_msg_clear (&msg);
}

//  The fetching coordinators' configuration: synthetic-tiny's, on dataset
//  (a data.dataset name) at path, beating every 100 ms, liveness 50.
static inline void
fetch_config (fg_config_t *cfg, const char *dataset, const char *path)
{
    fg_error_t err;
    char kv [64];
    snprintf (kv, sizeof kv, "data.dataset=%s", dataset);
    fg_config_defaults (cfg);
    assert_int_equal (fg_config_preset (cfg, "synthetic-tiny", &err), 0);
    assert_int_equal (fg_config_set (cfg, kv, "test", &err), 0);
    snprintf (cfg->data.path, sizeof cfg->data.path, "%.180s", path);
    cfg->grid.heartbeat_ms = 100;
    cfg->grid.liveness = 50;
}

//  A coordinator of cfg on inproc://name (its folder parent/name) and a
//  DEALER "scripted" connected to it (messages up to cfg's max_frame).
static inline fg_coordinator_t *
fetch_coordinator (const char *parent, fg_config_t *cfg, const fg_dataset_t *train,
                   const fg_dataset_t *test, const char *name, zsock_t **dealer)
{
    char dir [300];
    snprintf (dir, sizeof dir, "%.200s/%s", parent, name);
    assert_int_equal (mkdir (dir, 0755), 0);
    char inproc [80];
    snprintf (inproc, sizeof inproc, "inproc://%s", name);
    fg_coordinator_args_t args = {
        .dir = dir, .cfg = cfg, .train = train, .test = test, .inproc = name,
        .eval_threads = 1
    };
    fg_error_t err;
    fg_coordinator_t *coordinator = fg_coordinator_new (&args, &err);
    if (!coordinator)
        fail_msg ("coordinator: %s", err.msg);
    *dealer = zsock_new (ZMQ_DEALER);
    assert_non_null (*dealer);
    zsock_set_identity (*dealer, "scripted");
    zsock_set_maxmsgsize (*dealer, (int) cfg->grid.max_frame);
    assert_int_equal (zsock_connect (*dealer, "%s", inproc), 0);
    return coordinator;
}


//  A DATA-CHUNK of round 1 shard `shard`: samples [start, start + count) of
//  dataset hash as raw_size bytes of raw (records of record_size bytes,
//  0: variable), LZ4-packed.
static inline void
fetch_send_data (fetch_coord_t *c, uint32_t shard, const uint8_t *hash, uint32_t start,
                 uint32_t count, uint32_t record_size, const uint8_t *raw, size_t raw_size)
{
    uint8_t *lz4;
    size_t lz4_size;
    assert_int_equal (fg_wire_data_pack (raw, raw_size, &lz4, &lz4_size, NULL), 0);
    fg_wire_msg_t msg;
    fg_wire_msg_reply (&msg, FG_WIRE_DATA_CHUNK, NULL);
    msg.round = 1;
    msg.shard = shard;
    msg.attempt = 1;
    memcpy (msg.data_chunk.dataset_hash, hash, FG_SHA256_SIZE);
    msg.data_chunk.start = start;
    msg.data_chunk.count = count;
    msg.data_chunk.record_size = record_size;
    msg.data_chunk.raw_size = raw_size;
    msg.data_chunk.lz4_size = lz4_size;
    msg.data_chunk.lz4 = lz4;
    fetch_send_to (c, &msg);
    free (lz4);
}

#endif
