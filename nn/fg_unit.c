/*  fg_unit.c — one work unit in mini-batch slices (see fg_unit.h).       */

#include "fg_unit.h"
#include "fg_blob.h"
#include "fg_file.h"
#include "fg_rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define S_CKPT_MAGIC   0x43554746u      //  "FGUC" little-endian
#define S_CKPT_VERSION 1u

struct _fg_unit_t {
    fg_unit_spec_t spec;            //  indices points at our copy
    uint32_t  data_h, data_w, data_c;   //  spec.data's shape when built: a kept
                                        //  shell's dataset may be gone (a
                                        //  trainer's fetched set is per unit)
    uint32_t *indices;              //  [count] the shard
    uint32_t *order;                //  [count] positions in this epoch's order
    fg_model_t *model;
    fg_optim_t *optim;
    fg_train_t *train;
    float    *images;               //  (batch, H, W, C) current batch
    uint16_t *labels;               //  [batch]
    uint32_t *batch_indices;        //  [batch]
    uint32_t  steps;                //  batches per epoch
    uint32_t  epoch;                //  completed epochs
    uint32_t  step;                 //  next batch of the current epoch
    double    epoch_loss;           //  sum of loss x images, this epoch
    uint64_t  epoch_correct;
    uint64_t  epoch_seen;
    double   *losses;               //  [epochs] per completed epoch
    double   *accuracies;           //  [epochs]
};

static uint32_t
s_steps (size_t count, uint32_t batch)
{
    size_t full = count / batch, rest = count % batch;
    //  a trailing single image is skipped (batch norm needs two)
    return (uint32_t) (full + (rest >= 2 || (rest == 1 && full == 0)? 1: 0));
}

static size_t
s_batch_size (const fg_unit_t *self, uint32_t step)
{
    size_t start = (size_t) step * self->spec.batch;
    size_t left = self->spec.count - start;
    return left < self->spec.batch? left: self->spec.batch;
}

static void
s_draw_order (fg_unit_t *self)
{
    fg_rng_t rng;
    fg_rng_init (&rng, self->spec.seed, FG_RNG_BATCH, self->spec.round, self->spec.shard,
                 self->epoch, 0);
    fg_rng_permutation (&rng, self->order, self->spec.count);
}

void
fg_unit_model_spec (int model_kind, const fg_dataset_t *data, fg_model_spec_t *spec)
{
    memset (spec, 0, sizeof *spec);
    spec->kind = model_kind;
    spec->classes = fg_dataset_classes (data);
    fg_dataset_shape (data, &spec->height, &spec->width, &spec->channels);
}

//  Returns 0 or FG_EINVAL (in err) for a spec no unit can run.
static int
s_check_spec (const fg_unit_spec_t *spec, fg_error_t *err)
{
    if (!spec->data || !spec->indices || spec->count == 0 || spec->count > UINT32_MAX
    ||  spec->epochs == 0 || spec->batch == 0 || spec->batch > (1u << 20))
        return fg_error_set (err, FG_EINVAL, "work unit (round %u, shard %u): empty shard, no "
                             "dataset, or epochs/batch out of range", spec->round, spec->shard);
    size_t total = fg_dataset_count (spec->data);
    for (size_t i = 0; i < spec->count; i++)
        if (spec->indices [i] >= total)
            return fg_error_set (err, FG_EINVAL, "work unit (round %u, shard %u): sample index "
                                 "%u outside the dataset (%zu samples)", spec->round,
                                 spec->shard, spec->indices [i], total);
    return 0;
}

