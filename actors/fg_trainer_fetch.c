/*  fg_trainer_fetch.c — what the trainer fetches for a unit: the global
    weights (WEIGHTS-REQUEST / WEIGHTS-CHUNK, S_CREDIT chunks at a time,
    checked against the TASK's hash) and the shard's samples.

    Data. A trainer that holds the experiment's dataset (same content hash
    as the TASK's) reads it locally. One that lacks it (created without a
    dataset, or with another copy) needs a cache directory: it looks up
    which of the shard's samples its sample cache (fg_sample_cache) holds,
    asks the coordinator for the others a window at a time (at most
    S_DATA_CREDIT chunks' worth and FG_TRN_DATA_RANGES ranges per
    DATA-REQUEST; the next window when the current one is in), checks every
    DATA-CHUNK against what it asked (hash, first index, count, record size,
    labels) and stores it in one transaction before counting it, then
    trains on a dataset made of the shard's samples
    (fg_dataset_from_records), which gives the same bits as the whole set.
    The samples of a file-backed set (the TASK carries its geometry) travel
    as variable records of their stored files instead (label | size | the
    JPEG / PNG): a window is then a number of samples that adapts to the
    files' sizes (about S_DATA_CREDIT chunks' worth, halved when the
    coordinator finds it too much), the cache keeps the files, and the
    dataset is made of them with fg_dataset_from_stored (decoded on use,
    the same bits as the whole set).
    A texture set (the TASK carries its fragment geometry and the size of
    its image table) travels as pieces of its stored form (fg_texture.h):
    first the image table, checked against the TASK's dataset hash, from
    which the set is rebuilt (fg_dataset_texture_from_table) and the
    images the shard's fragments use are found; then those images' files,
    every piece checked against what the table promises (label, size),
    every file against its size and header shape. The unit then runs on
    that set, whose indices are the whole set's.
    A chunk that does not fit is dropped with a log line and the window is
    asked again from the first sample still missing; so is a window that
    brings nothing for liveness x heartbeat.                             */

#include "fg_trainer_internal.h"
#include "fg_blob.h"
#include "fg_crash.h"
#include "fg_log.h"
#include "fg_texture.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define S_CREDIT        8           //  chunks asked for at a time
#define S_DATA_CREDIT   8           //  data chunks' worth asked for at a time
#define S_STORED_FIRST  64          //  stored files asked in a first window
#define S_STORED_MOST   512         //  ... in any window (the coordinator: 1024)
#define S_STORED_WINDOW 16          //  a window's files: at most 16 chunks' worth
                                    //  (the coordinator's bound, our chunks)
#define S_STORED_SHARD  ((size_t) 8 << 30)  //  bytes of a shard's files read back
#define S_TEXTURE_CACHE ((uint64_t) 1 << 30)    //  scaled images a fetched texture
                                                //  set keeps (data.texture_cache_mb's
                                                //  default; speed only)

static void s_fetch_begin (fg_trn_t *self);

static bool
s_texture (const fg_trn_t *self)
{
    return self->task.dataset == FG_DATASET_TEXTURE;
}

//  What this fetch wants: the TASK's samples, or (texture) the pieces of
//  the image table, then those of the shard's images.
static const fg_wire_range_t *
s_wanted (const fg_trn_t *self, uint32_t *n)
{
    if (!s_texture (self)) {
        *n = self->task.range_count;
        return self->task.ranges;
    }
    if (!self->fetched) {
        *n = 1;
        return &self->tex_table;
    }
    *n = self->ntex_want;
    return self->tex_want;
}

void
fg_trn_request_chunks (fg_trn_t *self)
{
    fg_wire_msg_t msg;
    fg_trn_unit_msg (self, &msg, FG_WIRE_WEIGHTS_REQUEST);
    msg.weights_request.blob = FG_WIRE_BLOB_GLOBAL;
    msg.weights_request.version = self->task.weights_version;
    msg.weights_request.offset = self->fetch_have;
    msg.weights_request.credit = S_CREDIT;
    msg.weights_request.chunk_size = (uint32_t) self->limits.max_chunk;
    self->fetch_outstanding = S_CREDIT;
    fg_trn_send (self, &msg);
}

