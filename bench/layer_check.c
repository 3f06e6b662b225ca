/*  layer_check.c — fedgrid's side of the layer-by-layer comparison with
    PyTorch (bench/torch_layer_check.py): a few SGD steps of a model from
    its fg_rng initial weights on seeded batches, everything dumped so
    torch can redo each step from the same weights, batch and dropout mask.

        bench/layer_check [-m mobilenetv3-small] [-c 200] [-s 64] [-n 32]
                          [-k 3] [-S 1] [-l 0.05] [-M 0.9] [-w 5e-4] [-T epochs]
                          [-x images.bin | -D tiny-imagenet-dir] -o out.bin
        bench/layer_check [-m ...] [-c ...] [-s ...] [-S seed] -i init.safetensors
        bench/layer_check [-S seed] [-n 32] -D tiny-imagenet-dir -H epochs

    -i: only write the initial weights fg_model_init (seed) gives, as
    safetensors (what bench/torch_tinyimagenet.py --init loads), and stop.
    -x: k*n images, float32 NHWC, then k*n labels, uint32 (the torch side
    writes real batches this way); without it the images are N(0, 1) and
    the labels uniform, from FG_RNG_TEST streams.
    -D: the batches `fedctl train` trains on at epoch 0 (steps 0 .. k-1) of
    the Tiny-ImageNet-200 folder: fg_unit's order (FG_RNG_BATCH stream) and
    fg_dataset_batch with augmentation (so torch_layer_check.py --batches
    can check its own batches of the same steps against them). Steps past
    the first epoch (-k 1250 at batch 32) go on into epochs 1, 2, ... as
    fg_unit_step does (each epoch its own order, augmentation and dropout
    keys); -T E gives each epoch the rate of fedctl train's cosine over E
    epochs (fg_optim_lr), otherwise every step runs at -l. The last line
    is the final state's fg_state_hash, the hash `fedctl train` prints:
    `-k 1250 -T 2 -o /dev/null` must print the hash of `fedctl train
    --set training.epochs=2` (same seed) if fedctl train's loop adds
    nothing to fg_train_step's.
    -P i: float i of the initial state is moved one ulp up (nextafterf)
    before the steps: how a difference of one rounding carries over many
    steps (the trajectories of fedgrid and torch part after a few steps).
    -H E: only print "epoch step n sha256" for every training batch of
    epochs 0 .. E-1 (the remainder batch too), the hash over the float32
    images (n, 64, 64, 3) then the labels as u32;
    bench/torch_tinyimagenet.py --batch-hashes E prints the same lines for
    its batches.

    Each step is fg_train_step's own sequence (zero grads, train forward
    with the FG_RNG_DROPOUT stream (seed, 0, 0, 0, step), mean softmax
    cross-entropy, backward, fg_optim_step at rate -l), spelled out here so
    the logits and gradients can be written before the update.

    out.bin, little-endian:
        u32 magic "FGLC", nviews, n, h, w, c, classes, steps, dropout width
        f64 lr, momentum, weight decay, dropout p
        per view: u32 name length, kind, rank; name; u64 shape [rank]
        f32 state before step 0 [state size]
        per step: f32 images [n*h*w*c]; u32 labels [n];
                  u8 dropout mask [n*width]; f64 loss;
                  f32 logits [n*classes]; f32 grads [state size] (0 for
                  buffers); f32 state after the update [state size]
    Built by make check (so it keeps compiling), never run by it.        */

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fg_blob.h"
#include "fg_dataset.h"
#include "fg_model.h"
#include "fg_model_internal.h"
#include "fg_ops.h"
#include "fg_optim.h"
#include "fg_rng.h"
#include "fg_sha256.h"

typedef struct {
    const char *model, *out, *init, *images, *tiny;
    uint32_t classes, side, n, steps;
    uint64_t seed;
    double lr, momentum, wd;
    double horizon;             //  -T: cosine over this many epochs (0: constant -l)
    long long nudge;            //  -P: state float moved up one ulp after init (-1: none)
} s_args_t;

static int
s_kind (const char *name)
{
    for (int k = FG_MODEL_CNN_SMALL; k <= FG_MODEL_MOBILENETV3_LARGE; k++)
        if (strcmp (fg_model_kind_name (k), name) == 0)
            return k;
    return -1;
}

