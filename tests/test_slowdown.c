/*  test_slowdown.c — the simulated slow PC (fg_trainer_args_t.slowdown,
    fedctl worker --slowdown).

    A real trainer against a scripted coordinator (a ROUTER driven by the
    test) runs the same unit at slowdown 1 and 8, alternately, three times
    each: every run gives the same update (SHA-256) and the median elapsed
    time it reports at slowdown 8 is at least twice the median at 1 (a
    factor 8 on the mini-batches keeps the check clear of a loaded
    machine's noise and of the unit's fixed costs, which are not slowed). A
    trainer at slowdown 1000 idles for seconds after its first mini-batch
    yet keeps sending heartbeats all along and stops at once when told. A
    slowdown outside 0..1000 is refused.

    Long batches: the slowdown is spent in the batch's job on the
    trainer's compute thread (fg_trainer_compute.c), so at a high one a unit of
    one mini-batch is one batch far longer than heartbeat x liveness: the
    scripted coordinator counts the heartbeats that arrive while it runs,
    and the trainer never takes the coordinator for silent (no second
    HELLO); the RESULT is the same bits as at full speed. A trainer told
    to stop in the middle of an epoch's last batch waits for it and keeps
    the epoch's checkpoint, from which a new trainer resumes to the same
    bits. Counts and lower bounds only: load makes a batch longer, never
    shorter.                                                             */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_test_fetch.h"
#include "fg_trainer_journal.h"
#include "fg_test_util.h"

#define S_RUNS     3                    //  runs at each speed

static fg_dataset_t *s_train;           //  synthetic, 300 samples
static uint8_t s_hash [FG_SHA256_SIZE];
static char s_endpoint [64];            //  the scripted coordinator's, fresh per test

static int
s_setup (void **state)
{
    (void) state;
    zsys_init ();
    zsys_set_logstream (NULL);
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
    return 0;
}

static void
s_expect_type (fetch_coord_t *c, int type)
{
    fg_wire_msg_t msg;
    fetch_next (c, &msg, 10000);
    assert_int_equal (msg.type, type);
    fg_wire_msg_clear (&msg);
}

//  A trainer holding the dataset (with a cache directory: its journal),
//  greeted; returns after its READY.
static fg_trainer_t *
s_trainer_ex (fetch_coord_t *c, double slowdown, int heartbeat_ms, int liveness,
              const char *cache)
{
    fg_trainer_args_t args = {
        .endpoint = s_endpoint, .node_id = "slow-pc", .train = s_train, .threads = 1,
        .heartbeat_ms = heartbeat_ms, .liveness = liveness, .slowdown = slowdown,
        .cache_dir = cache
    };
    fg_error_t err;
    fg_trainer_t *trainer = fg_trainer_new (&args, &err);
    assert_non_null (trainer);
    s_expect_type (c, FG_WIRE_HELLO);
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_ACK;
    msg.ack.of_type = FG_WIRE_HELLO;
    fetch_send_to (c, &msg);
    s_expect_type (c, FG_WIRE_READY);
    return trainer;
}

static fg_trainer_t *
s_trainer (fetch_coord_t *c, double slowdown)
{
    return s_trainer_ex (c, slowdown, 50, 200, NULL);
}

//  A unit of round 1, shard 0: samples 0..count-1, batches, epochs.
static void
s_send_task_ex (fetch_coord_t *c, uint32_t count, uint32_t batch, uint32_t epochs)
{
    fg_wire_range_t ranges [1] = { { 0, count } };
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_TASK;
    msg.round = 1;
    msg.attempt = 1;
    fg_wire_task_t *t = &msg.task;
    t->weights_size = c->weights_size;
    memcpy (t->weights_hash, c->weights_hash, FG_SHA256_SIZE);
    t->seed = 7;
    t->local_epochs = epochs;
    t->batch_size = batch;
    t->lr = 0.05;
    t->momentum = 0.9;
    t->model = FG_MODEL_CNN_SMALL;
    t->dataset = FG_DATASET_SYNTHETIC;
    memcpy (t->dataset_hash, s_hash, FG_SHA256_SIZE);
    t->sample_count = count;
    t->range_count = 1;
    t->ranges = ranges;
    fetch_send_to (c, &msg);
}

//  The unit: samples 0..199, batches of 8, one epoch.
static void
s_send_task (fetch_coord_t *c)
{
    s_send_task_ex (c, 200, 8, 1);
}

//  Serves the weights until the first message that is neither a
//  WEIGHTS-REQUEST nor a HEARTBEAT (into msg, type 0 after ms); the
//  heartbeats are counted from the last WEIGHTS-REQUEST on.
static void
s_serve_until (fetch_coord_t *c, fg_wire_msg_t *msg, int ms)
{
    while (true) {
        fetch_next (c, msg, ms);
        if (msg->type != FG_WIRE_WEIGHTS_REQUEST)
            return;
        fetch_serve_weights (c, msg);
        fg_wire_msg_clear (msg);
        c->heartbeats = 0;
    }
}

