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
    units until it says HELLO again. (The stored files of file-backed
    sets: tests/test_fetch_files.c.)                                      */

#include "fg_test_fetch.h"

#include <unistd.h>

#include "fg_blob.h"
#include "fg_model.h"
#include "fg_ops.h"
#include "fg_sample_cache.h"
#include "fg_test_util.h"
#include "fg_unit.h"

static char s_tmp [256];
static fg_dataset_t *s_train;           //  synthetic, 300 samples
static uint8_t s_hash [FG_SHA256_SIZE];

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

//  ---- trainer side -----------------------------------------------------------

//  A TASK of the synthetic set.
static void
s_send_task (fetch_coord_t *c, uint32_t shard, const fg_wire_range_t *ranges, uint32_t n)
{
    fetch_send_task (c, shard, ranges, n, FG_DATASET_SYNTHETIC, s_hash, NULL);
}

//  A DATA-CHUNK of samples [start, start + count) from the real set, then
//  spoiled as `how` says.
typedef enum { GOOD, BAD_HASH, BAD_RECORD_SIZE, BAD_LABEL } s_spoil_t;

static void
s_send_chunk (fetch_coord_t *c, uint32_t shard, uint32_t start, uint32_t count, s_spoil_t how)
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
    uint8_t hash [FG_SHA256_SIZE];
    memcpy (hash, s_hash, sizeof hash);
    if (how == BAD_HASH)
        hash [5] ^= 1;
    fetch_send_data (c, shard, hash, start, count, record_size, raw, raw_size);
    free (raw);
}

static void
s_expect_request (fetch_coord_t *c, const fg_wire_range_t *ranges, uint32_t n)
{
    fetch_expect_request (c, s_hash, ranges, n);
}

static void
test_trainer_fetches (void **state)
{
    (void) state;
    fetch_coord_t c;
    fetch_coord_bind (&c, "inproc://test-fetch-trainer");
    fetch_coord_weights (&c, s_train);  //  announced, never sent: the script stops at their request
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
    fg_trainer_t *trainer = fetch_trainer (&c, "inproc://test-fetch-trainer", cache0);
    fg_wire_range_t shard [2] = { { 10, 20 }, { 100, 5 } };
    s_send_task (&c, 0, shard, 2);
    s_expect_request (&c, shard, 2);
    s_send_chunk (&c, 0, 10, 20, GOOD);
    s_send_chunk (&c, 0, 100, 5, BAD_LABEL);
    s_expect_request (&c, shard, 2);
    fg_trainer_destroy (&trainer);
    fetch_expect_type (&c, FG_WIRE_BYE);
    fg_sample_cache_t *samples = fg_sample_cache_open (cache0, &err);
    assert_non_null (samples);
    assert_int_equal (fg_sample_cache_count (samples, s_hash), 0);
    fg_sample_cache_close (&samples);

    trainer = fetch_trainer (&c, "inproc://test-fetch-trainer", cache);
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
    fetch_expect_silence (c.router, 300);
    //  now the right window, in two chunks for the first range
    s_send_chunk (&c, 0, 10, 12, GOOD);
    s_send_chunk (&c, 0, 22, 8, GOOD);
    s_send_chunk (&c, 0, 100, 5, GOOD);
    //  stored; then it wants the weights
    fg_wire_msg_t msg;
    fetch_expect (c.router, &c.peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_WEIGHTS_REQUEST);
    fg_wire_msg_clear (&msg);
    fg_trainer_destroy (&trainer);
    fetch_expect_type (&c, FG_WIRE_BYE);

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
    trainer = fetch_trainer (&c, "inproc://test-fetch-trainer", cache);
    s_send_task (&c, 0, shard, 2);
    fetch_expect_type (&c, FG_WIRE_WEIGHTS_REQUEST);
    fg_trainer_destroy (&trainer);
    fetch_expect_type (&c, FG_WIRE_BYE);
    trainer = fetch_trainer (&c, "inproc://test-fetch-trainer", cache);
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
    fetch_send_to (&c, &msg);
    fetch_expect (c.router, &c.peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_REJECT);
    assert_int_equal (msg.reject.of_type, FG_WIRE_TASK);
    assert_int_equal (msg.reject.reason, FG_WIRE_REASON_UNKNOWN);
    assert_non_null (strstr (msg.reject.text, "too much at once"));
    assert_int_equal (msg.shard, 2);
    fg_wire_msg_clear (&msg);
    fetch_expect_type (&c, FG_WIRE_READY);
    fg_trainer_destroy (&trainer);

    fetch_coord_close (&c);
}