//  The classifier's dropout layer (p, elements per image), or p = 0.
static float
s_dropout (const fg_model_t *m, uint32_t *width)
{
    for (size_t l = 0; l < m->nlayers; l++)
        if (m->layers [l].op == FG_MX_DROPOUT) {
            const fg_mx_tensor_t *t = &m->tensors [m->layers [l].out];
            *width = t->h * t->w * t->c;
            return m->layers [l].p;
        }
    *width = 0;
    return 0;
}

//  The mask fg_dropout_forward draws for dropout layer 0 (nn/fg_elementwise.c).
static void
s_mask (const fg_rng_t *rng, float p, size_t count, uint8_t *mask)
{
    fg_rng_t r = *rng;
    fg_rng_seek (&r, 0);
    for (size_t i = 0; i < count; i++)
        mask [i] = fg_rng_uniform (&r) >= p;
}

//  Batch `step` when there is no -x file: N(0, 1) images, uniform labels.
static int
s_batch (const s_args_t *a, uint32_t step, size_t floats, float *x, uint32_t *y)
{
    size_t n = a->n;
    fg_rng_t rng;
    fg_rng_init (&rng, a->seed, FG_RNG_TEST, 1, 0, 0, step);
    for (size_t i = 0; i < n * floats; i++)
        x [i] = fg_rng_normal (&rng);
    for (size_t i = 0; i < n; i++)
        y [i] = fg_rng_below (&rng, a->classes);
    return 0;
}

//  Batch `step` of epoch 0 as fg_unit_step makes it (order: the FG_RNG_BATCH
//  permutation of the whole training split; augmented). order [count].
static int s_batch_epoch (const s_args_t *a, const fg_dataset_t *data, const uint32_t *order,
                          uint32_t epoch, uint32_t step, uint32_t n, float *x, uint32_t *y);

static int
s_batch_tiny (const s_args_t *a, const fg_dataset_t *data, const uint32_t *order,
              uint32_t step, float *x, uint32_t *y)
{
    if ((size_t) (step + 1) * a->n > fg_dataset_count (data)) {
        fprintf (stderr, "layer_check: the training split has too few images\n");
        return 1;
    }
    return s_batch_epoch (a, data, order, 0, step, a->n, x, y);
}

//  Batch `step` (n images) of `epoch` as fg_unit_step makes it: positions
//  order [step * batch ..] of the epoch's FG_RNG_BATCH permutation, the
//  augmentation keyed (seed, 0, 0, epoch, step). x (n, 64, 64, 3), y [n].
static int
s_batch_epoch (const s_args_t *a, const fg_dataset_t *data, const uint32_t *order,
               uint32_t epoch, uint32_t step, uint32_t n, float *x, uint32_t *y)
{
    uint32_t idx [4096];
    uint16_t labels [4096];
    fg_error_t err = { 0 };
    if (n < 1 || n > 4096)
        return 1;
    for (uint32_t i = 0; i < n; i++)
        idx [i] = order [(size_t) step * a->n + i];
    fg_dataset_key_t key = { a->seed, 0, 0, epoch, step };
    if (fg_dataset_batch (data, idx, n, true, &key, x, labels, &err)) {
        fprintf (stderr, "layer_check: %s\n", err.msg);
        return 1;
    }
    for (uint32_t i = 0; i < n; i++)
        y [i] = labels [i];
    return 0;
}

