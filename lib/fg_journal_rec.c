/*  fg_journal_rec.c — encoders and decoders of the journal's records
    (layouts in fg_journal_internal.h and docs/journal.md).

    Decoders read only through s_rd_* with an explicit position and the
    bytes left; every count is checked against what is there before use. */

#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "fg_le.h"
#include "fg_journal_internal.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <zlib.h>

//  ---- little-endian helpers ------------------------------------------------

uint32_t
fg_jrec_crc (const void *data, size_t size)
{
    const uint8_t *p = (const uint8_t *) data;
    uLong crc = crc32 (0L, Z_NULL, 0);
    while (size > 0) {
        uInt chunk = size > (1u << 30)? (1u << 30): (uInt) size;
        crc = crc32 (crc, p, chunk);
        p += chunk;
        size -= chunk;
    }
    return (uint32_t) crc;
}

//  ---- envelope ---------------------------------------------------------------

static const char *s_kind_names [] = {
    "?", "schema", "config", "experiment", "round", "update", "weights",
    "metrics", "loss", "node", "event", "optimizer", "pruned"
};

static const char *
s_kind_name (int kind)
{
    return kind >= 1 && kind <= FG_JREC_KIND_MAX? s_kind_names [kind]: "unknown";
}

int
fg_jrec_kind (const void *value, size_t size)
{
    if (!value || size < 1)
        return -1;
    return ((const uint8_t *) value) [0];
}

//  Writes head and CRC around a body of n bytes at buf + 8 (already
//  written by the caller); returns the record size.
static size_t
s_seal (uint8_t *buf, int kind, size_t n)
{
    buf [0] = (uint8_t) kind;
    buf [1] = FG_JREC_VERSION;
    buf [2] = 0;
    buf [3] = 0;
    fg_le_put32 (buf + 4, (uint32_t) n);
    fg_le_put32 (buf + FG_JREC_HEAD + n, fg_jrec_crc (buf, FG_JREC_HEAD + n));
    return FG_JREC_OVERHEAD + n;
}

//  Checks the envelope of a value of the given kind. On success *body,
//  *n are the body and its length, *rest and *nrest what follows the CRC.
static int
s_open (const void *value, size_t size, int kind,
        const uint8_t **body, size_t *n, const uint8_t **rest, size_t *nrest,
        fg_error_t *err)
{
    const char *name = s_kind_name (kind);
    const uint8_t *v = (const uint8_t *) value;
    if (!v || size < FG_JREC_OVERHEAD)
        return fg_error_set (err, FG_EFORMAT,
            "%s record: %zu bytes, shorter than the %d-byte record frame", name,
            v? size: (size_t) 0, FG_JREC_OVERHEAD);
    uint32_t length = fg_le_get32 (v + 4);
    if (length > size - FG_JREC_OVERHEAD)
        return fg_error_set (err, FG_EFORMAT,
            "%s record: body length %u exceeds the %zu bytes present", name,
            length, size - FG_JREC_OVERHEAD);
    uint32_t stored = fg_le_get32 (v + FG_JREC_HEAD + length);
    uint32_t actual = fg_jrec_crc (v, FG_JREC_HEAD + (size_t) length);
    if (stored != actual)
        return fg_error_set (err, FG_ECHECKSUM,
            "%s record: CRC-32 is %08x, stored %08x", name, actual, stored);
    if (v [0] != kind)
        return fg_error_set (err, FG_EFORMAT,
            "%s record expected, found kind %u (%s)", name, v [0], s_kind_name (v [0]));
    if (v [1] != FG_JREC_VERSION)
        return fg_error_set (err, FG_EVERSION,
            "%s record: version %u, this fedgrid reads version %d", name, v [1],
            FG_JREC_VERSION);
    if (v [2] != 0 || v [3] != 0)
        return fg_error_set (err, FG_EFORMAT,
            "%s record: reserved bytes are %02x %02x, not zero", name, v [2], v [3]);
    *body = v + FG_JREC_HEAD;
    *n = length;
    *rest = v + FG_JREC_OVERHEAD + length;
    *nrest = size - FG_JREC_OVERHEAD - length;
    return 0;
}

