/*  test_fetch_texture.c — a trainer without the texture folder against a
    scripted coordinator (tests/fg_test_fetch.h), on a generated set of
    seeded PNG and JPEG images:
    - a TASK of the texture set without its texture words is refused;
    - the trainer asks the image table's pieces first, drops a piece whose
      label or size is not what it is promised to be (naming it) and asks
      again, then asks exactly the pieces of the images its shard's
      fragments use (two runs here), drops a short piece, stores the right
      pieces as they came and goes on to the weights;
    - a table that does not hash to the TASK's dataset hash ends the unit
      with an ERROR naming the mismatch, before any image is asked;
    - the coordinator (against a scripted trainer) sends the texture words,
      refuses pieces past the set, answers with the pieces' bytes as the
      files hold them, and counts the unit's budget in those bytes.      */

#include "fg_test_fetch.h"

#include "fg_config.h"
#include "fg_dataset.h"
#include "fg_file.h"
#include "fg_ops.h"
#include "fg_sample_cache.h"
#include "fg_test_image.h"
#include "fg_test_util.h"
#include "fg_texture.h"

#define S_ENDPOINT  "inproc://test-fetch-texture"

static char s_tmp [256];
static char s_root [300];
static const fg_texture_options_t s_opt = { { 128, 64, 2, 32, 512 }, 0, 1 << 30 };