//  -H: one line per batch of epochs 0 .. epochs-1 of the -D training split,
//  "epoch step n sha256", the hash over the batch's float32 images (n, 64,
//  64, 3) then its labels as u32 (bench/torch_tinyimagenet.py
//  --batch-hashes prints the same from its own batches). The last batch
//  is the remainder; a single trailing image is skipped (nn/fg_unit.c).
static int
s_hashes (const s_args_t *a, uint32_t epochs)
{
    fg_error_t err = { 0 };
    fg_dataset_t *data = NULL;
    if (fg_dataset_open (FG_DATASET_TINY_IMAGENET, a->tiny, FG_SPLIT_TRAIN, 0, &data, &err)) {
        fprintf (stderr, "layer_check: %s\n", err.msg);
        return 1;
    }
    size_t count = fg_dataset_count (data), floats = (size_t) 64 * 64 * 3;
    uint32_t *order = malloc (count * sizeof (uint32_t));
    float *x = malloc ((size_t) a->n * floats * sizeof (float));
    uint32_t *y = malloc ((size_t) a->n * sizeof (uint32_t));
    int rc = order && x && y? 0: 1;
    size_t full = count / a->n, rest = count % a->n;
    uint32_t steps = (uint32_t) (full + (rest >= 2 || (rest == 1 && full == 0)? 1: 0));
    for (uint32_t epoch = 0; rc == 0 && epoch < epochs; epoch++) {
        fg_rng_t rng;
        fg_rng_init (&rng, a->seed, FG_RNG_BATCH, 0, 0, epoch, 0);
        fg_rng_permutation (&rng, order, count);
        for (uint32_t step = 0; rc == 0 && step < steps; step++) {
            size_t left = count - (size_t) step * a->n;
            uint32_t n = left < a->n? (uint32_t) left: a->n;
            rc = s_batch_epoch (a, data, order, epoch, step, n, x, y);
            if (rc)
                break;
            fg_sha256_t ctx;
            uint8_t digest [FG_SHA256_SIZE];
            char hex [FG_SHA256_HEX_SIZE];
            fg_sha256_init (&ctx);
            fg_sha256_update (&ctx, x, (size_t) n * floats * sizeof (float));
            fg_sha256_update (&ctx, y, (size_t) n * sizeof (uint32_t));
            fg_sha256_final (&ctx, digest);
            fg_sha256_hex (digest, hex);
            printf ("%u %u %u %s\n", epoch, step, n, hex);
        }
    }
    if (!order || !x || !y)
        fprintf (stderr, "layer_check: out of memory\n");
    free (order);
    free (x);
    free (y);
    fg_dataset_destroy (&data);
    return rc;
}

static void
s_header (FILE *f, const fg_state_t *s, const s_args_t *a, uint32_t width, float p)
{
    uint32_t head [9] = { 0x434c4746u, (uint32_t) s->nviews, a->n, a->side, a->side, 3,
                          a->classes, a->steps, width };
    double h [4] = { a->lr, a->momentum, a->wd, p };
    fwrite (head, sizeof head, 1, f);
    fwrite (h, sizeof h, 1, f);
    for (size_t v = 0; v < s->nviews; v++) {
        const fg_tensor_view_t *view = &s->views [v];
        uint32_t meta [3] = { (uint32_t) strlen (view->name), view->kind, view->rank };
        fwrite (meta, sizeof meta, 1, f);
        fwrite (view->name, 1, meta [0], f);
        fwrite (view->shape, sizeof (uint64_t), view->rank, f);
    }
    fwrite (s->data, sizeof (float), s->size, f);
}

//  One training step, dumped. Returns 0 or a code (printed).
static int
s_step (const s_args_t *a, fg_model_t *m, fg_model_ws_t *ws, fg_optim_t *opt, uint32_t epoch,
        uint32_t step, double lr, const float *x, const uint32_t *y, uint8_t *mask,
        uint32_t width, float p, FILE *f)
{
    fg_error_t err = { 0 };
    fg_rng_t dropout;
    fg_rng_init (&dropout, a->seed, FG_RNG_DROPOUT, 0, 0, epoch, step);
    s_mask (&dropout, p, (size_t) a->n * width, mask);
    int32_t labels [4096];
    for (uint32_t i = 0; i < a->n; i++)
        labels [i] = (int32_t) y [i];
    float *dlogits = malloc ((size_t) a->n * a->classes * sizeof (float));
    const float *logits;
    double loss = 0;
    fg_model_zero_grads (m);
    int rc = dlogits? 0: FG_ENOMEM;
    if (rc == 0)
        rc = fg_model_forward (m, ws, x, a->n, true, &dropout, &logits, &err);
    if (rc == 0)
        rc = fg_softmax_xent ((int) a->n, (int) a->classes, logits, labels, &loss, dlogits,
                              NULL, &err);
    if (rc == 0) {
        fwrite (x, sizeof (float), (size_t) a->n * a->side * a->side * 3, f);
        fwrite (y, sizeof (uint32_t), a->n, f);
        fwrite (mask, 1, (size_t) a->n * width, f);
        fwrite (&loss, sizeof loss, 1, f);
        fwrite (logits, sizeof (float), (size_t) a->n * a->classes, f);
        rc = fg_model_backward (m, ws, dlogits, &err);
    }
    if (rc == 0) {
        fg_state_t *g = fg_model_grads (m);
        fwrite (g->data, sizeof (float), g->size, f);
        rc = fg_optim_step (opt, fg_model_state (m), g, lr, &err);
    }
    if (rc == 0)
        fwrite (fg_model_state (m)->data, sizeof (float), fg_model_state (m)->size, f);
    else
        fprintf (stderr, "layer_check: step %u: %s\n", step, err.msg);
    printf ("epoch %u step %u lr %.6g loss %.6f\n", epoch, step, lr, loss);
    free (dlogits);
    return rc;
}