//  The body has exactly `want` bytes and nothing follows (non-blob kinds).
static int
s_exact (int kind, size_t n, size_t want, size_t nrest, fg_error_t *err)
{
    if (n != want)
        return fg_error_set (err, FG_EFORMAT, "%s record: body is %zu bytes, expected %zu",
                             s_kind_name (kind), n, want);
    if (nrest != 0)
        return fg_error_set (err, FG_EFORMAT, "%s record: %zu stray bytes after the CRC",
                             s_kind_name (kind), nrest);
    return 0;
}

static int
s_check_text (int kind, const char *field, const uint8_t *text, size_t length,
              fg_error_t *err)
{
    const void *nul = memchr (text, 0, length);
    if (nul)
        return fg_error_set (err, FG_EFORMAT, "%s record: %s has a NUL byte at offset %zu",
                             s_kind_name (kind), field,
                             (size_t) ((const uint8_t *) nul - text));
    return 0;
}

//  ---- schema -----------------------------------------------------------------

size_t
fg_jrec_encode_schema (uint8_t *buf, size_t cap, uint32_t version)
{
    if (cap < FG_JREC_SIZE_SCHEMA)
        return 0;
    fg_le_put32 (buf + 8, version);
    return s_seal (buf, FG_JREC_SCHEMA, 4);
}

int
fg_jrec_decode_schema (const void *value, size_t size, fg_jrec_schema_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_SCHEMA, &b, &n, &rest, &nrest, err);
    if (rc == 0)
        rc = s_exact (FG_JREC_SCHEMA, n, 4, nrest, err);
    if (rc)
        return rc;
    out->version = fg_le_get32 (b);
    if (out->version == 0)
        return fg_error_set (err, FG_EFORMAT, "schema record: version 0 is not a version");
    return 0;
}

//  ---- pruned -----------------------------------------------------------------

size_t
fg_jrec_encode_pruned (uint8_t *buf, size_t cap, uint32_t through)
{
    if (cap < FG_JREC_SIZE_PRUNED)
        return 0;
    fg_le_put32 (buf + 8, through);
    return s_seal (buf, FG_JREC_PRUNED, 4);
}

int
fg_jrec_decode_pruned (const void *value, size_t size, fg_jrec_pruned_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_PRUNED, &b, &n, &rest, &nrest, err);
    if (rc == 0)
        rc = s_exact (FG_JREC_PRUNED, n, 4, nrest, err);
    if (rc)
        return rc;
    out->through = fg_le_get32 (b);
    //  written only when a round was pruned; never the reserved "latest"
    if (out->through == 0 || out->through == UINT32_MAX)
        return fg_error_set (err, FG_EFORMAT, "pruned record: round %u is not a round",
                             out->through);
    return 0;
}

//  ---- config -----------------------------------------------------------------

size_t
fg_jrec_size_config (size_t text_length)
{
    return FG_JREC_OVERHEAD + 68 + text_length;
}

size_t
fg_jrec_encode_config (uint8_t *buf, size_t cap, const char *hash,
                       const char *text, size_t length)
{
    if (length > FG_JREC_CONFIG_MAX || cap < fg_jrec_size_config (length)
    ||  strlen (hash) != FG_JREC_HASH_HEX)
        return 0;
    memcpy (buf + 8, hash, FG_JREC_HASH_HEX);
    fg_le_put32 (buf + 8 + 64, (uint32_t) length);
    if (length)
        memcpy (buf + 8 + 68, text, length);
    return s_seal (buf, FG_JREC_CONFIG, 68 + length);
}