//  The unit cannot go on (I/O error...): ERROR to the coordinator, idle.
static void
s_unit_failed (fg_trn_t *self, const fg_error_t *err)
{
    fg_warn ("trainer %s: round %u shard %u: %s", self->node_id, self->round, self->shard,
             err->msg);
    fg_wire_msg_t msg;
    fg_trn_unit_msg (self, &msg, FG_WIRE_ERROR);
    msg.error.code = err->code < 0? err->code: FG_EIO;
    snprintf (msg.error.text, sizeof msg.error.text, "%.200s", err->msg);
    fg_trn_send (self, &msg);
    fg_trn_become_idle (self);
}

//  The samples are at hand (self->data, self->indices into it): the
//  weights next, then training.
void
fg_trn_samples_ready (fg_trn_t *self)
{
    if (self->weights && self->weights_version == self->task.weights_version
    &&  memcmp (self->weights_hash, self->task.weights_hash, FG_SHA256_SIZE) == 0) {
        fg_trn_start_unit (self);
        return;
    }
    self->fetch = malloc (self->task.weights_size? self->task.weights_size: 1);
    if (!self->fetch) {
        fg_trn_become_idle (self);
        return;
    }
    self->fetch_total = self->task.weights_size;
    self->fetch_have = 0;
    self->state = FG_TRN_FETCHING;
    fg_trn_request_chunks (self);
}

//  Asks for the next window of missing samples, from sample data_have of
//  want: at most S_DATA_CREDIT chunks' worth and FG_TRN_DATA_RANGES ranges,
//  each range at most one chunk (fg_wire_data_raw_max of this node).
//  Also asks a window again from its start (what it brought so far is
//  dropped: it is stored only whole).
void
fg_trn_request_samples (fg_trn_t *self)
{
    size_t raw_max = fg_wire_data_raw_max (&self->limits);
    //  variable records: ranges are not cut (the coordinator cuts chunks
    //  by bytes), the window is var_window samples
    size_t per_chunk = self->record_size? raw_max / self->record_size: 0;
    uint64_t budget = self->record_size? (uint64_t) S_DATA_CREDIT * (per_chunk? per_chunk: 1)
                                       : self->var_window;
    uint32_t nwindow = 0;
    uint64_t asked = 0;
    uint32_t r = self->cursor_range, offset = self->cursor_offset;
    while (r < self->nwant && nwindow < FG_TRN_DATA_RANGES && asked < budget) {
        //  a range of at most one chunk of ours: whatever chunk size the
        //  coordinator cuts at, its chunks fit this node's limits
        uint64_t left = self->want [r].count - offset;
        uint64_t take = left < budget - asked? left: budget - asked;
        if (per_chunk && take > per_chunk)
            take = per_chunk;
        self->window [nwindow].start = self->want [r].start + offset;
        self->window [nwindow].count = (uint32_t) take;
        nwindow++;
        asked += take;
        offset += (uint32_t) take;
        if (offset == self->want [r].count) {
            r++;
            offset = 0;
        }
    }
    self->nwindow = nwindow;
    self->win_total = asked;
    self->win_have = 0;
    self->win_range = 0;
    self->win_offset = 0;
    self->data_expires = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
    free (self->win_records);
    self->win_bytes = 0;
    self->win_cap = self->record_size? (size_t) asked * self->record_size: raw_max;
    self->win_records = nwindow? malloc (self->win_cap): NULL;
    if (!self->win_records)
        return;                         //  nothing left; or asked again at data_expires
    fg_wire_msg_t msg;
    fg_trn_unit_msg (self, &msg, FG_WIRE_DATA_REQUEST);
    memcpy (msg.data_request.dataset_hash, self->task.dataset_hash, FG_WIRE_HASH_SIZE);
    msg.data_request.sample_count = asked;
    msg.data_request.range_count = nwindow;
    msg.data_request.ranges = self->window;
    fg_debug ("trainer %s: asking for samples %u.. (%llu in %u ranges)", self->node_id,
              self->window [0].start, (unsigned long long) asked, nwindow);
    fg_trn_send (self, &msg);
}

