/*  fg_coord_serve.c — what the coordinator serves to trainers.

    Weights: the base weights of the round in progress (the blob the
    journal holds for round - 1), in credit-based chunks: a trainer asks
    for `credit` chunks from an offset and asks again when they are in.

    Samples: a node that lacks the dataset fetches its shard's samples with
    DATA-REQUEST; the coordinator answers from its training set with
    DATA-CHUNKs (LZ4), at most S_DATA_WINDOW chunks' worth and
    S_DATA_RANGES ranges per request (the requester asks for the next
    window when one is in), so neither side buffers more than a window.
    Samples of an in-memory set travel as fixed records (label + pixels);
    those of a file-backed set (Tiny-ImageNet, folder) as variable records
    of their stored files (label + the JPEG / PNG as it is on disk, ~5x
    smaller than its pixels), at most S_DATA_STORED_SAMPLES a request; a
    texture set's as PIECES of its image table and source files
    (fg_texture.h: sample k of the request is piece k, read from the file
    when sent, nothing kept), with the same bounds. What
    one node is served is bounded in bytes, whether it reads or not:
    samples only for a unit issued to it, at most S_FETCH_FACTOR times the
    bytes of the unit's records (or stored files); the base weights at most S_WEIGHTS_FACTOR
    times a round (a trainer fetches them once a round, again only after
    a restart; the count survives its HELLOs). Bytes served are counted per (node, round, shard) for
    clients.csv (fetched_bytes). A node that asks without reading fills
    its send queue (S_PEER_SNDHWM messages, fg_coord_start.c): the send
    that finds it full fails at once and ends serving that request, so
    unread answers cost at most the queue, never the coordinator's time. */

#include "fg_coordinator_internal.h"
#include "fg_log.h"
#include "fg_texture.h"

#include <stdlib.h>
#include <string.h>

#define S_DATA_WINDOW   16          //  data chunks' worth one DATA-REQUEST may ask
#define S_DATA_RANGES   256         //  ranges one DATA-REQUEST may hold
#define S_DATA_STORED_SAMPLES 1024  //  stored files one DATA-REQUEST may ask
#define S_FETCH_FACTOR  3           //  times a unit's samples' bytes one node
                                    //  may be served (retries after a crash)
#define S_WEIGHTS_FACTOR 8          //  times the base weights, a round

//  --------------------------------------------------------------------------
//  Weights

void
fg_coord_on_weights_request (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg)
{
    const fg_wire_weights_request_t *r = &msg->weights_request;
    if (r->blob != FG_WIRE_BLOB_GLOBAL || r->version != (uint64_t) self->round - 1
    ||  !self->base_blob) {
        fg_coord_send_reject (self, node->routing, msg, FG_WIRE_REASON_UNKNOWN,
                              "unknown weights version");
        return;
    }
    if (node->weights_round != self->round) {
        node->weights_round = self->round;
        node->weights_served = 0;
    }
    if (node->weights_served >= (uint64_t) S_WEIGHTS_FACTOR * self->base_size) {
        fg_coord_node_info (self, node, "%s asked for the base weights again: refused", node->id);
        fg_coord_send_reject (self, node->routing, msg, FG_WIRE_REASON_BUSY,
                              "the base weights were served to this node 8 times this round");
        return;
    }
    size_t chunk = r->chunk_size && r->chunk_size < self->limits.max_chunk
                 ? r->chunk_size: self->limits.max_chunk;
    uint64_t left = r->offset < self->base_size? self->base_size - r->offset: 0;
    uint64_t asked = (uint64_t) r->credit * chunk;
    node->weights_served += asked < left? asked: left;
    fg_wire_msg_t header;
    fg_wire_msg_reply (&header, 0, msg);
    header.experiment = self->experiment;
    fg_error_t err;
    if (fg_wire_send_chunks (self->router, node->routing, &header, FG_WIRE_BLOB_GLOBAL,
                             r->version, self->base_blob, self->base_size, self->base_hash,
                             r->offset, r->credit, r->chunk_size, &self->limits, &err))
        fg_coord_node_warn (self, node, "weights to %s: %s", node->id, err.msg);
}

//  --------------------------------------------------------------------------
//  Bytes served per unit

//  The counter of (node id, round, shard), or NULL.
static fg_coord_fetched_t *
s_fetched_find (const fg_coord_t *self, const char *id, uint32_t round, uint32_t shard)
{
    for (size_t i = 0; i < self->nfetched; i++)
        if (self->fetched [i].round == round && self->fetched [i].shard == shard
        &&  strcmp (self->fetched [i].id, id) == 0)
            return &self->fetched [i];
    return NULL;
}

