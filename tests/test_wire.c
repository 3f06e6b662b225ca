/*  test_wire.c — tests of the wire codec (lib/fg_wire.c).

    Known answers (a frozen SHA-256 of the frames of one message of every
    type: the wire bytes do not change); round trip of every message type
    with every field set; every rejection path of the decoder and the
    encoder, with the error code and the field/offset named in the
    message; truncation of every frame at every byte (decoded under ASan
    from exact-size copies: an over-read is a crash); ranges from and to a shard's indices; LZ4 data chunks; send/recv through real
    inproc PAIR and ROUTER/DEALER sockets.

    `test_wire --corpus DIR` writes the fuzz seed corpus (one file per
    message type, in the input format of fuzz/fuzz_wire.c) and exits.    */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <lz4.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fg_sha256.h"
#include "fg_wire_socket.h"
#include "../fuzz/fuzz_frames.h"

//  --------------------------------------------------------------------------
//  A sample of every type, every field set to something non-default

static fg_wire_range_t s_ranges [] = {
    { 0, 5 }, { 7, 1 }, { 100, 250 }, { 4000000000u, 294967296u - 1 }
};
static uint8_t s_blob [3000];
static float s_loss [] = { 2.302f, 1.75f, 1.0e-3f, -0.0f, NAN, INFINITY };
static uint8_t s_raw [4 * 785];         //  4 records of 785 bytes
static uint8_t *s_lz4;
static size_t s_lz4_size;

static void
s_fill (uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p [i] = (uint8_t) (seed + i * 7 + (i >> 5));
}

static void
s_init_data (void)
{
    s_fill (s_blob, sizeof s_blob, 3);
    for (size_t i = 0; i < sizeof s_raw; i++)
        s_raw [i] = (uint8_t) (i % 785 < 100? 0: i * 13);
    if (!s_lz4) {
        fg_error_t err;
        int rc = fg_wire_data_pack (s_raw, sizeof s_raw, &s_lz4, &s_lz4_size, &err);
        assert_int_equal (rc, 0);
    }
}

static void
s_sample (int type, fg_wire_msg_t *m)
{
    memset (m, 0, sizeof *m);
    m->type = type;
    m->experiment = 0x1122334455667788ull;
    m->round = 17;
    m->shard = 42;
    m->attempt = 3;
    switch (type) {
        case FG_WIRE_HELLO:
            m->hello.proto_min = 1;
            m->hello.proto_max = 1;
            m->hello.cores = 8;
            m->hello.speed = 1234.5;
            strcpy (m->hello.node_id, "node-7.grid.example:~");
            strcpy (m->hello.kernel, "0.9.0 haswell");
            m->hello.dataset_count = 3;
            for (int i = 0; i < 3; i++)
                s_fill (m->hello.datasets [i], FG_WIRE_HASH_SIZE, (uint8_t) (i + 1));
            break;
        case FG_WIRE_READY:
            m->ready.slots = 2;
            break;
        case FG_WIRE_TASK:
            m->task.weights_version = 16;
            m->task.weights_size = sizeof s_blob;
            s_fill (m->task.weights_hash, FG_WIRE_HASH_SIZE, 9);
            m->task.seed = 0xdeadbeefcafef00dull;
            m->task.local_epochs = 5;
            m->task.batch_size = 10;
            m->task.lr = 0.01;
            m->task.momentum = 0.9;
            m->task.weight_decay = 5e-4;
            m->task.nesterov = true;
            m->task.augment = true;
            m->task.model = 1;
            m->task.dataset = 2;
            s_fill (m->task.dataset_hash, FG_WIRE_HASH_SIZE, 77);
            m->task.deadline_ms = 60000;
            m->task.range_count = 4;
            m->task.ranges = s_ranges;
            m->task.sample_count = 5 + 1 + 250 + 294967295ull;
            break;
        case FG_WIRE_WEIGHTS_REQUEST:
            m->weights_request.blob = FG_WIRE_BLOB_UPDATE;
            m->weights_request.version = 16;
            m->weights_request.offset = 1024;
            m->weights_request.credit = 4;
            m->weights_request.chunk_size = 1024;
            break;
        case FG_WIRE_WEIGHTS_CHUNK:
            m->weights_chunk.blob = FG_WIRE_BLOB_GLOBAL;
            m->weights_chunk.version = 16;
            m->weights_chunk.offset = 1000;
            m->weights_chunk.total = 5000000000ull;
            s_fill (m->weights_chunk.hash, FG_WIRE_HASH_SIZE, 5);
            m->weights_chunk.size = sizeof s_blob;
            m->weights_chunk.data = s_blob;
            break;
        case FG_WIRE_DATA_REQUEST:
            s_fill (m->data_request.dataset_hash, FG_WIRE_HASH_SIZE, 77);
            m->data_request.range_count = 3;
            m->data_request.ranges = s_ranges;
            m->data_request.sample_count = 256;
            break;
        case FG_WIRE_DATA_CHUNK:
            s_fill (m->data_chunk.dataset_hash, FG_WIRE_HASH_SIZE, 77);
            m->data_chunk.start = 100;
            m->data_chunk.count = 4;
            m->data_chunk.record_size = 785;
            m->data_chunk.raw_size = sizeof s_raw;
            m->data_chunk.lz4 = s_lz4;
            m->data_chunk.lz4_size = s_lz4_size;
            break;
        case FG_WIRE_RESULT:
            m->result.weights_version = 16;
            m->result.sample_count = 5000;
            m->result.elapsed_ms = 93211;
            m->result.loss_count = 6;
            m->result.loss = s_loss;
            m->result.update_size = 100000;
            s_fill (m->result.update_hash, FG_WIRE_HASH_SIZE, 11);
            m->result.prefix_size = 2048;
            m->result.prefix = s_blob;
            break;
        case FG_WIRE_ACK:
            m->ack.of_type = FG_WIRE_RESULT;
            break;
        case FG_WIRE_REJECT:
            m->reject.of_type = FG_WIRE_RESULT;
            m->reject.reason = FG_WIRE_REASON_NUMERIC;
            strcpy (m->reject.text, "update has NaN at tensor 'features.0.weight' \xc3\xa9");
            break;
        case FG_WIRE_ERROR:
            m->error.code = FG_ENOENT;
            strcpy (m->error.text, "dataset not found: /srv/data/cifar10");
            break;
        default:
            break;
    }
}