fg_unit_t *
fg_unit_new (const fg_unit_spec_t *spec, const fg_state_t *weights, fg_error_t *err)
{
    if (s_check_spec (spec, err))
        return NULL;
    fg_unit_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "work unit: out of memory");
        return NULL;
    }
    self->spec = *spec;
    uint32_t h, w, c;
    fg_dataset_shape (spec->data, &h, &w, &c);
    self->data_h = h;
    self->data_w = w;
    self->data_c = c;
    size_t image = (size_t) h * w * c;
    self->indices = malloc (spec->count * sizeof (uint32_t));
    self->order = malloc (spec->count * sizeof (uint32_t));
    self->images = malloc ((size_t) spec->batch * image * sizeof (float));
    self->labels = malloc ((size_t) spec->batch * sizeof (uint16_t));
    self->batch_indices = malloc ((size_t) spec->batch * sizeof (uint32_t));
    self->losses = calloc (spec->epochs, sizeof (double));
    self->accuracies = calloc (spec->epochs, sizeof (double));
    if (!self->indices || !self->order || !self->images || !self->labels
    ||  !self->batch_indices || !self->losses || !self->accuracies) {
        fg_error_set (err, FG_ENOMEM, "work unit: out of memory");
        goto fail;
    }
    memcpy (self->indices, spec->indices, spec->count * sizeof (uint32_t));
    self->spec.indices = self->indices;
    self->model = fg_model_new (&spec->model, err);
    if (!self->model)
        goto fail;
    if (fg_state_copy_data (fg_model_state (self->model), weights, err))
        goto fail;
    self->optim = fg_optim_new (&spec->optim, fg_model_state (self->model), err);
    if (!self->optim)
        goto fail;
    self->train = fg_train_new (self->model, self->optim, spec->batch, spec->threads, err);
    if (!self->train)
        goto fail;
    self->steps = s_steps (spec->count, spec->batch);
    s_draw_order (self);
    return self;

fail:
    fg_unit_destroy (&self);
    return NULL;
}

//  True when the shell of `self` (model, optimiser, workspace, batch
//  buffers) is what fg_unit_new would build for spec.
static bool
s_same_shell (const fg_unit_t *self, const fg_unit_spec_t *spec)
{
    const fg_model_spec_t *a = &self->spec.model, *b = &spec->model;
    uint32_t h, w, c;
    fg_dataset_shape (spec->data, &h, &w, &c);
    return a->kind == b->kind && a->classes == b->classes && a->height == b->height
        && a->width == b->width && a->channels == b->channels
        && self->data_h == h && self->data_w == w && self->data_c == c
        && self->spec.batch == spec->batch && self->spec.threads == spec->threads
        && self->spec.optim.momentum == spec->optim.momentum
        && self->spec.optim.nesterov == spec->optim.nesterov
        && self->spec.optim.weight_decay == spec->optim.weight_decay;
}

//  The per-shard arrays of a renewed unit, sized for spec.
static int
s_resize (fg_unit_t *self, const fg_unit_spec_t *spec, fg_error_t *err)
{
    uint32_t *indices = realloc (self->indices, spec->count * sizeof (uint32_t));
    if (indices)
        self->indices = indices;
    uint32_t *order = realloc (self->order, spec->count * sizeof (uint32_t));
    if (order)
        self->order = order;
    double *losses = realloc (self->losses, spec->epochs * sizeof (double));
    if (losses)
        self->losses = losses;
    double *accuracies = realloc (self->accuracies, spec->epochs * sizeof (double));
    if (accuracies)
        self->accuracies = accuracies;
    if (!indices || !order || !losses || !accuracies)
        return fg_error_set (err, FG_ENOMEM, "work unit: out of memory");
    return 0;
}

fg_unit_t *
fg_unit_renew (fg_unit_t **spare_p, const fg_unit_spec_t *spec, const fg_state_t *weights,
               fg_error_t *err)
{
    fg_unit_t *self = *spare_p;
    *spare_p = NULL;
    if (s_check_spec (spec, err)) {
        fg_unit_destroy (&self);
        return NULL;
    }
    if (!self || !s_same_shell (self, spec)) {
        fg_unit_destroy (&self);
        return fg_unit_new (spec, weights, err);
    }
    if (s_resize (self, spec, err)
    ||  fg_state_copy_data (fg_model_state (self->model), weights, err)) {
        fg_unit_destroy (&self);
        return NULL;
    }
    //  what fg_unit_new sets, over the kept shell
    self->spec = *spec;
    memcpy (self->indices, spec->indices, spec->count * sizeof (uint32_t));
    self->spec.indices = self->indices;
    memset (self->losses, 0, spec->epochs * sizeof (double));
    memset (self->accuracies, 0, spec->epochs * sizeof (double));
    fg_optim_reset (self->optim);       //  momentum starts at zero for every unit
    self->steps = s_steps (spec->count, spec->batch);
    self->epoch = 0;
    self->step = 0;
    self->epoch_loss = 0;
    self->epoch_correct = 0;
    self->epoch_seen = 0;
    s_draw_order (self);
    return self;
}