//  The counter of (node id, round, shard), a new one if none (NULL when
//  out of memory).
static fg_coord_fetched_t *
s_fetched_counter (fg_coord_t *self, const char *id, uint32_t round, uint32_t shard)
{
    fg_coord_fetched_t *entry = s_fetched_find (self, id, round, shard);
    if (entry)
        return entry;
    fg_coord_fetched_t *more = realloc (self->fetched, (self->nfetched + 1) * sizeof *more);
    if (!more)
        return NULL;
    self->fetched = more;
    entry = &self->fetched [self->nfetched++];
    snprintf (entry->id, sizeof entry->id, "%s", id);
    entry->round = round;
    entry->shard = shard;
    entry->bytes = 0;
    return entry;
}

uint64_t
fg_coord_fetched_bytes (const fg_coord_t *self, const char *id, uint32_t round, uint32_t shard)
{
    const fg_coord_fetched_t *entry = s_fetched_find (self, id, round, shard);
    return entry? entry->bytes: 0;
}

void
fg_coord_fetched_prune (fg_coord_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nfetched; i++)
        if (self->fetched [i].round >= self->round)
            self->fetched [kept++] = self->fetched [i];
    self->nfetched = kept;
}

//  --------------------------------------------------------------------------
//  Samples

//  The TASK's geometry block (fg_coordinator_internal.h).
void
fg_coord_task_geometry (const fg_coord_t *self, fg_wire_task_t *task)
{
    fg_texture_geometry_t texture;
    task->has_texture = fg_dataset_texture_geometry (self->train, &texture) == 0;
    task->has_geometry = fg_dataset_has_stored (self->train) || task->has_texture;
    if (!task->has_geometry)
        return;
    fg_wire_geometry_t *g = &task->geometry;
    memset (g, 0, sizeof *g);
    g->classes = fg_dataset_classes (self->train);
    fg_dataset_shape (self->train, &g->height, &g->width, &g->channels);
    if (task->has_texture) {
        const uint8_t *table;
        g->fragment = texture.fragment;
        g->stride = texture.stride;
        g->rotations = texture.rotations;
        g->contrast_q8 = texture.contrast_q8;
        g->table_size = (uint32_t) fg_dataset_texture_table (self->train, &table);
    }
}

//  How the training set's samples travel
typedef enum { S_FIXED, S_STORED, S_PIECES } s_form_t;

static s_form_t
s_form (const fg_coord_t *self)
{
    return fg_dataset_texture_pieces (self->train)? S_PIECES
         : fg_dataset_has_stored (self->train)? S_STORED: S_FIXED;
}

//  Why a DATA-REQUEST is refused (into why, with *reason), or false.
//  Fixed records: per_chunk of them fit in a chunk; stored files
//  (variable records): at most S_DATA_STORED_SAMPLES a request, their
//  bytes checked when they are read (s_stored_refused).
static bool
s_data_refused (fg_coord_t *self, const fg_wire_data_request_t *r, s_form_t form,
                size_t per_chunk, int *reason, char *why, size_t size)
{
    bool stored = form != S_FIXED;
    size_t count = form == S_PIECES? fg_dataset_texture_pieces (self->train)
                                   : fg_dataset_count (self->train);
    size_t record = fg_dataset_record_size (self->train);
    uint64_t most = stored? S_DATA_STORED_SAMPLES: (uint64_t) S_DATA_WINDOW * per_chunk;
    const fg_wire_range_t *last = r->range_count? &r->ranges [r->range_count - 1]: NULL;
    *reason = FG_WIRE_REASON_OTHER;
    if (memcmp (r->dataset_hash, self->dataset_hash, FG_SHA256_SIZE)) {
        *reason = FG_WIRE_REASON_UNKNOWN;
        snprintf (why, size, "unknown dataset: this experiment trains on %.16s...",
                  fg_dataset_hash_hex (self->train));
    }
    else
    if (!last || (uint64_t) last->start + last->count > count)
        snprintf (why, size, "samples up to %llu asked, the training set holds %zu%s",
                  last? (unsigned long long) last->start + last->count: 0ull, count,
                  form == S_PIECES? " pieces": "");
    else
    if (!stored && per_chunk == 0)
        snprintf (why, size, "a sample (%zu bytes) does not fit in a data chunk", record);
    else
    if (r->range_count > S_DATA_RANGES || r->sample_count > most)
        snprintf (why, size, "%u ranges of %llu samples asked at once; at most %d ranges "
                  "of %llu samples", r->range_count, (unsigned long long) r->sample_count,
                  S_DATA_RANGES, (unsigned long long) most);
    else
        return false;
    return true;
}