//  Field-by-field equality (not through the codec).
static void
s_assert_equal (const fg_wire_msg_t *a, const fg_wire_msg_t *b)
{
    assert_int_equal (a->type, b->type);
    assert_true (a->experiment == b->experiment);
    assert_int_equal (a->round, b->round);
    assert_int_equal (a->shard, b->shard);
    assert_int_equal (a->attempt, b->attempt);
    switch (a->type) {
        case FG_WIRE_HELLO: {
            const fg_wire_hello_t *x = &a->hello, *y = &b->hello;
            assert_int_equal (x->proto_min, y->proto_min);
            assert_int_equal (x->proto_max, y->proto_max);
            assert_int_equal (x->cores, y->cores);
            assert_memory_equal (&x->speed, &y->speed, sizeof x->speed);
            assert_string_equal (x->node_id, y->node_id);
            assert_string_equal (x->kernel, y->kernel);
            assert_int_equal (x->dataset_count, y->dataset_count);
            assert_memory_equal (x->datasets, y->datasets,
                                 x->dataset_count * FG_WIRE_HASH_SIZE);
            break;
        }
        case FG_WIRE_READY:
            assert_int_equal (a->ready.slots, b->ready.slots);
            break;
        case FG_WIRE_TASK: {
            const fg_wire_task_t *x = &a->task, *y = &b->task;
            assert_true (x->weights_version == y->weights_version);
            assert_true (x->weights_size == y->weights_size);
            assert_memory_equal (x->weights_hash, y->weights_hash, FG_WIRE_HASH_SIZE);
            assert_true (x->seed == y->seed);
            assert_int_equal (x->local_epochs, y->local_epochs);
            assert_int_equal (x->batch_size, y->batch_size);
            assert_memory_equal (&x->lr, &y->lr, sizeof x->lr);
            assert_memory_equal (&x->momentum, &y->momentum, sizeof x->momentum);
            assert_memory_equal (&x->weight_decay, &y->weight_decay, sizeof x->weight_decay);
            assert_int_equal (x->nesterov, y->nesterov);
            assert_int_equal (x->augment, y->augment);
            assert_int_equal (x->model, y->model);
            assert_int_equal (x->dataset, y->dataset);
            assert_memory_equal (x->dataset_hash, y->dataset_hash, FG_WIRE_HASH_SIZE);
            assert_int_equal (x->deadline_ms, y->deadline_ms);
            assert_true (x->sample_count == y->sample_count);
            assert_int_equal (x->range_count, y->range_count);
            for (uint32_t i = 0; i < x->range_count; i++) {
                assert_int_equal (x->ranges [i].start, y->ranges [i].start);
                assert_int_equal (x->ranges [i].count, y->ranges [i].count);
            }
            break;
        }
        case FG_WIRE_WEIGHTS_REQUEST: {
            const fg_wire_weights_request_t *x = &a->weights_request, *y = &b->weights_request;
            assert_int_equal (x->blob, y->blob);
            assert_true (x->version == y->version);
            assert_true (x->offset == y->offset);
            assert_int_equal (x->credit, y->credit);
            assert_int_equal (x->chunk_size, y->chunk_size);
            break;
        }
        case FG_WIRE_WEIGHTS_CHUNK: {
            const fg_wire_weights_chunk_t *x = &a->weights_chunk, *y = &b->weights_chunk;
            assert_int_equal (x->blob, y->blob);
            assert_true (x->version == y->version);
            assert_true (x->offset == y->offset);
            assert_true (x->total == y->total);
            assert_memory_equal (x->hash, y->hash, FG_WIRE_HASH_SIZE);
            assert_int_equal (x->size, y->size);
            if (x->size)
                assert_memory_equal (x->data, y->data, x->size);
            break;
        }
        case FG_WIRE_DATA_REQUEST: {
            const fg_wire_data_request_t *x = &a->data_request, *y = &b->data_request;
            assert_memory_equal (x->dataset_hash, y->dataset_hash, FG_WIRE_HASH_SIZE);
            assert_true (x->sample_count == y->sample_count);
            assert_int_equal (x->range_count, y->range_count);
            assert_memory_equal (x->ranges, y->ranges, x->range_count * sizeof *x->ranges);
            break;
        }
        case FG_WIRE_DATA_CHUNK: {
            const fg_wire_data_chunk_t *x = &a->data_chunk, *y = &b->data_chunk;
            assert_memory_equal (x->dataset_hash, y->dataset_hash, FG_WIRE_HASH_SIZE);
            assert_int_equal (x->start, y->start);
            assert_int_equal (x->count, y->count);
            assert_int_equal (x->record_size, y->record_size);
            assert_true (x->raw_size == y->raw_size);
            assert_int_equal (x->lz4_size, y->lz4_size);
            assert_memory_equal (x->lz4, y->lz4, x->lz4_size);
            break;
        }
        case FG_WIRE_RESULT: {
            const fg_wire_result_t *x = &a->result, *y = &b->result;
            assert_true (x->weights_version == y->weights_version);
            assert_true (x->sample_count == y->sample_count);
            assert_int_equal (x->elapsed_ms, y->elapsed_ms);
            assert_int_equal (x->loss_count, y->loss_count);
            //  bits, so NaN and -0 count
            assert_memory_equal (x->loss, y->loss, x->loss_count * sizeof (float));
            assert_true (x->update_size == y->update_size);
            assert_memory_equal (x->update_hash, y->update_hash, FG_WIRE_HASH_SIZE);
            assert_int_equal (x->prefix_size, y->prefix_size);
            assert_memory_equal (x->prefix, y->prefix, x->prefix_size);
            break;
        }
        case FG_WIRE_ACK:
            assert_int_equal (a->ack.of_type, b->ack.of_type);
            break;
        case FG_WIRE_REJECT:
            assert_int_equal (a->reject.of_type, b->reject.of_type);
            assert_int_equal (a->reject.reason, b->reject.reason);
            assert_string_equal (a->reject.text, b->reject.text);
            break;
        case FG_WIRE_ERROR:
            assert_int_equal (a->error.code, b->error.code);
            assert_string_equal (a->error.text, b->error.text);
            break;
        default:
            break;
    }
}


//  --------------------------------------------------------------------------
//  Mutable copies of encoded frames: each frame in its own exact-size
//  heap block, so ASan sees any read past its end.

typedef struct {
    size_t   count;
    uint8_t *data [FG_WIRE_FRAMES_MAX + 2];
    size_t   size [FG_WIRE_FRAMES_MAX + 2];
} s_frames_t;

static void
s_copy (s_frames_t *c, const fg_wire_frames_t *f)
{
    memset (c, 0, sizeof *c);
    c->count = f->count;
    for (size_t i = 0; i < f->count; i++) {
        c->size [i] = f->frame [i].size;
        c->data [i] = malloc (c->size [i]? c->size [i]: 1);
        assert_non_null (c->data [i]);
        if (c->size [i])
            memcpy (c->data [i], f->frame [i].data, c->size [i]);
    }
}

static void
s_free (s_frames_t *c)
{
    for (size_t i = 0; i < FG_WIRE_FRAMES_MAX + 2; i++)
        free (c->data [i]);
    memset (c, 0, sizeof *c);
}

static void
s_encode_copy (int type, s_frames_t *c)
{
    fg_wire_msg_t m;
    s_sample (type, &m);
    fg_wire_frames_t f;
    fg_error_t err;
    int rc = fg_wire_encode (&m, NULL, &f, &err);
    if (rc)
        fail_msg ("%s", err.msg);
    s_copy (c, &f);
    fg_wire_frames_clear (&f);
}

static void
s_put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p [i] = (uint8_t) (v >> (8 * i));
}

static void
s_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p [i] = (uint8_t) (v >> (8 * i));
}

//  Recomputes the header's payload length and checksum (an independent
//  implementation of docs/protocol.md §checksum).
static void
s_fix (s_frames_t *c)
{
    if (c->count < 1 || c->size [0] < FG_WIRE_HEADER_SIZE)
        return;
    uint64_t payload = 0;
    for (size_t i = 1; i < c->count; i++)
        payload += c->size [i];
    s_put64 (c->data [0] + 28, payload);
    uLong crc = crc32 (0L, c->data [0], 36);
    for (size_t i = 1; i < c->count; i++)
        crc = crc32 (crc, c->data [i], (uInt) c->size [i]);
    s_put32 (c->data [0] + 36, (uint32_t) crc);
}

static int
s_decode (const s_frames_t *c, const fg_wire_limits_t *lim, fg_wire_msg_t *m,
          fg_error_t *err)
{
    fg_wire_frame_t frames [FG_WIRE_FRAMES_MAX + 2];
    for (size_t i = 0; i < c->count; i++)
        frames [i] = (fg_wire_frame_t) { c->data [i], c->size [i] };
    return fg_wire_decode (frames, c->count, lim, m, err);
}

//  Decodes c and expects code, with every needle in the message.
static void
s_expect (const s_frames_t *c, const fg_wire_limits_t *lim, int code, ...)
{
    fg_wire_msg_t m;
    fg_error_t err;
    fg_error_clear (&err);
    int rc = s_decode (c, lim, &m, &err);
    if (rc != code)
        fail_msg ("expected %s, got %d (%s): %s", fg_strerror (code), rc,
                  fg_strerror (rc), err.msg);
    assert_int_equal (err.code, code);
    va_list args;
    va_start (args, code);
    const char *needle;
    while ((needle = va_arg (args, const char *)))
        if (!strstr (err.msg, needle))
            fail_msg ("'%s' not in: %s", needle, err.msg);
    va_end (args);
    if (code == 0) {
        fg_wire_msg_clear (&m);
        return;
    }
    //  a failed decode leaves an empty message
    assert_int_equal (m.type, 0);
    assert_null (m.storage_);
}


//  --------------------------------------------------------------------------
//  Tests

static void
test_type_names (void **state)
{
    assert_string_equal (fg_wire_type_name (FG_WIRE_HELLO), "HELLO");
    assert_string_equal (fg_wire_type_name (FG_WIRE_WEIGHTS_CHUNK), "WEIGHTS-CHUNK");
    assert_string_equal (fg_wire_type_name (FG_WIRE_DATA_REQUEST), "DATA-REQUEST");
    assert_string_equal (fg_wire_type_name (FG_WIRE_BYE), "BYE");
    assert_string_equal (fg_wire_type_name (0), "unknown");
    assert_string_equal (fg_wire_type_name (FG_WIRE_TYPE_MAX + 1), "unknown");
    assert_string_equal (fg_wire_type_name (-5), "unknown");
    assert_string_equal (fg_wire_reason_name (FG_WIRE_REASON_STALE), "stale");
    assert_string_equal (fg_wire_reason_name (FG_WIRE_REASON_MAX + 1), "unknown");
}