//  The shard's stored files read back from the cache (n variable records
//  in buf, size bytes): the unit's dataset of them (fg_dataset_from_stored
//  copies the files). Returns 0, FG_ERANGE (a label the geometry does not
//  have), FG_EFORMAT or fg_dataset_from_stored's code.
static int
s_from_stored (fg_trn_t *self, const uint8_t *buf, size_t size, fg_error_t *err)
{
    size_t n = self->nindices;
    const fg_wire_geometry_t *g = &self->task.geometry;
    uint16_t *labels = malloc (n * sizeof *labels);
    const uint8_t **bytes = malloc (n * sizeof *bytes);
    size_t *sizes = malloc (n * sizeof *sizes);
    int rc = labels && bytes && sizes? 0
           : fg_error_set (err, FG_ENOMEM, "out of memory for %zu samples", n);
    size_t at = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        fg_wire_sample_t sample;
        rc = fg_wire_sample_next (buf, size, &at, &sample, err);
        if (rc == 0 && sample.label >= g->classes)
            rc = fg_error_set (err, FG_ERANGE, "sample %u: label %u, the set has %u classes",
                               self->indices [i], sample.label, g->classes);
        if (rc == 0) {
            labels [i] = sample.label;
            bytes [i] = sample.bytes;
            sizes [i] = sample.size;
        }
    }
    if (rc == 0)
        rc = fg_dataset_from_stored (self->task.dataset, FG_SPLIT_TRAIN, self->task.dataset_hash,
                                     g->classes, g->height, n, self->indices, labels, bytes,
                                     sizes, &self->fetched, err);
    free (labels);
    free (bytes);
    free (sizes);
    return rc;
}

//  ---- the texture set ------------------------------------------------------

//  The TASK's fragment geometry.
static fg_texture_geometry_t
s_texture_geometry (const fg_trn_t *self)
{
    const fg_wire_geometry_t *g = &self->task.geometry;
    return (fg_texture_geometry_t) { g->fragment, g->stride, g->rotations, g->height,
                                     g->contrast_q8 };
}

//  What piece k is promised to be: of the image table (before the set is
//  built from it: the TASK gives its size) or of an image (the table
//  gives its label and size). Returns 0 or FG_ERANGE.
static int
s_piece_expected (const fg_trn_t *self, uint32_t k, fg_texture_piece_t *info, fg_error_t *err)
{
    if (self->fetched) {
        if (fg_dataset_texture_piece_info (self->fetched, k, info))
            return fg_error_set (err, FG_ERANGE, "piece %u: past the set's %u pieces", k,
                                 fg_dataset_texture_pieces (self->fetched));
        return 0;
    }
    uint64_t total = self->task.geometry.table_size;
    if (k >= fg_texture_pieces (total))
        return fg_error_set (err, FG_ERANGE, "piece %u: past the image table's %llu", k,
                             (unsigned long long) fg_texture_pieces (total));
    uint64_t left = total - (uint64_t) k * FG_TEXTURE_PIECE;
    *info = (fg_texture_piece_t) { UINT32_MAX, 0, left < FG_TEXTURE_PIECE? (uint32_t) left
                                                                        : FG_TEXTURE_PIECE,
                                   (uint64_t) k * FG_TEXTURE_PIECE, total, "the image table" };
    return 0;
}

//  A piece received (or read back) against what it is promised to be.
//  Returns 0, FG_ERANGE or FG_EMISMATCH naming the image.
static int
s_piece_check (const fg_trn_t *self, uint32_t k, const fg_wire_sample_t *sample,
               fg_texture_piece_t *info, fg_error_t *err)
{
    int rc = s_piece_expected (self, k, info, err);
    if (rc == 0 && (sample->label != info->label || sample->size != info->size))
        rc = fg_error_set (err, FG_EMISMATCH, "piece %u (%s, bytes %llu..): label %u, %u bytes; "
                           "the image table promises label %u, %u bytes", k, info->name,
                           (unsigned long long) info->offset, sample->label, sample->size,
                           info->label, info->size);
    return rc;
}