//  Bytes of sample i as a variable record (its stored file, or texture
//  piece, and head) into *bytes. Returns 0 or fg_dataset_stored's code.
static int
s_stored_record (const fg_coord_t *self, uint32_t i, uint64_t *bytes, fg_error_t *err)
{
    fg_texture_piece_t piece;
    if (fg_dataset_texture_piece_info (self->train, i, &piece) == 0) {
        *bytes = fg_wire_sample_bytes (piece.size);
        return 0;
    }
    const uint8_t *file;
    size_t size;
    int rc = fg_dataset_stored (self->train, i, &file, &size, err);
    if (rc == 0)
        *bytes = fg_wire_sample_bytes (size);
    return rc;
}

//  A texture unit's bytes: the image table and the files of the images
//  the shard's fragments are cut from, in pieces with their heads.
static int
s_unit_pieces (const fg_coord_t *self, uint32_t shard, uint64_t *bytes, fg_error_t *err)
{
    size_t begin = self->shards->offset [shard], end = self->shards->offset [shard + 1];
    uint32_t *runs;
    size_t nruns;
    uint64_t files;
    int rc = fg_dataset_texture_pieces_of (self->train, self->shards->index + begin, end - begin,
                                           &runs, &nruns, &files, err);
    if (rc)
        return rc;
    const uint8_t *table;
    size_t table_size = fg_dataset_texture_table (self->train, &table);
    uint64_t pieces = fg_texture_pieces (table_size);
    for (size_t r = 0; r < nruns; r++)
        pieces += runs [2 * r + 1];
    free (runs);
    *bytes = table_size + files + pieces * FG_WIRE_SAMPLE_HEAD;
    return 0;
}

//  What a node may be served for a unit, in bytes: the shard's records
//  (count x record size), or the variable records of its stored files
//  (each file is read here on the shard's first request, and kept by the
//  dataset for the chunks that follow). Returns 0 or a read error.
static int
s_unit_bytes (const fg_coord_t *self, uint32_t shard, uint64_t *bytes, fg_error_t *err)
{
    size_t begin = self->shards->offset [shard], end = self->shards->offset [shard + 1];
    *bytes = 0;
    if (s_form (self) == S_PIECES)
        return s_unit_pieces (self, shard, bytes, err);
    if (!fg_dataset_has_stored (self->train)) {
        *bytes = (uint64_t) (end - begin) * fg_dataset_record_size (self->train);
        return 0;
    }
    for (size_t k = begin; k < end; k++) {
        uint64_t record;
        int rc = s_stored_record (self, self->shards->index [k], &record, err);
        if (rc)
            return rc;
        *bytes += record;
    }
    return 0;
}

//  Samples go to a node for a unit issued to it (any of its attempts: a
//  trainer that reconnected continues its fetch; any unit of a round a
//  restarted coordinator resumed, whose issues it does not know), at most
//  S_FETCH_FACTOR times the unit's bytes (s_unit_bytes): a node that asks
//  and does not read makes the coordinator queue no more than that.
static bool
s_data_over_budget (fg_coord_t *self, const fg_coord_node_t *node, const fg_wire_msg_t *msg,
                    int *reason, char *why, size_t size)
{
    bool unit = self->units && msg->round == self->round && msg->shard < self->nshards;
    bool issued = unit && self->unsure_round == self->round;
    for (uint32_t a = 0; unit && !issued && a < self->units [msg->shard].attempts; a++)
        issued = self->units [msg->shard].issued [a].node == node->number;
    *reason = FG_WIRE_REASON_UNKNOWN;
    if (!issued) {
        snprintf (why, size, "samples are served for a unit issued to this node; round %u "
                  "shard %u is not one", msg->round, msg->shard);
        return true;
    }
    uint64_t unit_bytes;
    fg_error_t err;
    if (s_unit_bytes (self, msg->shard, &unit_bytes, &err)) {
        *reason = FG_WIRE_REASON_OTHER;
        snprintf (why, size, "%.190s", err.msg);
        return true;
    }
    uint64_t budget = (uint64_t) S_FETCH_FACTOR * unit_bytes;
    uint64_t served = fg_coord_fetched_bytes (self, node->id, msg->round, msg->shard);
    if (served < budget)
        return false;
    *reason = FG_WIRE_REASON_BUSY;
    snprintf (why, size, "%llu bytes of samples served for round %u shard %u already, %d "
              "times its samples' bytes", (unsigned long long) served, msg->round, msg->shard,
              S_FETCH_FACTOR);
    return true;
}