void
fg_unit_destroy (fg_unit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_unit_t *self = *self_p;
    fg_train_destroy (&self->train);
    fg_optim_destroy (&self->optim);
    fg_model_destroy (&self->model);
    free (self->indices);
    free (self->order);
    free (self->images);
    free (self->labels);
    free (self->batch_indices);
    free (self->losses);
    free (self->accuracies);
    free (self);
    *self_p = NULL;
}

bool
fg_unit_done (const fg_unit_t *self)
{
    return self->epoch >= self->spec.epochs;
}

int
fg_unit_step (fg_unit_t *self, bool *epoch_done, fg_error_t *err)
{
    if (epoch_done)
        *epoch_done = false;
    if (fg_unit_done (self))
        return fg_error_set (err, FG_ESTATE, "work unit (round %u, shard %u) is already done",
                             self->spec.round, self->spec.shard);
    size_t n = s_batch_size (self, self->step);
    size_t start = (size_t) self->step * self->spec.batch;
    for (size_t i = 0; i < n; i++)
        self->batch_indices [i] = self->indices [self->order [start + i]];
    fg_dataset_key_t dkey = { self->spec.seed, self->spec.round, self->spec.shard,
                              self->epoch, self->step };
    int rc = fg_dataset_batch (self->spec.data, self->batch_indices, n, self->spec.augment,
                               &dkey, self->images, self->labels, err);
    if (rc) {
        //  a damaged image of an on-demand set is found here (its file named)
        fg_error_prefix (err, "work unit (round %u, shard %u) epoch %u batch %u",
                         self->spec.round, self->spec.shard, self->epoch, self->step);
        return rc;
    }
    double lr = fg_optim_lr (&self->spec.optim, (double) self->epoch);
    fg_train_keys_t keys = { self->spec.seed, self->spec.round, self->spec.shard,
                             self->epoch, self->step };
    fg_train_result_t result;
    rc = fg_train_step (self->train, self->images, self->labels, (uint32_t) n, lr, &keys,
                        &result, err);
    if (rc) {
        fg_error_prefix (err, "work unit (round %u, shard %u) epoch %u batch %u",
                         self->spec.round, self->spec.shard, self->epoch, self->step);
        return rc;
    }
    self->epoch_loss += result.loss * (double) result.count;
    self->epoch_correct += result.correct;
    self->epoch_seen += result.count;
    if (++self->step == self->steps) {
        self->losses [self->epoch] = self->epoch_seen? self->epoch_loss / (double) self->epoch_seen: 0;
        self->accuracies [self->epoch] = self->epoch_seen
                                       ? (double) self->epoch_correct / (double) self->epoch_seen: 0;
        self->epoch++;
        self->step = 0;
        self->epoch_loss = 0;
        self->epoch_correct = 0;
        self->epoch_seen = 0;
        if (!fg_unit_done (self))
            s_draw_order (self);
        if (epoch_done)
            *epoch_done = true;
    }
    return 0;
}

int
fg_unit_run (fg_unit_t *self, fg_error_t *err)
{
    while (!fg_unit_done (self)) {
        int rc = fg_unit_step (self, NULL, err);
        if (rc)
            return rc;
    }
    return 0;
}

uint32_t fg_unit_epoch (const fg_unit_t *self) { return self->epoch; }
uint32_t fg_unit_steps_per_epoch (const fg_unit_t *self) { return self->steps; }
uint32_t fg_unit_next_step (const fg_unit_t *self) { return self->step; }
fg_model_t *fg_unit_model (fg_unit_t *self) { return self->model; }

const double *
fg_unit_losses (const fg_unit_t *self, uint32_t *count)
{
    *count = self->epoch < self->spec.epochs? self->epoch: self->spec.epochs;
    return self->losses;
}