//  The image table's pieces read back (buf, size bytes of variable
//  records): the set rebuilt from it (self->fetched) and the pieces of the
//  images the shard's fragments use (self->tex_want). Returns 0 or an FG
//  code (FG_EMISMATCH: not the TASK's set).
static int
s_texture_table (fg_trn_t *self, const uint8_t *buf, size_t size, fg_error_t *err)
{
    size_t total = self->task.geometry.table_size;
    uint8_t *table = malloc (total);
    if (!table)
        return fg_error_set (err, FG_ENOMEM, "out of memory for an image table of %zu bytes",
                             total);
    size_t at = 0;
    int rc = 0;
    for (uint32_t k = 0; rc == 0 && k < self->tex_table.count; k++) {
        fg_wire_sample_t sample;
        fg_texture_piece_t info;
        rc = fg_wire_sample_next (buf, size, &at, &sample, err);
        if (rc == 0)
            rc = s_piece_check (self, k, &sample, &info, err);
        if (rc == 0)
            memcpy (table + info.offset, sample.bytes, sample.size);
    }
    fg_texture_geometry_t g = s_texture_geometry (self);
    if (rc == 0)
        rc = fg_dataset_texture_from_table (&g, self->task.dataset_hash, table, total,
                                            S_TEXTURE_CACHE, &self->fetched, err);
    free (table);
    uint32_t *runs = NULL;
    size_t nruns = 0;
    uint64_t bytes = 0;
    if (rc == 0)
        rc = fg_dataset_texture_pieces_of (self->fetched, self->indices, self->nindices, &runs,
                                           &nruns, &bytes, err);
    if (rc == 0 && bytes > S_STORED_SHARD)
        rc = fg_error_set (err, FG_ERANGE, "the shard's images take %llu bytes, more than the "
                           "%zu a unit may fetch", (unsigned long long) bytes, S_STORED_SHARD);
    if (rc == 0 && !(self->tex_want = malloc ((nruns? nruns: 1) * sizeof *self->tex_want)))
        rc = fg_error_set (err, FG_ENOMEM, "out of memory for %zu runs of pieces", nruns);
    for (size_t r = 0; rc == 0 && r < nruns; r++)
        self->tex_want [r] = (fg_wire_range_t) { runs [2 * r], runs [2 * r + 1] };
    self->ntex_want = rc? 0: (uint32_t) nruns;
    free (runs);
    if (rc)
        fg_dataset_destroy (&self->fetched);
    return rc;
}

//  One image's pieces (range) read back from the cache: its file put
//  together, checked (its size, its pieces' labels and sizes) and given to
//  the set. Returns 0 or an FG code (FG_ENOENT / FG_ECHECKSUM: fetch again).
static int
s_texture_image (fg_trn_t *self, const fg_wire_range_t *range, fg_error_t *err)
{
    uint8_t *buf = NULL, *file = NULL;
    size_t size = 0, at = 0;
    uint64_t most = FG_DATASET_FILE_MAX + (uint64_t) range->count * FG_WIRE_SAMPLE_HEAD;
    int rc = fg_sample_cache_load (self->cache, self->task.dataset_hash, range, 1, (size_t) most,
                                   &buf, &size, err);
    fg_texture_piece_t info = { 0 };
    for (uint32_t d = 0; rc == 0 && d < range->count; d++) {
        fg_wire_sample_t sample;
        rc = fg_wire_sample_next (buf, size, &at, &sample, err);
        if (rc == 0)
            rc = s_piece_check (self, range->start + d, &sample, &info, err);
        if (rc == 0 && info.offset != (uint64_t) d * FG_TEXTURE_PIECE)
            rc = fg_error_set (err, FG_EFORMAT, "%s: piece %u is not its piece %u", info.name,
                               range->start + d, d);
        if (rc == 0 && d == 0 && !(file = malloc ((size_t) info.total)))
            rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory for %llu bytes",
                               info.name, (unsigned long long) info.total);
        if (rc == 0)
            memcpy (file + info.offset, sample.bytes, sample.size);
    }
    free (buf);
    if (rc == 0 && info.offset + info.size != info.total)
        rc = fg_error_set (err, FG_EFORMAT, "%s: pieces %u.. end at byte %llu of %llu",
                           info.name, range->start,
                           (unsigned long long) (info.offset + info.size),
                           (unsigned long long) info.total);
    if (rc) {
        free (file);
        return rc;
    }
    return fg_dataset_texture_give (self->fetched, info.image, file, (size_t) info.total, err);
}

//  The images' pieces read back, one image at a time (a unit holds each
//  file once, never all of them twice), and given to the set.
static int
s_texture_images (fg_trn_t *self, fg_error_t *err)
{
    int rc = 0;
    for (uint32_t r = 0; rc == 0 && r < self->ntex_want; r++)
        for (uint32_t d = 0; rc == 0 && d < self->tex_want [r].count; ) {
            fg_texture_piece_t info;
            rc = fg_dataset_texture_piece_info (self->fetched, self->tex_want [r].start + d,
                                                &info);
            if (rc) {
                rc = fg_error_set (err, FG_ERANGE, "piece %u: past the set",
                                   self->tex_want [r].start + d);
                break;
            }
            //  the runs start at an image's first piece and hold whole images
            fg_wire_range_t image = { self->tex_want [r].start + d,
                                      (uint32_t) fg_texture_pieces (info.total) };
            rc = s_texture_image (self, &image, err);
            d += image.count;
        }
    return rc;
}

