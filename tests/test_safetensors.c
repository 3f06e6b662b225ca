/*  test_safetensors.c — the safetensors writer (its exact bytes, read back
    by jansson independently of our reader) and the checking reader: round
    trips with and without the model's layout, and a refusal with a clear
    message for every way a header can lie.                               */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_blob.h"
#include "fg_file.h"
#include "fg_le.h"
#include "fg_rng.h"
#include "fg_safetensors.h"
#include "fg_test_util.h"

static char s_dir [256];

static int
s_setup (void **unused)
{
    return fg_test_tmpdir ("safetensors", s_dir, sizeof s_dir);
}

static int
s_teardown (void **unused)
{
    return fg_test_rmtree (s_dir);
}

//  A conv 2x1x3x1 weight (6 floats) and a bias of 2, seeded draws.
static fg_state_t *
s_small (void)
{
    fg_state_t *s = fg_state_new ();
    uint64_t w [4] = { 2, 1, 3, 1 }, b [1] = { 2 };
    assert_int_equal (fg_state_add (s, "conv.weight", FG_TENSOR_PARAM, 4, w, NULL), 0);
    assert_int_equal (fg_state_add (s, "conv.bias", FG_TENSOR_BUFFER, 1, b, NULL), 0);
    fg_rng_t rng;
    fg_rng_init (&rng, 5, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = (float) fg_rng_normal (&rng);
    return s;
}

//  A file of header text (padded to 8 as the writer does) and nfloats
//  floats 0, 1, 2, ...; the header length field is the padded length.
static uint8_t *
s_file (const char *header, size_t nfloats, size_t *size)
{
    size_t len = strlen (header), pad = (8 - (8 + len) % 8) % 8;
    *size = 8 + len + pad + 4 * nfloats;
    uint8_t *file = malloc (*size);
    assert_non_null (file);
    fg_le_put64 (file, len + pad);
    memcpy (file + 8, header, len);
    memset (file + 8 + len, ' ', pad);
    for (size_t i = 0; i < nfloats; i++) {
        float f = (float) i;
        memcpy (file + 8 + len + pad + 4 * i, &f, 4);
    }
    return file;
}

static void
test_export_bytes (void **unused)
{
    //  the writer's exact header (jansson, compact, insertion order): the
    //  same bytes the hand-written writer it replaced produced
    fg_state_t *s = s_small ();
    uint8_t *file;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_safetensors_encode (s, &file, &size, &err), 0);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"fedgrid\"},"
                       "\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,3,1],"
                       "\"data_offsets\":[0,24]},\"conv.bias\":{\"dtype\":\"F32\","
                       "\"shape\":[2],\"data_offsets\":[24,32]}}";
    uint64_t hlen = fg_le_get64 (file);
    assert_int_equal ((8 + hlen) % 8, 0);
    assert_true (hlen >= strlen (want) && hlen < strlen (want) + 8);
    assert_memory_equal (file + 8, want, strlen (want));
    for (size_t i = strlen (want); i < hlen; i++)
        assert_int_equal (file [8 + i], ' ');
    assert_int_equal (size, 8 + hlen + 4 * s->size);
    assert_memory_equal (file + 8 + hlen, s->data, 4 * s->size);
    free (file);
    fg_state_destroy (&s);
}

//  The metadata a user needs rides in __metadata__ after format and
//  producer, in order; bad entries are refused and nothing is written.
static void
test_metadata (void **unused)
{
    (void) unused;
    fg_state_t *s = s_small ();
    uint8_t *file;
    size_t size;
    fg_error_t err;
    const fg_safetensors_meta_t meta [] = {
        { "model", "cnn-small" }, { "mean", "0.2860" }, { "round", "3" },
    };
    assert_int_equal (fg_safetensors_encode_meta (s, meta, 3, &file, &size, &err), 0);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"fedgrid\","
                       "\"model\":\"cnn-small\",\"mean\":\"0.2860\",\"round\":\"3\"},";
    assert_memory_equal (file + 8, want, strlen (want));
    fg_state_t *back = NULL;
    assert_int_equal (fg_safetensors_decode (file, size, "m.safetensors", s, &back, &err), 0);
    assert_memory_equal (back->data, s->data, 4 * s->size);
    fg_state_destroy (&back);
    free (file);
    static const fg_safetensors_meta_t bad [][2] = {
        { { "producer", "me" }, { "x", "y" } },
        { { "model", "a" }, { "model", "b" } },
        { { "", "a" }, { "x", "y" } },
        { { "k", "\xff" }, { "x", "y" } },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        file = NULL;
        assert_int_equal (fg_safetensors_encode_meta (s, bad [i], 2, &file, &size, &err), FG_EINVAL);
        assert_null (file);
        assert_non_null (strstr (err.msg, "metadata"));
    }
    fg_state_destroy (&s);
}