static int
s_run (const s_args_t *a, fg_model_t *m)
{
    fg_error_t err = { 0 };
    fg_optim_config_t oc = { .lr = a->lr, .momentum = a->momentum, .weight_decay = a->wd,
                             .schedule = FG_SCHEDULE_CONSTANT, .gamma = 1 };
    fg_optim_t *opt = fg_optim_new (&oc, fg_model_state (m), &err);
    //  -T: the rate of each epoch as fedctl train's cosine schedule gives it
    fg_optim_config_t cosine = oc;
    cosine.schedule = FG_SCHEDULE_COSINE;
    cosine.horizon = a->horizon;
    fg_model_ws_t *ws = fg_model_ws_new (m, a->n, 1, &err);
    uint32_t width;
    float p = s_dropout (m, &width);
    size_t floats = (size_t) a->side * a->side * 3;
    float *x = malloc ((size_t) a->n * floats * sizeof (float));
    uint32_t *y = malloc ((size_t) a->n * sizeof (uint32_t));
    uint8_t *mask = malloc ((size_t) a->n * width + 1);
    FILE *in = a->images? fopen (a->images, "rb"): NULL;
    fg_dataset_t *tiny = NULL;
    uint32_t *order = NULL;
    if (a->tiny && fg_dataset_open (FG_DATASET_TINY_IMAGENET, a->tiny, FG_SPLIT_TRAIN, 0, &tiny,
                                    &err) == 0) {
        fg_rng_t rng;
        fg_rng_init (&rng, a->seed, FG_RNG_BATCH, 0, 0, 0, 0);
        order = malloc (fg_dataset_count (tiny) * sizeof (uint32_t));
        if (order)
            fg_rng_permutation (&rng, order, fg_dataset_count (tiny));
    }
    FILE *f = fopen (a->out, "wb");
    int rc = opt && ws && x && y && mask && f && (in || !a->images) && (order || !a->tiny)? 0: 1;
    if (rc)
        fprintf (stderr, "layer_check: %s\n", !f || (a->images && !in)? "cannot open a file":
                 err.msg [0]? err.msg: "out of memory");
    if (rc == 0 && tiny && (fg_dataset_classes (tiny) != a->classes || a->side != 64))
        rc = 1, fprintf (stderr, "layer_check: -D needs -c %u -s 64\n", fg_dataset_classes (tiny));
    //  -D: steps past the first epoch go on into the next epochs (each with
    //  its own order), as fg_unit_step does; no remainder batch here.
    uint32_t per_epoch = tiny? (uint32_t) (fg_dataset_count (tiny) / a->n): a->steps;
    if (rc == 0 && tiny && a->steps > per_epoch && fg_dataset_count (tiny) % a->n)
        rc = 1, fprintf (stderr, "layer_check: -k past one epoch needs a batch dividing %zu\n",
                         fg_dataset_count (tiny));
    if (rc == 0)
        s_header (f, fg_model_state (m), a, width, p);
    for (uint32_t global = 0; rc == 0 && global < a->steps; global++) {
        uint32_t epoch = per_epoch? global / per_epoch: 0, step = global - epoch * per_epoch;
        if (tiny && epoch > 0 && step == 0) {
            fg_rng_t rng;
            fg_rng_init (&rng, a->seed, FG_RNG_BATCH, 0, 0, epoch, 0);
            fg_rng_permutation (&rng, order, fg_dataset_count (tiny));
        }
        double lr = a->horizon > 0? fg_optim_lr (&cosine, (double) epoch): a->lr;
        if (in) {
            //  the file: all images, then all labels
            rc = fseek (in, (long) ((size_t) step * a->n * floats * 4), SEEK_SET)
              || fread (x, 4, a->n * floats, in) != a->n * floats
              || fseek (in, (long) ((size_t) a->steps * a->n * floats * 4
                                    + (size_t) step * a->n * 4), SEEK_SET)
              || fread (y, 4, a->n, in) != a->n;
            if (rc)
                fprintf (stderr, "layer_check: %s: short file for step %u\n", a->images, step);
        }
        else
        if (tiny)
            rc = epoch? s_batch_epoch (a, tiny, order, epoch, step, a->n, x, y)
                      : s_batch_tiny (a, tiny, order, step, x, y);
        else
            rc = s_batch (a, step, floats, x, y);
        for (uint32_t i = 0; rc == 0 && i < a->n; i++)
            if (y [i] >= a->classes)
                rc = 1, fprintf (stderr, "layer_check: label %u out of range\n", y [i]);
        if (rc == 0)
            rc = s_step (a, m, ws, opt, epoch, step, lr, x, y, mask, width, p, f);
    }
    if (rc == 0) {
        //  the same hash `fedctl train` prints for its final weights
        char hex [65];
        fg_state_hash (fg_model_state (m), hex);
        printf ("state sha256 %s\n", hex);
    }
    if (f && fclose (f))
        rc = 1;
    if (in)
        fclose (in);
    fg_dataset_destroy (&tiny);
    free (order);
    free (x);
    free (y);
    free (mask);
    fg_model_ws_destroy (&ws);
    fg_optim_destroy (&opt);
    return rc;
}