//  The stored files asked (read if not yet): why the request cannot be
//  served (a file that does not fit in a chunk: never; more bytes than a
//  window: ask fewer), or false.
static bool
s_stored_refused (fg_coord_t *self, const fg_wire_data_request_t *r, size_t raw_max,
                  int *reason, char *why, size_t size)
{
    uint64_t total = 0;
    fg_error_t err;
    *reason = FG_WIRE_REASON_OTHER;
    for (uint32_t k = 0; k < r->range_count; k++)
        for (uint32_t i = r->ranges [k].start; i - r->ranges [k].start < r->ranges [k].count;
             i++) {
            uint64_t record;
            if (s_stored_record (self, i, &record, &err)) {
                snprintf (why, size, "%.190s", err.msg);
                return true;
            }
            if (record > raw_max) {
                snprintf (why, size, "sample %u's stored %s is %llu bytes, more than a data "
                          "chunk holds (%zu): raise grid.chunk_size", i,
                          s_form (self) == S_PIECES? "piece": "file",
                          (unsigned long long) (record - FG_WIRE_SAMPLE_HEAD),
                          raw_max - FG_WIRE_SAMPLE_HEAD);
                return true;
            }
            total += record;
        }
    if (total <= (uint64_t) S_DATA_WINDOW * raw_max)
        return false;
    *reason = FG_WIRE_REASON_BUSY;
    snprintf (why, size, "too much at once: %llu bytes of files asked, at most %llu; ask "
              "fewer samples", (unsigned long long) total,
              (unsigned long long) S_DATA_WINDOW * raw_max);
    return true;
}

//  One DATA-CHUNK: samples [start, start + n) as raw_size bytes of raw
//  (records of record_size bytes, 0: variable), LZ4-packed. *bytes grows
//  by the LZ4 bytes sent.
static int
s_send_data_chunk (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *about,
                   uint32_t start, uint32_t n, uint32_t record_size, const uint8_t *raw,
                   size_t raw_size, uint64_t *bytes, fg_error_t *err)
{
    uint8_t *lz4 = NULL;
    size_t lz4_size = 0;
    int rc = fg_wire_data_pack (raw, raw_size, &lz4, &lz4_size, err);
    if (rc == 0) {
        fg_wire_msg_t chunk;
        fg_wire_msg_reply (&chunk, FG_WIRE_DATA_CHUNK, about);
        memcpy (chunk.data_chunk.dataset_hash, self->dataset_hash, FG_SHA256_SIZE);
        chunk.data_chunk.start = start;
        chunk.data_chunk.count = n;
        chunk.data_chunk.record_size = record_size;
        chunk.data_chunk.raw_size = raw_size;
        chunk.data_chunk.lz4_size = lz4_size;
        chunk.data_chunk.lz4 = lz4;
        rc = fg_coord_send (self, node, &chunk);
        if (rc == 0)
            *bytes += lz4_size;
    }
    free (lz4);
    return rc;
}

//  The samples of range as chunks of fixed records, per_chunk at most each.
static int
s_send_records (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg,
                const fg_wire_range_t *range, size_t per_chunk, uint8_t *raw, uint64_t *bytes,
                fg_error_t *err)
{
    size_t record = fg_dataset_record_size (self->train);
    int rc = 0;
    for (uint32_t done = 0; rc == 0 && done < range->count; ) {
        uint32_t left = range->count - done;
        uint32_t n = left < per_chunk? left: (uint32_t) per_chunk;
        rc = fg_dataset_records (self->train, range->start + done, n, raw, err);
        if (rc == 0)
            rc = s_send_data_chunk (self, node, msg, range->start + done, n, (uint32_t) record,
                                    raw, (size_t) n * record, bytes, err);
        done += n;
    }
    return rc;
}

//  Sample i as a variable record's label and bytes: a stored file (owned
//  by the set), or a texture piece read into piece (FG_TEXTURE_PIECE
//  bytes; NULL for a set of stored files).
static int
s_sample (const fg_coord_t *self, uint32_t i, uint8_t *piece, uint16_t *label,
          const uint8_t **bytes, size_t *size, fg_error_t *err)
{
    if (!piece) {
        *label = fg_dataset_labels (self->train) [i];
        return fg_dataset_stored (self->train, i, bytes, size, err);
    }
    fg_texture_piece_t info;
    uint32_t got = 0;
    int rc = fg_dataset_texture_piece_info (self->train, i, &info);
    if (rc == 0)
        rc = fg_dataset_texture_piece (self->train, i, piece, &got, err);
    else
        fg_error_set (err, rc, "piece %u of the texture set", i);
    *label = info.label;
    *bytes = piece;
    *size = got;
    return rc;
}