//  Sends the TASK and serves it (s_serve_until).
static void
s_run_until (fetch_coord_t *c, fg_wire_msg_t *msg, int ms)
{
    s_send_task (c);
    s_serve_until (c, msg, ms);
}

//  msg must be the trainer's RESULT: its update hash and reported time
//  (ms); then the trainer is stopped (its BYE follows).
static uint32_t
s_result_stop (fetch_coord_t *c, fg_trainer_t **trainer, fg_wire_msg_t *msg,
               uint8_t hash [FG_SHA256_SIZE])
{
    assert_int_equal (msg->type, FG_WIRE_RESULT);
    uint32_t elapsed = msg->result.elapsed_ms;
    memcpy (hash, msg->result.update_hash, FG_SHA256_SIZE);
    fg_wire_msg_clear (msg);
    fg_trainer_destroy (trainer);
    s_expect_type (c, FG_WIRE_BYE);
    return elapsed;
}

//  One unit on a fresh trainer at slowdown: its reported time (ms) and
//  update hash.
static uint32_t
s_unit (fetch_coord_t *c, double slowdown, uint8_t hash [FG_SHA256_SIZE])
{
    fg_trainer_t *trainer = s_trainer (c, slowdown);
    fg_wire_msg_t msg;
    s_run_until (c, &msg, 120000);
    return s_result_stop (c, &trainer, &msg, hash);
}

static int
s_cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y? -1: x > y;
}

//  A scripted coordinator on its own inproc endpoint (a closed socket's
//  endpoint is released asynchronously, so none is bound twice) serving
//  cnn-small's initial weights.
static void
s_coord_start (fetch_coord_t *c)
{
    static int started;
    snprintf (s_endpoint, sizeof s_endpoint, "inproc://test-slowdown-%d", started++);
    fetch_coord_bind (c, s_endpoint);
    fetch_coord_weights (c, s_train);
}

static void
test_slowdown_same_bits_slower (void **state)
{
    (void) state;
    fetch_coord_t c;
    s_coord_start (&c);
    uint32_t fast [S_RUNS], slow [S_RUNS];
    uint8_t first [FG_SHA256_SIZE], hash [FG_SHA256_SIZE];
    for (int i = 0; i < S_RUNS; i++) {
        fast [i] = s_unit (&c, i == 0? 0: 1, hash);     //  0 and 1 both mean full speed
        if (i == 0)
            memcpy (first, hash, sizeof first);
        assert_memory_equal (hash, first, sizeof first);
        slow [i] = s_unit (&c, 8, hash);
        assert_memory_equal (hash, first, sizeof first);
    }
    qsort (fast, S_RUNS, sizeof fast [0], s_cmp_u32);
    qsort (slow, S_RUNS, sizeof slow [0], s_cmp_u32);
    printf ("# unit elapsed (median of %d): slowdown 1 %u ms, slowdown 8 %u ms\n", S_RUNS,
            fast [S_RUNS / 2], slow [S_RUNS / 2]);
    assert_true (slow [S_RUNS / 2] >= 2 * fast [S_RUNS / 2]);
    fetch_coord_close (&c);
}

static void
test_slowdown_idle_serves (void **state)
{
    (void) state;
    fetch_coord_t c;
    s_coord_start (&c);
    fg_trainer_t *trainer = s_trainer (&c, 1000);
    //  after its first batch it idles for ~999 batch times: two seconds
    //  with no result, and heartbeats all along
    fg_wire_msg_t msg;
    c.heartbeats = 0;
    s_run_until (&c, &msg, 2000);
    assert_int_equal (msg.type, 0);
    printf ("# slowdown 1000: %d heartbeats in 2 s of idle training\n", c.heartbeats);
    assert_true (c.heartbeats >= 5);
    //  and stops at once ($TERM is served while idle); its BYE follows
    int64_t start = zclock_mono ();
    fg_trainer_destroy (&trainer);
    int64_t took = zclock_mono () - start;
    printf ("# stopped in %lld ms\n", (long long) took);
    assert_true (took < 5000);
    s_expect_type (&c, FG_WIRE_BYE);
    fetch_coord_close (&c);
}

//  One mini-batch (8 samples, batch 8, one epoch) at `slowdown`, its
//  heartbeats against a trainer that takes the coordinator for silent
//  after liveness x 20 ms; the RESULT's update hash and elapsed time.
static uint32_t
s_one_batch (fetch_coord_t *c, double slowdown, int liveness, int *beats,
             uint8_t hash [FG_SHA256_SIZE])
{
    fg_trainer_t *trainer = s_trainer_ex (c, slowdown, 20, liveness, NULL);
    fg_wire_msg_t msg;
    s_send_task_ex (c, 8, 8, 1);
    s_serve_until (c, &msg, 600000);
    //  a HELLO here would be a trainer that found the coordinator silent
    assert_int_equal (msg.type, FG_WIRE_RESULT);
    *beats = c->heartbeats;
    return s_result_stop (c, &trainer, &msg, hash);
}