static void
test_round_trip (void **state)
{
    for (int type = 1; type <= FG_WIRE_TYPE_MAX; type++) {
        fg_wire_msg_t in, out;
        fg_wire_frames_t f, g;
        fg_error_t err;
        s_sample (type, &in);
        assert_int_equal (fg_wire_encode (&in, NULL, &f, &err), 0);
        assert_memory_equal (f.frame [0].data, FG_WIRE_MAGIC, 4);
        assert_int_equal (f.frame [0].size, FG_WIRE_HEADER_SIZE);
        if (fg_wire_decode (f.frame, f.count, NULL, &out, &err))
            fail_msg ("%s: %s", fg_wire_type_name (type), err.msg);
        s_assert_equal (&in, &out);
        //  decoded memory is the message's own
        if (type == FG_WIRE_WEIGHTS_CHUNK)
            assert_ptr_not_equal (out.weights_chunk.data, in.weights_chunk.data);
        if (type == FG_WIRE_DATA_CHUNK) {
            assert_non_null (out.data_chunk.samples);
            assert_memory_equal (out.data_chunk.samples, s_raw, sizeof s_raw);
        }
        //  re-encoding gives the same bytes
        assert_int_equal (fg_wire_encode (&out, NULL, &g, &err), 0);
        assert_int_equal (f.count, g.count);
        for (size_t i = 0; i < f.count; i++) {
            assert_int_equal (f.frame [i].size, g.frame [i].size);
            if (f.frame [i].size)
                assert_memory_equal (f.frame [i].data, g.frame [i].data, f.frame [i].size);
        }
        fg_wire_frames_clear (&f);
        fg_wire_frames_clear (&g);
        fg_wire_msg_clear (&out);
        assert_int_equal (out.type, 0);
        assert_null (out.storage_);
    }
}

//  Known answers: one message of every type with the fixed values of
//  s_sample, hashed with SHA-256 over (u32le frame count, then per frame
//  u32le size and bytes). The digests were computed on the codec before
//  it was rewritten as one table (issue 10): a failure here is a change
//  of the bytes on the wire. DATA-CHUNK carries a hand-made LZ4 block
//  (one literal run of 20 bytes), not the compressor's output, so the
//  answer does not depend on the LZ4 library's version.
static const uint8_t s_kat_lz4 [] = {
    0xf0, 0x05,                         //  15 + 5 literals, no match
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20
};

static const char *s_kat_digest [FG_WIRE_TYPE_MAX + 1] = {
    NULL,
    "c6b3f66a07716386b2eb64f3fe9f8129e9404f09e234f42620eff454163141ef",    //  HELLO
    "fa78c4fbedd70b91860baa4683446aadc7b74a7ba98120fdb94e64bc4f5b8f74",    //  READY
    "2641e90825d208fe5cc2fea08905c3b2d78db5583568338f41d84e4cbf95c6fd",    //  HEARTBEAT
    "a6d78e57cc34cfcd3ec5249c6f8d8d38577c3a9bcd7c0b9e612b2c47a70cb039",    //  TASK
    "12ebfd6b5821ee2e80d3d75c0b80b30164055d18c4cfea7bc32795f4ab5be4b8",    //  WEIGHTS-REQUEST
    "a706ff440397f622b10644e9c44660e3e63fe46df9d473d7c5e5737e12adcdbf",    //  WEIGHTS-CHUNK
    "625deee0e24e38d0ebc4dd9fc623509506a33f494e2ffaa6ec0cdb519ec4c529",    //  DATA-REQUEST
    "449173615e854bc269bfd3937fef70e92c206aeb5f6f99111c7086fa39362e7a",    //  DATA-CHUNK
    "f455d9098434f464168c6ac6f1c96bc224492975d5ca748f37e6369d1aa02307",    //  RESULT
    "aa828e685a350195d28d70235e7fb7bed46545adb0c9cec64852f3e1fe6dfc02",    //  ACK
    "c412b2205735a57080f8e122285a7813736467d38bc2bad5ecd50f00a503d430",    //  REJECT
    "4c5ce44d86fc5765921d3ee70c810a054be17b73e541850a562804c1d9c0f616",    //  ERROR
    "b79133ec5f2360ba1e077e0da64e64c105352c141d29ce4f5e9566c537bdf1ec"     //  BYE
};

static void
s_kat_sample (int type, fg_wire_msg_t *m)
{
    s_sample (type, m);
    if (type == FG_WIRE_DATA_CHUNK) {
        m->data_chunk.count = 4;
        m->data_chunk.record_size = 5;
        m->data_chunk.raw_size = 20;
        m->data_chunk.lz4 = s_kat_lz4;
        m->data_chunk.lz4_size = sizeof s_kat_lz4;
    }
}

static void
s_frames_digest (const fg_wire_frames_t *f, char hex [FG_SHA256_HEX_SIZE])
{
    fg_sha256_t sha;
    fg_sha256_init (&sha);
    uint8_t word [4];
    s_put32 (word, (uint32_t) f->count);
    fg_sha256_update (&sha, word, 4);
    for (size_t i = 0; i < f->count; i++) {
        s_put32 (word, (uint32_t) f->frame [i].size);
        fg_sha256_update (&sha, word, 4);
        if (f->frame [i].size)
            fg_sha256_update (&sha, f->frame [i].data, f->frame [i].size);
    }
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256_final (&sha, digest);
    fg_sha256_hex (digest, hex);
}

static void
test_known_answers (void **state)
{
    int wrong = 0;
    for (int type = 1; type <= FG_WIRE_TYPE_MAX; type++) {
        fg_wire_msg_t in, out;
        fg_wire_frames_t f;
        fg_error_t err;
        s_kat_sample (type, &in);
        if (fg_wire_encode (&in, NULL, &f, &err))
            fail_msg ("%s: %s", fg_wire_type_name (type), err.msg);
        char hex [FG_SHA256_HEX_SIZE];
        s_frames_digest (&f, hex);
        if (strcmp (hex, s_kat_digest [type]) != 0) {
            print_error ("%s: frames hash to %s, expected %s\n",
                         fg_wire_type_name (type), hex, s_kat_digest [type]);
            wrong++;
        }
        //  and they decode to the message they came from
        if (fg_wire_decode (f.frame, f.count, NULL, &out, &err))
            fail_msg ("%s: %s", fg_wire_type_name (type), err.msg);
        s_assert_equal (&in, &out);
        if (type == FG_WIRE_DATA_CHUNK)
            assert_memory_equal (out.data_chunk.samples, s_kat_lz4 + 2, 20);
        fg_wire_msg_clear (&out);
        fg_wire_frames_clear (&f);
    }
    assert_int_equal (wrong, 0);
}