//  The stored files (texture pieces: piece is a buffer of
//  FG_TEXTURE_PIECE bytes) of range as chunks of variable records, each as
//  full as raw_max allows (s_stored_refused made sure every one fits).
static int
s_send_stored (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg,
               const fg_wire_range_t *range, size_t raw_max, uint8_t *raw, uint8_t *piece,
               uint64_t *bytes, fg_error_t *err)
{
    uint64_t end = (uint64_t) range->start + range->count;
    uint64_t i = range->start;
    int rc = 0;
    while (rc == 0 && i < end) {
        uint32_t first = (uint32_t) i;
        size_t used = 0;
        while (rc == 0 && i < end) {
            const uint8_t *file;
            size_t size;
            uint16_t label;
            rc = s_sample (self, (uint32_t) i, piece, &label, &file, &size, err);
            if (rc == 0)
                rc = fg_wire_sample_put (raw, raw_max, &used, label, file, size, err);
            if (rc == FG_EFULL && used > 0) {
                rc = 0;                 //  the chunk is full: send it
                break;
            }
            if (rc == 0)
                i++;
        }
        if (rc == 0)
            rc = s_send_data_chunk (self, node, msg, first, (uint32_t) (i - first), 0, raw,
                                    used, bytes, err);
    }
    return rc;
}

//  DATA-REQUEST: the samples of the ranges asked, as DATA-CHUNKs of
//  consecutive records of one range each, at most fg_wire_data_raw_max
//  bytes raw: fixed records (u16le label | pixels) of an in-memory set,
//  variable records (u16le label | u32le size | the image file) of a
//  file-backed one. Refused (REJECT, nothing changes): an unknown dataset,
//  ranges outside the training set, more than a window, a unit not issued
//  to the node or served S_FETCH_FACTOR times, a file larger than a chunk.
void
fg_coord_on_data_request (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg)
{
    const fg_wire_data_request_t *r = &msg->data_request;
    s_form_t form = s_form (self);
    bool stored = form != S_FIXED;
    size_t raw_max = fg_wire_data_raw_max (&self->limits);
    size_t per_chunk = raw_max / fg_dataset_record_size (self->train);
    char why [200];
    int reason;
    if (s_data_refused (self, r, form, per_chunk, &reason, why, sizeof why)
    ||  s_data_over_budget (self, node, msg, &reason, why, sizeof why)
    ||  (stored && s_stored_refused (self, r, raw_max, &reason, why, sizeof why))) {
        fg_coord_node_info (self, node, "DATA-REQUEST from %s refused: %s", node->id, why);
        fg_coord_send_reject (self, node->routing, msg, reason, why);
        return;
    }
    uint8_t *raw = malloc (stored? raw_max: per_chunk * fg_dataset_record_size (self->train));
    uint8_t *piece = form == S_PIECES? malloc (FG_TEXTURE_PIECE): NULL;
    if (!raw || (form == S_PIECES && !piece)) {
        free (raw);
        free (piece);
        fg_coord_send_reject (self, node->routing, msg, FG_WIRE_REASON_BUSY, "out of memory");
        return;
    }
    uint64_t bytes = 0;
    fg_error_t err;
    fg_error_clear (&err);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < r->range_count; i++)
        rc = stored? s_send_stored (self, node, msg, &r->ranges [i], raw_max, raw, piece,
                                    &bytes, &err)
                   : s_send_records (self, node, msg, &r->ranges [i], per_chunk, raw, &bytes,
                                     &err);
    free (raw);
    free (piece);
    if (rc && err.msg [0])              //  (a failed send is logged by fg_coord_send)
        fg_coord_node_warn (self, node, "samples to %s: %s", node->id, err.msg);
    fg_debug ("coordinator: %llu samples (%llu bytes) to %s for round %u shard %u",
              (unsigned long long) r->sample_count, (unsigned long long) bytes, node->id,
              msg->round, msg->shard);
    //  counted for the unit it is about (a request about none is served
    //  but not counted: the table stays bounded by nodes x shards)
    if (bytes && msg->round == self->round && msg->shard < self->nshards) {
        fg_coord_fetched_t *entry = s_fetched_counter (self, node->id, msg->round, msg->shard);
        if (entry)
            entry->bytes += bytes;
    }
}
