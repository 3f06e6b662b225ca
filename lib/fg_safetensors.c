/*  fg_safetensors.c — safetensors files: the writer
    (fg_blob_export_safetensors, fg_safetensors_encode) and the checking
    reader (fg_safetensors_decode, fg_safetensors_load), both on jansson.
    See fg_safetensors.h and docs/blob.md.                                 */

#include "fg_safetensors.h"
#include "fg_blob.h"
#include "fg_blob_internal.h"
#include "fg_file.h"
#include "fg_le.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  More tensors than any model of the zoo has (mobilenetv3-large: a few
//  hundred); a bound so a hostile header cannot make the state's O(n)
//  appends quadratic.
#define S_TENSORS_MAX 16384

//  --------------------------------------------------------------------------
//  Writer

//  __metadata__: format and producer, then the caller's entries, checked.
static json_t *
s_metadata (const fg_safetensors_meta_t *meta, size_t nmeta, fg_error_t *err)
{
    json_t *object = json_pack ("{s:s, s:s}", "format", "pt", "producer", "fedgrid");
    for (size_t i = 0; object && i < nmeta; i++) {
        const char *key = meta [i].key, *value = meta [i].value;
        if (!key || !*key || !value || json_object_get (object, key)) {
            fg_error_set (err, FG_EINVAL, "metadata entry %zu: %s", i,
                          !key || !*key? "no key": !value? "no value": "key given twice "
                          "(or format, producer: fedgrid's own)");
            json_decref (object);
            return NULL;
        }
        json_t *string = json_string (value);
        if (!string) {
            fg_error_set (err, FG_EINVAL, "metadata %s: the value is not UTF-8", key);
            json_decref (object);
            return NULL;
        }
        if (json_object_set_new (object, key, string)) {
            json_decref (object);
            object = NULL;
        }
    }
    if (!object && err && err->code == 0)
        fg_error_set (err, FG_ENOMEM, "out of memory for the metadata");
    return object;
}

int
fg_safetensors_encode (const fg_state_t *state, uint8_t **out, size_t *size, fg_error_t *err)
{
    return fg_safetensors_encode_meta (state, NULL, 0, out, size, err);
}

//  The file's head: u64 LE header length, the JSON header, spaces so the
//  data start 8-byte aligned. *head (malloc'ed) of *head_size bytes; the
//  state's floats follow it as they are (little-endian host).
static int
s_head (const fg_state_t *state, const fg_safetensors_meta_t *meta, size_t nmeta,
        uint8_t **head, size_t *head_size, fg_error_t *err)
{
    *head = NULL;
    *head_size = 0;
    int rc = fg_blob_state_check (state, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < state->nviews; i++)
        if (strcmp (state->views [i].name, "__metadata__") == 0)
            return fg_error_set (err, FG_EINVAL, "tensor %zu: the name '__metadata__' is "
                                 "reserved by safetensors", i);
    //  keys in insertion order (jansson keeps it): metadata, then the
    //  tensors in state order, their data in the same order
    fg_error_t local = { 0 };
    json_t *metadata = s_metadata (meta, nmeta, &local);
    if (!metadata) {
        if (err)
            *err = local;
        return local.code? local.code: FG_ENOMEM;
    }
    json_t *header = json_pack ("{s:o}", "__metadata__", metadata);
    for (size_t i = 0; header && i < state->nviews; i++) {
        const fg_tensor_view_t *v = &state->views [i];
        json_t *shape = json_array ();
        for (uint32_t d = 0; shape && d < v->rank; d++)
            if (json_array_append_new (shape, json_integer ((json_int_t) v->shape [d])))
                json_decref (shape), shape = NULL;
        json_t *entry = shape? json_pack ("{s:s, s:o, s:[I, I]}", "dtype", "F32",
                                          "shape", shape, "data_offsets",
                                          (json_int_t) (4 * v->offset),
                                          (json_int_t) (4 * (v->offset + v->count))): NULL;
        if (!entry || json_object_set_new (header, v->name, entry))
            json_decref (header), header = NULL;
    }
    //  compact: {"a":{"dtype":"F32",...}}, no spaces (the format's examples)
    char *text = header? json_dumps (header, JSON_COMPACT): NULL;
    json_decref (header);
    size_t len = text? strlen (text): 0;
    size_t pad = (8 - (8 + len) % 8) % 8;           //  data start 8-byte aligned
    uint8_t *bytes = text? malloc (8 + len + pad): NULL;
    if (!bytes) {
        free (text);
        return fg_error_set (err, FG_ENOMEM, "out of memory for a safetensors header");
    }
    fg_le_put64 (bytes, len + pad);
    memcpy (bytes + 8, text, len);
    memset (bytes + 8 + len, ' ', pad);
    free (text);
    *head = bytes;
    *head_size = 8 + len + pad;
    return 0;
}