int
fg_jrec_decode_config (const void *value, size_t size, fg_jrec_config_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_CONFIG, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n < 68)
        return fg_error_set (err, FG_EFORMAT, "config record: body is %zu bytes, at least 68 needed", n);
    uint32_t length = fg_le_get32 (b + 64);
    if (length > FG_JREC_CONFIG_MAX)
        return fg_error_set (err, FG_EFORMAT, "config record: text length %u exceeds %u",
                             length, FG_JREC_CONFIG_MAX);
    if ((rc = s_exact (FG_JREC_CONFIG, n, 68 + (size_t) length, nrest, err)))
        return rc;
    for (int i = 0; i < FG_JREC_HASH_HEX; i++) {
        uint8_t c = b [i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return fg_error_set (err, FG_EFORMAT,
                "config record: hash byte %d is 0x%02x, not a lower-case hex digit", i, c);
    }
    if ((rc = s_check_text (FG_JREC_CONFIG, "configuration text", b + 68, length, err)))
        return rc;
    memcpy (out->hash, b, FG_JREC_HASH_HEX);
    out->hash [FG_JREC_HASH_HEX] = 0;
    out->text = (const char *) b + 68;
    out->length = length;
    return 0;
}

//  ---- experiment -------------------------------------------------------------

size_t
fg_jrec_size_experiment (size_t label_length)
{
    return FG_JREC_OVERHEAD + 28 + label_length;
}

size_t
fg_jrec_encode_experiment (uint8_t *buf, size_t cap, const uint8_t id [FG_JREC_ID_SIZE],
                           uint64_t created_ns, const char *label, size_t label_length)
{
    if (label_length > FG_JREC_LABEL_MAX || cap < fg_jrec_size_experiment (label_length))
        return 0;
    memcpy (buf + 8, id, FG_JREC_ID_SIZE);
    fg_le_put64 (buf + 8 + 16, created_ns);
    fg_le_put32 (buf + 8 + 24, (uint32_t) label_length);
    if (label_length)
        memcpy (buf + 8 + 28, label, label_length);
    return s_seal (buf, FG_JREC_EXPERIMENT, 28 + label_length);
}

int
fg_jrec_decode_experiment (const void *value, size_t size, fg_jrec_experiment_t *out,
                           fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_EXPERIMENT, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n < 28)
        return fg_error_set (err, FG_EFORMAT, "experiment record: body is %zu bytes, at least 28 needed", n);
    uint32_t length = fg_le_get32 (b + 24);
    if (length > FG_JREC_LABEL_MAX)
        return fg_error_set (err, FG_EFORMAT, "experiment record: label length %u exceeds %d",
                             length, FG_JREC_LABEL_MAX);
    if ((rc = s_exact (FG_JREC_EXPERIMENT, n, 28 + (size_t) length, nrest, err))
    ||  (rc = s_check_text (FG_JREC_EXPERIMENT, "label", b + 28, length, err)))
        return rc;
    memcpy (out->id, b, FG_JREC_ID_SIZE);
    out->created_ns = fg_le_get64 (b + 16);
    out->label = (const char *) b + 28;
    out->label_length = length;
    return 0;
}

//  ---- round ------------------------------------------------------------------

size_t
fg_jrec_size_round (size_t nassignments, size_t nincluded)
{
    if (nassignments > FG_JREC_ASSIGN_MAX || nincluded > FG_JREC_SHARDS_MAX)
        return 0;
    return FG_JREC_OVERHEAD + 44 + 12 * nassignments + 4 * nincluded;
}

size_t
fg_jrec_encode_round (uint8_t *buf, size_t cap, const fg_journal_round_t *r)
{
    size_t need = fg_jrec_size_round (r->nassignments, r->nincluded);
    if (need == 0 || cap < need)
        return 0;
    uint8_t *p = buf + 8;
    fg_le_put32 (p, r->round);
    p [4] = (uint8_t) r->state;
    p [5] = p [6] = p [7] = 0;
    fg_le_put64 (p + 8, r->opened_ns);
    fg_le_put64 (p + 16, r->committed_ns);
    fg_le_put64 (p + 24, r->weights_size);
    fg_le_put32 (p + 32, r->weights_crc);
    fg_le_put32 (p + 36, r->nassignments);
    fg_le_put32 (p + 40, r->nincluded);
    p += 44;
    for (uint32_t i = 0; i < r->nassignments; i++, p += 12) {
        fg_le_put32 (p, r->assignments [i].shard);
        fg_le_put32 (p + 4, r->assignments [i].node);
        fg_le_put32 (p + 8, r->assignments [i].attempt);
    }
    for (uint32_t i = 0; i < r->nincluded; i++, p += 4)
        fg_le_put32 (p, r->included [i]);
    return s_seal (buf, FG_JREC_ROUND, need - FG_JREC_OVERHEAD);
}