static void
test_round_trip_edges (void **state)
{
    fg_wire_msg_t in, out;
    fg_wire_frames_t f;
    fg_error_t err;
    //  empty blob: one empty chunk; empty prefix and loss curve; no datasets
    s_sample (FG_WIRE_WEIGHTS_CHUNK, &in);
    in.weights_chunk.total = 0;
    in.weights_chunk.offset = 0;
    in.weights_chunk.size = 0;
    in.weights_chunk.data = NULL;
    assert_int_equal (fg_wire_encode (&in, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    s_assert_equal (&in, &out);
    assert_null (out.weights_chunk.data);
    fg_wire_frames_clear (&f);
    fg_wire_msg_clear (&out);

    s_sample (FG_WIRE_RESULT, &in);
    in.result.loss_count = 0;
    in.result.loss = NULL;
    in.result.prefix_size = 0;
    in.result.prefix = NULL;
    assert_int_equal (fg_wire_encode (&in, NULL, &f, &err), 0);
    assert_int_equal (f.count, 4);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    s_assert_equal (&in, &out);
    fg_wire_frames_clear (&f);
    fg_wire_msg_clear (&out);

    //  extreme values: whole 2^32 index space, 64-bit maxima, longest strings
    s_sample (FG_WIRE_HELLO, &in);
    memset (in.hello.node_id, '~', FG_WIRE_NAME_MAX);
    memset (in.hello.kernel, ' ', FG_WIRE_NAME_MAX);
    in.hello.dataset_count = FG_WIRE_DATASETS_MAX;
    in.hello.cores = FG_WIRE_CORES_MAX;
    in.hello.proto_max = 65535;
    in.experiment = UINT64_MAX;
    in.round = in.shard = in.attempt = UINT32_MAX;
    assert_int_equal (fg_wire_encode (&in, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    s_assert_equal (&in, &out);
    fg_wire_frames_clear (&f);
    fg_wire_msg_clear (&out);

    fg_wire_range_t all [2] = { { 0, UINT32_MAX }, { UINT32_MAX, 1 } };
    s_sample (FG_WIRE_DATA_REQUEST, &in);
    in.data_request.ranges = all;
    in.data_request.range_count = 2;
    in.data_request.sample_count = (uint64_t) 1 << 32;
    assert_int_equal (fg_wire_encode (&in, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    s_assert_equal (&in, &out);
    fg_wire_frames_clear (&f);
    fg_wire_msg_clear (&out);

    s_sample (FG_WIRE_REJECT, &in);
    memset (in.reject.text, 'x', FG_WIRE_TEXT_MAX);
    assert_int_equal (fg_wire_encode (&in, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    s_assert_equal (&in, &out);
    fg_wire_frames_clear (&f);
    fg_wire_msg_clear (&out);

    //  clearing a hand-built message frees nothing; NULL-safe
    fg_wire_msg_clear (&in);
    fg_wire_msg_clear (NULL);
    fg_wire_frames_clear (NULL);
}

//  Header and frame-list rejections
static void
test_reject_header (void **state)
{
    s_frames_t c;
    fg_wire_msg_t m;
    fg_error_t err;

    //  no frames at all
    assert_int_equal (fg_wire_decode (NULL, 0, NULL, &m, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "no frames"));

    s_encode_copy (FG_WIRE_TASK, &c);
    s_expect (&c, NULL, 0, NULL);           //  the sample is valid

    //  truncated header (shorter than magic + version, and shorter than 40)
    size_t keep = c.size [0];
    c.size [0] = 3;
    s_expect (&c, NULL, FG_EFORMAT, "header", "truncated", NULL);
    c.size [0] = 39;
    s_expect (&c, NULL, FG_EFORMAT, "header", "39 bytes", NULL);
    c.size [0] = keep;

    //  over-long header (the extra byte is never read as payload)
    uint8_t *longer = realloc (c.data [0], keep + 1);
    assert_non_null (longer);
    c.data [0] = longer;
    c.data [0][keep] = 0;
    c.size [0] = keep + 1;
    s_expect (&c, NULL, FG_EFORMAT, "header", "41 bytes", NULL);
    c.size [0] = keep;

    //  wrong magic, wrong version (even with a valid checksum)
    c.data [0][1] = 'X';
    s_fix (&c);
    s_expect (&c, NULL, FG_EFORMAT, "magic", "offset 0", NULL);
    c.data [0][1] = 'G';
    c.data [0][4] = 2;
    s_fix (&c);
    s_expect (&c, NULL, FG_EVERSION, "version", "offset 4", NULL);
    c.data [0][4] = 1;

    //  unknown types
    const uint8_t bad_types [] = { 0, FG_WIRE_TYPE_MAX + 1, 255 };
    for (size_t i = 0; i < sizeof bad_types; i++) {
        c.data [0][6] = bad_types [i];
        s_fix (&c);
        s_expect (&c, NULL, FG_EFORMAT, "unknown message type", "offset 6", NULL);
    }
    c.data [0][6] = FG_WIRE_TASK;

    //  flags
    c.data [0][7] = 0x80;
    s_fix (&c);
    s_expect (&c, NULL, FG_EFORMAT, "TASK", "flags", NULL);
    c.data [0][7] = 0;
    s_fix (&c);
    s_expect (&c, NULL, 0, NULL);

    //  another type's frame count: a TASK body declared a READY
    c.data [0][6] = FG_WIRE_READY;
    s_fix (&c);
    s_expect (&c, NULL, FG_EFORMAT, "READY", "3 frames", NULL);
    c.data [0][6] = FG_WIRE_HEARTBEAT;
    s_fix (&c);
    s_expect (&c, NULL, FG_EFORMAT, "HEARTBEAT", "frames", NULL);
    c.data [0][6] = FG_WIRE_TASK;
    s_fix (&c);

    //  frame count: missing frame, extra frame
    c.count = 2;
    s_fix (&c);
    s_expect (&c, NULL, FG_EFORMAT, "TASK", "2 frames", NULL);
    c.count = 3;
    c.data [3] = malloc (1);
    c.size [3] = 0;
    c.count = 4;
    s_fix (&c);
    s_expect (&c, NULL, FG_EFORMAT, "TASK", "4 frames", NULL);
    c.count = 3;
    s_fix (&c);
    s_expect (&c, NULL, 0, NULL);

    //  payload length mismatch (checksum left right)
    s_put64 (c.data [0] + 28, 1 + c.size [1] + c.size [2]);
    s_expect (&c, NULL, FG_EFORMAT, "payload_length", "offset 28", NULL);
    s_fix (&c);

    //  checksum: a flipped payload bit, a flipped header bit, the field itself
    c.data [2][5] ^= 0x10;
    s_expect (&c, NULL, FG_ECHECKSUM, "TASK", "checksum", NULL);
    c.data [2][5] ^= 0x10;
    c.data [0][16] ^= 0x01;                 //  round
    s_expect (&c, NULL, FG_ECHECKSUM, "checksum", NULL);
    c.data [0][16] ^= 0x01;
    c.data [0][39] ^= 0x80;
    s_expect (&c, NULL, FG_ECHECKSUM, "checksum", NULL);
    c.data [0][39] ^= 0x80;
    s_expect (&c, NULL, 0, NULL);

    //  a frame over max_frame
    fg_wire_limits_t lim = { FG_WIRE_FRAME_MIN + 500, 500 };
    s_frames_t big;
    fg_wire_msg_t task;
    s_sample (FG_WIRE_TASK, &task);
    fg_wire_range_t *many = calloc (600, sizeof *many);
    for (uint32_t i = 0; i < 600; i++)
        many [i] = (fg_wire_range_t) { 2 * i, 1 };
    task.task.ranges = many;
    task.task.range_count = 600;
    task.task.sample_count = 600;
    fg_wire_frames_t f;
    assert_int_equal (fg_wire_encode (&task, NULL, &f, &err), 0);
    s_copy (&big, &f);
    fg_wire_frames_clear (&f);
    s_expect (&big, NULL, 0, NULL);
    s_expect (&big, &lim, FG_ERANGE, "frame 2", "4800 bytes > max_frame 4596", NULL);
    //  and the encoder refuses to make it
    assert_int_equal (fg_wire_encode (&task, &lim, &f, &err), FG_ERANGE);
    assert_int_equal (f.count, 0);
    free (many);
    s_free (&big);

    //  NULL data with a non-zero size is a programmer's error, reported
    fg_wire_frame_t nul [3] = {
        { c.data [0], c.size [0] }, { NULL, 5 }, { c.data [2], c.size [2] } };
    assert_int_equal (fg_wire_decode (nul, 3, NULL, &m, &err), FG_EINVAL);
    s_free (&c);
}

//  Mutates a body field of a valid sample, fixes the checksum, expects code.
typedef void (s_mutate_fn) (s_frames_t *c);

static void
s_case (int type, s_mutate_fn *mutate, const fg_wire_limits_t *lim, int code,
        const char *n1, const char *n2)
{
    s_frames_t c;
    s_encode_copy (type, &c);
    mutate (&c);
    s_fix (&c);
    s_expect (&c, lim, code, fg_wire_type_name (type), n1, n2, NULL);
    s_free (&c);
}

//  HELLO
static void m_hello_short (s_frames_t *c) { c->size [1] = 19; }
static void m_hello_long (s_frames_t *c) { c->size [1] -= 1; c->data [1][18] = 2; }
static void m_hello_ds (s_frames_t *c) { c->data [1][18] = FG_WIRE_DATASETS_MAX + 1; }
static void m_hello_id0 (s_frames_t *c) { c->data [1][16] = 0; }
static void m_hello_id65 (s_frames_t *c) { c->data [1][16] = 65; }
static void m_hello_space (s_frames_t *c) { c->data [1][20 + 4] = ' '; }
static void m_hello_nul (s_frames_t *c) { c->data [1][20 + 2] = 0; }
static void m_hello_high (s_frames_t *c) { c->data [1][20 + 21 + 1] = 0xc3; }
static void m_hello_cores (s_frames_t *c) { s_put32 (c->data [1] + 4, 0); }
static void m_hello_proto (s_frames_t *c) { c->data [1][0] = 2; }
static void m_hello_nan (s_frames_t *c) { s_put64 (c->data [1] + 8, 0x7ff8000000000000ull); }
static void m_hello_neg (s_frames_t *c) { c->data [1][15] |= 0x80; }
//  READY
static void m_ready_zero (s_frames_t *c) { s_put32 (c->data [1], 0); }
static void m_ready_size (s_frames_t *c) { c->size [1] = 3; }
//  TASK
static void m_task_body (s_frames_t *c) { c->size [1] = 139; }
static void m_task_lr_inf (s_frames_t *c) { s_put64 (c->data [1] + 64, 0x7ff0000000000000ull); }
static void m_task_mom (s_frames_t *c) { s_put64 (c->data [1] + 72, 0x3ff0000000000000ull); }
static void m_task_wd (s_frames_t *c) { c->data [1][87] |= 0x80; }
static void m_task_epochs (s_frames_t *c) { s_put32 (c->data [1] + 56, 0); }
static void m_task_batch (s_frames_t *c) { s_put32 (c->data [1] + 60, FG_WIRE_BATCH_MAX + 1); }
static void m_task_flags (s_frames_t *c) { c->data [1][88] |= 0x04; }
static void m_task_model (s_frames_t *c) { c->data [1][89] = 4; }
static void m_task_dataset (s_frames_t *c) { c->data [1][90] = 8; }
static void m_task_geometry_odd (s_frames_t *c) { c->data [1][91] = 1; }
static void m_task_geometry_short (s_frames_t *c) { c->data [1][91] = 16; }
static void m_task_count_max (s_frames_t *c) { s_put32 (c->data [1] + 136, FG_WIRE_RANGES_MAX + 1); }
static void m_task_count_zero (s_frames_t *c) { s_put32 (c->data [1] + 136, 0); }
static void m_task_count_more (s_frames_t *c) { s_put32 (c->data [1] + 136, 5); }
static void m_task_count_less (s_frames_t *c) { s_put32 (c->data [1] + 136, 3); }
static void m_task_odd (s_frames_t *c) { c->size [2] -= 1; }
static void m_task_sum (s_frames_t *c) { c->data [1][128] ^= 1; }
static void m_task_zero_range (s_frames_t *c) { s_put32 (c->data [2] + 12, 0); }
static void m_task_overlap (s_frames_t *c) { s_put32 (c->data [2] + 8, 4); }
static void m_task_unsorted (s_frames_t *c) { s_put32 (c->data [2] + 16, 6); }
static void m_task_past (s_frames_t *c) { s_put32 (c->data [2] + 28, 294967297u); }
//  WEIGHTS-REQUEST
static void m_wreq_credit0 (s_frames_t *c) { s_put32 (c->data [1] + 16, 0); }
static void m_wreq_credit (s_frames_t *c) { s_put32 (c->data [1] + 16, FG_WIRE_CREDIT_MAX + 1); }
static void m_wreq_chunk (s_frames_t *c) { s_put32 (c->data [1] + 20, FG_WIRE_CHUNK_DEFAULT + 1); }
static void m_wreq_blob (s_frames_t *c) { c->data [1][24] = 2; }
static void m_wreq_size (s_frames_t *c) { c->size [1] = 26; }
//  WEIGHTS-CHUNK
static void m_wchunk_past (s_frames_t *c) { s_put64 (c->data [1] + 16, 3999); }
static void m_wchunk_off (s_frames_t *c) { s_put64 (c->data [1] + 8, 5000000001ull); }
static void m_wchunk_empty (s_frames_t *c) { c->size [2] = 0; }
static void m_wchunk_blob (s_frames_t *c) { c->data [1][56] = 9; }
static void m_nothing (s_frames_t *c) { (void) c; }
//  DATA-REQUEST
static void m_dreq_sum (s_frames_t *c) { s_put64 (c->data [1] + 32, 257); }
static void m_dreq_count (s_frames_t *c) { s_put32 (c->data [1] + 40, 4); }
//  DATA-CHUNK
static void m_dchunk_raw_big (s_frames_t *c) { s_put64 (c->data [1] + 44, FG_WIRE_CHUNK_DEFAULT + 1); }
static void m_dchunk_rec (s_frames_t *c) { s_put32 (c->data [1] + 40, 784); }
static void m_dchunk_raw1 (s_frames_t *c) { s_put32 (c->data [1] + 40, 0); s_put64 (c->data [1] + 44, 4 * 785 + 1); }
static void m_dchunk_corrupt (s_frames_t *c) { c->data [2][0] = 0xff; c->data [2][1] = 0xff; }
static void m_dchunk_trail (s_frames_t *c) { c->size [2] -= 1; }
static void m_dchunk_count0 (s_frames_t *c) { s_put32 (c->data [1] + 36, 0); }
static void m_dchunk_past (s_frames_t *c) { s_put32 (c->data [1] + 32, UINT32_MAX); }
static void m_dchunk_raw0 (s_frames_t *c) { s_put32 (c->data [1] + 40, 0); s_put64 (c->data [1] + 44, 0); }
//  RESULT
static void m_result_loss_max (s_frames_t *c) { s_put32 (c->data [1] + 20, FG_WIRE_LOSS_MAX + 1); }
static void m_result_loss_more (s_frames_t *c) { s_put32 (c->data [1] + 20, 7); }
static void m_result_prefix (s_frames_t *c) { s_put64 (c->data [1] + 24, 2047); }
static void m_result_samples (s_frames_t *c) { s_put64 (c->data [1] + 8, 0); }
//  ACK, REJECT, ERROR
static void m_ack_type (s_frames_t *c) { c->data [1][0] = 0; }
static void m_ack_size (s_frames_t *c) { c->size [1] = 0; }
static void m_reject_reason (s_frames_t *c) { c->data [1][1] = FG_WIRE_REASON_MAX + 1; }
static void m_reject_len (s_frames_t *c) { c->data [1][3] += 1; }
static void m_reject_ctrl (s_frames_t *c) { c->data [1][4 + 3] = '\n'; }
static void m_reject_del (s_frames_t *c) { c->data [1][4 + 3] = 0x7f; }
static void m_reject_short (s_frames_t *c) { c->size [1] = 3; }
static void m_error_code (s_frames_t *c) { s_put32 (c->data [1], 5); }
static void m_error_code_min (s_frames_t *c) { s_put32 (c->data [1], (uint32_t) (FG_ECODE_MIN - 1)); }
static void m_error_len (s_frames_t *c) { c->data [1][4] -= 1; }

static void
test_reject_body (void **state)
{
    fg_wire_limits_t small = { 1 << 20, 2000 };

    s_case (FG_WIRE_HELLO, m_hello_short, NULL, FG_EFORMAT, "body", "19 bytes");
    s_case (FG_WIRE_HELLO, m_hello_long, NULL, FG_EFORMAT, "body", "expected");
    s_case (FG_WIRE_HELLO, m_hello_ds, NULL, FG_ERANGE, "dataset_count", "offset 18");
    s_case (FG_WIRE_HELLO, m_hello_id0, NULL, FG_ERANGE, "node_id_len", "offset 16");
    s_case (FG_WIRE_HELLO, m_hello_id65, NULL, FG_ERANGE, "node_id_len", "65");
    s_case (FG_WIRE_HELLO, m_hello_space, NULL, FG_EFORMAT, "node_id", "offset 24");
    s_case (FG_WIRE_HELLO, m_hello_nul, NULL, FG_EFORMAT, "node_id", "0x00");
    s_case (FG_WIRE_HELLO, m_hello_high, NULL, FG_EFORMAT, "kernel", "0xc3");
    s_case (FG_WIRE_HELLO, m_hello_cores, NULL, FG_ERANGE, "cores", "offset 4");
    s_case (FG_WIRE_HELLO, m_hello_proto, NULL, FG_ERANGE, "proto_min", "[2, 1]");
    s_case (FG_WIRE_HELLO, m_hello_nan, NULL, FG_ENUMERIC, "speed", "offset 8");
    s_case (FG_WIRE_HELLO, m_hello_neg, NULL, FG_ERANGE, "speed", "negative");

    s_case (FG_WIRE_READY, m_ready_zero, NULL, FG_ERANGE, "slots", "0 outside");
    s_case (FG_WIRE_READY, m_ready_size, NULL, FG_EFORMAT, "body", "3 bytes");

    s_case (FG_WIRE_TASK, m_task_body, NULL, FG_EFORMAT, "body", "139 bytes");
    s_case (FG_WIRE_TASK, m_task_lr_inf, NULL, FG_ENUMERIC, "lr", "offset 64");
    s_case (FG_WIRE_TASK, m_task_mom, NULL, FG_ERANGE, "momentum", "offset 72");
    s_case (FG_WIRE_TASK, m_task_wd, NULL, FG_ERANGE, "weight_decay", "offset 80");
    s_case (FG_WIRE_TASK, m_task_epochs, NULL, FG_ERANGE, "local_epochs", "offset 56");
    s_case (FG_WIRE_TASK, m_task_batch, NULL, FG_ERANGE, "batch_size", "offset 60");
    s_case (FG_WIRE_TASK, m_task_flags, NULL, FG_EFORMAT, "flags", "0x04");
    s_case (FG_WIRE_TASK, m_task_model, NULL, FG_ERANGE, "model", "offset 89");
    s_case (FG_WIRE_TASK, m_task_dataset, NULL, FG_ERANGE, "dataset", "offset 90");
    s_case (FG_WIRE_TASK, m_task_geometry_odd, NULL, FG_EFORMAT, "geometry", "offset 91");
    s_case (FG_WIRE_TASK, m_task_geometry_short, NULL, FG_EFORMAT, "body", "expected 156");
    s_case (FG_WIRE_TASK, m_task_count_max, NULL, FG_ERANGE, "range_count", "16777217");
    s_case (FG_WIRE_TASK, m_task_count_zero, NULL, FG_ERANGE, "range_count", "offset 136");
    s_case (FG_WIRE_TASK, m_task_count_more, NULL, FG_EFORMAT, "ranges", "needs 40");
    s_case (FG_WIRE_TASK, m_task_count_less, NULL, FG_EFORMAT, "ranges", "needs 24");
    s_case (FG_WIRE_TASK, m_task_odd, NULL, FG_EFORMAT, "ranges", "31 bytes");
    s_case (FG_WIRE_TASK, m_task_sum, NULL, FG_EFORMAT, "sample_count", "offset 128");
    s_case (FG_WIRE_TASK, m_task_zero_range, NULL, FG_ERANGE, "ranges.count", "frame 2 offset 12");
    s_case (FG_WIRE_TASK, m_task_overlap, NULL, FG_EFORMAT, "ranges.start", "frame 2 offset 8");
    s_case (FG_WIRE_TASK, m_task_unsorted, NULL, FG_EFORMAT, "sorted", "frame 2 offset 16");
    s_case (FG_WIRE_TASK, m_task_past, NULL, FG_ERANGE, "2^32", "frame 2 offset 24");

    s_case (FG_WIRE_WEIGHTS_REQUEST, m_wreq_credit0, NULL, FG_ERANGE, "credit", "offset 16");
    s_case (FG_WIRE_WEIGHTS_REQUEST, m_wreq_credit, NULL, FG_ERANGE, "credit", "257");
    s_case (FG_WIRE_WEIGHTS_REQUEST, m_wreq_chunk, NULL, FG_ERANGE, "chunk_size", "offset 20");
    s_case (FG_WIRE_WEIGHTS_REQUEST, m_wreq_blob, NULL, FG_ERANGE, "blob", "offset 24");
    s_case (FG_WIRE_WEIGHTS_REQUEST, m_wreq_size, NULL, FG_EFORMAT, "body", "26 bytes");

    s_case (FG_WIRE_WEIGHTS_CHUNK, m_wchunk_past, NULL, FG_ERANGE, "bytes", "runs past");
    s_case (FG_WIRE_WEIGHTS_CHUNK, m_wchunk_off, NULL, FG_ERANGE, "offset", "past");
    s_case (FG_WIRE_WEIGHTS_CHUNK, m_wchunk_empty, NULL, FG_EFORMAT, "bytes", "empty chunk");
    s_case (FG_WIRE_WEIGHTS_CHUNK, m_wchunk_blob, NULL, FG_ERANGE, "blob", "offset 56");
    //  oversized chunk: 3000 bytes against max_chunk 2000
    s_case (FG_WIRE_WEIGHTS_CHUNK, m_nothing, &small, FG_ERANGE, "bytes", "> max_chunk 2000");

    s_case (FG_WIRE_DATA_REQUEST, m_dreq_sum, NULL, FG_EFORMAT, "sample_count", "256");
    s_case (FG_WIRE_DATA_REQUEST, m_dreq_count, NULL, FG_EFORMAT, "ranges", "needs 32");

    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_raw_big, NULL, FG_ERANGE, "raw_size", "offset 44");
    s_case (FG_WIRE_DATA_CHUNK, m_nothing, &small, FG_ERANGE, "raw_size", "max_chunk 2000");
    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_rec, NULL, FG_EFORMAT, "raw_size", "record_size 784");
    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_raw1, NULL, FG_EFORMAT, "lz4", "gives");
    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_corrupt, NULL, FG_EFORMAT, "lz4", NULL);
    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_trail, NULL, FG_EFORMAT, "lz4", NULL);
    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_count0, NULL, FG_ERANGE, "count", "offset 36");
    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_past, NULL, FG_ERANGE, "start", "2^32");
    s_case (FG_WIRE_DATA_CHUNK, m_dchunk_raw0, NULL, FG_ERANGE, "raw_size", "0 outside");

    s_case (FG_WIRE_RESULT, m_result_loss_max, NULL, FG_ERANGE, "loss_count", "offset 20");
    s_case (FG_WIRE_RESULT, m_result_loss_more, NULL, FG_EFORMAT, "loss", "needs 28");
    s_case (FG_WIRE_RESULT, m_result_prefix, NULL, FG_ERANGE, "prefix", "update_size 2047");
    s_case (FG_WIRE_RESULT, m_result_samples, NULL, FG_ERANGE, "sample_count", "offset 8");
    //  oversized update prefix: 2048 against max_chunk 2000
    s_case (FG_WIRE_RESULT, m_nothing, &small, FG_ERANGE, "prefix", "max_chunk 2000");

    s_case (FG_WIRE_ACK, m_ack_type, NULL, FG_ERANGE, "of_type", "not a message type");
    s_case (FG_WIRE_ACK, m_ack_size, NULL, FG_EFORMAT, "body", "0 bytes");
    s_case (FG_WIRE_REJECT, m_reject_reason, NULL, FG_ERANGE, "reason", "offset 1");
    s_case (FG_WIRE_REJECT, m_reject_len, NULL, FG_EFORMAT, "body", "expected");
    s_case (FG_WIRE_REJECT, m_reject_ctrl, NULL, FG_EFORMAT, "text", "0x0a");
    s_case (FG_WIRE_REJECT, m_reject_del, NULL, FG_EFORMAT, "text", "0x7f");
    s_case (FG_WIRE_REJECT, m_reject_short, NULL, FG_EFORMAT, "body", "3 bytes");
    s_case (FG_WIRE_ERROR, m_error_code, NULL, FG_ERANGE, "code", "FG_E");
    s_case (FG_WIRE_ERROR, m_error_code_min, NULL, FG_ERANGE, "code", "offset 0");
    s_case (FG_WIRE_ERROR, m_error_len, NULL, FG_EFORMAT, "body", "expected");
}

static void
s_expect_encode (const fg_wire_msg_t *m, const fg_wire_limits_t *lim, int code,
                 const char *needle)
{
    fg_wire_frames_t f;
    fg_error_t err;
    fg_error_clear (&err);
    int rc = fg_wire_encode (m, lim, &f, &err);
    if (rc != code)
        fail_msg ("encode: expected %d, got %d: %s", code, rc, err.msg);
    assert_int_equal (f.count, 0);
    assert_null (f.storage_);
    if (needle && !strstr (err.msg, needle))
        fail_msg ("'%s' not in: %s", needle, err.msg);
}

static void
test_reject_encode (void **state)
{
    fg_wire_msg_t m;
    s_sample (FG_WIRE_BYE, &m);
    m.type = 0;
    s_expect_encode (&m, NULL, FG_EINVAL, "not a message type");
    m.type = FG_WIRE_TYPE_MAX + 1;
    s_expect_encode (&m, NULL, FG_EINVAL, "type");

    s_sample (FG_WIRE_TASK, &m);
    m.task.lr = NAN;
    s_expect_encode (&m, NULL, FG_ENUMERIC, "lr");
    s_sample (FG_WIRE_TASK, &m);
    m.task.momentum = -0.5;
    s_expect_encode (&m, NULL, FG_ERANGE, "momentum");
    fg_wire_range_t bad [2] = { { 10, 5 }, { 12, 1 } };
    m.task.ranges = bad;
    m.task.range_count = 2;
    m.task.sample_count = 6;
    m.task.momentum = 0;
    s_expect_encode (&m, NULL, FG_EFORMAT, "ranges.start");
    m.task.ranges = NULL;
    s_expect_encode (&m, NULL, FG_EINVAL, "ranges");

    s_sample (FG_WIRE_HELLO, &m);
    memset (m.hello.node_id, 'a', sizeof m.hello.node_id);     //  unterminated
    s_expect_encode (&m, NULL, FG_ERANGE, "node_id");
    s_sample (FG_WIRE_HELLO, &m);
    m.hello.node_id [0] = 0;
    s_expect_encode (&m, NULL, FG_ERANGE, "node_id");
    s_sample (FG_WIRE_HELLO, &m);
    m.hello.dataset_count = FG_WIRE_DATASETS_MAX + 1;
    s_expect_encode (&m, NULL, FG_ERANGE, "dataset_count");

    s_sample (FG_WIRE_REJECT, &m);
    memset (m.reject.text, 'x', sizeof m.reject.text);
    s_expect_encode (&m, NULL, FG_ERANGE, "text");
    s_sample (FG_WIRE_ERROR, &m);
    m.error.text [2] = '\t';
    s_expect_encode (&m, NULL, FG_EFORMAT, "text");

    s_sample (FG_WIRE_WEIGHTS_CHUNK, &m);
    m.weights_chunk.data = NULL;
    s_expect_encode (&m, NULL, FG_EINVAL, "bytes");
    s_sample (FG_WIRE_RESULT, &m);
    m.result.loss = NULL;
    s_expect_encode (&m, NULL, FG_EINVAL, "loss");
    s_sample (FG_WIRE_RESULT, &m);
    m.result.loss_count = FG_WIRE_LOSS_MAX;     //  4 MiB > max_frame
    fg_wire_limits_t lim = { 1 << 20, 4096 };
    s_expect_encode (&m, &lim, FG_ERANGE, "max_frame");
    s_sample (FG_WIRE_DATA_CHUNK, &m);
    m.data_chunk.lz4_size = 4 * 785 + 4 * 785 / 255 + 17;
    s_expect_encode (&m, NULL, FG_EFORMAT, "cannot be an LZ4 block");

    //  bad limits
    s_sample (FG_WIRE_BYE, &m);
    fg_wire_limits_t bad_lim [] = {
        { FG_WIRE_FRAME_MIN - 1, 100 },
        { (size_t) FG_WIRE_FRAME_LIMIT + 1, 100 },
        { 1 << 20, 0 },
        { 1 << 20, 1 << 20 },
    };
    for (size_t i = 0; i < sizeof bad_lim / sizeof bad_lim [0]; i++) {
        fg_error_t err;
        assert_int_equal (fg_wire_limits_check (&bad_lim [i], &err), FG_ERANGE);
        s_expect_encode (&m, &bad_lim [i], FG_ERANGE, "limits");
        fg_wire_msg_t out;
        fg_wire_frame_t none = { NULL, 0 };
        assert_int_equal (fg_wire_decode (&none, 1, &bad_lim [i], &out, &err), FG_ERANGE);
    }
    for (size_t i = 0; i < sizeof bad_lim / sizeof bad_lim [0]; i++)
        assert_int_equal (fg_wire_data_raw_max (&bad_lim [i]), 0);
    //  the largest raw DATA-CHUNK whose worst-case LZ4 block fits a frame
    fg_wire_limits_t tight = { 4 << 20, (4 << 20) - FG_WIRE_FRAME_MIN };
    size_t raw_max = fg_wire_data_raw_max (&tight);
    assert_true (raw_max < tight.max_chunk);
    assert_true ((size_t) LZ4_compressBound ((int) raw_max) <= tight.max_frame);
    assert_true ((size_t) LZ4_compressBound ((int) raw_max + 1) > tight.max_frame);
    assert_int_equal (fg_wire_data_raw_max (NULL), FG_WIRE_CHUNK_DEFAULT);
    fg_wire_limits_t def;
    fg_wire_limits_default (&def);
    assert_int_equal (fg_wire_limits_check (&def, NULL), 0);
    assert_int_equal (def.max_frame, FG_WIRE_FRAME_DEFAULT);
    assert_int_equal (def.max_chunk, FG_WIRE_CHUNK_DEFAULT);
}

//  Truncates every frame of every type at every byte, and drops frames:
//  with the header left alone (must fail), and with payload length and
//  checksum recomputed (must not crash; if it decodes, it re-encodes to
//  the same bytes).
static void
test_truncation (void **state)
{
    size_t tried = 0, decoded = 0;
    for (int type = 1; type <= FG_WIRE_TYPE_MAX; type++) {
        s_frames_t orig;
        s_encode_copy (type, &orig);
        for (size_t fi = 0; fi < orig.count; fi++) {
            for (size_t len = 0; len < orig.size [fi]; len++) {
                for (int fix = 0; fix < 2; fix++) {
                    s_frames_t c;
                    memset (&c, 0, sizeof c);
                    c.count = orig.count;
                    for (size_t i = 0; i < orig.count; i++) {
                        c.size [i] = i == fi? len: orig.size [i];
                        c.data [i] = malloc (c.size [i]? c.size [i]: 1);
                        memcpy (c.data [i], orig.data [i], c.size [i]);
                    }
                    if (fix)
                        s_fix (&c);
                    fg_wire_msg_t m;
                    fg_error_t err;
                    int rc = s_decode (&c, NULL, &m, &err);
                    tried++;
                    if (!fix || fi == 0)
                        assert_int_not_equal (rc, 0);
                    if (rc == 0) {
                        decoded++;
                        fg_wire_frames_t g;
                        assert_int_equal (fg_wire_encode (&m, NULL, &g, &err), 0);
                        assert_int_equal (g.count, c.count);
                        for (size_t i = 0; i < c.count; i++) {
                            assert_int_equal (g.frame [i].size, c.size [i]);
                            if (c.size [i])
                                assert_memory_equal (g.frame [i].data, c.data [i], c.size [i]);
                        }
                        fg_wire_frames_clear (&g);
                        fg_wire_msg_clear (&m);
                    }
                    else
                        assert_true (err.msg [0] != 0);
                    s_free (&c);
                }
            }
        }
        //  fewer frames
        for (size_t n = 0; n < orig.count; n++) {
            s_frames_t c = orig;
            c.count = n;
            fg_wire_msg_t m;
            fg_error_t err;
            assert_int_not_equal (s_decode (&c, NULL, &m, &err), 0);
        }
        s_free (&orig);
    }
    //  only blob bytes, prefix bytes can be cut and stay valid
    assert_true (tried > 10000);
    assert_true (decoded > 0 && decoded < tried / 2);
}

static void
test_ranges_indices (void **state)
{
    fg_error_t err;
    fg_wire_range_t *r;
    uint32_t n;
    uint32_t *back;
    size_t count;
    //  a sorted shard, as fg_partition gives it
    const uint32_t sorted [] = { 0, 1, 2, 7, 100, 101, 4000000000u, UINT32_MAX };
    assert_int_equal (fg_wire_ranges_from_indices (sorted, 8, &r, &n, &err), 0);
    assert_int_equal (n, 5);
    assert_int_equal (r [0].start, 0);              assert_int_equal (r [0].count, 3);
    assert_int_equal (r [1].start, 7);              assert_int_equal (r [1].count, 1);
    assert_int_equal (r [2].start, 100);            assert_int_equal (r [2].count, 2);
    assert_int_equal (r [3].start, 4000000000u);    assert_int_equal (r [3].count, 1);
    assert_int_equal (r [4].start, UINT32_MAX);     assert_int_equal (r [4].count, 1);
    free (r);
    //  a run that ends at the last index
    const uint32_t tail [] = { 5, UINT32_MAX - 1, UINT32_MAX };
    assert_int_equal (fg_wire_ranges_from_indices (tail, 3, &r, &n, &err), 0);
    assert_int_equal (n, 2);
    assert_int_equal (r [1].start, UINT32_MAX - 1);
    assert_int_equal (r [1].count, 2);

    //  the ranges go into a TASK, which decodes, and back to the indices
    fg_wire_msg_t m, out;
    s_sample (FG_WIRE_TASK, &m);
    m.task.ranges = r;
    m.task.range_count = n;
    m.task.sample_count = 3;
    fg_wire_frames_t f;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    assert_int_equal (fg_wire_ranges_to_indices (out.task.ranges, out.task.range_count,
                                                 &back, &count, &err), 0);
    assert_int_equal (count, 3);
    assert_memory_equal (back, tail, sizeof tail);
    free (back);
    fg_wire_frames_clear (&f);
    fg_wire_msg_clear (&out);
    free (r);

    //  any order: sorted, merged
    const uint32_t shuffled [] = { 9, 3, 4, 10, 2, 50 };
    const uint32_t in_order [] = { 2, 3, 4, 9, 10, 50 };
    assert_int_equal (fg_wire_ranges_from_indices (shuffled, 6, &r, &n, &err), 0);
    assert_int_equal (n, 3);
    assert_int_equal (fg_wire_ranges_to_indices (r, n, &back, &count, &err), 0);
    assert_int_equal (count, 6);
    assert_memory_equal (back, in_order, sizeof in_order);
    free (back);
    free (r);

    //  refused: nothing, an index twice (the TASK's sum would lie)
    assert_int_equal (fg_wire_ranges_from_indices (NULL, 0, &r, &n, &err), FG_ERANGE);
    assert_null (r);
    assert_int_equal (n, 0);
    const uint32_t twice [] = { 4, 8, 4 };
    assert_int_equal (fg_wire_ranges_from_indices (twice, 3, &r, &n, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "index 4 appears twice"));
    assert_null (r);
    assert_int_equal (fg_wire_ranges_to_indices (NULL, 0, &back, &count, &err), FG_ERANGE);
    assert_null (back);
    assert_int_equal (count, 0);
}

static void
test_reply (void **state)
{
    fg_wire_msg_t about, reply;
    s_sample (FG_WIRE_WEIGHTS_REQUEST, &about);
    memset (&reply, 0xff, sizeof reply);
    fg_wire_msg_reply (&reply, FG_WIRE_WEIGHTS_CHUNK, &about);
    assert_int_equal (reply.type, FG_WIRE_WEIGHTS_CHUNK);
    assert_true (reply.experiment == about.experiment);
    assert_int_equal (reply.round, about.round);
    assert_int_equal (reply.shard, about.shard);
    assert_int_equal (reply.attempt, about.attempt);
    assert_int_equal (reply.weights_chunk.size, 0);
    assert_null (reply.storage_);
    fg_wire_msg_reply (&reply, FG_WIRE_REJECT, NULL);
    assert_int_equal (reply.type, FG_WIRE_REJECT);
    assert_true (reply.experiment == 0);
    assert_int_equal (reply.round, 0);
}

static void
test_data_pack (void **state)
{
    fg_error_t err;
    uint8_t *lz4;
    size_t size;
    assert_int_equal (fg_wire_data_pack (s_raw, 0, &lz4, &size, &err), FG_ERANGE);
    assert_null (lz4);
    //  variable-size records: record_size 0, records framed
    //  (tests/test_wire_samples.c tests the framing's every refusal)
    uint8_t raw [1000], bytes [300];
    s_fill (bytes, sizeof bytes, 1);
    size_t used = 0;
    for (uint16_t i = 0; i < 3; i++)
        assert_int_equal (fg_wire_sample_put (raw, sizeof raw, &used, i, bytes,
                                              sizeof bytes - i, &err), 0);
    assert_int_equal (fg_wire_sample_put (raw, sizeof raw, &used, 3, bytes, sizeof bytes, &err),
                      FG_EFULL);
    size_t rest = sizeof raw - used - FG_WIRE_SAMPLE_HEAD;
    assert_int_equal (fg_wire_sample_put (raw, sizeof raw, &used, 3, bytes, rest, &err), 0);
    assert_int_equal (used, sizeof raw);
    assert_int_equal (fg_wire_data_pack (raw, sizeof raw, &lz4, &size, &err), 0);
    fg_wire_msg_t m, out;
    s_sample (FG_WIRE_DATA_CHUNK, &m);
    m.data_chunk.record_size = 0;
    m.data_chunk.count = 4;
    m.data_chunk.raw_size = sizeof raw;
    m.data_chunk.lz4 = lz4;
    m.data_chunk.lz4_size = size;
    fg_wire_frames_t f;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    assert_memory_equal (out.data_chunk.samples, raw, sizeof raw);
    fg_wire_frames_clear (&f);
    fg_wire_msg_clear (&out);
    //  a raw size one short of the real one is caught
    m.data_chunk.raw_size = sizeof raw - 1;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), FG_EFORMAT);
    fg_wire_frames_clear (&f);
    //  a count the records do not make is caught after LZ4
    m.data_chunk.raw_size = sizeof raw;
    m.data_chunk.count = 3;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "(samples)"));
    fg_wire_frames_clear (&f);
    free (lz4);
}


