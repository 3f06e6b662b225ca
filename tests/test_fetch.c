/*  test_fetch.c — samples over the wire (DATA-REQUEST / DATA-CHUNK).

    Trainer side, against a scripted coordinator (a ROUTER driven by the
    test): a trainer without a dataset announces none, fetches exactly the
    shard's samples, drops and asks again after every hostile chunk
    (another dataset, another record size, out of order, too many, a bad
    label), stores nothing of them, and once its cache holds the shard a
    second unit fetches nothing and a partly new shard fetches only the
    new part; a refused request gives the unit up for good.
    Coordinator side, against a scripted trainer (a DEALER): a node that
    announces no dataset is admitted and gets a TASK; DATA-REQUESTs of
    another dataset, outside the training set, too large or of no unit
    issued to the node are refused with a reason and change nothing; a
    good one is answered with the right records; a node that refuses a TASK as impossible gets no more
    units until it says HELLO again.                                                        */

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
#include <unistd.h>

#include "fg_actors.h"
#include "fg_blob.h"
#include "fg_model.h"
#include "fg_ops.h"
#include "fg_sample_cache.h"
#include "fg_test_layouts.h"
#include "fg_test_util.h"
#include "fg_unit.h"
#include "fg_wire_socket.h"

static char s_tmp [256];
static fg_dataset_t *s_train;           //  synthetic, 300 samples
static uint8_t s_hash [FG_SHA256_SIZE];
static char s_tiny [160];               //  a Tiny-ImageNet layout: 4 classes x 15
static char s_folder [160];             //  a folder of images: 3 classes x 12

static int
s_setup (void **state)
{
    (void) state;
    zsys_init ();
    zsys_set_logstream (NULL);
    if (fg_test_tmpdir ("fg-test-fetch", s_tmp, sizeof s_tmp))
        return -1;
    if (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN, 300, &s_train, NULL))
        return -1;
    snprintf (s_tiny, sizeof s_tiny, "%.150s/tiny", s_tmp);
    if (fg_test_tiny_write (s_tiny, 4, 15, 2, 11))
        return -1;
    snprintf (s_folder, sizeof s_folder, "%.150s/folder", s_tmp);
    if (fg_test_folder_write (s_folder, 3, 12, 2, 23))
        return -1;
    fg_dataset_hash (s_train, s_hash);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    fg_dataset_destroy (&s_train);
    return fg_test_rmtree (s_tmp);
}

//  Next message on sock that is not a HEARTBEAT, or type 0 after 5 s.
static void
s_expect (zsock_t *sock, zframe_t **routing, fg_wire_msg_t *msg)
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
static void
s_expect_silence (zsock_t *sock, int ms)
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

//  ---- trainer side -----------------------------------------------------------

typedef struct {
    zsock_t  *router;
    zframe_t *peer;
    uint8_t  *weights;
    size_t    weights_size;
    uint8_t   weights_hash [FG_SHA256_SIZE];
} s_coord_t;

static void
s_send_to (s_coord_t *c, fg_wire_msg_t *msg)
{
    msg->experiment = 42;
    assert_int_equal (fg_wire_send (c->router, c->peer, msg, NULL, NULL), 0);
}

//  A TASK of round 1, shard `shard` over ranges.
static void
s_send_task (s_coord_t *c, uint32_t shard, const fg_wire_range_t *ranges, uint32_t n)
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
    t->dataset = FG_DATASET_SYNTHETIC;
    memcpy (t->dataset_hash, s_hash, FG_SHA256_SIZE);
    uint64_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        count += ranges [i].count;
    t->sample_count = count;
    t->range_count = n;
    t->ranges = ranges;
    s_send_to (c, &msg);
}

//  A DATA-CHUNK of samples [start, start + count) from the real set, then
//  spoiled as `how` says.
typedef enum { GOOD, BAD_HASH, BAD_RECORD_SIZE, BAD_LABEL } s_spoil_t;