int
fg_safetensors_encode_meta (const fg_state_t *state, const fg_safetensors_meta_t *meta,
                            size_t nmeta, uint8_t **out, size_t *size, fg_error_t *err)
{
    assert (state && out && size);
    *out = NULL;
    *size = 0;
    uint8_t *head;
    size_t head_size;
    int rc = s_head (state, meta, nmeta, &head, &head_size, err);
    if (rc)
        return rc;
    size_t data_bytes = state->size * sizeof (float);
    uint8_t *file = realloc (head, head_size + data_bytes);
    if (!file) {
        free (head);
        return fg_error_set (err, FG_ENOMEM, "out of memory for a %zu-byte safetensors file",
                             head_size + data_bytes);
    }
    if (data_bytes)
        memcpy (file + head_size, state->data, data_bytes);    //  little-endian host
    *out = file;
    *size = head_size + data_bytes;
    return 0;
}

int
fg_blob_export_safetensors (const char *path, const fg_state_t *state, fg_error_t *err)
{
    return fg_safetensors_save (path, state, NULL, 0, err);
}

int
fg_safetensors_save (const char *path, const fg_state_t *state,
                     const fg_safetensors_meta_t *meta, size_t nmeta, fg_error_t *err)
{
    assert (path && state);
    //  the head, then the state's floats from where they are: no copy of
    //  the weights in memory
    uint8_t *head;
    size_t head_size;
    int rc = s_head (state, meta, nmeta, &head, &head_size, err);
    if (rc) {
        fg_error_prefix (err, "%s", path);
        return rc;
    }
    fg_file_out_t *out;
    rc = fg_file_out_open (path, 0644, &out, err);
    if (rc == 0)
        rc = fg_file_out_write (out, 0, head, head_size, err);
    if (rc == 0)
        rc = fg_file_out_write (out, head_size, state->data, state->size * sizeof (float), err);
    free (head);
    return fg_file_out_close (&out, rc, err);
}

//  --------------------------------------------------------------------------
//  Reader

//  One tensor entry of a header, checked on its own.
typedef struct {
    const char *name;                   //  the header's key (jansson owns it)
    uint32_t    rank;
    uint64_t    shape [FG_TENSOR_RANK_MAX];
    uint64_t    begin, end;             //  byte span in the data
} s_entry_t;

//  A name fit for a message: the first 60 bytes, anything but printable
//  ASCII as '?'.
static const char *
s_shown (const char *name, char shown [64])
{
    size_t n = 0;
    for (; name [n] && n < 60; n++)
        shown [n] = name [n] >= 0x20 && name [n] <= 0x7e? name [n]: '?';
    if (name [n])
        shown [n - 1] = shown [n - 2] = shown [n - 3] = '.';
    shown [n] = '\0';
    return shown;
}

//  Bytes per element of a safetensors dtype, 0 when it is not one.
static uint32_t
s_dtype_size (const char *dtype)
{
    static const struct { const char *name; uint32_t size; } dtypes [] = {
        { "BOOL", 1 }, { "U8", 1 }, { "I8", 1 }, { "F8_E4M3", 1 }, { "F8_E5M2", 1 },
        { "I16", 2 }, { "U16", 2 }, { "F16", 2 }, { "BF16", 2 },
        { "I32", 4 }, { "U32", 4 }, { "F32", 4 }, { "I64", 8 }, { "U64", 8 }, { "F64", 8 }
    };
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes [0]; i++)
        if (strcmp (dtype, dtypes [i].name) == 0)
            return dtypes [i].size;
    return 0;
}