//  The shard's samples from the cache, into self->fetched: fixed records
//  (each checked), or the stored files. Returns 0 or an FG code.
static int
s_samples_read (fg_trn_t *self, fg_error_t *err)
{
    size_t n = self->nindices;
    if (self->record_size == 0) {
        if (s_texture (self) && self->fetched)
            return s_texture_images (self, err);
        uint8_t *buf;
        size_t size;
        uint32_t nwanted;
        const fg_wire_range_t *wanted = s_wanted (self, &nwanted);
        int rc = fg_sample_cache_load (self->cache, self->task.dataset_hash, wanted, nwanted,
                                       S_STORED_SHARD, &buf, &size, err);
        if (rc == 0) {
            rc = s_texture (self)? s_texture_table (self, buf, size, err)
                                 : s_from_stored (self, buf, size, err);
            free (buf);
        }
        return rc;
    }
    if (n > SIZE_MAX / self->record_size)
        return fg_error_set (err, FG_ENOMEM, "shard of %zu samples too large", n);
    uint8_t *records = malloc (n * self->record_size);
    if (!records)
        return fg_error_set (err, FG_ENOMEM, "out of memory for %zu samples", n);
    int rc = fg_sample_cache_get (self->cache, self->task.dataset_hash, self->record_size,
                                  self->task.ranges, self->task.range_count, records, err);
    if (rc == 0)
        rc = fg_dataset_from_records (self->task.dataset, FG_SPLIT_TRAIN, self->task.dataset_hash,
                                      n, self->indices, records, self->record_size,
                                      &self->fetched, err);
    free (records);
    return rc;
}

//  Every sample of the shard is in the cache: read them back (each record
//  checked) and make the unit's dataset of them.
static void
s_samples_load (fg_trn_t *self)
{
    fg_error_t err;
    size_t n = self->nindices;
    bool table = s_texture (self) && !self->fetched;
    int rc = s_samples_read (self, &err);
    if ((rc == FG_ENOENT || rc == FG_ECHECKSUM) && self->data_loads < 3) {
        //  damaged (or lost) since it was looked up: fetch what is missing
        //  again (texture: from the table, read back, as images were given)
        fg_warn ("trainer %s: %s; fetching again", self->node_id, err.msg);
        fg_dataset_destroy (&self->fetched);
        free (self->tex_want);
        self->tex_want = NULL;
        fg_trn_samples_begin (self);
        return;
    }
    if (rc) {
        s_unit_failed (self, &err);
        return;
    }
    if (table) {                        //  the images next
        fg_info ("trainer %s: round %u shard %u: the image table (%u bytes) matches the "
                 "dataset hash", self->node_id, self->round, self->shard,
                 self->task.geometry.table_size);
        self->var_window = S_STORED_FIRST;  //  pieces are not table-sized: adapt anew
        s_fetch_begin (self);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t position;
        fg_dataset_position (self->fetched, self->indices [i], &position);
        self->indices [i] = (uint32_t) position;
    }
    self->data = self->fetched;
    fg_trn_samples_ready (self);
}

