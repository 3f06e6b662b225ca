/*  bench_loader.c — is the data loader ever the bottleneck? Images/s per
    core of fg_dataset_batch (decode + normalise + augment) against the
    training images/s of the model that consumes them, measured in the same
    run (docs/benchmarks.md, "The data loader against training").

        bench/bench_loader [-k kind] [-d path] [-m model] [-b batch]
                           [-r reps] [-s seconds] [-n samples]
    defaults: -k tiny-imagenet -d /work/shared/data/tiny-imagenet-200
              -m mobilenetv3-small -b 32 -r 5 -s 1.0 -n 0 (whole train split)

    One thread throughout. The loader runs what a trainer runs for every
    batch: fg_dataset_batch with augmentation over a trainer's epoch order
    (fg_rng_permutation of FG_RNG_BATCH, seed 1, epoch e), batch after batch.
      cold: the first pass over the whole split, in epoch 0's order — for a
            file-backed set each sample's file is read then (and its bytes
            kept), so this is file read + decode + augment;
      warm: `reps` repetitions of >= `seconds` of batches in the next
            epochs' orders — decode (from the kept bytes) + augment, what
            every later epoch costs; median;
      plain: the same without augmentation (decode + normalise); median.
    Training: fg_train_step (forward, loss, backward, SGD with momentum 0.9,
    weight decay 5e-4, lr 0.01) of the model at the set's shape and
    classes, 1 thread, on batches the loader made; after 2 warm-up steps,
    `reps` repetitions of >= `seconds`; median.
    Every figure is images per CPU-second of this process (CLOCK_PROCESS_
    CPUTIME_ID: per core, and nearly independent of what else runs on the
    machine) and, in brackets, per wall-clock second. The verdict line
    gives warm loader / training, both per CPU-second: the target
    is >= 5. Never run by make check (built only, so it keeps compiling). */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "bench_median.h"
#include "fg_clock.h"
#include "fg_config.h"
#include "fg_dataset.h"
#include "fg_model.h"
#include "fg_optim.h"
#include "fg_rng.h"
#include "fg_train.h"

#define S_REPS_MAX 64

typedef struct {
    const fg_dataset_t *data;
    uint32_t *order;            //  [count] the current epoch's order
    uint32_t epoch;             //  epoch of order
    size_t next;                //  next position in order
    uint32_t step;              //  batches made in this epoch
    uint32_t batch;
    float *images;              //  [batch x H x W x C]
    uint16_t *labels;           //  [batch]
} s_loader_t;

//  A span of work: CPU and wall seconds.
typedef struct { double cpu, wall; } s_clock_t;

static s_clock_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (s_clock_t) { (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec, fg_clock_mono_s () };
}

static s_clock_t
s_since (s_clock_t start)
{
    s_clock_t now = s_now ();
    return (s_clock_t) { now.cpu - start.cpu, now.wall - start.wall };
}

//  The choice value of `name` for an enumerated key, or -1.
static int
s_choice (const char *dotted_key, const char *name)
{
    for (int v = 0; v < 64; v++) {
        const char *known = fg_config_choice_name (dotted_key, v);
        if (known && strcmp (known, name) == 0)
            return v;
    }
    return -1;
}

static void
s_loader_order (s_loader_t *l, uint32_t epoch)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 1, FG_RNG_BATCH, 0, 0, epoch, 0);
    fg_rng_permutation (&rng, l->order, fg_dataset_count (l->data));
    l->epoch = epoch;
    l->next = 0;
    l->step = 0;
}

//  The next batch of the epoch order (a short last one; then the next
//  epoch's order). Returns the samples made, 0 on error (err set).
static size_t
s_loader_batch (s_loader_t *l, bool augment, fg_error_t *err)
{
    size_t count = fg_dataset_count (l->data);
    if (l->next >= count)
        s_loader_order (l, l->epoch + 1);
    size_t n = count - l->next < l->batch? count - l->next: l->batch;
    fg_dataset_key_t key = { 1, 0, 0, l->epoch, l->step };
    if (fg_dataset_batch (l->data, l->order + l->next, n, augment, &key, l->images,
                          l->labels, err))
        return 0;
    l->next += n;
    l->step++;
    return n;
}