static void
s_send_chunk (s_coord_t *c, uint32_t shard, uint32_t start, uint32_t count, s_spoil_t how)
{
    size_t rs = fg_dataset_record_size (s_train);
    uint8_t *raw = malloc (count * rs);
    assert_non_null (raw);
    assert_int_equal (fg_dataset_records (s_train, start, count, raw, NULL), 0);
    uint32_t record_size = (uint32_t) rs;
    size_t raw_size = count * rs;
    if (how == BAD_RECORD_SIZE) {
        record_size = (uint32_t) rs - 1;
        raw_size = count * record_size;
    }
    if (how == BAD_LABEL)
        raw [(count - 1) * rs] = 10;            //  10 classes: labels 0..9
    uint8_t *lz4;
    size_t lz4_size;
    assert_int_equal (fg_wire_data_pack (raw, raw_size, &lz4, &lz4_size, NULL), 0);
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_DATA_CHUNK;
    msg.round = 1;
    msg.shard = shard;
    msg.attempt = 1;
    memcpy (msg.data_chunk.dataset_hash, s_hash, FG_SHA256_SIZE);
    if (how == BAD_HASH)
        msg.data_chunk.dataset_hash [5] ^= 1;
    msg.data_chunk.start = start;
    msg.data_chunk.count = count;
    msg.data_chunk.record_size = record_size;
    msg.data_chunk.raw_size = raw_size;
    msg.data_chunk.lz4_size = lz4_size;
    msg.data_chunk.lz4 = lz4;
    s_send_to (c, &msg);
    free (lz4);
    free (raw);
}

//  Expects a DATA-REQUEST for exactly ranges.
static void
s_expect_request (s_coord_t *c, const fg_wire_range_t *ranges, uint32_t n)
{
    fg_wire_msg_t msg;
    s_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_DATA_REQUEST);
    assert_memory_equal (msg.data_request.dataset_hash, s_hash, FG_SHA256_SIZE);
    assert_int_equal (msg.data_request.range_count, n);
    assert_memory_equal (msg.data_request.ranges, ranges, n * sizeof *ranges);
    assert_int_equal (msg.round, 1);
    fg_wire_msg_clear (&msg);
}

static void
s_expect_type (s_coord_t *c, int type)
{
    fg_wire_msg_t msg;
    s_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, type);
    fg_wire_msg_clear (&msg);
}

//  A trainer without a dataset on cache dir, greeted by the scripted
//  coordinator; returns after its first READY.
static fg_trainer_t *
s_trainer (s_coord_t *c, const char *endpoint, const char *cache)
{
    fg_trainer_args_t args = {
        .endpoint = endpoint, .node_id = "fetcher", .train = NULL, .cache_dir = cache,
        .threads = 1, .heartbeat_ms = 100, .liveness = 100
    };
    fg_error_t err;
    fg_trainer_t *trainer = fg_trainer_new (&args, &err);
    assert_non_null (trainer);
    fg_wire_msg_t msg;
    s_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_HELLO);
    assert_int_equal (msg.hello.dataset_count, 0);        //  holds no dataset
    fg_wire_msg_clear (&msg);
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_ACK;
    msg.ack.of_type = FG_WIRE_HELLO;
    s_send_to (c, &msg);
    s_expect_type (c, FG_WIRE_READY);
    return trainer;
}