static int
s_setup (void **state)
{
    (void) state;
    zsys_init ();
    zsys_set_logstream (NULL);
    if (fg_test_tmpdir ("fg-test-fetch-texture", s_tmp, sizeof s_tmp))
        return -1;
    snprintf (s_root, sizeof s_root, "%.200s/set", s_tmp);
    uint8_t *hwc = malloc ((size_t) 300 * 420 * 3);
    char path [600];
    for (uint32_t c = 0; hwc && c < 2; c++)
        for (uint32_t k = 0; k < 2; k++) {
            uint32_t w = 420 - 40 * c;             //  class 1's images are narrower
            snprintf (path, sizeof path, "%s/c%u", s_root, c);
            if (fg_file_mkdirs (path, NULL))
                return -1;
            fg_test_image_pattern (31 * c + k, 300, w, 3, hwc);
            snprintf (path, sizeof path, "%s/c%u/i%u.%s", s_root, c, k, k? "jpg": "png");
            if (k? fg_test_image_write_jpeg (path, hwc, 300, w, 3, 90)
                 : fg_test_image_write_png (path, hwc, 300, w, 3))
                return -1;
        }
    free (hwc);
    return hwc? 0: -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

typedef enum { GOOD, BAD_LABEL, SHORT } s_spoil_t;

//  Pieces [start, start + count) of set as a coordinator sends them, in one
//  DATA-CHUNK; the last piece spoiled as told.
static void
s_send_pieces (fetch_coord_t *c, const fg_dataset_t *set, const uint8_t *hash, uint32_t start,
               uint32_t count, s_spoil_t how)
{
    size_t cap = (size_t) count * (FG_TEXTURE_PIECE + FG_WIRE_SAMPLE_HEAD), used = 0;
    uint8_t *raw = malloc (cap), *piece = malloc (FG_TEXTURE_PIECE);
    assert_true (raw && piece);
    for (uint32_t k = start; k < start + count; k++) {
        fg_texture_piece_t info;
        uint32_t size;
        assert_int_equal (fg_dataset_texture_piece_info (set, k, &info), 0);
        assert_int_equal (fg_dataset_texture_piece (set, k, piece, &size, NULL), 0);
        uint16_t label = info.label;
        if (k + 1 == start + count && how == BAD_LABEL)
            label++;
        if (k + 1 == start + count && how == SHORT)
            size--;
        assert_int_equal (fg_wire_sample_put (raw, cap, &used, label, piece, size, NULL), 0);
    }
    fetch_send_data (c, 0, hash, start, count, 0, raw, used);
    free (raw);
    free (piece);
}

//  The TASK of the texture set with its texture words (or without them)
static void
s_send_task (fetch_coord_t *c, const fg_dataset_t *set, const uint8_t *hash,
             const fg_wire_range_t *shard, uint32_t n, bool words)
{
    const uint8_t *table;
    const fg_texture_geometry_t *g = &s_opt.geometry;
    fg_wire_geometry_t wg = { fg_dataset_classes (set), g->side, g->side, 3, g->fragment,
                              g->stride, g->rotations, g->contrast_q8,
                              (uint32_t) fg_dataset_texture_table (set, &table) };
    if (!words)
        memset (&wg.fragment, 0, 5 * sizeof (uint32_t));
    fetch_send_task (c, 0, shard, n, FG_DATASET_TEXTURE, hash, &wg);
}

//  Expects a message of type whose text (REJECT, ERROR) says why.
static void
s_expect_text (fetch_coord_t *c, int type, const char *why)
{
    fg_wire_msg_t msg;
    fetch_expect (c->router, &c->peer, &msg);
    assert_int_equal (msg.type, type);
    const char *text = type == FG_WIRE_REJECT? msg.reject.text: msg.error.text;
    if (!strstr (text, why))
        fail_msg ("text '%s' lacks '%s'", text, why);
    fg_wire_msg_clear (&msg);
}

static void
test_trainer_fetches_texture (void **state)
{
    (void) state;
    fg_error_t err;
    fg_dataset_t *set = NULL;
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &s_opt, &set, &err), 0);
    uint8_t hash [FG_SHA256_SIZE];
    fg_dataset_hash (set, hash);
    fetch_coord_t c;
    fetch_coord_bind (&c, S_ENDPOINT);
    char cache [400];
    snprintf (cache, sizeof cache, "%.200s/cache", s_tmp);
    fg_trainer_t *trainer = fetch_trainer (&c, S_ENDPOINT, cache);

    //  samples 0 and 1: images 0 and 2 (class 0, 420 wide: 30 fragments,
    //  visited before images 1 and 3, 380 wide: 24)
    fg_wire_range_t shard = { 0, 2 };
    s_send_task (&c, set, hash, &shard, 1, false);
    s_expect_text (&c, FG_WIRE_REJECT, "without its texture geometry");
    fetch_expect_type (&c, FG_WIRE_READY);

    s_send_task (&c, set, hash, &shard, 1, true);
    const uint8_t *table;
    uint32_t table_pieces = (uint32_t) fg_texture_pieces (fg_dataset_texture_table (set, &table));
    assert_int_equal (table_pieces, 1);
    fg_wire_range_t first = { 0, table_pieces };
    fetch_expect_request (&c, hash, &first, 1);
    s_send_pieces (&c, set, hash, 0, 1, BAD_LABEL);     //  dropped: asked again
    fetch_expect_request (&c, hash, &first, 1);
    s_send_pieces (&c, set, hash, 0, 1, GOOD);
    //  the pieces of images 0 and 2, two runs
    uint32_t indices [2] = { 0, 1 }, *runs;
    size_t nruns;
    uint64_t bytes;
    assert_int_equal (fg_dataset_texture_pieces_of (set, indices, 2, &runs, &nruns, &bytes, &err),
                      0);
    assert_int_equal (nruns, 2);
    fg_wire_range_t images [2] = { { runs [0], runs [1] }, { runs [2], runs [3] } };
    assert_true (images [0].count > 1);                 //  a PNG of several pieces
    fetch_expect_request (&c, hash, images, 2);
    s_send_pieces (&c, set, hash, images [0].start, images [0].count, GOOD);
    s_send_pieces (&c, set, hash, images [1].start, images [1].count, SHORT);
    fetch_expect_request (&c, hash, images, 2);
    s_send_pieces (&c, set, hash, images [0].start, 2, GOOD);   //  the first run in two
    s_send_pieces (&c, set, hash, images [0].start + 2, images [0].count - 2, GOOD);
    s_send_pieces (&c, set, hash, images [1].start, images [1].count, GOOD);
    fetch_expect_type (&c, FG_WIRE_WEIGHTS_REQUEST);
    fg_trainer_destroy (&trainer);
    fetch_expect_type (&c, FG_WIRE_BYE);

    //  the cache holds the pieces as they came: image 0's file, whole
    fg_sample_cache_t *samples = fg_sample_cache_open (cache, &err);
    assert_non_null (samples);
    uint8_t *got;
    size_t got_size;
    assert_int_equal (fg_sample_cache_load (samples, hash, images, 1, SIZE_MAX, &got, &got_size,
                                            &err), 0);
    fg_texture_piece_t info;
    assert_int_equal (fg_dataset_texture_piece_info (set, images [0].start, &info), 0);
    char path [600], *disk;
    size_t disk_size, at = 0;
    snprintf (path, sizeof path, "%s/%s", s_root, info.name);
    assert_int_equal (fg_file_read (path, 1 << 26, &disk, &disk_size, &err), 0);
    for (uint32_t k = 0; k < images [0].count; k++) {
        fg_wire_sample_t sample;
        assert_int_equal (fg_wire_sample_next (got, got_size, &at, &sample, &err), 0);
        assert_memory_equal (sample.bytes, disk + (size_t) k * FG_TEXTURE_PIECE, sample.size);
    }
    assert_int_equal (at, got_size);
    free (disk);
    free (got);
    fg_sample_cache_close (&samples);

    //  a table that is not the TASK's set (another hash): ERROR, no image asked
    trainer = fetch_trainer (&c, S_ENDPOINT, cache);
    uint8_t other [FG_SHA256_SIZE];
    memcpy (other, hash, sizeof other);
    other [0] ^= 1;
    s_send_task (&c, set, other, &shard, 1, true);
    fetch_expect_request (&c, other, &first, 1);
    s_send_pieces (&c, set, other, 0, 1, GOOD);
    s_expect_text (&c, FG_WIRE_ERROR, "does not hash to the TASK's dataset hash");
    fetch_expect_type (&c, FG_WIRE_READY);
    fg_trainer_destroy (&trainer);
    fetch_expect_type (&c, FG_WIRE_BYE);
    free (runs);
    fetch_coord_close (&c);
    fg_dataset_destroy (&set);
}