//  `reps` repetitions of >= seconds of batches: median images per CPU and
//  per wall second. Returns 0 or an error code.
static int
s_loader_rate (s_loader_t *l, bool augment, int reps, double seconds,
               double *cpu_rate, double *wall_rate, fg_error_t *err)
{
    double cpu [S_REPS_MAX], wall [S_REPS_MAX];
    for (int r = 0; r < reps; r++) {
        size_t images = 0;
        s_clock_t start = s_now (), spent;
        do {
            size_t n = s_loader_batch (l, augment, err);
            if (n == 0)
                return err->code;
            images += n;
            spent = s_since (start);
        } while (spent.cpu < seconds);
        cpu [r] = (double) images / spent.cpu;
        wall [r] = (double) images / spent.wall;
    }
    *cpu_rate = bench_median (cpu, reps);
    *wall_rate = bench_median (wall, reps);
    return 0;
}

//  The cold pass: every sample once, in epoch 0's order, with augmentation.
static int
s_loader_cold (s_loader_t *l, double *cpu_rate, double *wall_rate, fg_error_t *err)
{
    s_loader_order (l, 0);
    size_t count = fg_dataset_count (l->data), images = 0;
    s_clock_t start = s_now ();
    while (images < count) {
        size_t n = s_loader_batch (l, true, err);
        if (n == 0)
            return err->code;
        images += n;
    }
    s_clock_t spent = s_since (start);
    *cpu_rate = (double) images / spent.cpu;
    *wall_rate = (double) images / spent.wall;
    return 0;
}

//  Training images/s of model kind on the loader's batches (one batch made
//  up front, trained on repeatedly: the step's cost does not depend on the
//  pixel values). Returns 0 or an error code.
static int
s_train_rate (s_loader_t *l, int kind, int reps, double seconds,
              double *cpu_rate, double *wall_rate, fg_error_t *err)
{
    fg_model_spec_t spec = { kind, fg_dataset_classes (l->data), 0, 0, 0 };
    fg_dataset_shape (l->data, &spec.height, &spec.width, &spec.channels);
    fg_model_t *model = fg_model_new (&spec, err);
    fg_optim_t *optim = NULL;
    fg_train_t *trainer = NULL;
    int rc = -1;
    if (!model)
        return err->code;
    fg_model_init (model, 1);
    fg_optim_config_t oc = { .lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4,
                             .schedule = FG_SCHEDULE_CONSTANT, .gamma = 1.0, .horizon = 1.0 };
    if (!(optim = fg_optim_new (&oc, fg_model_state (model), err))
    ||  !(trainer = fg_train_new (model, optim, l->batch, 1, err)))
        goto done;
    size_t n = 0;
    while (n < l->batch)            //  a full batch (not an epoch's short tail)
        if ((n = s_loader_batch (l, true, err)) == 0)
            goto done;
    fg_train_keys_t keys = { 1, 0, 0, 0, 0 };
    double cpu [S_REPS_MAX], wall [S_REPS_MAX];
    for (int r = -1; r < reps; r++) {
        size_t images = 0;
        s_clock_t start = s_now (), spent;
        do {
            keys.step++;
            if (fg_train_step (trainer, l->images, l->labels, (uint32_t) n, 0.01, &keys,
                               NULL, err))
                goto done;
            images += n;
            spent = s_since (start);
        } while (r >= 0? spent.cpu < seconds: images < 2 * n);     //  r = -1: warm-up
        if (r >= 0) {
            cpu [r] = (double) images / spent.cpu;
            wall [r] = (double) images / spent.wall;
        }
    }
    *cpu_rate = bench_median (cpu, reps);
    *wall_rate = bench_median (wall, reps);
    rc = 0;
done:
    if (rc)
        rc = err->code? err->code: FG_ENOMEM;
    fg_train_destroy (&trainer);
    fg_optim_destroy (&optim);
    fg_model_destroy (&model);
    return rc;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: bench_loader [-k kind] [-d path] [-m model] [-b batch] [-r reps] "
             "[-s seconds] [-n samples]\n");
}

typedef struct {
    const char *kind, *path, *model;
    int batch, reps;
    double seconds;
    long samples;
} s_options_t;

static int
s_parse (int argc, char **argv, s_options_t *o)
{
    *o = (s_options_t) { "tiny-imagenet", "/work/shared/data/tiny-imagenet-200",
                         "mobilenetv3-small", 32, 5, 1.0, 0 };
    int opt;
    while ((opt = getopt (argc, argv, "k:d:m:b:r:s:n:h")) != -1) {
        switch (opt) {
            case 'k': o->kind = optarg; break;
            case 'd': o->path = optarg; break;
            case 'm': o->model = optarg; break;
            case 'b': o->batch = atoi (optarg); break;
            case 'r': o->reps = atoi (optarg); break;
            case 's': o->seconds = atof (optarg); break;
            case 'n': o->samples = atol (optarg); break;
            default: s_usage (); return 2;
        }
    }
    if (optind != argc || o->batch < 2 || o->batch > 4096 || o->reps < 1
    ||  o->reps > S_REPS_MAX || !(o->seconds > 0 && o->seconds <= 600) || o->samples < 0) {
        s_usage ();
        return 2;
    }
    return 0;
}