//  A non-negative JSON integer (jansson refuses integers past INT64_MAX).
static bool
s_get_u64 (const json_t *value, uint64_t *out)
{
    if (!json_is_integer (value) || json_integer_value (value) < 0)
        return false;
    *out = (uint64_t) json_integer_value (value);
    return true;
}

//  Checks one entry against itself and the data size. Returns 0,
//  FG_EFORMAT or FG_EUNSUPPORTED with err naming the tensor (the caller
//  prefixes the file).
static int
s_entry_parse (const char *key, const json_t *value, uint64_t data_size, s_entry_t *e,
               fg_error_t *err)
{
    char shown [64];
    const char *who = s_shown (key, shown);
    e->name = key;
    const json_t *dtype = json_object_get (value, "dtype");
    const json_t *shape = json_object_get (value, "shape");
    const json_t *offsets = json_object_get (value, "data_offsets");
    if (!json_is_object (value) || !dtype || !shape || !offsets || json_object_size (value) != 3)
        return fg_error_set (err, FG_EFORMAT, "tensor '%s': not an object of exactly dtype, "
                             "shape and data_offsets", who);
    uint32_t elem = json_is_string (dtype)? s_dtype_size (json_string_value (dtype)): 0;
    if (!elem)
        return fg_error_set (err, FG_EFORMAT, "tensor '%s': dtype is not a safetensors dtype", who);
    size_t rank = json_array_size (shape);
    if (!json_is_array (shape))
        return fg_error_set (err, FG_EFORMAT, "tensor '%s': shape is not an array", who);
    uint64_t count = 1;
    bool count_over = false;
    for (size_t d = 0; d < rank; d++) {
        uint64_t dim;
        if (!s_get_u64 (json_array_get (shape, d), &dim))
            return fg_error_set (err, FG_EFORMAT, "tensor '%s': dimension %zu of its shape is not "
                                 "a non-negative integer", who, d);
        if (d < FG_TENSOR_RANK_MAX)
            e->shape [d] = dim;
        if (dim && count > UINT64_MAX / 8 / dim)
            count_over = true;                  //  the span check below refuses it
        else
            count *= dim;
    }
    uint64_t begin, end;
    if (json_array_size (offsets) != 2 || !s_get_u64 (json_array_get (offsets, 0), &begin)
    ||  !s_get_u64 (json_array_get (offsets, 1), &end))
        return fg_error_set (err, FG_EFORMAT, "tensor '%s': data_offsets is not two non-negative "
                             "integers", who);
    if (begin > end || end > data_size)
        return fg_error_set (err, FG_EFORMAT, "tensor '%s': data_offsets [%llu, %llu] are not "
                             "within the %llu bytes of data", who, (unsigned long long) begin,
                             (unsigned long long) end, (unsigned long long) data_size);
    if (count_over || count * elem != end - begin)
        return fg_error_set (err, FG_EFORMAT, "tensor '%s': its shape times %u bytes is not its "
                             "%llu-byte span", who, elem, (unsigned long long) (end - begin));
    e->begin = begin;
    e->end = end;
    e->rank = (uint32_t) rank;
    //  well-formed, but not what fedgrid's states hold
    if (strcmp (json_string_value (dtype), "F32") != 0)
        return fg_error_set (err, FG_EUNSUPPORTED, "tensor '%s': dtype %s: fedgrid reads F32 "
                             "weights only", who, json_string_value (dtype));
    if (rank < 1 || rank > FG_TENSOR_RANK_MAX || count == 0)
        return fg_error_set (err, FG_EUNSUPPORTED, "tensor '%s': rank %zu or no elements: fedgrid "
                             "tensors have rank 1 to %d and at least one element", who, rank,
                             FG_TENSOR_RANK_MAX);
    size_t len = strlen (key);
    bool printable = true;
    for (size_t i = 0; i < len && printable; i++)
        printable = (unsigned char) key [i] >= 0x20 && (unsigned char) key [i] <= 0x7e;
    if (len == 0 || len >= FG_TENSOR_NAME_MAX || !printable)
        return fg_error_set (err, FG_EUNSUPPORTED, "tensor '%s': a name that is empty, longer "
                             "than %d bytes or not printable ASCII", who, FG_TENSOR_NAME_MAX - 1);
    return 0;
}