static void
test_trainer_fetches (void **state)
{
    (void) state;
    s_coord_t c;
    memset (&c, 0, sizeof c);
    c.router = zsock_new (ZMQ_ROUTER);
    assert_non_null (c.router);
    zsock_set_router_handover (c.router, 1);      //  as the coordinator: a restarted peer takes over its identity
    assert_int_equal (zsock_bind (c.router, "inproc://test-fetch-trainer"), 0);
    //  weights to announce (never sent: the script stops at their request)
    fg_model_spec_t spec;
    fg_unit_model_spec (FG_MODEL_CNN_SMALL, s_train, &spec);
    fg_model_t *model = fg_model_new (&spec, NULL);
    assert_non_null (model);
    fg_model_init (model, 1);
    assert_int_equal (fg_blob_encode (fg_model_state (model), NULL, &c.weights, &c.weights_size,
                                      NULL), 0);
    fg_sha256 (c.weights, c.weights_size, c.weights_hash);
    fg_model_destroy (&model);
    char cache [300];
    snprintf (cache, sizeof cache, "%s/cache", s_tmp);

    //  a trainer without a dataset and without a cache is refused
    fg_trainer_args_t none = {
        .endpoint = "inproc://test-fetch-trainer", .node_id = "x", .threads = 1,
        .heartbeat_ms = 100, .liveness = 3
    };
    fg_error_t err;
    assert_null (fg_trainer_new (&none, &err));
    assert_int_equal (err.code, FG_EINVAL);

    //  a window whose last chunk is bad is not stored at all
    char cache0 [300];
    snprintf (cache0, sizeof cache0, "%s/cache0", s_tmp);
    fg_trainer_t *trainer = s_trainer (&c, "inproc://test-fetch-trainer", cache0);
    fg_wire_range_t shard [2] = { { 10, 20 }, { 100, 5 } };
    s_send_task (&c, 0, shard, 2);
    s_expect_request (&c, shard, 2);
    s_send_chunk (&c, 0, 10, 20, GOOD);
    s_send_chunk (&c, 0, 100, 5, BAD_LABEL);
    s_expect_request (&c, shard, 2);
    fg_trainer_destroy (&trainer);
    s_expect_type (&c, FG_WIRE_BYE);
    fg_sample_cache_t *samples = fg_sample_cache_open (cache0, &err);
    assert_non_null (samples);
    assert_int_equal (fg_sample_cache_count (samples, s_hash), 0);
    fg_sample_cache_close (&samples);

    trainer = s_trainer (&c, "inproc://test-fetch-trainer", cache);
    s_send_task (&c, 0, shard, 2);
    s_expect_request (&c, shard, 2);

    //  every hostile chunk is dropped and the window asked again (once
    //  per good chunk: a burst of bad ones asks once)
    s_send_chunk (&c, 0, 10, 5, BAD_HASH);
    s_expect_request (&c, shard, 2);
    s_send_chunk (&c, 0, 10, 5, GOOD);
    s_send_chunk (&c, 0, 15, 5, BAD_RECORD_SIZE);
    s_expect_request (&c, shard, 2);
    s_send_chunk (&c, 0, 10, 5, GOOD);
    s_send_chunk (&c, 0, 11, 5, GOOD);                  //  out of order: 15 is next
    s_expect_request (&c, shard, 2);
    s_send_chunk (&c, 0, 10, 20, GOOD);
    s_send_chunk (&c, 0, 100, 6, GOOD);                 //  one more than the range
    s_expect_request (&c, shard, 2);
    s_send_chunk (&c, 0, 10, 20, GOOD);
    s_send_chunk (&c, 0, 100, 5, BAD_LABEL);
    s_expect_request (&c, shard, 2);
    s_send_chunk (&c, 0, 10, 5, BAD_HASH);              //  asked again already: no more
    s_send_chunk (&c, 1, 10, 20, GOOD);                 //  about another unit: ignored
    s_expect_silence (c.router, 300);
    //  now the right window, in two chunks for the first range
    s_send_chunk (&c, 0, 10, 12, GOOD);
    s_send_chunk (&c, 0, 22, 8, GOOD);
    s_send_chunk (&c, 0, 100, 5, GOOD);
    //  stored; then it wants the weights
    fg_wire_msg_t msg;
    s_expect (c.router, &c.peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_WEIGHTS_REQUEST);
    fg_wire_msg_clear (&msg);
    fg_trainer_destroy (&trainer);
    s_expect_type (&c, FG_WIRE_BYE);

    //  the cache holds exactly the shard's true records
    samples = fg_sample_cache_open (cache, &err);
    assert_non_null (samples);
    assert_int_equal (fg_sample_cache_count (samples, s_hash), 25);
    size_t rs = fg_dataset_record_size (s_train);
    uint8_t *got = malloc (25 * rs), *want = malloc (25 * rs);
    assert_int_equal (fg_sample_cache_get (samples, s_hash, rs, shard, 2, got, &err), 0);
    assert_int_equal (fg_dataset_records (s_train, 10, 20, want, NULL), 0);
    assert_int_equal (fg_dataset_records (s_train, 100, 5, want + 20 * rs, NULL), 0);
    assert_memory_equal (got, want, 25 * rs);
    free (got);
    free (want);
    fg_sample_cache_close (&samples);

    //  a restarted trainer with the same cache: the same shard fetches
    //  nothing; a shard that is partly new fetches only the new part
    trainer = s_trainer (&c, "inproc://test-fetch-trainer", cache);
    s_send_task (&c, 0, shard, 2);
    s_expect_type (&c, FG_WIRE_WEIGHTS_REQUEST);
    fg_trainer_destroy (&trainer);
    s_expect_type (&c, FG_WIRE_BYE);
    trainer = s_trainer (&c, "inproc://test-fetch-trainer", cache);
    fg_wire_range_t mixed [3] = { { 5, 10 }, { 100, 5 }, { 200, 3 } };
    fg_wire_range_t fresh [2] = { { 5, 5 }, { 200, 3 } };
    s_send_task (&c, 2, mixed, 3);
    s_expect_request (&c, fresh, 2);
    //  a refused DATA-REQUEST would be refused again: the unit is given up
    //  for good (REJECT of the TASK, reason unknown), then READY
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_REJECT;
    msg.round = 1;
    msg.shard = 2;
    msg.attempt = 1;
    msg.reject.of_type = FG_WIRE_DATA_REQUEST;
    msg.reject.reason = FG_WIRE_REASON_OTHER;
    snprintf (msg.reject.text, sizeof msg.reject.text, "too much at once");
    s_send_to (&c, &msg);
    s_expect (c.router, &c.peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_REJECT);
    assert_int_equal (msg.reject.of_type, FG_WIRE_TASK);
    assert_int_equal (msg.reject.reason, FG_WIRE_REASON_UNKNOWN);
    assert_non_null (strstr (msg.reject.text, "too much at once"));
    assert_int_equal (msg.shard, 2);
    fg_wire_msg_clear (&msg);
    s_expect_type (&c, FG_WIRE_READY);
    fg_trainer_destroy (&trainer);

    zframe_destroy (&c.peer);
    free (c.weights);
    zsock_destroy (&c.router);
}