const double *
fg_unit_accuracies (const fg_unit_t *self, uint32_t *count)
{
    *count = self->epoch < self->spec.epochs? self->epoch: self->spec.epochs;
    return self->accuracies;
}

uint64_t
fg_unit_samples (const fg_unit_t *self)
{
    uint64_t n = self->spec.count;
    if (n % self->spec.batch == 1 && n > 1)
        n--;
    return n;
}

//  --------------------------------------------------------------------------
//  Checkpoints: little-endian
//      u32 magic "FGUC", u32 version, u64 seed, u32 round, u32 shard,
//      u32 shard size, u32 epochs done, f64 loss [done], f64 accuracy [done],
//      u64 weights blob size, blob, u64 optimiser blob size, blob, u32 CRC-32

static void
s_put (uint8_t **p, const void *data, size_t size)
{
    memcpy (*p, data, size);
    *p += size;
}

//  The checkpoint's bytes before the weights blob: u32 magic .. f64
//  accuracy [done]; returns its size (S_HEAD_FIXED + 16 x done).
#define S_HEAD_FIXED (4 * 2 + 8 + 4 * 4)

static size_t
s_ckpt_head (const fg_unit_t *self, uint8_t *out)
{
    uint8_t *p = out;
    uint32_t magic = S_CKPT_MAGIC, version = S_CKPT_VERSION;
    uint32_t count = (uint32_t) self->spec.count, done = self->epoch;
    s_put (&p, &magic, 4);
    s_put (&p, &version, 4);
    s_put (&p, &self->spec.seed, 8);
    s_put (&p, &self->spec.round, 4);
    s_put (&p, &self->spec.shard, 4);
    s_put (&p, &count, 4);
    s_put (&p, &done, 4);
    s_put (&p, self->losses, (size_t) done * 8);
    s_put (&p, self->accuracies, (size_t) done * 8);
    return (size_t) (p - out);
}

//  A blob written at offset base of the checkpoint.
typedef struct {
    fg_blob_write_fn *write;
    void    *ctx;
    uint64_t base;
} s_shift_t;

static int
s_shift_write (void *ctx, uint64_t at, const void *data, size_t size, fg_error_t *err)
{
    s_shift_t *shift = (s_shift_t *) ctx;
    return shift->write (shift->ctx, shift->base + at, data, size, err);
}

//  The checkpoint (layout above) piece by piece: the header, then each
//  state as a blob streamed by fg_blob_write (its u64 size written after
//  it), the CRC-32 last, combined from the pieces' CRCs.
int
fg_unit_checkpoint_write (const fg_unit_t *self, fg_blob_write_fn *write, void *ctx,
                          uint64_t *total, fg_error_t *err)
{
    *total = 0;
    if (self->step != 0)
        return fg_error_set (err, FG_ESTATE, "work unit: checkpoint only at an epoch boundary");
    uint8_t *head = malloc (S_HEAD_FIXED + (size_t) self->epoch * 16);
    if (!head)
        return fg_error_set (err, FG_ENOMEM, "work unit checkpoint: out of memory");
    size_t head_size = s_ckpt_head (self, head);
    int rc = write (ctx, 0, head, head_size, err);
    uLong crc = crc32 (0L, head, (uInt) head_size);
    free (head);
    const fg_state_t *states [2] = { fg_model_state (self->model), fg_optim_state (self->optim) };
    uint64_t at = head_size;
    for (int i = 0; rc == 0 && i < 2; i++) {
        s_shift_t shift = { write, ctx, at + 8 };
        uint64_t size;
        uint32_t blob_crc;
        rc = fg_blob_write (states [i], NULL, s_shift_write, &shift, &size, &blob_crc, err);
        if (rc == 0)
            rc = write (ctx, at, &size, 8, err);
        crc = crc32_combine (crc32 (crc, (const Bytef *) &size, 8), blob_crc, (z_off_t) size);
        at += 8 + size;
    }
    uint32_t sum = (uint32_t) crc;
    if (rc == 0)
        rc = write (ctx, at, &sum, 4, err);
    *total = at + 4;
    return rc;
}