static void
test_slowdown_long_batch_beats (void **state)
{
    (void) state;
    fetch_coord_t c;
    s_coord_start (&c);
    uint8_t fast [FG_SHA256_SIZE], slow [FG_SHA256_SIZE];
    int beats;
    uint32_t full = s_one_batch (&c, 1, 200, &beats, fast);
    //  liveness 25: silent after 500 ms (ample for a loaded test thread
    //  to answer a beat); the slowdown stretches the batch to seconds,
    //  from the full-speed unit's time (`full` ms, its batch and its
    //  build), 4 times more while the batch was not over 1 s: the test
    //  lasts seconds also under the sanitizers
    double factor = full? 5000.0 / full: 1000;
    factor = factor < 2? 2: factor > 1000? 1000: factor;
    uint32_t elapsed;
    while (true) {
        elapsed = s_one_batch (&c, factor, 25, &beats, slow);
        printf ("# one batch at slowdown %.0f (full speed %u ms): %u ms, %d heartbeats during "
                "it (heartbeat 20 ms, liveness 25)\n", factor, full, elapsed, beats);
        assert_memory_equal (slow, fast, FG_SHA256_SIZE);
        if (elapsed >= 2 * 20 * 25 || factor >= 1000)
            break;
        factor = factor * 4 > 1000? 1000: factor * 4;
    }
    assert_true (elapsed >= 20 * 25);       //  longer than heartbeat x liveness
    assert_true (beats >= 5);
    fetch_coord_close (&c);
}

//  $TERM in the middle of epoch 1's only batch (slowdown 1000): the trainer
//  waits for it, keeps the epoch's checkpoint and stops; a new trainer on
//  the same cache resumes after epoch 1 and sends the uninterrupted bits.
static void
test_slowdown_stop_keeps_checkpoint (void **state)
{
    (void) state;
    char cache [256], other [256];
    assert_int_equal (fg_test_tmpdir ("test-slowdown", cache, sizeof cache), 0);
    assert_int_equal (fg_test_tmpdir ("test-slowdown-ref", other, sizeof other), 0);
    fetch_coord_t c;
    s_coord_start (&c);
    //  the reference: two epochs of one batch each, uninterrupted
    fg_trainer_t *trainer = s_trainer_ex (&c, 1, 50, 200, other);
    fg_wire_msg_t msg;
    s_send_task_ex (&c, 16, 16, 2);
    s_serve_until (&c, &msg, 600000);
    uint8_t reference [FG_SHA256_SIZE], resumed [FG_SHA256_SIZE];
    s_result_stop (&c, &trainer, &msg, reference);
    //  stopped during the first batch: three heartbeats into it
    trainer = s_trainer_ex (&c, 1000, 50, 200, cache);
    s_send_task_ex (&c, 16, 16, 2);
    fetch_next (&c, &msg, 600000);
    while (true) {
        if (msg.type == FG_WIRE_WEIGHTS_REQUEST) {
            fetch_serve_weights (&c, &msg);
            c.heartbeats = 0;
        }
        else {
            //  nothing but heartbeats since the weights: in the first batch
            assert_int_equal (msg.type, 0);
            if (c.heartbeats >= 3)
                break;
        }
        fg_wire_msg_clear (&msg);
        fetch_next (&c, &msg, 100);
    }
    fg_trainer_destroy (&trainer);
    s_expect_type (&c, FG_WIRE_BYE);
    fg_tjournal_t *journal = fg_tjournal_open (cache, NULL);
    assert_non_null (journal);
    uint8_t *bytes;
    size_t size;
    assert_int_equal (fg_tjournal_get (journal, "unit", &bytes, &size, NULL), 0);
    free (bytes);
    fg_tjournal_close (&journal);
    //  resumed at full speed: epoch 2 only, the same bits
    trainer = s_trainer_ex (&c, 1, 50, 200, cache);
    s_send_task_ex (&c, 16, 16, 2);
    s_serve_until (&c, &msg, 600000);
    s_result_stop (&c, &trainer, &msg, resumed);
    assert_memory_equal (resumed, reference, FG_SHA256_SIZE);
    fetch_coord_close (&c);
    assert_int_equal (fg_test_rmtree (cache), 0);
    assert_int_equal (fg_test_rmtree (other), 0);
}

static void
test_slowdown_bounds (void **state)
{
    (void) state;
    double bad [3] = { -1, 1001, 0.0 / 0.0 };
    for (int i = 0; i < 3; i++) {
        fg_trainer_args_t args = {
            .endpoint = "inproc://test-slowdown-none", .node_id = "x", .train = s_train, .threads = 1,
            .heartbeat_ms = 50, .liveness = 3, .slowdown = bad [i]
        };
        fg_error_t err;
        assert_null (fg_trainer_new (&args, &err));
        assert_int_equal (err.code, FG_EINVAL);
        assert_non_null (strstr (err.msg, "slowdown"));
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_slowdown_bounds),
        cmocka_unit_test (test_slowdown_same_bits_slower),
        cmocka_unit_test (test_slowdown_idle_serves),
        cmocka_unit_test (test_slowdown_long_batch_beats),
        cmocka_unit_test (test_slowdown_stop_keeps_checkpoint),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