//  ---- stored files -----------------------------------------------------------

//  The variable records of samples indices [0 .. n) of set (their stored
//  files), as a coordinator sends them; *size bytes, caller frees.
static uint8_t *
s_stored_records (const fg_dataset_t *set, const uint32_t *indices, size_t n, size_t *size)
{
    const uint16_t *labels = fg_dataset_labels (set);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *bytes;
        size_t file;
        assert_int_equal (fg_dataset_stored (set, indices [i], &bytes, &file, NULL), 0);
        cap += FG_WIRE_SAMPLE_HEAD + file;
    }
    uint8_t *raw = malloc (cap);
    assert_non_null (raw);
    *size = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *bytes;
        size_t file;
        assert_int_equal (fg_dataset_stored (set, indices [i], &bytes, &file, NULL), 0);
        assert_int_equal (fg_wire_sample_put (raw, cap, size, labels [indices [i]], bytes, file,
                                              NULL), 0);
    }
    return raw;
}

//  A unit of cnn-small over positions [0 .. n) of data, from seed 3.
static fg_unit_t *
s_files_unit (const fg_dataset_t *data, const uint32_t *positions, size_t n)
{
    fg_unit_spec_t spec;
    memset (&spec, 0, sizeof spec);
    spec.data = data;
    spec.indices = positions;
    spec.count = n;
    fg_unit_model_spec (FG_MODEL_CNN_SMALL, data, &spec.model);
    fg_config_t cfg;
    fg_config_defaults (&cfg);
    fg_optim_config_from (&spec.optim, &cfg, 10);
    spec.optim.lr = 0.05;
    spec.optim.schedule = FG_SCHEDULE_CONSTANT;
    spec.optim.warmup_epochs = 0;
    spec.seed = 3;
    spec.round = 1;
    spec.shard = 2;
    spec.epochs = 1;
    spec.batch = 8;
    spec.augment = true;
    spec.threads = 1;
    fg_error_t err;
    fg_model_t *init = fg_model_new (&spec.model, &err);
    if (!init)
        fail_msg ("model: %s", err.msg);
    fg_model_init (init, 3);
    fg_unit_t *unit = fg_unit_new (&spec, fg_model_state (init), &err);
    fg_model_destroy (&init);
    if (!unit)
        fail_msg ("unit: %s", err.msg);
    if (fg_unit_run (unit, &err))
        fail_msg ("unit run: %s", err.msg);
    return unit;
}