//  The coordinator of the texture set, against a scripted trainer: the
//  TASK carries the texture words and the table's size; pieces past the
//  set are refused; a request of the table and the shard's images is
//  answered with exactly their bytes, as the files hold them, in order;
//  the unit is served about 3 times those bytes, then refused (busy).
static void
test_coordinator_serves_texture (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_error_t err;
    fetch_config (&cfg, "texture", s_root);
    fg_dataset_t *train = NULL;
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &s_opt, &train, &err), 0);
    uint8_t hash [FG_SHA256_SIZE];
    fg_dataset_hash (train, hash);
    zsock_t *dealer;
    fg_coordinator_t *coordinator = fetch_coordinator (s_tmp, &cfg, train, train,
                                                       "test-fetch-texture-coord", &dealer);
    fg_wire_msg_t msg;
    uint64_t experiment = fetch_first_task (dealer, &msg);
    const fg_wire_geometry_t *g = &msg.task.geometry;
    const uint8_t *table;
    size_t table_size = fg_dataset_texture_table (train, &table);
    assert_true (msg.task.has_geometry && msg.task.has_texture);
    assert_true (g->classes == 2 && g->height == 32 && g->width == 32 && g->channels == 3);
    assert_true (g->fragment == 128 && g->stride == 64 && g->rotations == 2
              && g->contrast_q8 == 512 && g->table_size == table_size);
    uint32_t *indices, *runs;
    size_t n, nruns;
    uint64_t bytes;
    assert_int_equal (fg_wire_ranges_to_indices (msg.task.ranges, msg.task.range_count, &indices,
                                                 &n, &err), 0);
    fg_wire_msg_clear (&msg);
    assert_int_equal (fg_dataset_texture_pieces_of (train, indices, n, &runs, &nruns, &bytes,
                                                    &err), 0);
    //  what a trainer asks: the table's piece, then its images' runs
    fg_wire_range_t want [8] = { { 0, 1 } };
    assert_true (nruns < 8);
    for (size_t r = 0; r < nruns; r++)
        want [1 + r] = (fg_wire_range_t) { runs [2 * r], runs [2 * r + 1] };
    free (runs);
    free (indices);

    fg_wire_range_t past = { fg_dataset_texture_pieces (train) - 1, 2 };
    fetch_data_request (dealer, experiment, hash, &past, 1);
    fetch_expect_reject (dealer, FG_WIRE_REASON_OTHER, "pieces");
    fg_wire_limits_t limits = { (size_t) cfg.grid.max_frame, (size_t) cfg.grid.chunk_size };
    uint8_t *piece = malloc (FG_TEXTURE_PIECE);
    assert_non_null (piece);
    int served = 0;
    for (int round = 0; round < 5; round++) {
        fetch_data_request (dealer, experiment, hash, want, (uint32_t) (1 + nruns));
        //  the pieces in request order, each record the piece's label and bytes
        uint32_t r = 0, k = want [0].start;
        while (r <= nruns) {
            zsock_set_rcvtimeo (dealer, 5000);
            assert_int_equal (fg_wire_recv (dealer, NULL, &limits, &msg, &err), 0);
            if (msg.type != FG_WIRE_DATA_CHUNK)
                break;
            assert_int_equal (msg.data_chunk.start, k);
            size_t at = 0;
            for (uint32_t i = 0; i < msg.data_chunk.count; i++, k++) {
                fg_wire_sample_t sample;
                fg_texture_piece_t info;
                uint32_t size;
                assert_int_equal (fg_wire_sample_next (msg.data_chunk.samples,
                                                       msg.data_chunk.raw_size, &at, &sample,
                                                       &err), 0);
                assert_int_equal (fg_dataset_texture_piece_info (train, k, &info), 0);
                assert_int_equal (fg_dataset_texture_piece (train, k, piece, &size, &err), 0);
                assert_int_equal (sample.label, info.label);
                assert_int_equal (sample.size, size);
                assert_memory_equal (sample.bytes, piece, size);
            }
            fg_wire_msg_clear (&msg);
            if (k == want [r].start + want [r].count && ++r <= nruns)
                k = want [r].start;
        }
        if (msg.type == FG_WIRE_REJECT) {
            assert_int_equal (msg.reject.reason, FG_WIRE_REASON_BUSY);
            assert_non_null (strstr (msg.reject.text, "times its samples' bytes"));
            fg_wire_msg_clear (&msg);
            break;
        }
        assert_int_equal (r, nruns + 1);
        served++;
    }
    //  3 times the table and the images' bytes (LZ4 may save a little: 4)
    assert_true (served == 3 || served == 4);
    free (piece);
    zsock_destroy (&dealer);
    fg_coordinator_destroy (&coordinator);
    fg_dataset_destroy (&train);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_trainer_fetches_texture),
        cmocka_unit_test (test_coordinator_serves_texture),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