static void
test_export_file_read_by_jansson (void **unused)
{
    //  names needing escapes survive; the file is what jansson reads back
    fg_state_t *s = s_small ();
    uint64_t q [1] = { 3 };
    assert_int_equal (fg_state_add (s, "odd \"quoted\\name\"", FG_TENSOR_PARAM, 1, q, NULL), 0);
    char path [300];
    snprintf (path, sizeof path, "%s/model.safetensors", s_dir);
    fg_error_t err;
    assert_int_equal (fg_blob_export_safetensors (path, s, &err), 0);
    char *file;
    size_t size;
    assert_int_equal (fg_file_read (path, 1 << 24, &file, &size, &err), 0);
    uint64_t hlen = fg_le_get64 ((const uint8_t *) file);
    json_t *header = json_loadb (file + 8, hlen, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null (header);
    assert_int_equal (json_object_size (header), s->nviews + 1);
    assert_string_equal (json_string_value (json_object_get (json_object_get (header,
                         "__metadata__"), "producer")), "fedgrid");
    for (size_t i = 0; i < s->nviews; i++) {
        const fg_tensor_view_t *v = &s->views [i];
        json_t *e = json_object_get (header, v->name);
        assert_non_null (e);
        assert_string_equal (json_string_value (json_object_get (e, "dtype")), "F32");
        json_t *shape = json_object_get (e, "shape"), *off = json_object_get (e, "data_offsets");
        assert_int_equal (json_array_size (shape), v->rank);
        for (uint32_t d = 0; d < v->rank; d++)
            assert_int_equal (json_integer_value (json_array_get (shape, d)), v->shape [d]);
        json_int_t begin = json_integer_value (json_array_get (off, 0));
        assert_int_equal (begin, 4 * v->offset);
        assert_int_equal (json_integer_value (json_array_get (off, 1)) - begin, 4 * v->count);
        assert_memory_equal (file + 8 + hlen + begin, s->data + v->offset, 4 * v->count);
    }
    json_decref (header);
    free (file);
    //  the reserved name is refused, naming the file
    fg_state_t *bad = fg_state_new ();
    assert_int_equal (fg_state_add (bad, "__metadata__", FG_TENSOR_PARAM, 1, q, NULL), 0);
    assert_int_equal (fg_blob_export_safetensors (path, bad, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "reserved"));
    assert_non_null (strstr (err.msg, path));
    //  an empty state is a valid file of a header only
    fg_state_t *empty = fg_state_new ();
    assert_int_equal (fg_blob_export_safetensors (path, empty, &err), 0);
    assert_int_equal (fg_file_read (path, 1 << 24, &file, &size, &err), 0);
    assert_int_equal (size, 8 + fg_le_get64 ((const uint8_t *) file));
    free (file);
    fg_state_t *back = NULL;
    assert_int_equal (fg_safetensors_load (path, NULL, &back, &err), 0);
    assert_int_equal (back->nviews, 0);
    fg_state_destroy (&back);
    fg_state_destroy (&s);
    fg_state_destroy (&bad);
    fg_state_destroy (&empty);
}

static void
test_round_trip (void **unused)
{
    fg_state_t *s = s_small ();
    char path [300];
    snprintf (path, sizeof path, "%s/rt.safetensors", s_dir);
    fg_error_t err;
    assert_int_equal (fg_blob_export_safetensors (path, s, &err), 0);
    //  with the model's layout: its kinds and order, the file's bits
    fg_state_t *back = NULL;
    assert_int_equal (fg_safetensors_load (path, s, &back, &err), 0);
    assert_true (fg_state_same_layout (back, s, NULL));
    assert_memory_equal (back->data, s->data, 4 * s->size);
    fg_state_destroy (&back);
    //  without: the file's tensors in data order, all PARAM
    assert_int_equal (fg_safetensors_load (path, NULL, &back, &err), 0);
    assert_int_equal (back->nviews, 2);
    assert_string_equal (back->views [1].name, "conv.bias");
    assert_int_equal (back->views [1].kind, FG_TENSOR_PARAM);
    assert_int_equal (back->views [0].rank, 4);
    assert_memory_equal (back->data, s->data, 4 * s->size);
    fg_state_destroy (&back);
    //  data in another order than the header's keys is read by offsets
    size_t size;
    uint8_t *file = s_file ("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 3,
                            &size);
    assert_int_equal (fg_safetensors_decode (file, size, "f", NULL, &back, &err), 0);
    assert_string_equal (back->views [0].name, "a");
    assert_true (back->data [0] == 0.0f && back->data [1] == 1.0f && back->data [2] == 2.0f);
    fg_state_destroy (&back);
    free (file);
    //  a missing file
    snprintf (path, sizeof path, "%s/none.safetensors", s_dir);
    assert_int_equal (fg_safetensors_load (path, s, &back, &err), FG_ENOENT);
    assert_null (back);
    fg_state_destroy (&s);
}

//  Decodes a file of header and nfloats floats against expect; checks
//  the code and that the message names the file and says want.
static void
s_refused (const char *header, size_t nfloats, const fg_state_t *expect, int code,
           const char *want)
{
    size_t size;
    uint8_t *file = s_file (header, nfloats, &size);
    fg_state_t *out = (fg_state_t *) 1;
    fg_error_t err;
    int rc = fg_safetensors_decode (file, size, "x.safetensors", expect, &out, &err);
    if (rc != code || !strstr (err.msg, want) || strncmp (err.msg, "x.safetensors: ", 15))
        fail_msg ("header %s: code %d (%s), want %d and '%s'", header, rc, err.msg, code, want);
    assert_null (out);
    free (file);
}

#define S_A(shape, offsets) "\"a\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static void
test_lying_headers_are_refused (void **unused)
{
    //  JSON and its shape
    s_refused ("{\"a\":", 2, NULL, FG_EFORMAT, "not JSON");
    s_refused ("[1,2]", 0, NULL, FG_EFORMAT, "not a JSON object");
    s_refused ("{" S_A ("[1]", "[0,4]") "," S_A ("[1]", "[4,8]") "}", 2, NULL, FG_EFORMAT,
               "not JSON");                                         //  a duplicate key
    s_refused ("{\"__metadata__\":{\"n\":1}}", 0, NULL, FG_EFORMAT, "not a string");
    s_refused ("{\"__metadata__\":[]}", 0, NULL, FG_EFORMAT, "__metadata__ is not an object");
    s_refused ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 1, NULL, FG_EFORMAT,
               "exactly dtype, shape and data_offsets");
    s_refused ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":0}}", 1,
               NULL, FG_EFORMAT, "exactly dtype");
    //  dtypes
    s_refused ("{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 1, NULL,
               FG_EFORMAT, "not a safetensors dtype");
    s_refused ("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 1, NULL,
               FG_EUNSUPPORTED, "dtype F16: fedgrid reads F32");
    //  shapes against spans
    s_refused ("{" S_A ("[2,2]", "[0,12]") "}", 3, NULL, FG_EFORMAT, "4 bytes is not its 12-byte span");
    s_refused ("{" S_A ("[-1]", "[0,4]") "}", 1, NULL, FG_EFORMAT, "not a non-negative integer");
    s_refused ("{" S_A ("[1.0]", "[0,4]") "}", 1, NULL, FG_EFORMAT, "not a non-negative integer");
    s_refused ("{" S_A ("[4294967296,4294967296,4294967296]", "[0,4]") "}", 1, NULL, FG_EFORMAT,
               "is not its 4-byte span");                           //  overflowing count
    s_refused ("{" S_A ("[]", "[0,4]") "}", 1, NULL, FG_EUNSUPPORTED, "rank 0");
    s_refused ("{" S_A ("[1,1,1,1,1]", "[0,4]") "}", 1, NULL, FG_EUNSUPPORTED, "rank 5");
    //  offsets
    s_refused ("{" S_A ("[1]", "[0,4,8]") "}", 2, NULL, FG_EFORMAT, "not two non-negative");
    s_refused ("{" S_A ("[1]", "[8,12]") "}", 2, NULL, FG_EFORMAT, "not within the 8 bytes");
    s_refused ("{" S_A ("[0]", "[8,4]") "}", 2, NULL, FG_EFORMAT, "not within");
    s_refused ("{" S_A ("[2]", "[0,8]") ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
               "\"data_offsets\":[4,12]}}", 3, NULL, FG_EFORMAT, "overlaps tensor 'a'");
    s_refused ("{" S_A ("[1]", "[4,8]") "}", 2, NULL, FG_EFORMAT, "bytes 0 to 4 belong to no tensor");
    s_refused ("{" S_A ("[1]", "[0,4]") "}", 2, NULL, FG_EFORMAT, "bytes 4 to 8 belong to no tensor");
    //  names fg_state cannot hold, shown harmlessly
    s_refused ("{\"a\\u001b[31m\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 1,
               NULL, FG_EUNSUPPORTED, "'a?[31m': a name that is empty");
}