//  A shard's stored files, through the wire's variable records (one
//  DATA-CHUNK, encoded and decoded), the sample cache and
//  fg_dataset_from_stored: a unit on them gives the bits of the same unit
//  on the whole set (kind at root, images side x side); Tiny-ImageNet's
//  files are several times smaller than its records.
static void
s_stored_same_bits (int kind, const char *root, uint32_t side, size_t count)
{
    fg_error_t err;
    fg_dataset_t *whole = NULL;
    int rc = kind == FG_DATASET_FOLDER
           ? fg_dataset_open_folder (root, FG_SPLIT_TRAIN, 0, side, &whole, &err)
           : fg_dataset_open (kind, root, FG_SPLIT_TRAIN, 0, &whole, &err);
    if (rc)
        fail_msg ("open: %s", err.msg);
    assert_int_equal (fg_dataset_count (whole), count);
    assert_true (fg_dataset_has_stored (whole));
    uint8_t source [FG_SHA256_SIZE];
    fg_dataset_hash (whole, source);
    //  the shard: a prefix, a run of 4 and every third of the second half
    uint32_t shard [64];
    size_t n = 0;
    for (uint32_t i = 0; i < count; i++)
        if (i < count / 6 || (i >= count / 3 && i < count / 3 + 4)
        ||  (i >= count / 2 && i % 3 == 0))
            shard [n++] = i;
    fg_wire_range_t *ranges;
    uint32_t nranges;
    assert_int_equal (fg_wire_ranges_from_indices (shard, n, &ranges, &nranges, &err), 0);

    size_t raw_size;
    uint8_t *raw = s_stored_records (whole, shard, n, &raw_size);
    if (kind == FG_DATASET_TINY_IMAGENET)      //  (a folder's files may be larger
        assert_true (raw_size * 3 < n * fg_dataset_record_size (whole));   //  than 32x32 pixels)
    fg_wire_msg_t chunk, got;
    fg_wire_msg_reply (&chunk, FG_WIRE_DATA_CHUNK, NULL);
    memcpy (chunk.data_chunk.dataset_hash, source, FG_SHA256_SIZE);
    chunk.data_chunk.count = (uint32_t) n;
    chunk.data_chunk.raw_size = raw_size;
    uint8_t *lz4;
    assert_int_equal (fg_wire_data_pack (raw, raw_size, &lz4, &chunk.data_chunk.lz4_size,
                                         &err), 0);
    chunk.data_chunk.lz4 = lz4;
    fg_wire_frames_t frames;
    assert_int_equal (fg_wire_encode (&chunk, NULL, &frames, &err), 0);
    assert_int_equal (fg_wire_decode (frames.frame, frames.count, NULL, &got, &err), 0);
    fg_wire_frames_clear (&frames);
    free (lz4);

    char dir [300];
    snprintf (dir, sizeof dir, "%.200s/files-cache-%d", s_tmp, kind);
    assert_int_equal (mkdir (dir, 0755), 0);
    fg_sample_cache_t *cache = fg_sample_cache_open (dir, &err);
    assert_non_null (cache);
    assert_int_equal (fg_sample_cache_put (cache, source, 0, ranges, nranges, got.data_chunk.samples,
                                           (size_t) got.data_chunk.raw_size, &err), 0);
    fg_wire_msg_clear (&got);
    uint8_t *back;
    size_t back_size;
    assert_int_equal (fg_sample_cache_load (cache, source, ranges, nranges, SIZE_MAX, &back,
                                            &back_size, &err), 0);
    assert_int_equal (back_size, raw_size);
    assert_memory_equal (back, raw, raw_size);
    fg_sample_cache_close (&cache);

    uint16_t labels [64];
    const uint8_t *bytes [64];
    size_t sizes [64];
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        fg_wire_sample_t sample;
        assert_int_equal (fg_wire_sample_next (back, back_size, &at, &sample, &err), 0);
        labels [i] = sample.label;
        bytes [i] = sample.bytes;
        sizes [i] = sample.size;
    }
    fg_dataset_t *sub = NULL;
    if (fg_dataset_from_stored (kind, FG_SPLIT_TRAIN, source, fg_dataset_classes (whole), side,
                                n, shard, labels, bytes, sizes, &sub, &err))
        fail_msg ("from_stored: %s", err.msg);
    free (back);
    free (raw);
    uint32_t positions [64];
    for (size_t i = 0; i < n; i++) {
        size_t pos;
        assert_int_equal (fg_dataset_position (sub, shard [i], &pos), 0);
        positions [i] = (uint32_t) pos;
    }
    fg_unit_t *a = s_files_unit (whole, shard, n);
    fg_unit_t *b = s_files_unit (sub, positions, n);
    char ha [65], hb [65];
    fg_state_hash (fg_model_state (fg_unit_model (a)), ha);
    fg_state_hash (fg_model_state (fg_unit_model (b)), hb);
    assert_string_equal (ha, hb);
    uint32_t na, nb;
    const double *la = fg_unit_losses (a, &na), *lb = fg_unit_losses (b, &nb);
    assert_int_equal (na, nb);
    assert_memory_equal (la, lb, na * sizeof (double));
    fg_unit_destroy (&a);
    fg_unit_destroy (&b);
    fg_dataset_destroy (&sub);
    fg_dataset_destroy (&whole);
    free (ranges);
}

static void
test_stored_same_bits (void **state)
{
    (void) state;
    s_stored_same_bits (FG_DATASET_TINY_IMAGENET, s_tiny, 64, 60);
    //  a folder of JPEGs and PNGs of other shapes, fit to 32 x 32
    s_stored_same_bits (FG_DATASET_FOLDER, s_folder, 32, 36);
}