int
fg_jrec_decode_round (const void *value, size_t size, fg_jrec_round_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_ROUND, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n < 44)
        return fg_error_set (err, FG_EFORMAT, "round record: body is %zu bytes, at least 44 needed", n);
    memset (out, 0, sizeof *out);
    fg_journal_round_t *r = &out->head;
    r->round = fg_le_get32 (b);
    r->state = b [4];
    r->opened_ns = fg_le_get64 (b + 8);
    r->committed_ns = fg_le_get64 (b + 16);
    r->weights_size = fg_le_get64 (b + 24);
    r->weights_crc = fg_le_get32 (b + 32);
    r->nassignments = fg_le_get32 (b + 36);
    r->nincluded = fg_le_get32 (b + 40);
    if (r->nassignments > FG_JREC_ASSIGN_MAX || r->nincluded > FG_JREC_SHARDS_MAX)
        return fg_error_set (err, FG_EFORMAT,
            "round record: %u assignments and %u included shards exceed the limits (%u, %u)",
            r->nassignments, r->nincluded, FG_JREC_ASSIGN_MAX, FG_JREC_SHARDS_MAX);
    if ((rc = s_exact (FG_JREC_ROUND, n,
                       44 + 12 * (size_t) r->nassignments + 4 * (size_t) r->nincluded,
                       nrest, err)))
        return rc;
    if (r->round == 0 || r->round == FG_JOURNAL_LATEST)
        return fg_error_set (err, FG_EFORMAT, "round record: round number %u is not allowed", r->round);
    if (b [5] || b [6] || b [7])
        return fg_error_set (err, FG_EFORMAT, "round record: padding bytes are not zero");
    if (r->state == FG_ROUND_OPEN) {
        if (r->committed_ns || r->weights_size || r->weights_crc || r->nincluded)
            return fg_error_set (err, FG_EFORMAT,
                "round record: an open round has commit fields (time, weights or included shards)");
    }
    else
    if (r->state != FG_ROUND_COMMITTED)
        return fg_error_set (err, FG_EFORMAT, "round record: state %u is neither open (1) nor committed (2)",
                             r->state);
    out->assignments = b + 44;
    out->included = b + 44 + 12 * (size_t) r->nassignments;
    for (uint32_t i = 0; i < r->nassignments; i++) {
        uint32_t attempt = fg_le_get32 (out->assignments + 12 * (size_t) i + 8);
        if (attempt == 0)
            return fg_error_set (err, FG_EFORMAT, "round record: assignment %u has attempt 0", i);
    }
    for (uint32_t i = 1; i < r->nincluded; i++) {
        uint32_t a = fg_le_get32 (out->included + 4 * (size_t) (i - 1));
        uint32_t c = fg_le_get32 (out->included + 4 * (size_t) i);
        if (c <= a)
            return fg_error_set (err, FG_EFORMAT,
                "round record: included shards not strictly increasing at index %u (%u after %u)",
                i, c, a);
    }
    return 0;
}

//  ---- update -----------------------------------------------------------------