int
main (int argc, char **argv)
{
    s_args_t a = { "mobilenetv3-small", NULL, NULL, NULL, NULL, 200, 64, 32, 3, 1, 0.05, 0.9, 5e-4, 0, -1 };
    int c;
    uint32_t hash_epochs = 0;
    while ((c = getopt (argc, argv, "m:c:s:n:k:S:l:M:w:x:D:o:i:H:T:P:")) != -1)
        switch (c) {
            case 'm': a.model = optarg; break;
            case 'c': a.classes = (uint32_t) atoi (optarg); break;
            case 's': a.side = (uint32_t) atoi (optarg); break;
            case 'n': a.n = (uint32_t) atoi (optarg); break;
            case 'k': a.steps = (uint32_t) atoi (optarg); break;
            case 'S': a.seed = strtoull (optarg, NULL, 10); break;
            case 'l': a.lr = atof (optarg); break;
            case 'M': a.momentum = atof (optarg); break;
            case 'w': a.wd = atof (optarg); break;
            case 'x': a.images = optarg; break;
            case 'D': a.tiny = optarg; break;
            case 'o': a.out = optarg; break;
            case 'i': a.init = optarg; break;
            case 'H': hash_epochs = (uint32_t) atoi (optarg); break;
            case 'T': a.horizon = atof (optarg); break;
            case 'P': a.nudge = atoll (optarg); break;
            default:
                fprintf (stderr, "usage: %s [-m model] [-c classes] [-s side] [-n batch] "
                         "[-k steps] [-S seed] [-l lr] [-M momentum] [-w wd] [-T epochs] [-P float] "
                         "[-x images.bin | -D dir] "
                         "-o out.bin | -i init.safetensors | -D dir -H epochs\n", argv [0]);
                return 2;
        }
    if (hash_epochs)
        return a.tiny && a.n >= 2 && a.n <= 4096? s_hashes (&a, hash_epochs):
               (fprintf (stderr, "layer_check: -H needs -D and a batch of 2 .. 4096\n"), 2);
    int kind = s_kind (a.model);
    if (kind < 0 || (!a.out && !a.init) || a.n < 2 || a.n > 4096 || a.steps < 1) {
        fprintf (stderr, "layer_check: bad model, batch (2 .. 4096), steps or no -o / -i\n");
        return 2;
    }
    fg_error_t err = { 0 };
    fg_model_spec_t spec = { kind, a.classes, a.side, a.side, 3 };
    fg_model_t *m = fg_model_new (&spec, &err);
    if (!m) {
        fprintf (stderr, "layer_check: %s\n", err.msg);
        return 1;
    }
    fg_model_init (m, a.seed);
    //  -P i: float i of the initial state one ulp up, a perturbation of the
    //  size of one rounding, to see how far such a difference carries
    fg_state_t *s0 = fg_model_state (m);
    if (a.nudge >= 0 && (size_t) a.nudge < s0->size)
        s0->data [a.nudge] = nextafterf (s0->data [a.nudge], INFINITY);
    int rc;
    if (a.init) {
        rc = fg_blob_export_safetensors (a.init, fg_model_state (m), &err);
        if (rc)
            fprintf (stderr, "layer_check: %s\n", err.msg);
    }
    else
        rc = s_run (&a, m);
    fg_model_destroy (&m);
    return rc? 1: 0;
}