//  ---- coordinator side -------------------------------------------------------

static void
s_dealer_send (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment)
{
    msg->experiment = experiment;
    assert_int_equal (fg_wire_send (dealer, NULL, msg, NULL, NULL), 0);
}

//  A HELLO from node "scripted" (one core, no dataset) with this kernel string
static void
s_hello (zsock_t *dealer, const char *kernel)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_HELLO;
    msg.hello.proto_min = msg.hello.proto_max = FG_WIRE_VERSION;
    msg.hello.cores = 1;
    snprintf (msg.hello.node_id, sizeof msg.hello.node_id, "scripted");
    snprintf (msg.hello.kernel, sizeof msg.hello.kernel, "%s", kernel);
    s_dealer_send (dealer, &msg, 0);
}

//  READY for one unit
static void
s_ready (zsock_t *dealer, uint64_t experiment)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_READY;
    msg.ready.slots = 1;
    s_dealer_send (dealer, &msg, experiment);
}

static void
s_data_request (zsock_t *dealer, uint64_t experiment, const uint8_t *hash,
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
    s_dealer_send (dealer, &msg, experiment);
}

static void
s_expect_reject (zsock_t *dealer, int reason, const char *needle)
{
    fg_wire_msg_t msg;
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_REJECT);
    assert_int_equal (msg.reject.of_type, FG_WIRE_DATA_REQUEST);
    assert_int_equal (msg.reject.reason, reason);
    if (!strstr (msg.reject.text, needle))
        fail_msg ("REJECT text '%s' lacks '%s'", msg.reject.text, needle);
    fg_wire_msg_clear (&msg);
}

