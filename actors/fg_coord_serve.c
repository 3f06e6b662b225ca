/*  fg_coord_serve.c — what the coordinator serves to trainers.

    Weights: the base weights of the round in progress (the blob the
    journal holds for round - 1), in credit-based chunks: a trainer asks
    for `credit` chunks from an offset and asks again when they are in.

    Samples: a node that lacks the dataset fetches its shard's samples with
    DATA-REQUEST; the coordinator answers from its training set with
    DATA-CHUNKs (records of label + pixels, LZ4), at most S_DATA_WINDOW
    chunks' worth and S_DATA_RANGES ranges per request (the requester asks
    for the next window when one is in), so neither side buffers more than
    a window. What one node is served is bounded in bytes, whether it reads
    or not: samples only for a unit issued to it, at most S_FETCH_FACTOR
    times the unit's records; the base weights at most S_WEIGHTS_FACTOR
    times a round (a trainer fetches them once a round, again only after
    a restart; the count survives its HELLOs). Bytes served are counted per (node, round, shard) for
    clients.csv (fetched_bytes). A node that asks without reading fills
    its send queue (S_PEER_SNDHWM messages, fg_coord_start.c): the send
    that finds it full fails at once and ends serving that request, so
    unread answers cost at most the queue, never the coordinator's time. */

#include "fg_coordinator_internal.h"
#include "fg_log.h"

#include <stdlib.h>
#include <string.h>

#define S_DATA_WINDOW   16          //  data chunks' worth one DATA-REQUEST may ask
#define S_DATA_RANGES   256         //  ranges one DATA-REQUEST may hold
#define S_FETCH_FACTOR  3           //  times a unit's samples one node may be
                                    //  served (retries after a crash)
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

//  Why a DATA-REQUEST is refused (into why, with *reason), or false.
static bool
s_data_refused (fg_coord_t *self, const fg_wire_data_request_t *r, size_t per_chunk,
                int *reason, char *why, size_t size)
{
    size_t count = fg_dataset_count (self->train);
    size_t record = fg_dataset_record_size (self->train);
    const fg_wire_range_t *last = r->range_count? &r->ranges [r->range_count - 1]: NULL;
    *reason = FG_WIRE_REASON_OTHER;
    if (memcmp (r->dataset_hash, self->dataset_hash, FG_SHA256_SIZE)) {
        *reason = FG_WIRE_REASON_UNKNOWN;
        snprintf (why, size, "unknown dataset: this experiment trains on %.16s...",
                  fg_dataset_hash_hex (self->train));
    }
    else
    if (!last || (uint64_t) last->start + last->count > count)
        snprintf (why, size, "samples up to %llu asked, the training set holds %zu",
                  last? (unsigned long long) last->start + last->count: 0ull, count);
    else
    if (per_chunk == 0)
        snprintf (why, size, "a sample (%zu bytes) does not fit in a data chunk", record);
    else
    if (r->range_count > S_DATA_RANGES || r->sample_count > (uint64_t) S_DATA_WINDOW * per_chunk)
        snprintf (why, size, "%u ranges of %llu samples asked at once; at most %d ranges "
                  "of %zu samples", r->range_count, (unsigned long long) r->sample_count,
                  S_DATA_RANGES, (size_t) S_DATA_WINDOW * per_chunk);
    else
        return false;
    return true;
}

//  Samples go to a node for a unit issued to it (any of its attempts: a
//  trainer that reconnected continues its fetch; any unit of a round a
//  restarted coordinator resumed, whose issues it does not know), at most
//  S_FETCH_FACTOR times the unit's records: a node that asks and does not
//  read makes the coordinator queue no more than that.
static bool
s_data_over_budget (fg_coord_t *self, const fg_coord_node_t *node, const fg_wire_msg_t *msg,
                    size_t record, int *reason, char *why, size_t size)
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
    uint64_t records = self->shards->offset [msg->shard + 1] - self->shards->offset [msg->shard];
    uint64_t budget = (uint64_t) S_FETCH_FACTOR * records * record;
    uint64_t served = fg_coord_fetched_bytes (self, node->id, msg->round, msg->shard);
    if (served < budget)
        return false;
    *reason = FG_WIRE_REASON_BUSY;
    snprintf (why, size, "%llu bytes of samples served for round %u shard %u already, %d "
              "times its records", (unsigned long long) served, msg->round, msg->shard,
              S_FETCH_FACTOR);
    return true;
}

//  One DATA-CHUNK: samples [start, start + n) packed from raw (a buffer of
//  n records). *bytes grows by the LZ4 bytes sent.
static int
s_send_data_chunk (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *about,
                   uint32_t start, uint32_t n, uint8_t *raw, uint64_t *bytes, fg_error_t *err)
{
    size_t record = fg_dataset_record_size (self->train);
    uint8_t *lz4 = NULL;
    size_t lz4_size = 0;
    int rc = fg_dataset_records (self->train, start, n, raw, err);
    if (rc == 0)
        rc = fg_wire_data_pack (raw, (size_t) n * record, &lz4, &lz4_size, err);
    if (rc == 0) {
        fg_wire_msg_t chunk;
        fg_wire_msg_reply (&chunk, FG_WIRE_DATA_CHUNK, about);
        memcpy (chunk.data_chunk.dataset_hash, self->dataset_hash, FG_SHA256_SIZE);
        chunk.data_chunk.start = start;
        chunk.data_chunk.count = n;
        chunk.data_chunk.record_size = (uint32_t) record;
        chunk.data_chunk.raw_size = (uint64_t) n * record;
        chunk.data_chunk.lz4_size = lz4_size;
        chunk.data_chunk.lz4 = lz4;
        rc = fg_coord_send (self, node, &chunk);
        if (rc == 0)
            *bytes += lz4_size;
    }
    free (lz4);
    return rc;
}

//  DATA-REQUEST: the samples of the ranges asked, as DATA-CHUNKs of
//  consecutive records (u16le label | pixels) of one range each, at most
//  fg_wire_data_raw_max bytes raw. Refused (REJECT, nothing changes): an
//  unknown dataset, ranges outside the training set, more than a window.
void
fg_coord_on_data_request (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg)
{
    const fg_wire_data_request_t *r = &msg->data_request;
    size_t record = fg_dataset_record_size (self->train);
    size_t per_chunk = fg_wire_data_raw_max (&self->limits) / record;
    char why [200];
    int reason;
    if (s_data_refused (self, r, per_chunk, &reason, why, sizeof why)
    ||  s_data_over_budget (self, node, msg, record, &reason, why, sizeof why)) {
        fg_coord_node_info (self, node, "DATA-REQUEST from %s refused: %s", node->id, why);
        fg_coord_send_reject (self, node->routing, msg, reason, why);
        return;
    }
    uint8_t *raw = malloc (per_chunk * record);
    if (!raw) {
        fg_coord_send_reject (self, node->routing, msg, FG_WIRE_REASON_BUSY, "out of memory");
        return;
    }
    uint64_t bytes = 0;
    fg_error_t err;
    fg_error_clear (&err);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < r->range_count; i++)
        for (uint32_t done = 0; rc == 0 && done < r->ranges [i].count; ) {
            uint32_t left = r->ranges [i].count - done;
            uint32_t n = left < per_chunk? left: (uint32_t) per_chunk;
            rc = s_send_data_chunk (self, node, msg, r->ranges [i].start + done, n, raw,
                                    &bytes, &err);
            done += n;
        }
    free (raw);
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