//  ---- coordinator side -------------------------------------------------------

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
    fg_coordinator_t *coordinator = fetch_coordinator (s_tmp, &cfg, train, test,
                                                       "test-fetch-coord", &dealer);
    fg_wire_msg_t msg;
    //  a node whose arithmetic differs is refused: BLIS's own kernels, an
    //  identity that only starts like ours, and the release before the
    //  direct convolution form (same GEMM, other convolution sums)
    const char *foreign [] = { "0.9.0 generic", "fg-sgemm-fma kc=256 v10 avx2 6x16", "",
                               "fg-sgemm-fma kc=256 v1 avx512 24x16 blis-0.9.0" };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign [0]; i++) {
        fetch_hello (dealer, foreign [i]);
        fetch_expect (dealer, NULL, &msg);
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
    fetch_hello (dealer, kernel);
    fetch_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    uint64_t experiment = msg.experiment;
    fg_wire_msg_clear (&msg);

    //  refusals
    uint8_t other [FG_SHA256_SIZE];
    memcpy (other, hash, sizeof other);
    other [0] ^= 0xff;
    fg_wire_range_t inside [2] = { { 3, 4 }, { 700, 2 } };
    fetch_data_request (dealer, experiment, other, inside, 2);
    fetch_expect_reject (dealer, FG_WIRE_REASON_UNKNOWN, "unknown dataset");
    fg_wire_range_t outside [2] = { { 3, 4 }, { 795, 6 } };
    fetch_data_request (dealer, experiment, hash, outside, 2);
    fetch_expect_reject (dealer, FG_WIRE_REASON_OTHER, "holds 800");
    fg_wire_range_t *many = calloc (300, sizeof *many);
    for (uint32_t i = 0; i < 300; i++) {
        many [i].start = 2 * i;
        many [i].count = 1;
    }
    fetch_data_request (dealer, experiment, hash, many, 300);
    fetch_expect_reject (dealer, FG_WIRE_REASON_OTHER, "at once");
    free (many);
    //  another experiment's request: refused before anything else
    fetch_data_request (dealer, experiment + 1, hash, inside, 2);
    fetch_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_REJECT);
    assert_int_equal (msg.reject.reason, FG_WIRE_REASON_EXPERIMENT);
    fg_wire_msg_clear (&msg);

    //  samples of no unit issued to the node: refused
    fetch_data_request (dealer, experiment, hash, inside, 2);
    fetch_expect_reject (dealer, FG_WIRE_REASON_UNKNOWN, "unit issued to this node");

    //  a node without the dataset gets a unit (shard 0, attempt 1: the
    //  requests' header)
    fetch_ready (dealer, experiment);
    fetch_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    assert_memory_equal (msg.task.dataset_hash, hash, FG_SHA256_SIZE);
    uint32_t shard = msg.shard, attempt = msg.attempt;
    assert_int_equal (shard, 0);
    fg_wire_msg_clear (&msg);

    //  a good request: one chunk per range, the true records
    fetch_data_request (dealer, experiment, hash, inside, 2);
    size_t rs = fg_dataset_record_size (train);
    for (int i = 0; i < 2; i++) {
        fetch_expect (dealer, NULL, &msg);
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
    fetch_dealer_send (dealer, &msg, experiment);
    fetch_ready (dealer, experiment);
    fetch_expect_silence (dealer, 600);
    //  ... until it announces itself again
    fetch_hello (dealer, fg_ops_blis_info (kernel, sizeof kernel));
    fetch_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    fg_wire_msg_clear (&msg);
    fetch_ready (dealer, experiment);
    fetch_expect (dealer, NULL, &msg);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    fg_wire_msg_clear (&msg);

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
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