static void
test_header_length_is_bounded_before_allocating (void **unused)
{
    fg_error_t err;
    fg_state_t *out = NULL;
    uint8_t tiny [7] = { 0 };
    assert_int_equal (fg_safetensors_decode (tiny, sizeof tiny, "t", NULL, &out, &err),
                      FG_EFORMAT);
    assert_non_null (strstr (err.msg, "t: 7 bytes: shorter"));
    //  a length past the file, and one past the bound in a file that has it
    size_t size;
    uint8_t *file = s_file ("{}", 0, &size);
    fg_le_put64 (file, size - 7);
    assert_int_equal (fg_safetensors_decode (file, size, "t", NULL, &out, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "longer than the file's"));
    //  (the size passed is a claim: the length is refused from the first
    //  8 bytes, before anything past them is read)
    fg_le_put64 (file, (uint64_t) FG_SAFETENSORS_HEADER_MAX + 1);
    assert_int_equal (fg_safetensors_decode (file, (size_t) FG_SAFETENSORS_HEADER_MAX + 16, "t",
                                             NULL, &out, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "a header of 100000001 bytes"));
    fg_le_put64 (file, UINT64_MAX);
    assert_int_equal (fg_safetensors_decode (file, size, "t", NULL, &out, &err), FG_EFORMAT);
    assert_null (out);
    free (file);
}