int
fg_unit_checkpoint (const fg_unit_t *self, uint8_t **bytes, size_t *size, fg_error_t *err)
{
    *bytes = NULL;
    *size = 0;
    //  one buffer of the checkpoint's bound; only the pages written are
    //  touched, and it shrinks to the checkpoint after
    uint64_t bound = S_HEAD_FIXED + (uint64_t) self->epoch * 16 + 8
                   + fg_blob_bound (fg_model_state (self->model)) + 8
                   + fg_blob_bound (fg_optim_state (self->optim)) + 4;
    fg_blob_buffer_t buffer = { bound <= SIZE_MAX? malloc ((size_t) bound): NULL, bound };
    if (!buffer.bytes)
        return fg_error_set (err, FG_ENOMEM, "work unit checkpoint: out of memory");
    uint64_t total;
    int rc = fg_unit_checkpoint_write (self, fg_blob_buffer_write, &buffer, &total, err);
    if (rc) {
        free (buffer.bytes);
        return rc;
    }
    uint8_t *shrunk = realloc (buffer.bytes, (size_t) total);
    *bytes = shrunk? shrunk: buffer.bytes;
    *size = (size_t) total;
    return 0;
}

int
fg_unit_checkpoint_save (const fg_unit_t *self, const char *path, fg_error_t *err)
{
    if (self->step != 0)
        return fg_error_set (err, FG_ESTATE, "work unit: checkpoint only at an epoch boundary");
    fg_file_out_t *out;
    int rc = fg_file_out_open (path, 0644, &out, err);
    if (rc)
        return rc;
    uint64_t total;
    rc = fg_unit_checkpoint_write (self, fg_blob_file_write, out, &total, err);
    return fg_file_out_close (&out, rc, err);
}

//  Bounded little-endian reader.
typedef struct { const uint8_t *p, *end; } s_reader_t;

static bool
s_get (s_reader_t *r, void *out, size_t size)
{
    if ((size_t) (r->end - r->p) < size)
        return false;
    memcpy (out, r->p, size);
    r->p += size;
    return true;
}