//  A coordinator of cfg on inproc://name (its folder s_tmp/name) and a
//  DEALER "scripted" connected to it (messages up to cfg's max_frame).
static fg_coordinator_t *
s_coordinator (fg_config_t *cfg, const fg_dataset_t *train, const fg_dataset_t *test,
               const char *name, zsock_t **dealer)
{
    char dir [300];
    snprintf (dir, sizeof dir, "%.200s/%s", s_tmp, name);
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

static void
test_coordinator_serves (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_error_t err;
    fg_config_defaults (&cfg);
    assert_int_equal (fg_config_preset (&cfg, "synthetic-tiny", &err), 0);
    cfg.grid.heartbeat_ms = 100;
    cfg.grid.liveness = 50;
    fg_dataset_t *train = NULL, *test = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN,
                                       (size_t) cfg.data.synthetic_train, &train, &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TEST,
                                       (size_t) cfg.data.synthetic_test, &test, &err), 0);
    uint8_t hash [FG_SHA256_SIZE];
    fg_dataset_hash (train, hash);
    zsock_t *dealer;
    fg_coordinator_t *coordinator = s_coordinator (&cfg, train, test, "test-fetch-coord",
                                                   &dealer);
    fg_wire_msg_t msg;
    //  a node whose arithmetic differs is refused: BLIS's own kernels, an
    //  identity that only starts like ours, and the release before the
    //  direct convolution form (same GEMM, other convolution sums)
    const char *foreign [] = { "0.9.0 generic", "fg-sgemm-fma kc=256 v10 avx2 6x16", "",
                               "fg-sgemm-fma kc=256 v1 avx512 24x16 blis-0.9.0" };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign [0]; i++) {
        s_hello (dealer, foreign [i]);
        s_expect (dealer, NULL, &msg);
        assert_int_equal (msg.type, FG_WIRE_REJECT);
        assert_int_equal (msg.reject.of_type, FG_WIRE_HELLO);
        assert_int_equal (msg.reject.reason, FG_WIRE_REASON_NOT_ALLOWED);
        assert_non_null (strstr (msg.reject.text, "GEMM arithmetic"));
        fg_wire_msg_clear (&msg);
    }
    //  another SIMD variant of the same arithmetic is welcome (the node
    //  lacks the dataset)
    char kernel [FG_WIRE_NAME_MAX + 1];
    snprintf (kernel, sizeof kernel, "%s portable 4x16 blis-0.9.0", fg_ops_kernel_identity ());
    s_hello (dealer, kernel);
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    uint64_t experiment = msg.experiment;
    fg_wire_msg_clear (&msg);

    //  refusals
    uint8_t other [FG_SHA256_SIZE];
    memcpy (other, hash, sizeof other);
    other [0] ^= 0xff;
    fg_wire_range_t inside [2] = { { 3, 4 }, { 700, 2 } };
    s_data_request (dealer, experiment, other, inside, 2);
    s_expect_reject (dealer, FG_WIRE_REASON_UNKNOWN, "unknown dataset");
    fg_wire_range_t outside [2] = { { 3, 4 }, { 795, 6 } };
    s_data_request (dealer, experiment, hash, outside, 2);
    s_expect_reject (dealer, FG_WIRE_REASON_OTHER, "holds 800");
    fg_wire_range_t *many = calloc (300, sizeof *many);
    for (uint32_t i = 0; i < 300; i++) {
        many [i].start = 2 * i;
        many [i].count = 1;
    }
    s_data_request (dealer, experiment, hash, many, 300);
    s_expect_reject (dealer, FG_WIRE_REASON_OTHER, "at once");
    free (many);
    //  another experiment's request: refused before anything else
    s_data_request (dealer, experiment + 1, hash, inside, 2);
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_REJECT);
    assert_int_equal (msg.reject.reason, FG_WIRE_REASON_EXPERIMENT);
    fg_wire_msg_clear (&msg);

    //  samples of no unit issued to the node: refused
    s_data_request (dealer, experiment, hash, inside, 2);
    s_expect_reject (dealer, FG_WIRE_REASON_UNKNOWN, "unit issued to this node");

    //  a node without the dataset gets a unit (shard 0, attempt 1: the
    //  requests' header)
    s_ready (dealer, experiment);
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    assert_memory_equal (msg.task.dataset_hash, hash, FG_SHA256_SIZE);
    uint32_t shard = msg.shard, attempt = msg.attempt;
    assert_int_equal (shard, 0);
    fg_wire_msg_clear (&msg);

    //  a good request: one chunk per range, the true records
    s_data_request (dealer, experiment, hash, inside, 2);
    size_t rs = fg_dataset_record_size (train);
    for (int i = 0; i < 2; i++) {
        s_expect (dealer, NULL, &msg);
        assert_int_equal (msg.type, FG_WIRE_DATA_CHUNK);
        const fg_wire_data_chunk_t *c = &msg.data_chunk;
        assert_memory_equal (c->dataset_hash, hash, FG_SHA256_SIZE);
        assert_int_equal (c->start, inside [i].start);
        assert_int_equal (c->count, inside [i].count);
        assert_int_equal (c->record_size, rs);
        uint8_t want [4 * 786];
        assert_int_equal (fg_dataset_records (train, c->start, c->count, want, NULL), 0);
        assert_memory_equal (c->samples, want, c->count * rs);
        fg_wire_msg_clear (&msg);
    }

    //  a node that refuses a TASK as impossible gets no more units ...
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_REJECT;
    msg.round = 1;
    msg.shard = shard;
    msg.attempt = attempt;
    msg.reject.of_type = FG_WIRE_TASK;
    msg.reject.reason = FG_WIRE_REASON_UNKNOWN;
    snprintf (msg.reject.text, sizeof msg.reject.text, "cannot build this dataset");
    s_dealer_send (dealer, &msg, experiment);
    s_ready (dealer, experiment);
    s_expect_silence (dealer, 600);
    //  ... until it announces itself again
    s_hello (dealer, fg_ops_blis_info (kernel, sizeof kernel));
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    fg_wire_msg_clear (&msg);
    s_ready (dealer, experiment);
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    fg_wire_msg_clear (&msg);

    zsock_destroy (&dealer);
    fg_coordinator_destroy (&coordinator);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
}