size_t
fg_jrec_encode_update (uint8_t *buf, size_t cap, const fg_journal_update_t *u)
{
    if (cap < FG_JREC_SIZE_UPDATE)
        return 0;
    uint8_t *p = buf + 8;
    fg_le_put32 (p, u->round);
    fg_le_put32 (p + 4, u->shard);
    fg_le_put32 (p + 8, u->attempt);
    fg_le_put32 (p + 12, u->node);
    fg_le_put64 (p + 16, u->samples);
    fg_le_put64 (p + 24, u->received_ns);
    fg_le_put64 (p + 32, u->blob_size);
    fg_le_put32 (p + 40, u->blob_crc);
    return s_seal (buf, FG_JREC_UPDATE, 44);
}

//  The blob that follows a record: exactly blob_size bytes with that CRC.
static int
s_blob (int kind, const uint8_t *rest, size_t nrest, uint64_t blob_size, uint32_t blob_crc,
        bool check, fg_error_t *err)
{
    if (blob_size != (uint64_t) nrest)
        return fg_error_set (err, FG_EFORMAT,
            "%s record: blob length %llu but %zu bytes follow the record", s_kind_name (kind),
            (unsigned long long) blob_size, nrest);
    if (check) {
        uint32_t actual = fg_jrec_crc (rest, nrest);
        if (actual != blob_crc)
            return fg_error_set (err, FG_ECHECKSUM,
                "%s blob: CRC-32 of its %zu bytes is %08x, stored %08x", s_kind_name (kind),
                nrest, actual, blob_crc);
    }
    return 0;
}

int
fg_jrec_decode_update (const void *value, size_t size, bool check_blob, fg_jrec_update_t *out,
                       fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_UPDATE, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n != 44)
        return fg_error_set (err, FG_EFORMAT, "update record: body is %zu bytes, expected 44", n);
    fg_journal_update_t *u = &out->head;
    u->round = fg_le_get32 (b);
    u->shard = fg_le_get32 (b + 4);
    u->attempt = fg_le_get32 (b + 8);
    u->node = fg_le_get32 (b + 12);
    u->samples = fg_le_get64 (b + 16);
    u->received_ns = fg_le_get64 (b + 24);
    u->blob_size = fg_le_get64 (b + 32);
    u->blob_crc = fg_le_get32 (b + 40);
    if (u->round == 0 || u->round == FG_JOURNAL_LATEST)
        return fg_error_set (err, FG_EFORMAT, "update record: round number %u is not allowed", u->round);
    if (u->attempt == 0)
        return fg_error_set (err, FG_EFORMAT, "update record: attempt 0 (attempts count from 1)");
    if ((rc = s_blob (FG_JREC_UPDATE, rest, nrest, u->blob_size, u->blob_crc, check_blob, err)))
        return rc;
    out->blob = rest;
    return 0;
}

//  ---- weights ----------------------------------------------------------------

size_t
fg_jrec_encode_weights (uint8_t *buf, size_t cap, uint32_t round, uint64_t blob_size,
                        uint32_t blob_crc)
{
    if (cap < FG_JREC_SIZE_WEIGHTS)
        return 0;
    fg_le_put32 (buf + 8, round);
    fg_le_put64 (buf + 12, blob_size);
    fg_le_put32 (buf + 20, blob_crc);
    return s_seal (buf, FG_JREC_WEIGHTS, 16);
}

int
fg_jrec_decode_weights (const void *value, size_t size, bool check_blob, fg_jrec_weights_t *out,
                        fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_WEIGHTS, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n != 16)
        return fg_error_set (err, FG_EFORMAT, "weights record: body is %zu bytes, expected 16", n);
    out->round = fg_le_get32 (b);
    out->blob_size = fg_le_get64 (b + 4);
    out->blob_crc = fg_le_get32 (b + 12);
    if (out->round == 0 || out->round == FG_JOURNAL_LATEST)
        return fg_error_set (err, FG_EFORMAT, "weights record: round number %u is not allowed", out->round);
    if ((rc = s_blob (FG_JREC_WEIGHTS, rest, nrest, out->blob_size, out->blob_crc, check_blob, err)))
        return rc;
    out->blob = rest;
    return 0;
}