int
fg_unit_restore (fg_unit_t *self, const uint8_t *bytes, size_t size, fg_error_t *err)
{
    if (size < 4 + 4 || size > ((size_t) 1 << 40))
        return fg_error_set (err, FG_EFORMAT, "work unit checkpoint: %zu bytes is too short", size);
    uint32_t stored_crc;
    memcpy (&stored_crc, bytes + size - 4, 4);
    if ((uint32_t) crc32 (0L, bytes, (uInt) (size - 4)) != stored_crc)
        return fg_error_set (err, FG_ECHECKSUM, "work unit checkpoint: CRC-32 mismatch");
    s_reader_t r = { bytes, bytes + size - 4 };
    uint32_t magic, version, round, shard, count, done;
    uint64_t seed, ws, os;
    if (!s_get (&r, &magic, 4) || !s_get (&r, &version, 4) || magic != S_CKPT_MAGIC)
        return fg_error_set (err, FG_EFORMAT, "work unit checkpoint: bad magic");
    if (version != S_CKPT_VERSION)
        return fg_error_set (err, FG_EVERSION, "work unit checkpoint: version %u, not %u",
                             version, S_CKPT_VERSION);
    if (!s_get (&r, &seed, 8) || !s_get (&r, &round, 4) || !s_get (&r, &shard, 4)
    ||  !s_get (&r, &count, 4) || !s_get (&r, &done, 4))
        return fg_error_set (err, FG_EFORMAT, "work unit checkpoint: truncated header");
    if (seed != self->spec.seed || round != self->spec.round || shard != self->spec.shard
    ||  count != self->spec.count)
        return fg_error_set (err, FG_EMISMATCH, "work unit checkpoint is of unit (round %u, "
                             "shard %u, %u samples), not (round %u, shard %u, %zu samples)",
                             round, shard, count, self->spec.round, self->spec.shard,
                             self->spec.count);
    if (done > self->spec.epochs)
        return fg_error_set (err, FG_EFORMAT, "work unit checkpoint: %u epochs done of %u",
                             done, self->spec.epochs);
    double *losses = malloc (((size_t) done + 1) * 8), *accuracies = malloc (((size_t) done + 1) * 8);
    int rc = 0;
    if (!losses || !accuracies) {
        rc = fg_error_set (err, FG_ENOMEM, "work unit checkpoint: out of memory");
        goto done;
    }
    if (!s_get (&r, losses, (size_t) done * 8) || !s_get (&r, accuracies, (size_t) done * 8)
    ||  !s_get (&r, &ws, 8) || ws > (uint64_t) (r.end - r.p)) {
        rc = fg_error_set (err, FG_EFORMAT, "work unit checkpoint: truncated");
        goto done;
    }
    //  checked whole first (every chunk, every CRC, both layouts), then
    //  decoded in place: no decoded copies, and a bad checkpoint leaves
    //  the unit as it was
    const uint8_t *wblob = r.p;
    r.p += ws;
    if (!s_get (&r, &os, 8) || os != (uint64_t) (r.end - r.p))
        rc = fg_error_set (err, FG_EFORMAT, "work unit checkpoint: optimiser state size");
    const uint8_t *oblob = r.p;
    fg_state_t *weights = fg_model_state (self->model), *optim = fg_optim_state (self->optim);
    if (rc == 0)
        rc = fg_blob_check (wblob, (size_t) ws, NULL, err);
    if (rc == 0)
        rc = fg_blob_check (oblob, (size_t) os, NULL, err);
    if (rc == 0)
        rc = fg_blob_decode_into (wblob, (size_t) ws, weights, true, err);
    if (rc == 0)
        rc = fg_blob_decode_into (oblob, (size_t) os, optim, true, err);
    if (rc == 0)
        rc = fg_blob_decode_into (wblob, (size_t) ws, weights, false, err);
    if (rc == 0)
        rc = fg_blob_decode_into (oblob, (size_t) os, optim, false, err);
    if (rc) {
        fg_error_prefix (err, "work unit checkpoint");
        goto done;
    }
    memcpy (self->losses, losses, (size_t) done * 8);
    memcpy (self->accuracies, accuracies, (size_t) done * 8);
    self->epoch = done;
    self->step = 0;
    self->epoch_loss = 0;
    self->epoch_correct = 0;
    self->epoch_seen = 0;
    if (!fg_unit_done (self))
        s_draw_order (self);
done:
    free (losses);
    free (accuracies);
    return rc;
}

//  count samples of data from the first, in batches of batch through
//  train's model and workspace: mean loss (sum of batch loss x images,
//  in sample order) and top-1 count. indices, images, labels hold a batch.
static int
s_eval_batches (fg_train_t *train, const fg_dataset_t *data, size_t count, uint32_t batch,
                uint32_t *indices, float *images, uint16_t *labels, fg_train_result_t *result,
                fg_error_t *err)
{
    double loss = 0;
    int rc = 0;
    for (size_t start = 0; rc == 0 && start < count; start += batch) {
        size_t n = count - start < batch? count - start: batch;
        for (size_t i = 0; i < n; i++)
            indices [i] = (uint32_t) (start + i);
        rc = fg_dataset_batch (data, indices, n, false, NULL, images, labels, err);
        fg_train_result_t part;
        if (rc == 0)
            rc = fg_train_evaluate (train, images, labels, n, (uint32_t) n, &part, err);
        if (rc == 0) {
            loss += part.loss * (double) part.count;
            result->correct += part.correct;
            result->count += part.count;
        }
    }
    if (rc == 0)
        result->loss = result->count? loss / (double) result->count: 0;
    return rc;
}

//  The evaluation's model, trainer and batch buffers, kept between calls:
//  an aggregator evaluates every round, and building a VGG-16 and its
//  activations each time cost allocations and page faults each round.
struct _fg_unit_eval_t {
    fg_model_spec_t spec;
    uint32_t  batch;
    fg_model_t *model;
    fg_train_t *train;
    float    *images;               //  (batch, H, W, C)
    uint16_t *labels;               //  [batch]
    uint32_t *indices;              //  [batch]
};