//  --------------------------------------------------------------------------
//  Sockets

static void
test_inproc_pair (void **state)
{
    zsock_t *a = zsock_new_pair ("@inproc://test-wire-pair");
    zsock_t *b = zsock_new_pair (">inproc://test-wire-pair");
    assert_non_null (a);
    assert_non_null (b);
    zsock_set_rcvtimeo (b, 2000);
    fg_error_t err;
    for (int type = 1; type <= FG_WIRE_TYPE_MAX; type++) {
        fg_wire_msg_t in, out;
        s_sample (type, &in);
        if (fg_wire_send (a, NULL, &in, NULL, &err))
            fail_msg ("%s", err.msg);
        if (fg_wire_recv (b, NULL, NULL, &out, &err))
            fail_msg ("%s", err.msg);
        s_assert_equal (&in, &out);
        fg_wire_msg_clear (&out);
    }
    //  garbage from a peer: a typed error, nothing kept
    fg_wire_msg_t out;
    zstr_send (a, "HELLO from a picture message");
    assert_int_equal (fg_wire_recv (b, NULL, NULL, &out, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "magic"));
    assert_null (out.storage_);
    //  a message under max_frame at the sender, over it at the receiver
    fg_wire_msg_t in;
    s_sample (FG_WIRE_WEIGHTS_CHUNK, &in);
    assert_int_equal (fg_wire_send (a, NULL, &in, NULL, &err), 0);
    fg_wire_limits_t small = { 2 * FG_WIRE_FRAME_MIN, 1000 };
    assert_int_equal (fg_wire_recv (b, NULL, &small, &out, &err), FG_ERANGE);
    //  an invalid message is not sent
    in.weights_chunk.blob = 7;
    assert_int_equal (fg_wire_send (a, NULL, &in, NULL, &err), FG_ERANGE);
    //  nothing waiting: timeout
    zsock_set_rcvtimeo (b, 10);
    assert_int_equal (fg_wire_recv (b, NULL, NULL, &out, &err), FG_ETIMEOUT);
    zsock_destroy (&a);
    zsock_destroy (&b);
}