//  ---- optimizer state ------------------------------------------------------
//
//  The server optimizer's state after a committed round (FedAvgM: the
//  momentum buffer), stored beside that round's weights checkpoint.

size_t
fg_jrec_encode_optimizer (uint8_t *buf, size_t cap, uint32_t round, uint32_t what,
                          uint64_t blob_size, uint32_t blob_crc)
{
    if (cap < FG_JREC_SIZE_OPTIMIZER)
        return 0;
    fg_le_put32 (buf + 8, round);
    fg_le_put32 (buf + 12, what);
    fg_le_put64 (buf + 16, blob_size);
    fg_le_put32 (buf + 24, blob_crc);
    return s_seal (buf, FG_JREC_OPTIMIZER, 20);
}

int
fg_jrec_decode_optimizer (const void *value, size_t size, bool check_blob,
                          fg_jrec_optimizer_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_OPTIMIZER, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n != 20)
        return fg_error_set (err, FG_EFORMAT, "optimizer record: body is %zu bytes, expected 20", n);
    out->round = fg_le_get32 (b);
    out->what = fg_le_get32 (b + 4);
    out->blob_size = fg_le_get64 (b + 8);
    out->blob_crc = fg_le_get32 (b + 16);
    if (out->round == 0 || out->round == FG_JOURNAL_LATEST)
        return fg_error_set (err, FG_EFORMAT, "optimizer record: round number %u is not allowed",
                             out->round);
    if (out->what == 0 || out->what > FG_JREC_OPT_MAX)
        return fg_error_set (err, FG_EFORMAT, "optimizer record: state kind %u is not one this "
                             "fedgrid knows (1: momentum buffer)", out->what);
    if ((rc = s_blob (FG_JREC_OPTIMIZER, rest, nrest, out->blob_size, out->blob_crc, check_blob,
                      err)))
        return rc;
    out->blob = rest;
    return 0;
}

//  ---- metrics ----------------------------------------------------------------

size_t
fg_jrec_encode_metrics (uint8_t *buf, size_t cap, uint32_t round, const fg_journal_metrics_t *m)
{
    if (cap < FG_JREC_SIZE_METRICS)
        return 0;
    uint8_t *p = buf + 8;
    fg_le_put32 (p, round);
    fg_le_put32 (p + 4, m->updates);
    fg_le_put64 (p + 8, m->samples);
    fg_le_putf64 (p + 16, m->train_loss);
    fg_le_putf64 (p + 24, m->test_loss);
    fg_le_putf64 (p + 32, m->test_accuracy);
    fg_le_put64 (p + 40, m->duration_ms);
    return s_seal (buf, FG_JREC_METRICS, 48);
}

int
fg_jrec_decode_metrics (const void *value, size_t size, fg_jrec_metrics_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_METRICS, &b, &n, &rest, &nrest, err);
    if (rc == 0)
        rc = s_exact (FG_JREC_METRICS, n, 48, nrest, err);
    if (rc)
        return rc;
    out->round = fg_le_get32 (b);
    out->m.updates = fg_le_get32 (b + 4);
    out->m.samples = fg_le_get64 (b + 8);
    out->m.train_loss = fg_le_getf64 (b + 16);
    out->m.test_loss = fg_le_getf64 (b + 24);
    out->m.test_accuracy = fg_le_getf64 (b + 32);
    out->m.duration_ms = fg_le_get64 (b + 40);
    if (out->round == 0 || out->round == FG_JOURNAL_LATEST)
        return fg_error_set (err, FG_EFORMAT, "metrics record: round number %u is not allowed", out->round);
    double acc = out->m.test_accuracy;
    if (!isnan (acc) && !(acc >= 0.0 && acc <= 1.0))
        return fg_error_set (err, FG_EFORMAT, "metrics record: test accuracy %g outside 0..1", acc);
    return 0;
}

//  ---- loss curve -------------------------------------------------------------

size_t
fg_jrec_size_loss (size_t count)
{
    if (count > FG_JOURNAL_LOSS_MAX)
        return 0;
    return FG_JREC_OVERHEAD + 12 + 4 * count;
}