//  How the TASK's samples travel (self->record_size: fixed records of the
//  kind's geometry, or 0: the stored files of a file-backed set, whose
//  geometry the TASK carries), or why they cannot: into why, true.
static bool
s_record_form (fg_trn_t *self, char *why, size_t size)
{
    int kind = self->task.dataset;
    bool files = kind == FG_DATASET_TINY_IMAGENET || kind == FG_DATASET_FOLDER
              || kind == FG_DATASET_TEXTURE;
    const fg_wire_geometry_t *g = &self->task.geometry;
    fg_error_t err;
    uint32_t h, w, c;
    fg_texture_geometry_t tg = s_texture_geometry (self);
    if (s_texture (self) != self->task.has_texture)
        snprintf (why, size, "a TASK of %s %s texture geometry",
                  fg_config_choice_name ("data.dataset", kind),
                  s_texture (self)? "without its": "with a");
    else
    if (s_texture (self) && fg_texture_check (&tg, &err))
        snprintf (why, size, "%.190s", err.msg);
    else
    if (s_texture (self) && fg_wire_sample_bytes (FG_TEXTURE_PIECE)
                            > fg_wire_data_raw_max (&self->limits))
        snprintf (why, size, "a texture piece (%u bytes) is larger than a data chunk: raise "
                  "grid.chunk_size", FG_TEXTURE_PIECE + FG_WIRE_SAMPLE_HEAD);
    else
    if (files != self->task.has_geometry)
        snprintf (why, size, "a TASK of %s %s geometry", fg_config_choice_name ("data.dataset", kind),
                  files? "without its": "with a");
    else
    if (files && (g->height != g->width || g->channels != 3))
        snprintf (why, size, "%ux%ux%u images: the stored files of %s are square RGB",
                  g->height, g->width, g->channels, fg_config_choice_name ("data.dataset", kind));
    else
    if (files) {
        self->record_size = 0;
        if (self->var_window == 0)
            self->var_window = S_STORED_FIRST;
        self->tex_table = (fg_wire_range_t) { 0, (uint32_t) fg_texture_pieces (g->table_size) };
        return false;
    }
    else
    if (fg_dataset_kind_geometry (kind, NULL, &h, &w, &c, &err))
        snprintf (why, size, "%.190s", err.msg);
    else
    if ((self->record_size = 2 + (size_t) h * w * c) > fg_wire_data_raw_max (&self->limits))
        snprintf (why, size, "a sample is larger than a data chunk (grid.chunk_size)");
    else
        return false;
    return true;
}

//  The TASK's dataset is not held: look up the shard's samples in the
//  cache and fetch the missing ones.
void
fg_trn_samples_begin (fg_trn_t *self)
{
    self->data_loads++;
    char why [200];
    if (s_record_form (self, why, sizeof why)) {
        fg_trn_refuse_task (self, why);
        return;
    }
    s_fetch_begin (self);
}

//  Looks up what this fetch wants (s_wanted) in the cache and asks for the
//  missing part.
static void
s_fetch_begin (fg_trn_t *self)
{
    fg_error_t err;
    free (self->want);
    self->want = NULL;
    uint64_t missing = 0;
    uint32_t nwanted;
    const fg_wire_range_t *wanted = s_wanted (self, &nwanted);
    const char *what = !s_texture (self)? "samples"
                     : !self->fetched? "pieces of the image table": "pieces of the shard's images";
    if (fg_sample_cache_missing (self->cache, self->task.dataset_hash, self->record_size,
                                 wanted, nwanted, &self->want, &self->nwant, &missing, &err)) {
        s_unit_failed (self, &err);
        return;
    }
    self->want_total = missing;
    self->data_have = 0;
    self->cursor_range = 0;
    self->cursor_offset = 0;
    self->rerequested = false;
    self->data_bytes = 0;
    self->data_started = zclock_mono ();
    uint64_t wanted_total = 0;
    for (uint32_t r = 0; r < nwanted; r++)
        wanted_total += wanted [r].count;
    if (missing == 0) {
        fg_info ("trainer %s: round %u shard %u: all %llu %s in the cache", self->node_id,
                 self->round, self->shard, (unsigned long long) wanted_total, what);
        s_samples_load (self);
        return;
    }
    fg_info ("trainer %s: round %u shard %u: fetching %llu of %llu %s", self->node_id,
             self->round, self->shard, (unsigned long long) missing,
             (unsigned long long) wanted_total, what);
    self->state = FG_TRN_SAMPLES;
    fg_trn_request_samples (self);
}

//  The variable records of chunk c: every label below the TASK's classes
//  (their framing the decoder checked), and the window stays within
//  S_STORED_WINDOW chunks' worth. Returns 0, FG_ERANGE or FG_EFORMAT.
static int
s_check_stored (const fg_trn_t *self, const fg_wire_data_chunk_t *c, fg_error_t *err)
{
    size_t most = (size_t) S_STORED_WINDOW * fg_wire_data_raw_max (&self->limits);
    if (c->raw_size > most - self->win_bytes)
        return fg_error_set (err, FG_ERANGE, "the window's files pass %zu bytes", most);
    size_t at = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        fg_wire_sample_t sample;
        int rc = fg_wire_sample_next (c->samples, (size_t) c->raw_size, &at, &sample, err);
        if (rc)
            return rc;
        fg_texture_piece_t info;
        if (s_texture (self) && (rc = s_piece_check (self, c->start + i, &sample, &info, err)))
            return rc;
        if (sample.label >= self->task.geometry.classes)
            return fg_error_set (err, FG_ERANGE, "sample %u: label %u, the set has %u classes",
                                 c->start + i, sample.label, self->task.geometry.classes);
    }
    return 0;
}

