/*  test_fetch_files.c — the stored files of file-backed sets over the wire
    (DATA-REQUEST / DATA-CHUNK of variable records), on a Tiny-ImageNet
    layout of real JPEGs and a folder of JPEGs and PNGs of other shapes
    (tests/fg_test_layouts.h):
    - a shard's files through the wire's variable records, the sample
      cache and fg_dataset_from_stored train a unit to the same bits as
      the whole set (Tiny-ImageNet at 64, the folder fit to 32);
    - the trainer (against a scripted coordinator) refuses a TASK whose
      geometry does not fit its kind, drops files with a bad label or sent
      as fixed records, stores the right files as they came, and asks half
      as many files on a busy "too much at once", down to one;
    - the coordinator (against a scripted trainer) sends the set's geometry
      in the TASK, answers with the files themselves in several chunks,
      refuses too many at once (busy) and counts the budget in the files'
      bytes.                                                              */

#include "fg_test_fetch.h"

#include "fg_model.h"
#include "fg_ops.h"
#include "fg_sample_cache.h"
#include "fg_test_layouts.h"
#include "fg_test_util.h"
#include "fg_unit.h"

static char s_tmp [256];
static char s_tiny [160];               //  a Tiny-ImageNet layout: 4 classes x 15
static char s_folder [160];             //  a folder of images: 3 classes x 12

static int
s_setup (void **state)
{
    (void) state;
    zsys_init ();
    zsys_set_logstream (NULL);
    if (fg_test_tmpdir ("fg-test-fetch-files", s_tmp, sizeof s_tmp))
        return -1;
    snprintf (s_tiny, sizeof s_tiny, "%.150s/tiny", s_tmp);
    snprintf (s_folder, sizeof s_folder, "%.150s/folder", s_tmp);
    if (fg_test_tiny_write (s_tiny, 4, 15, 2, 11) || fg_test_folder_write (s_folder, 3, 12, 2, 23))
        return -1;
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

typedef enum { GOOD, BAD_RECORD_SIZE, BAD_LABEL } s_spoil_t;

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

//  A DATA-CHUNK of the files of samples [start, start + count) of set
//  (hash), spoiled as `how` says (BAD_LABEL: the last one's label is the
//  class count; BAD_RECORD_SIZE: fixed records instead).
static void
s_send_files (fetch_coord_t *c, const fg_dataset_t *set, const uint8_t *hash, uint32_t start,
              uint32_t count, s_spoil_t how)
{
    uint32_t indices [64];
    for (uint32_t i = 0; i < count; i++)
        indices [i] = start + i;
    size_t raw_size;
    uint8_t *raw = s_stored_records (set, indices, count, &raw_size);
    uint32_t record_size = 0;
    if (how == BAD_LABEL) {
        size_t at = 0;
        fg_wire_sample_t sample;
        for (uint32_t i = 0; i + 1 < count; i++)
            assert_int_equal (fg_wire_sample_next (raw, raw_size, &at, &sample, NULL), 0);
        raw [at] = (uint8_t) fg_dataset_classes (set);
    }
    if (how == BAD_RECORD_SIZE) {
        record_size = (uint32_t) (raw_size / count);
        raw_size = (size_t) record_size * count;
    }
    fetch_send_data (c, 0, hash, start, count, record_size, raw, raw_size);
    free (raw);
}

//  A REJECT of the DATA-REQUEST about round 1 shard 0, reason busy.
static void
s_send_busy (fetch_coord_t *c)
{
    fg_wire_msg_t msg;
    fg_wire_msg_reply (&msg, FG_WIRE_REJECT, NULL);
    msg.round = 1;
    msg.attempt = 1;
    msg.reject.of_type = FG_WIRE_DATA_REQUEST;
    msg.reject.reason = FG_WIRE_REASON_BUSY;
    snprintf (msg.reject.text, sizeof msg.reject.text, "too much at once");
    fetch_send_to (c, &msg);
}

//  Expects the REJECT of the TASK (given up for good) naming why, then READY.
static void
s_expect_task_refused (fetch_coord_t *c, const char *why)
{
    fg_wire_msg_t msg;
    fetch_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, FG_WIRE_REJECT);
    assert_int_equal (msg.reject.of_type, FG_WIRE_TASK);
    if (!strstr (msg.reject.text, why))
        fail_msg ("REJECT text '%s' lacks '%s'", msg.reject.text, why);
    fg_wire_msg_clear (&msg);
    fetch_expect_type (c, FG_WIRE_READY);
}