static void
s_print_load (const char *when)
{
    double load [3] = { 0, 0, 0 };
    getloadavg (load, 3);
    printf ("# load average %s: %.2f %.2f %.2f\n", when, load [0], load [1], load [2]);
}

//  Runs the measurements on an open set and prints them. Returns 0 or 1.
static int
s_measure (s_loader_t *l, int model, const s_options_t *o)
{
    fg_error_t err;
    fg_error_clear (&err);
    double cold_c = 0, cold_w = 0, warm_c = 0, warm_w = 0, plain_c = 0, plain_w = 0;
    double train_c = 0, train_w = 0;
    if (s_loader_cold (l, &cold_c, &cold_w, &err)
    ||  s_loader_rate (l, true, o->reps, o->seconds, &warm_c, &warm_w, &err)
    ||  s_loader_rate (l, false, o->reps, o->seconds, &plain_c, &plain_w, &err)
    ||  s_train_rate (l, model, o->reps, o->seconds, &train_c, &train_w, &err)) {
        fprintf (stderr, "bench_loader: %s\n", err.msg);
        return 1;
    }
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    printf ("loader cold (read + decode + augment, 1 pass)  %9.1f img/s per CPU-s  (%9.1f wall)\n",
            cold_c, cold_w);
    printf ("loader warm (decode + augment), median of %d   %9.1f img/s per CPU-s  (%9.1f wall)\n",
            o->reps, warm_c, warm_w);
    printf ("loader plain (decode, no augment), median     %9.1f img/s per CPU-s  (%9.1f wall)\n",
            plain_c, plain_w);
    printf ("training %s batch %d, 1 thread, median   %9.1f img/s per CPU-s  (%9.1f wall)\n",
            o->model, o->batch, train_c, train_w);
    printf ("loader warm / training = %.1f (target >= 5: %s); peak RSS %.1f MB\n",
            warm_c / train_c, warm_c >= 5 * train_c? "met": "NOT met", (double) ru.ru_maxrss / 1024);
    return 0;
}

int
main (int argc, char **argv)
{
    s_options_t o;
    if (s_parse (argc, argv, &o))
        return 2;
    int kind = s_choice ("data.dataset", o.kind), model = s_choice ("model.name", o.model);
    if (kind < 0 || model < 0) {
        fprintf (stderr, "bench_loader: unknown %s '%s'\n", kind < 0? "dataset": "model",
                 kind < 0? o.kind: o.model);
        return 2;
    }
    fg_error_t err;
    fg_dataset_t *data = NULL;
    s_clock_t start = s_now ();
    if (fg_dataset_open (kind, o.path, FG_SPLIT_TRAIN, (size_t) o.samples, &data, &err)) {
        fprintf (stderr, "bench_loader: %s\n", err.msg);
        return 1;
    }
    s_clock_t opened = s_since (start);
    uint32_t h, w, c;
    fg_dataset_shape (data, &h, &w, &c);
    char host [64] = "?";
    gethostname (host, sizeof host - 1);
    printf ("# fedgrid bench_loader: %s (%zu samples, %ux%ux%u, %u classes) at %s; host %s, "
            "%ld cpus online\n", fg_dataset_name (data), fg_dataset_count (data), h, w, c,
            fg_dataset_classes (data), o.path, host, sysconf (_SC_NPROCESSORS_ONLN));
    printf ("# open (index): %.3f CPU-s, %.3f s; batch %d; reps %d of >= %.2f CPU-s\n",
            opened.cpu, opened.wall, o.batch, o.reps, o.seconds);
    s_print_load ("before");
    size_t count = fg_dataset_count (data), image = (size_t) h * w * c;
    s_loader_t l = { data, malloc (count * sizeof (uint32_t)), 0, 0, 0, (uint32_t) o.batch,
                     malloc ((size_t) o.batch * image * sizeof (float)),
                     malloc ((size_t) o.batch * sizeof (uint16_t)) };
    int status = 1;
    if (!l.order || !l.images || !l.labels)
        fprintf (stderr, "bench_loader: out of memory\n");
    else
        status = s_measure (&l, model, &o);
    s_print_load ("after");
    free (l.order);
    free (l.images);
    free (l.labels);
    fg_dataset_destroy (&data);
    return status;
}