fg_unit_eval_t *
fg_unit_eval_new (const fg_model_spec_t *spec, uint32_t batch, int threads, fg_error_t *err)
{
    if (batch == 0)
        batch = 32;
    fg_unit_eval_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "evaluation: out of memory");
        return NULL;
    }
    self->spec = *spec;
    self->batch = batch;
    self->model = fg_model_new (spec, err);
    if (!self->model)
        goto fail;
    self->train = fg_train_new (self->model, NULL, batch, threads, err);
    if (!self->train)
        goto fail;
    size_t image = (size_t) spec->height * spec->width * spec->channels;
    self->images = malloc ((size_t) batch * image * sizeof (float));
    self->labels = malloc ((size_t) batch * sizeof (uint16_t));
    self->indices = malloc ((size_t) batch * sizeof (uint32_t));
    if (!self->images || !self->labels || !self->indices) {
        fg_error_set (err, FG_ENOMEM, "evaluation: out of memory");
        goto fail;
    }
    return self;
fail:
    fg_unit_eval_destroy (&self);
    return NULL;
}

void
fg_unit_eval_destroy (fg_unit_eval_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_unit_eval_t *self = *self_p;
    fg_train_destroy (&self->train);
    fg_model_destroy (&self->model);
    free (self->images);
    free (self->labels);
    free (self->indices);
    free (self);
    *self_p = NULL;
}

int
fg_unit_eval_run (fg_unit_eval_t *self, const fg_state_t *weights, const fg_dataset_t *data,
                  size_t count, fg_train_result_t *result, fg_error_t *err)
{
    memset (result, 0, sizeof *result);
    uint32_t h, w, c;
    fg_dataset_shape (data, &h, &w, &c);
    if (h != self->spec.height || w != self->spec.width || c != self->spec.channels)
        return fg_error_set (err, FG_EMISMATCH, "evaluation: images of %ux%ux%u for a model "
                             "of %ux%ux%u", h, w, c, self->spec.height, self->spec.width,
                             self->spec.channels);
    size_t total = fg_dataset_count (data);
    if (count == 0 || count > total)
        count = total;
    int rc = fg_state_copy_data (fg_model_state (self->model), weights, err);
    if (rc == 0)
        rc = s_eval_batches (self->train, data, count, self->batch, self->indices, self->images,
                             self->labels, result, err);
    return rc;
}

int
fg_unit_evaluate_own (fg_unit_t *self, const fg_dataset_t *data, size_t count, uint32_t batch,
                      fg_train_result_t *result, fg_error_t *err)
{
    memset (result, 0, sizeof *result);
    if (batch == 0)
        batch = 32;
    if (batch > self->spec.batch)
        return fg_error_set (err, FG_EINVAL, "evaluation: batch %u larger than the unit's %u",
                             batch, self->spec.batch);
    uint32_t h, w, c;
    fg_dataset_shape (data, &h, &w, &c);
    if (h != self->spec.model.height || w != self->spec.model.width
    ||  c != self->spec.model.channels)
        return fg_error_set (err, FG_EMISMATCH, "evaluation: images of %ux%ux%u for a model "
                             "of %ux%ux%u", h, w, c, self->spec.model.height,
                             self->spec.model.width, self->spec.model.channels);
    size_t total = fg_dataset_count (data);
    if (count == 0 || count > total)
        count = total;
    return s_eval_batches (self->train, data, count, batch, self->batch_indices, self->images,
                           self->labels, result, err);
}

int
fg_unit_evaluate (const fg_model_spec_t *spec, const fg_state_t *weights,
                  const fg_dataset_t *data, size_t count, uint32_t batch, int threads,
                  fg_train_result_t *result, fg_error_t *err)
{
    memset (result, 0, sizeof *result);
    fg_unit_eval_t *eval = fg_unit_eval_new (spec, batch, threads, err);
    if (!eval)
        return err && err->code? err->code: FG_ENOMEM;
    int rc = fg_unit_eval_run (eval, weights, data, count, result, err);
    fg_unit_eval_destroy (&eval);
    return rc;
}