//  The trainer side of stored files, against the scripted coordinator: a
//  TASK of a file-backed set without its geometry (or a geometry for an
//  in-memory set) is refused; files with a label past the geometry's
//  classes or as fixed records are dropped and asked again; the right
//  files are stored as they came; a busy "too much at once" halves the
//  window, down to one file, then the unit is given up.
static void
test_trainer_fetches_files (void **state)
{
    (void) state;
    fg_error_t err;
    fg_dataset_t *tiny = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, s_tiny, FG_SPLIT_TRAIN, 0, &tiny,
                                       &err), 0);
    uint8_t hash [FG_SHA256_SIZE];
    fg_dataset_hash (tiny, hash);
    fg_wire_geometry_t g = { .classes = 4, .height = 64, .width = 64, .channels = 3 };
    fetch_coord_t c;
    fetch_coord_bind (&c, "inproc://test-fetch-files-trainer");
    char cache [300];
    snprintf (cache, sizeof cache, "%.200s/files-trainer", s_tmp);
    fg_trainer_t *trainer = fetch_trainer (&c, "inproc://test-fetch-files-trainer", cache);

    fg_wire_range_t shard [2] = { { 0, 10 }, { 20, 4 } };
    fetch_send_task (&c, 0, shard, 2, FG_DATASET_TINY_IMAGENET, hash, NULL);
    s_expect_task_refused (&c, "without its geometry");
    fetch_send_task (&c, 0, shard, 2, FG_DATASET_SYNTHETIC, hash, &g);
    s_expect_task_refused (&c, "with a geometry");

    fetch_send_task (&c, 0, shard, 2, FG_DATASET_TINY_IMAGENET, hash, &g);
    fetch_expect_request (&c, hash, shard, 2);
    s_send_files (&c, tiny, hash, 0, 10, GOOD);
    s_send_files (&c, tiny, hash, 20, 4, BAD_LABEL);
    fetch_expect_request (&c, hash, shard, 2);
    s_send_files (&c, tiny, hash, 0, 10, GOOD);
    s_send_files (&c, tiny, hash, 20, 4, BAD_RECORD_SIZE);
    fetch_expect_request (&c, hash, shard, 2);
    //  the right files, the first range in two chunks
    s_send_files (&c, tiny, hash, 0, 3, GOOD);
    s_send_files (&c, tiny, hash, 3, 7, GOOD);
    s_send_files (&c, tiny, hash, 20, 4, GOOD);
    fetch_expect_type (&c, FG_WIRE_WEIGHTS_REQUEST);
    fg_trainer_destroy (&trainer);
    fetch_expect_type (&c, FG_WIRE_BYE);
    fg_sample_cache_t *samples = fg_sample_cache_open (cache, &err);
    assert_non_null (samples);
    uint8_t *got;
    size_t got_size, want_size;
    assert_int_equal (fg_sample_cache_load (samples, hash, shard, 2, SIZE_MAX, &got, &got_size,
                                            &err), 0);
    uint32_t which [14] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 21, 22, 23 };
    uint8_t *want = s_stored_records (tiny, which, 14, &want_size);
    assert_int_equal (got_size, want_size);
    assert_memory_equal (got, want, want_size);
    free (got);
    free (want);
    fg_sample_cache_close (&samples);

    //  busy: half as many files each time, then the unit is given up
    trainer = fetch_trainer (&c, "inproc://test-fetch-files-trainer", cache);
    fg_wire_range_t rest = { 30, 30 };
    fetch_send_task (&c, 0, &rest, 1, FG_DATASET_TINY_IMAGENET, hash, &g);
    //  (a fresh trainer asks 64 files at first: 30 here, then 32 -> 30)
    uint32_t asks [7] = { 30, 30, 16, 8, 4, 2, 1 };
    for (int i = 0; i < 7; i++) {
        fg_wire_range_t window = { 30, asks [i] };
        fetch_expect_request (&c, hash, &window, 1);
        s_send_busy (&c);
    }
    s_expect_task_refused (&c, "too much at once");
    fg_trainer_destroy (&trainer);
    fetch_expect_type (&c, FG_WIRE_BYE);
    fetch_coord_close (&c);
    fg_dataset_destroy (&tiny);
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
    fetch_config (&cfg, "tiny-imagenet", s_tiny);
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
    fg_coordinator_t *coordinator = fetch_coordinator (s_tmp, &cfg, train, test, "test-fetch-files",
                                                   &dealer);
    fg_wire_msg_t msg;
    uint64_t experiment = fetch_first_task (dealer, &msg);
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
    fetch_data_request (dealer, experiment, hash, &all, 1);
    fetch_expect_reject (dealer, FG_WIRE_REASON_BUSY, "too much at once");
    //  the shard, three times: its files, in order, in several chunks
    fg_wire_limits_t limits = { 65536, (size_t) cfg.grid.chunk_size };
    int served = 0;
    for (int round = 0; round < 5; round++) {
        fetch_data_request (dealer, experiment, hash, ranges, nranges);
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
        cmocka_unit_test (test_stored_same_bits),
        cmocka_unit_test (test_trainer_fetches_files),
        cmocka_unit_test (test_coordinator_serves_files),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