static int
s_by_begin (const void *a, const void *b)
{
    const s_entry_t *x = (const s_entry_t *) a, *y = (const s_entry_t *) b;
    if (x->begin != y->begin)
        return x->begin < y->begin? -1: 1;
    return x->end < y->end? -1: x->end > y->end;
}

//  The spans, sorted by begin, must tile [0, data_size): no overlap, no
//  byte that belongs to no tensor (the format's rule against polyglot
//  files). Returns 0 or FG_EFORMAT.
static int
s_spans_tile (s_entry_t *entries, size_t n, uint64_t data_size, fg_error_t *err)
{
    qsort (entries, n, sizeof *entries, s_by_begin);
    char a [64], b [64];
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (entries [i].begin < at)
            return fg_error_set (err, FG_EFORMAT, "tensor '%s' overlaps tensor '%s' (bytes %llu to "
                                 "%llu)", s_shown (entries [i].name, a),
                                 s_shown (entries [i - 1].name, b),
                                 (unsigned long long) entries [i].begin, (unsigned long long) at);
        if (entries [i].begin > at)
            return fg_error_set (err, FG_EFORMAT, "data bytes %llu to %llu belong to no tensor",
                                 (unsigned long long) at, (unsigned long long) entries [i].begin);
        at = entries [i].end;
    }
    if (at != data_size)
        return fg_error_set (err, FG_EFORMAT, "data bytes %llu to %llu belong to no tensor",
                             (unsigned long long) at, (unsigned long long) data_size);
    return 0;
}

//  "[a, b, c]" of a shape (rank <= FG_TENSOR_RANK_MAX).
static const char *
s_shape_text (uint32_t rank, const uint64_t *shape, char text [96])
{
    int n = snprintf (text, 96, "[");
    for (uint32_t d = 0; d < rank && n < 96; d++)
        n += snprintf (text + n, 96 - (size_t) n, "%s%llu", d? ", ": "",
                       (unsigned long long) shape [d]);
    if (n < 95)
        snprintf (text + n, 96 - (size_t) n, "]");
    return text;
}

//  Every entry is a tensor of expect with its shape, and every tensor of
//  expect is there. Returns 0 or FG_EMISMATCH.
static int
s_match_model (const json_t *header, const s_entry_t *entries, size_t n,
               const fg_state_t *expect, fg_error_t *err)
{
    char shown [64];
    for (size_t i = 0; i < expect->nviews; i++)
        if (!json_object_get (header, expect->views [i].name))
            return fg_error_set (err, FG_EMISMATCH, "tensor '%s' of the model is missing",
                                 expect->views [i].name);
    for (size_t i = 0; i < n; i++) {
        const fg_tensor_view_t *v = fg_state_find (expect, entries [i].name);
        if (!v)
            return fg_error_set (err, FG_EMISMATCH, "tensor '%s' is not one of the model's",
                                 s_shown (entries [i].name, shown));
        bool same = v->rank == entries [i].rank;
        for (uint32_t d = 0; same && d < v->rank; d++)
            same = v->shape [d] == entries [i].shape [d];
        if (!same) {
            char file [96], model [96];
            return fg_error_set (err, FG_EMISMATCH, "tensor '%s': shape %s, the model's is %s",
                                 v->name, s_shape_text (entries [i].rank, entries [i].shape, file),
                                 s_shape_text (v->rank, v->shape, model));
        }
    }
    return 0;
}

//  The state of the checked entries: expect's layout, or the entries in
//  data order. Returns 0, FG_ENOMEM or FG_EUNSUPPORTED (fg_state refuses).
static int
s_build (const s_entry_t *entries, size_t n, const uint8_t *payload, const fg_state_t *expect,
         fg_state_t **state_out, fg_error_t *err)
{
    fg_state_t *state = expect? fg_state_dup (expect): fg_state_new ();
    if (!state)
        return fg_error_set (err, FG_ENOMEM, "out of memory for the state");
    for (size_t i = 0; !expect && i < n; i++) {
        int rc = fg_state_add (state, entries [i].name, FG_TENSOR_PARAM, entries [i].rank,
                               entries [i].shape, err);
        if (rc) {
            fg_state_destroy (&state);
            return rc == FG_ENOMEM? rc: FG_EUNSUPPORTED;
        }
    }
    //  the spans tile the data, so every float of the state is written;
    //  without expect, view i is entry i
    for (size_t i = 0; i < n; i++) {
        const fg_tensor_view_t *v = expect? fg_state_find (state, entries [i].name)
                                          : &state->views [i];
        memcpy (state->data + v->offset, payload + entries [i].begin,
                (size_t) (entries [i].end - entries [i].begin));
    }
    *state_out = state;
    return 0;
}