static void
test_router_dealer (void **state)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    zsock_set_router_mandatory (router, 1);
    zsock_set_rcvtimeo (router, 2000);
    assert_int_equal (zsock_bind (router, "inproc://test-wire-router"), 0);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_non_null (dealer);
    zsock_set_identity (dealer, "trainer-1");
    zsock_set_rcvtimeo (dealer, 2000);
    assert_int_equal (zsock_connect (dealer, "inproc://test-wire-router"), 0);

    fg_error_t err;
    fg_wire_msg_t in, out;
    s_sample (FG_WIRE_HELLO, &in);
    assert_int_equal (fg_wire_send (dealer, NULL, &in, NULL, &err), 0);
    zframe_t *id = NULL;
    if (fg_wire_recv (router, &id, NULL, &out, &err))
        fail_msg ("%s", err.msg);
    assert_non_null (id);
    assert_true (zframe_streq (id, "trainer-1"));
    s_assert_equal (&in, &out);
    fg_wire_msg_clear (&out);

    //  reply through the identity
    s_sample (FG_WIRE_TASK, &in);
    assert_int_equal (fg_wire_send (router, id, &in, NULL, &err), 0);
    assert_int_equal (fg_wire_recv (dealer, NULL, NULL, &out, &err), 0);
    s_assert_equal (&in, &out);
    fg_wire_msg_clear (&out);
    zframe_destroy (&id);

    //  a bad message still gives the sender's identity, to answer it
    zstr_send (dealer, "junk");
    assert_int_equal (fg_wire_recv (router, &id, NULL, &out, &err), FG_EFORMAT);
    assert_non_null (id);
    assert_true (zframe_streq (id, "trainer-1"));
    zframe_destroy (&id);

    //  ROUTER-mandatory: a vanished peer is an error, not a silent drop
    zframe_t *ghost = zframe_new ("nobody", 6);
    s_sample (FG_WIRE_ACK, &in);
    assert_int_equal (fg_wire_send (router, ghost, &in, NULL, &err), FG_ENOENT);
    zframe_destroy (&ghost);

    zsock_destroy (&dealer);
    zsock_destroy (&router);
}