//  Whether DATA-CHUNK c is exactly the next run of samples of the window
//  (at: the window's range it falls in, NULL when none is awaited), of
//  the TASK's dataset, and sound. Returns 0, FG_EMISMATCH, FG_ESTATE,
//  FG_EFORMAT, FG_ERANGE or fg_dataset_check_records's code.
static int
s_check_chunk (const fg_trn_t *self, const fg_wire_data_chunk_t *c,
               const fg_wire_range_t *at, fg_error_t *err)
{
    int rc;
    if (memcmp (c->dataset_hash, self->task.dataset_hash, FG_SHA256_SIZE))
        rc = fg_error_set (err, FG_EMISMATCH, "samples of another dataset");
    else
    if (c->record_size != self->record_size)
        rc = fg_error_set (err, FG_EMISMATCH, "records of %u bytes, expected %zu",
                           c->record_size, self->record_size);
    else
    if (!at || c->start != at->start + self->win_offset
    ||  c->count > at->count - self->win_offset)
        rc = fg_error_set (err, FG_ESTATE, "samples %u..%llu, expected the next run from %llu",
                           c->start, (unsigned long long) c->start + c->count - 1,
                           at? (unsigned long long) at->start + self->win_offset: 0ull);
    else
    if (self->record_size == 0)
        rc = s_check_stored (self, c, err);
    else
    if (c->raw_size != (uint64_t) c->count * self->record_size)
        rc = fg_error_set (err, FG_EFORMAT, "%llu bytes for %u records",
                           (unsigned long long) c->raw_size, c->count);
    else
        rc = fg_dataset_check_records (self->task.dataset, c->samples, c->count,
                                       self->record_size, err);
    return rc;
}

//  Appends chunk c's records to the window (variable records: the buffer
//  grows, within the bound s_check_stored kept). Returns 0 or FG_ENOMEM.
static int
s_window_add (fg_trn_t *self, const fg_wire_data_chunk_t *c, fg_error_t *err)
{
    size_t raw = (size_t) c->raw_size;
    if (self->record_size == 0 && raw > self->win_cap - self->win_bytes) {
        size_t cap = self->win_cap * 2 > self->win_bytes + raw? self->win_cap * 2
                                                               : self->win_bytes + raw;
        uint8_t *more = realloc (self->win_records, cap);
        if (!more)
            return fg_error_set (err, FG_ENOMEM, "out of memory for %zu bytes of samples", cap);
        self->win_records = more;
        self->win_cap = cap;
    }
    size_t at = self->record_size? self->win_have * self->record_size: self->win_bytes;
    memcpy (self->win_records + at, c->samples, raw);
    self->win_bytes = at + raw;
    self->win_have += c->count;
    return 0;
}

//  After a window of stored files: the next asks about S_DATA_CREDIT
//  chunks' worth at the mean size seen (1 .. S_STORED_MOST files).
static void
s_window_adapt (fg_trn_t *self)
{
    if (self->record_size || self->win_total == 0)
        return;
    uint64_t mean = self->win_bytes / self->win_total + 1;
    uint64_t n = (uint64_t) S_DATA_CREDIT * fg_wire_data_raw_max (&self->limits) / mean;
    self->var_window = n < 1? 1: n > S_STORED_MOST? S_STORED_MOST: (uint32_t) n;
}

bool
fg_trn_samples_refused (fg_trn_t *self, const fg_wire_reject_t *reject)
{
    if (self->state != FG_TRN_SAMPLES || self->record_size != 0
    ||  reject->reason != FG_WIRE_REASON_BUSY || self->var_window <= 1)
        return false;
    self->var_window /= 2;
    fg_info ("trainer %s: %s; asking %u files at a time", self->node_id, reject->text,
             self->var_window);
    fg_trn_request_samples (self);
    return true;
}