//  The coordinator of a Tiny-ImageNet layout, its chunks just larger than
//  its largest file: the TASK carries the geometry, a shard's request is
//  answered with the files themselves (variable records, several chunks),
//  a request of every file is too much at once (busy), and the shard is
//  served about 3 times its files' bytes before it is refused (busy).
static void
test_coordinator_serves_files (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_error_t err;
    fg_config_defaults (&cfg);
    assert_int_equal (fg_config_preset (&cfg, "synthetic-tiny", &err), 0);
    assert_int_equal (fg_config_set (&cfg, "data.dataset=tiny-imagenet", "test", &err), 0);
    snprintf (cfg.data.path, sizeof cfg.data.path, "%s", s_tiny);
    cfg.grid.heartbeat_ms = 100;
    cfg.grid.liveness = 50;
    fg_dataset_t *train = NULL, *test = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, s_tiny, FG_SPLIT_TRAIN, 0,
                                       &train, &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, s_tiny, FG_SPLIT_TEST, 0,
                                       &test, &err), 0);
    size_t largest = 0, total = 0;
    for (size_t i = 0; i < fg_dataset_count (train); i++) {
        const uint8_t *bytes;
        size_t size;
        assert_int_equal (fg_dataset_stored (train, i, &bytes, &size, &err), 0);
        largest = size > largest? size: largest;
        total += FG_WIRE_SAMPLE_HEAD + size;
    }
    cfg.grid.max_frame = 65536;
    cfg.grid.chunk_size = (int64_t) largest + 100;
    assert_true (total > 16 * (largest + 100));         //  the whole set is too much at once
    uint8_t hash [FG_SHA256_SIZE];
    fg_dataset_hash (train, hash);
    zsock_t *dealer;
    fg_coordinator_t *coordinator = s_coordinator (&cfg, train, test, "test-fetch-files",
                                                   &dealer);
    char kernel [FG_WIRE_NAME_MAX + 1];
    s_hello (dealer, fg_ops_blis_info (kernel, sizeof kernel));
    fg_wire_msg_t msg;
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    uint64_t experiment = msg.experiment;
    fg_wire_msg_clear (&msg);
    s_ready (dealer, experiment);
    s_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    assert_int_equal (msg.shard, 0);
    assert_true (msg.task.has_geometry);
    assert_int_equal (msg.task.geometry.classes, 4);
    assert_int_equal (msg.task.geometry.height, 64);
    assert_int_equal (msg.task.geometry.width, 64);
    assert_int_equal (msg.task.geometry.channels, 3);
    uint32_t nranges = msg.task.range_count;
    fg_wire_range_t *ranges = malloc (nranges * sizeof *ranges);
    assert_non_null (ranges);
    memcpy (ranges, msg.task.ranges, nranges * sizeof *ranges);
    uint32_t *indices;
    size_t n;
    assert_int_equal (fg_wire_ranges_to_indices (ranges, nranges, &indices, &n, &err), 0);
    fg_wire_msg_clear (&msg);
    size_t want_size;
    uint8_t *want = s_stored_records (train, indices, n, &want_size);

    //  every file at once: too much (busy), the trainer asks fewer
    fg_wire_range_t all = { 0, (uint32_t) fg_dataset_count (train) };
    s_data_request (dealer, experiment, hash, &all, 1);
    s_expect_reject (dealer, FG_WIRE_REASON_BUSY, "too much at once");
    //  the shard, three times: its files, in order, in several chunks
    fg_wire_limits_t limits = { 65536, (size_t) cfg.grid.chunk_size };
    int served = 0;
    for (int round = 0; round < 5; round++) {
        s_data_request (dealer, experiment, hash, ranges, nranges);
        size_t at = 0, chunks = 0, samples = 0;
        while (samples < n) {
            zsock_set_rcvtimeo (dealer, 5000);
            assert_int_equal (fg_wire_recv (dealer, NULL, &limits, &msg, &err), 0);
            if (msg.type == FG_WIRE_HEARTBEAT) {
                fg_wire_msg_clear (&msg);
                continue;
            }
            if (msg.type == FG_WIRE_REJECT)
                break;
            assert_int_equal (msg.type, FG_WIRE_DATA_CHUNK);
            assert_int_equal (msg.data_chunk.record_size, 0);
            assert_int_equal (msg.data_chunk.start, indices [samples]);
            assert_true (at + msg.data_chunk.raw_size <= want_size);
            assert_memory_equal (msg.data_chunk.samples, want + at, msg.data_chunk.raw_size);
            at += msg.data_chunk.raw_size;
            samples += msg.data_chunk.count;
            chunks++;
            fg_wire_msg_clear (&msg);
        }
        if (msg.type == FG_WIRE_REJECT) {
            assert_int_equal (msg.reject.reason, FG_WIRE_REASON_BUSY);
            assert_non_null (strstr (msg.reject.text, "times its samples' bytes"));
            fg_wire_msg_clear (&msg);
            break;
        }
        assert_int_equal (at, want_size);
        assert_true (chunks > 1);
        served++;
    }
    //  3 times the files' bytes (LZ4 may save a little of the heads: 4)
    assert_true (served == 3 || served == 4);
    free (want);
    free (indices);
    free (ranges);
    zsock_destroy (&dealer);
    fg_coordinator_destroy (&coordinator);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_trainer_fetches),
        cmocka_unit_test (test_coordinator_serves),
        cmocka_unit_test (test_stored_same_bits),
        cmocka_unit_test (test_coordinator_serves_files),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