size_t
fg_jrec_encode_loss (uint8_t *buf, size_t cap, uint32_t round, uint32_t shard,
                     const float *points, size_t count)
{
    size_t need = fg_jrec_size_loss (count);
    if (need == 0 || cap < need)
        return 0;
    fg_le_put32 (buf + 8, round);
    fg_le_put32 (buf + 12, shard);
    fg_le_put32 (buf + 16, (uint32_t) count);
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy (&bits, &points [i], 4);
        fg_le_put32 (buf + 20 + 4 * i, bits);
    }
    return s_seal (buf, FG_JREC_LOSS, need - FG_JREC_OVERHEAD);
}

int
fg_jrec_decode_loss (const void *value, size_t size, fg_jrec_loss_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_LOSS, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n < 12)
        return fg_error_set (err, FG_EFORMAT, "loss record: body is %zu bytes, at least 12 needed", n);
    out->round = fg_le_get32 (b);
    out->shard = fg_le_get32 (b + 4);
    out->count = fg_le_get32 (b + 8);
    if (out->count > FG_JOURNAL_LOSS_MAX)
        return fg_error_set (err, FG_EFORMAT, "loss record: %u points exceed %d", out->count,
                             FG_JOURNAL_LOSS_MAX);
    if ((rc = s_exact (FG_JREC_LOSS, n, 12 + 4 * (size_t) out->count, nrest, err)))
        return rc;
    if (out->round == 0 || out->round == FG_JOURNAL_LATEST)
        return fg_error_set (err, FG_EFORMAT, "loss record: round number %u is not allowed", out->round);
    out->points = b + 12;
    return 0;
}

//  ---- node -------------------------------------------------------------------

//  The trust tail after the identity (u32 strikes, u32 flags, u64 agreed)
//  came later: a record without it is read with zeros.
#define S_NODE_TAIL             16
#define S_NODE_QUARANTINED      1u

size_t
fg_jrec_size_node (size_t identity_length)
{
    return FG_JREC_OVERHEAD + 56 + identity_length + S_NODE_TAIL;
}

size_t
fg_jrec_encode_node (uint8_t *buf, size_t cap, const fg_journal_node_t *node)
{
    size_t length = strnlen (node->identity, FG_JOURNAL_IDENTITY_MAX);
    if (length >= FG_JOURNAL_IDENTITY_MAX || cap < fg_jrec_size_node (length))
        return 0;
    uint8_t *p = buf + 8;
    fg_le_put32 (p, node->node);
    fg_le_put32 (p + 4, (uint32_t) length);
    fg_le_put64 (p + 8, node->accepted);
    fg_le_put64 (p + 16, node->rejected);
    fg_le_put64 (p + 24, node->first_seen_ns);
    fg_le_put64 (p + 32, node->last_seen_ns);
    fg_le_putf64 (p + 40, node->speed);
    fg_le_putf64 (p + 48, node->trust);
    memcpy (p + 56, node->identity, length);
    fg_le_put32 (p + 56 + length, node->strikes);
    fg_le_put32 (p + 60 + length, node->quarantined? S_NODE_QUARANTINED: 0);
    fg_le_put64 (p + 64 + length, node->agreed);
    return s_seal (buf, FG_JREC_NODE, 56 + length + S_NODE_TAIL);
}