//  Header checks and the state; err's message without the file name.
static int
s_decode_header (const json_t *header, uint64_t data_size, const uint8_t *payload,
                 const fg_state_t *expect, fg_state_t **state_out, fg_error_t *err)
{
    if (!json_is_object (header))
        return fg_error_set (err, FG_EFORMAT, "the header is not a JSON object");
    size_t n = json_object_size (header);
    if (n > S_TENSORS_MAX + 1)
        return fg_error_set (err, FG_EUNSUPPORTED, "%zu tensors: more than %d", n, S_TENSORS_MAX);
    s_entry_t *entries = calloc (n? n: 1, sizeof *entries);
    if (!entries)
        return fg_error_set (err, FG_ENOMEM, "out of memory for %zu entries", n);
    int rc = 0;
    size_t count = 0;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) header, key, value) {
        if (strcmp (key, "__metadata__") == 0) {
            const char *mkey;
            json_t *mvalue;
            if (!json_is_object (value))
                rc = fg_error_set (err, FG_EFORMAT, "__metadata__ is not an object");
            else
            json_object_foreach (value, mkey, mvalue)
                if (rc == 0 && !json_is_string (mvalue))
                    rc = fg_error_set (err, FG_EFORMAT, "__metadata__: a value that is not a "
                                       "string");
        }
        else
            rc = s_entry_parse (key, value, data_size, &entries [count++], err);
        if (rc)
            break;
    }
    if (rc == 0)
        rc = s_spans_tile (entries, count, data_size, err);
    if (rc == 0 && expect)
        rc = s_match_model (header, entries, count, expect, err);
    if (rc == 0)
        rc = s_build (entries, count, payload, expect, state_out, err);
    free (entries);
    return rc;
}

int
fg_safetensors_decode (const uint8_t *data, size_t size, const char *name,
                       const fg_state_t *expect, fg_state_t **state_out, fg_error_t *err)
{
    assert ((data || size == 0) && name && state_out);
    *state_out = NULL;
    if (size < 8)
        return fg_error_set (err, FG_EFORMAT, "%s: %zu bytes: shorter than a safetensors header "
                             "length", name, size);
    //  the length is checked against the bound and the file before any
    //  allocation it could cause
    uint64_t header_len = fg_le_get64 (data);
    if (header_len > FG_SAFETENSORS_HEADER_MAX || header_len > size - 8)
        return fg_error_set (err, FG_EFORMAT, "%s: a header of %llu bytes: longer than the "
                             "file's %zu bytes after the length, or than %u", name,
                             (unsigned long long) header_len, size - 8,
                             FG_SAFETENSORS_HEADER_MAX);
    json_error_t jerr;
    json_t *header = json_loadb ((const char *) data + 8, (size_t) header_len,
                                 JSON_REJECT_DUPLICATES, &jerr);
    if (!header)
        return fg_error_set (err, FG_EFORMAT, "%s: the header is not JSON: %s (header byte %d)",
                             name, jerr.text, jerr.position);
    int rc = s_decode_header (header, size - 8 - header_len, data + 8 + header_len, expect,
                              state_out, err);
    json_decref (header);
    if (rc)
        fg_error_prefix (err, "%s: safetensors", name);
    return rc;
}

int
fg_safetensors_load (const char *path, const fg_state_t *expect, fg_state_t **state_out,
                     fg_error_t *err)
{
    assert (path && state_out);
    *state_out = NULL;
    uint64_t max = 8 + (uint64_t) FG_SAFETENSORS_HEADER_MAX
                 + (expect? 4 * (uint64_t) expect->size: (uint64_t) 1 << 32);
    char *data;
    size_t size;
    int rc = fg_file_read (path, max > SIZE_MAX? SIZE_MAX: (size_t) max, &data, &size, err);
    if (rc)
        return rc;
    rc = fg_safetensors_decode ((const uint8_t *) data, size, path, expect, state_out, err);
    free (data);
    return rc;
}