//  --------------------------------------------------------------------------
//  Seed corpus for fuzz/fuzz_wire.c. Input format: byte 0 = frame count
//  (low 3 bits) | 0x80 "recompute payload length and checksum"; then each
//  frame but the last as u16 LE length + bytes; the last frame is the rest.

static int
s_write_seed (const char *dir, const char *name, const fg_wire_frames_t *f,
              uint8_t flags)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return fuzz_frames_write (path, f, flags);
}

static int
s_corpus (const char *dir)
{
    s_init_data ();
    for (int type = 1; type <= FG_WIRE_TYPE_MAX; type++) {
        fg_wire_msg_t m;
        s_sample (type, &m);
        //  keep seeds small: shorter bulk frames
        if (type == FG_WIRE_WEIGHTS_CHUNK)
            m.weights_chunk.size = 64;
        if (type == FG_WIRE_RESULT)
            m.result.prefix_size = 64;
        fg_wire_frames_t f;
        fg_error_t err;
        if (fg_wire_encode (&m, NULL, &f, &err)) {
            fprintf (stderr, "%s\n", err.msg);
            return 1;
        }
        char name [64];
        snprintf (name, sizeof name, "%02d-%s", type, fg_wire_type_name (type));
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char) (*p - 'A' + 'a');
        int rc = s_write_seed (dir, name, &f, 0);
        //  the same with the harness's "recompute checksum" bit set
        char fixed [80];
        snprintf (fixed, sizeof fixed, "%s-fix", name);
        if (rc == 0)
            rc = s_write_seed (dir, fixed, &f, 0x80);
        fg_wire_frames_clear (&f);
        if (rc) {
            perror (name);
            return 1;
        }
    }
    return 0;
}

int
main (int argc, char *argv [])
{
    if (argc == 3 && strcmp (argv [1], "--corpus") == 0)
        return s_corpus (argv [2]);
    s_init_data ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_type_names),
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_known_answers),
        cmocka_unit_test (test_round_trip_edges),
        cmocka_unit_test (test_reject_header),
        cmocka_unit_test (test_reject_body),
        cmocka_unit_test (test_reject_encode),
        cmocka_unit_test (test_truncation),
        cmocka_unit_test (test_ranges_indices),
        cmocka_unit_test (test_reply),
        cmocka_unit_test (test_data_pack),
        cmocka_unit_test (test_inproc_pair),
        cmocka_unit_test (test_router_dealer),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    free (s_lz4);
    return rc;
}