static void
test_the_model_s_tensors_are_required (void **unused)
{
    fg_state_t *model = fg_state_new ();
    uint64_t a [1] = { 2 }, b [2] = { 1, 1 };
    assert_int_equal (fg_state_add (model, "a", FG_TENSOR_PARAM, 1, a, NULL), 0);
    assert_int_equal (fg_state_add (model, "b", FG_TENSOR_BUFFER, 2, b, NULL), 0);
    const char *b_ok = "\"b\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}";
    s_refused ("{" S_A ("[2]", "[0,8]") "}", 2, model, FG_EMISMATCH, "tensor 'b' of the model is missing");
    char header [512];
    snprintf (header, sizeof header, "{" S_A ("[2]", "[0,8]") ",%s,\"c\":{\"dtype\":\"F32\","
              "\"shape\":[1],\"data_offsets\":[12,16]}}", b_ok);
    s_refused (header, 4, model, FG_EMISMATCH, "tensor 'c' is not one of the model's");
    snprintf (header, sizeof header, "{" S_A ("[2]", "[0,8]") ",\"b\":{\"dtype\":\"F32\","
              "\"shape\":[1],\"data_offsets\":[8,12]}}");
    s_refused (header, 3, model, FG_EMISMATCH, "tensor 'b': shape [1], the model's is [1, 1]");
    //  the same file with b's shape right is read, kinds from the model
    snprintf (header, sizeof header, "{%s," S_A ("[2]", "[0,8]") "}", b_ok);
    size_t size;
    uint8_t *file = s_file (header, 3, &size);
    fg_state_t *out = NULL;
    fg_error_t err;
    assert_int_equal (fg_safetensors_decode (file, size, "m", model, &out, &err), 0);
    assert_int_equal (out->views [1].kind, FG_TENSOR_BUFFER);
    assert_true (out->data [0] == 0.0f && out->data [2] == 2.0f);
    fg_state_destroy (&out);
    free (file);
    fg_state_destroy (&model);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_export_bytes),
        cmocka_unit_test (test_metadata),
        cmocka_unit_test (test_export_file_read_by_jansson),
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_lying_headers_are_refused),
        cmocka_unit_test (test_header_length_is_bounded_before_allocating),
        cmocka_unit_test (test_the_model_s_tensors_are_required),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