int
fg_jrec_decode_node (const void *value, size_t size, fg_jrec_node_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_NODE, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n < 56)
        return fg_error_set (err, FG_EFORMAT, "node record: body is %zu bytes, at least 56 needed", n);
    uint32_t length = fg_le_get32 (b + 4);
    if (length == 0 || length >= FG_JOURNAL_IDENTITY_MAX)
        return fg_error_set (err, FG_EFORMAT, "node record: identity length %u outside 1..%d",
                             length, FG_JOURNAL_IDENTITY_MAX - 1);
    bool tail = n == 56 + (size_t) length + S_NODE_TAIL;
    if ((rc = s_exact (FG_JREC_NODE, n, 56 + (size_t) length + (tail? S_NODE_TAIL: 0), nrest, err))
    ||  (rc = s_check_text (FG_JREC_NODE, "identity", b + 56, length, err)))
        return rc;
    fg_journal_node_t *node = &out->node;
    memset (node, 0, sizeof *node);
    node->node = fg_le_get32 (b);
    node->accepted = fg_le_get64 (b + 8);
    node->rejected = fg_le_get64 (b + 16);
    node->first_seen_ns = fg_le_get64 (b + 24);
    node->last_seen_ns = fg_le_get64 (b + 32);
    node->speed = fg_le_getf64 (b + 40);
    node->trust = fg_le_getf64 (b + 48);
    memcpy (node->identity, b + 56, length);
    node->identity [length] = 0;
    uint32_t flags = tail? fg_le_get32 (b + 60 + length): 0;
    if (tail) {
        node->strikes = fg_le_get32 (b + 56 + length);
        node->quarantined = flags & S_NODE_QUARANTINED;
        node->agreed = fg_le_get64 (b + 64 + length);
    }
    if (flags & ~S_NODE_QUARANTINED)
        return fg_error_set (err, FG_EFORMAT, "node record: unknown flags 0x%x", flags);
    if (node->quarantined && node->strikes == 0)
        return fg_error_set (err, FG_EFORMAT, "node record: quarantined without a strike");
    if (!(isfinite (node->speed) && node->speed >= 0.0))
        return fg_error_set (err, FG_EFORMAT, "node record: speed %g is not a finite number >= 0",
                             node->speed);
    if (!(node->trust >= 0.0 && node->trust <= 1.0))
        return fg_error_set (err, FG_EFORMAT, "node record: trust %g outside 0..1", node->trust);
    return 0;
}

//  ---- event ------------------------------------------------------------------

size_t
fg_jrec_size_event (size_t text_length)
{
    return FG_JREC_OVERHEAD + 24 + text_length;
}

size_t
fg_jrec_encode_event (uint8_t *buf, size_t cap, uint64_t seq, uint64_t time_ns, uint32_t round,
                      const char *text, size_t length)
{
    if (length > FG_JOURNAL_EVENT_MAX || cap < fg_jrec_size_event (length))
        return 0;
    fg_le_put64 (buf + 8, seq);
    fg_le_put64 (buf + 16, time_ns);
    fg_le_put32 (buf + 24, round);
    fg_le_put32 (buf + 28, (uint32_t) length);
    if (length)
        memcpy (buf + 32, text, length);
    return s_seal (buf, FG_JREC_EVENT, 24 + length);
}

int
fg_jrec_decode_event (const void *value, size_t size, fg_jrec_event_t *out, fg_error_t *err)
{
    const uint8_t *b, *rest;
    size_t n, nrest;
    int rc = s_open (value, size, FG_JREC_EVENT, &b, &n, &rest, &nrest, err);
    if (rc)
        return rc;
    if (n < 24)
        return fg_error_set (err, FG_EFORMAT, "event record: body is %zu bytes, at least 24 needed", n);
    out->seq = fg_le_get64 (b);
    out->time_ns = fg_le_get64 (b + 8);
    out->round = fg_le_get32 (b + 16);
    out->length = fg_le_get32 (b + 20);
    if (out->length > FG_JOURNAL_EVENT_MAX)
        return fg_error_set (err, FG_EFORMAT, "event record: text length %u exceeds %d",
                             out->length, FG_JOURNAL_EVENT_MAX);
    if ((rc = s_exact (FG_JREC_EVENT, n, 24 + (size_t) out->length, nrest, err))
    ||  (rc = s_check_text (FG_JREC_EVENT, "text", b + 24, out->length, err)))
        return rc;
    if (out->seq == 0)
        return fg_error_set (err, FG_EFORMAT, "event record: sequence number 0 (events count from 1)");
    out->text = (const char *) b + 24;
    return 0;
}