//  A DATA-CHUNK: kept when it is exactly the next run of samples of the
//  window and sound; otherwise dropped, logged, and the window asked again.
//  A window whose samples are all in is stored in one transaction.
void
fg_trn_on_data_chunk (fg_trn_t *self, const fg_wire_msg_t *msg)
{
    const fg_wire_data_chunk_t *c = &msg->data_chunk;
    if (self->state != FG_TRN_SAMPLES || msg->round != self->round || msg->shard != self->shard) {
        fg_debug ("trainer %s: DATA-CHUNK of samples %u.. not asked for: dropped",
                  self->node_id, c->start);
        return;
    }
    fg_error_t err;
    const fg_wire_range_t *at = self->win_records && self->win_range < self->nwindow
                              ? &self->window [self->win_range]: NULL;
    int rc = s_check_chunk (self, c, at, &err);
    if (rc) {
        fg_warn ("trainer %s: DATA-CHUNK of samples %u.. dropped: %s%s", self->node_id,
                 c->start, err.msg, self->rerequested? "": "; asking again");
        if (!self->rerequested) {
            self->rerequested = true;
            fg_trn_request_samples (self);
        }
        return;
    }
    self->rerequested = false;
    if ((rc = s_window_add (self, c, &err))) {
        s_unit_failed (self, &err);
        return;
    }
    self->win_offset += c->count;
    if (self->win_offset == at->count) {
        self->win_range++;
        self->win_offset = 0;
    }
    self->data_bytes += c->lz4_size;
    self->data_expires = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
    if (self->win_have < self->win_total)
        return;
    rc = fg_sample_cache_put (self->cache, self->task.dataset_hash, self->record_size,
                              self->window, self->nwindow, self->win_records, self->win_bytes,
                              &err);
    if (rc) {
        s_unit_failed (self, &err);
        return;
    }
    fg_crash_point ("trainer.data.stored");
    s_window_adapt (self);
    //  the committed cursor moves past the window
    uint64_t left = self->win_total;
    while (left) {
        uint64_t room = self->want [self->cursor_range].count - self->cursor_offset;
        uint64_t step = left < room? left: room;
        self->cursor_offset += (uint32_t) step;
        left -= step;
        if (self->cursor_offset == self->want [self->cursor_range].count) {
            self->cursor_range++;
            self->cursor_offset = 0;
        }
    }
    self->data_have += self->win_total;
    free (self->win_records);
    self->win_records = NULL;
    if (self->data_have < self->want_total) {
        fg_trn_request_samples (self);
        return;
    }
    fg_info ("trainer %s: round %u shard %u: fetched %llu %s (%llu bytes) in %lld ms",
             self->node_id, self->round, self->shard, (unsigned long long) self->want_total,
             s_texture (self)? "pieces": "samples",
             (unsigned long long) self->data_bytes,
             (long long) (zclock_mono () - self->data_started));
    s_samples_load (self);
}

void
fg_trn_on_weights_chunk (fg_trn_t *self, const fg_wire_msg_t *msg)
{
    const fg_wire_weights_chunk_t *c = &msg->weights_chunk;
    if (self->state != FG_TRN_FETCHING || c->blob != FG_WIRE_BLOB_GLOBAL
    ||  c->version != self->task.weights_version || c->offset != self->fetch_have
    ||  c->total != self->fetch_total || c->size > self->fetch_total - self->fetch_have)
        return;                         //  stale or out of order: ignored
    memcpy (self->fetch + self->fetch_have, c->data, c->size);
    self->fetch_have += c->size;
    if (self->fetch_outstanding)
        self->fetch_outstanding--;
    if (self->fetch_have < self->fetch_total) {
        if (self->fetch_outstanding == 0)
            fg_trn_request_chunks (self);
        return;
    }
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256 (self->fetch, self->fetch_total, digest);
    fg_state_t *weights = NULL;
    fg_error_t err;
    int rc = memcmp (digest, self->task.weights_hash, FG_SHA256_SIZE)
           ? fg_error_set (&err, FG_ECHECKSUM, "weights %llu do not match their hash",
                           (unsigned long long) c->version)
           : fg_blob_decode (self->fetch, self->fetch_total, NULL, &weights, &err);
    free (self->fetch);
    self->fetch = NULL;
    if (rc) {
        fg_warn ("trainer %s: %s; asking again", self->node_id, err.msg);
        fg_trn_become_idle (self);
        return;
    }
    fg_state_destroy (&self->weights);
    self->weights = weights;
    self->weights_version = self->task.weights_version;
    memcpy (self->weights_hash, self->task.weights_hash, FG_SHA256_SIZE);
    fg_trn_start_unit (self);
}
