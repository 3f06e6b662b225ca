/*  fedctl train, fedctl eval — the centralised baseline: the experiment's
    model trained on its whole training set (data.train_limit respected)
    for training.epochs epochs, with the same engine a federated trainer
    runs (one work unit, round 0, shard 0; the schedule per epoch).

    Files, in DIR/train/ (the name carries the experiment hash, so another
    configuration never resumes from them):
        <hash12>.ckpt     checkpoint after each epoch (weights, optimiser,
                          epochs done, losses) — `fedctl train` resumes it
        model.fgb         final weights (fedgrid blob)
        model.safetensors final weights for other tools
        epochs.csv        epoch, train loss, train acc, test loss, test acc,
                          images/s

    On stderr at the end, where the process's time went (wall and CPU
    seconds): start-up (configuration, datasets, model, work unit),
    training, evaluation, checkpoints and the final write; bench/
    whole_process.sh reads that line.                                    */

#include "fedctl.h"
#include "fg_blob.h"
#include "fg_clock.h"
#include "fg_dataset.h"
#include "fg_file.h"
#include "fg_unit.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
s_train_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl train DIR [--set section.key=value ...] [--restart]\n"
        "\n"
        "Centralised baseline: trains the experiment's model on its whole training\n"
        "set for training.epochs epochs with the same engine as a federated trainer.\n"
        "Prints one line per epoch (train loss and accuracy, test accuracy, images/s),\n"
        "checkpoints every epoch in DIR/train/ and resumes from there when run again\n"
        "(--restart starts over). Writes DIR/train/model.fgb and model.safetensors.\n");
}

//  The phases of a run whose wall and CPU time the last line reports.
enum { S_STARTUP, S_TRAINING, S_EVALUATION, S_CHECKPOINT, S_WRITE, S_PHASES };

typedef struct {
    double wall [S_PHASES], cpu [S_PHASES];
    double wall_mark, cpu_mark;     //  when the running phase began
} s_phases_t;

//  Starts timing (the start-up phase begins here).
static void
s_phases_start (s_phases_t *p)
{
    memset (p, 0, sizeof *p);
    p->wall_mark = fg_clock_mono_s ();
    p->cpu_mark = fg_clock_cpu_s ();
}

//  Charges the time since the last mark to phase, and marks now.
static void
s_phases_end (s_phases_t *p, int phase)
{
    double wall = fg_clock_mono_s (), cpu = fg_clock_cpu_s ();
    p->wall [phase] += wall - p->wall_mark;
    p->cpu [phase] += cpu - p->cpu_mark;
    p->wall_mark = wall;
    p->cpu_mark = cpu;
}

//  One baseline training, from s_train_open to s_train_close.
typedef struct {
    s_phases_t phases;
    fg_config_t cfg;
    fg_dataset_t *train, *test;
    fg_model_t *init;               //  the initial weights, until the unit has them
    uint64_t params;                //  trainable floats of the model
    uint32_t *indices;              //  0..count-1: the whole training set
    fg_unit_spec_t spec;
    fg_unit_t *unit;
    FILE *csv;                      //  DIR/train/epochs.csv
    char folder [4200];             //  DIR/train
    char ckpt [4300];               //  DIR/train/<hash12>.ckpt
} s_train_t;

//  Parses the command line: 0 with *dir set, -1 after --help, or
//  EX_USAGE (printed).
static int
s_train_parse (int argc, char **argv, fedctl_sets_t *sets, bool *restart, const char **dir)
{
    static const struct option options [] = {
        { "set",     required_argument, NULL, 's' },
        { "restart", no_argument,       NULL, 'r' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int c;
    while ((c = getopt_long (argc, argv, "s:rh", options, NULL)) != -1) {
        switch (c) {
            case 's': if (fedctl_sets_add (sets, optarg)) return EX_USAGE; break;
            case 'r': *restart = true; break;
            case 'h': s_train_usage (stdout); return -1;
            default:  s_train_usage (stderr); return EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        fedctl_fail ("train takes exactly one DIR");
        s_train_usage (stderr);
        return EX_USAGE;
    }
    *dir = argv [optind];
    return 0;
}

//  The work unit: the model at its initial weights, the whole training
//  set as one shard, training.epochs epochs with the schedule per epoch.
//  Returns 0 or the exit code (printed).
static int
s_train_unit (s_train_t *t)
{
    const fg_config_t *cfg = &t->cfg;
    fg_unit_spec_t *spec = &t->spec;
    fg_error_t err;
    fg_unit_model_spec (cfg->model.name, t->train, &spec->model);
    t->init = fg_model_new (&spec->model, &err);
    if (!t->init) {
        fedctl_fail ("%s", err.msg);
        return EX_CONFIG;
    }
    //  vgg16-bn: 14.7 M normal draws, the largest part of the start-up
    fg_model_init_threads (t->init, (uint64_t) cfg->experiment.seed, fedctl_threads (cfg, 1));
    size_t count = fg_dataset_count (t->train);
    t->indices = malloc (count * sizeof (uint32_t));
    if (!t->indices) {
        fedctl_fail ("out of memory");
        return EX_OSERR;
    }
    for (size_t i = 0; i < count; i++)
        t->indices [i] = (uint32_t) i;
    spec->data = t->train;
    spec->indices = t->indices;
    spec->count = count;
    fg_optim_config_from (&spec->optim, cfg, (double) cfg->training.epochs);
    spec->seed = (uint64_t) cfg->experiment.seed;
    spec->epochs = (uint32_t) cfg->training.epochs;
    spec->batch = (uint32_t) cfg->training.batch_size;
    spec->augment = cfg->data.augment;
    spec->threads = fedctl_threads (cfg, 1);
    if (fg_optim_config_check (&spec->optim, &err)) {
        fedctl_fail ("%s", err.msg);
        return EX_CONFIG;
    }
    t->unit = fg_unit_new (spec, fg_model_state (t->init), &err);
    t->params = fg_model_param_count (t->init);
    fg_model_destroy (&t->init);        //  the unit holds its copy: 59 MB less for vgg16-bn
    if (!t->unit) {
        fedctl_fail ("%s", err.msg);
        return EX_SOFTWARE;
    }
    return 0;
}

//  Datasets, DIR/train/, the unit, the checkpoint to resume from (unless
//  restart) and epochs.csv. Returns 0 or the exit code (printed).
static int
s_train_open (s_train_t *t, const char *dir, bool restart)
{
    fg_error_t err;
    int rc;
    if ((rc = fedctl_open_split (&t->cfg, FG_SPLIT_TRAIN, &t->train))
    ||  (rc = fedctl_open_split (&t->cfg, FG_SPLIT_TEST, &t->test)))
        return rc;
    char hash [FG_SHA256_HEX_SIZE], path [4300];
    fg_config_hash (&t->cfg, hash);
    snprintf (t->folder, sizeof t->folder, "%s/train", dir);
    snprintf (t->ckpt, sizeof t->ckpt, "%s/%.12s.ckpt", t->folder, hash);
    if (fg_file_mkdirs (t->folder, &err)) {
        fedctl_fail ("%s", err.msg);
        return EX_CANTCREAT;
    }
    if ((rc = s_train_unit (t)))
        return rc;
    fprintf (stderr, "fedctl: %s (%llu parameters) on %s: %zu training, %zu test images, "
             "batch %u, %d threads\n", fg_model_kind_name (t->cfg.model.name),
             (unsigned long long) t->params, fg_dataset_name (t->train),
             t->spec.count, fg_dataset_count (t->test), t->spec.batch, t->spec.threads);
    if (!restart && access (t->ckpt, F_OK) == 0) {
        uint8_t *bytes;
        size_t size;
        rc = fg_file_read (t->ckpt, (size_t) 1 << 34, (char **) &bytes, &size, &err);
        if (rc == 0) {
            rc = fg_unit_restore (t->unit, bytes, size, &err);
            free (bytes);
        }
        if (rc) {
            fedctl_fail ("cannot resume from %s: %s (run with --restart to start over)",
                         t->ckpt, err.msg);
            return EX_DATAERR;
        }
        fprintf (stderr, "fedctl: resuming after epoch %u from %s\n",
                 fg_unit_epoch (t->unit), t->ckpt);
    }
    snprintf (path, sizeof path, "%s/epochs.csv", t->folder);
    t->csv = fopen (path, fg_unit_epoch (t->unit) && !restart? "a": "w");
    if (!t->csv) {
        fedctl_fail ("%s: cannot open for writing: %s", path, fg_file_strerror (errno));
        return EX_CANTCREAT;
    }
    if (fg_unit_epoch (t->unit) == 0)
        fprintf (t->csv, "epoch,train_loss,train_accuracy,test_loss,test_accuracy,images_per_s\n");
    return 0;
}

//  One epoch: its steps, the test-set evaluation, a line on stdout and in
//  epochs.csv, and the checkpoint. Returns 0 or the exit code (printed).
static int
s_train_epoch (s_train_t *t)
{
    fg_error_t err;
    double start = fg_clock_mono_s ();
    bool epoch_done = false;
    while (!epoch_done)
        if (fg_unit_step (t->unit, &epoch_done, &err)) {
            fedctl_fail ("%s", err.msg);
            return EX_SOFTWARE;
        }
    double seconds = fg_clock_mono_s () - start;
    s_phases_end (&t->phases, S_TRAINING);
    uint64_t trained = fg_unit_samples (t->unit);
    fg_train_result_t result;
    //  through the unit's own model and workspace when the test batch fits
    //  them (vgg16-bn: no second 59 MB model and 30 MB workspace)
    uint32_t test_batch = (uint32_t) t->cfg.training.test_batch_size;
    int rc = test_batch <= t->spec.batch
           ? fg_unit_evaluate_own (t->unit, t->test, 0, test_batch, &result, &err)
           : fg_unit_evaluate (&t->spec.model, fg_model_state (fg_unit_model (t->unit)), t->test,
                               0, test_batch, t->spec.threads, &result, &err);
    if (rc) {
        fedctl_fail ("evaluation: %s", err.msg);
        return EX_SOFTWARE;
    }
    s_phases_end (&t->phases, S_EVALUATION);
    uint32_t n;
    const double *losses = fg_unit_losses (t->unit, &n);
    const double *accuracies = fg_unit_accuracies (t->unit, &n);
    double test_acc = result.count? (double) result.correct / (double) result.count: 0;
    printf ("epoch %u/%u  loss %.4f  train %.2f%%  test loss %.4f  test %.2f%%  %.0f img/s\n",
            n, t->spec.epochs, losses [n - 1], 100 * accuracies [n - 1], result.loss,
            100 * test_acc, (double) trained / seconds);
    fflush (stdout);
    fprintf (t->csv, "%u,%.6f,%.6f,%.6f,%.6f,%.1f\n", n, losses [n - 1], accuracies [n - 1],
             result.loss, test_acc, (double) trained / seconds);
    if (fflush (t->csv) || ferror (t->csv)) {
        fedctl_fail ("%s/epochs.csv: cannot write: %s", t->folder,
                     fg_file_strerror (errno? errno: EIO));
        return EX_IOERR;
    }
    rc = fg_unit_checkpoint_save (t->unit, t->ckpt, &err);    //  streamed to the file
    if (rc) {
        fedctl_fail ("checkpoint: %s", err.msg);
        return fedctl_exit_code (rc);
    }
    s_phases_end (&t->phases, S_CHECKPOINT);
    return 0;
}

//  DIR/train/model.fgb and model.safetensors, and the final line.
//  Returns 0 or the exit code (printed).
static int
s_train_save (s_train_t *t)
{
    fg_error_t err;
    char path [4300];
    const fg_state_t *final = fg_model_state (fg_unit_model (t->unit));
    char weights_hash [65];
    fg_state_hash (final, weights_hash);
    snprintf (path, sizeof path, "%s/model.fgb", t->folder);
    int rc = fg_blob_save (path, final, &err);
    if (rc == 0) {
        snprintf (path, sizeof path, "%s/model.safetensors", t->folder);
        rc = fedctl_save_safetensors (path, final, weights_hash, &t->cfg, t->test, "", &err);
    }
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return fedctl_exit_code (rc);
    }
    printf ("final weights %s/model.fgb sha256 %s\n", t->folder, weights_hash);
    fflush (stdout);
    s_phases_end (&t->phases, S_WRITE);
    const s_phases_t *p = &t->phases;
    fprintf (stderr, "fedctl: time (wall / cpu s): start-up %.3f / %.3f, training %.3f / %.3f, "
             "evaluation %.3f / %.3f, checkpoints %.3f / %.3f, final write %.3f / %.3f\n",
             p->wall [S_STARTUP], p->cpu [S_STARTUP], p->wall [S_TRAINING], p->cpu [S_TRAINING],
             p->wall [S_EVALUATION], p->cpu [S_EVALUATION], p->wall [S_CHECKPOINT],
             p->cpu [S_CHECKPOINT], p->wall [S_WRITE], p->cpu [S_WRITE]);
    return 0;
}

static void
s_train_close (s_train_t *t)
{
    if (t->csv)
        fclose (t->csv);
    free (t->indices);
    fg_unit_destroy (&t->unit);
    fg_model_destroy (&t->init);
    fg_dataset_destroy (&t->train);
    fg_dataset_destroy (&t->test);
}

int
fedctl_cmd_train (int argc, char **argv)
{
    fedctl_sets_t sets = { .count = 0 };
    bool restart = false;
    const char *dir;
    int status = s_train_parse (argc, argv, &sets, &restart, &dir);
    if (status)
        return status < 0? EX_OK: status;
    s_train_t t;
    memset (&t, 0, sizeof t);
    s_phases_start (&t.phases);
    status = fedctl_load_config (dir, &sets, &t.cfg);
    if (status == 0)
        status = s_train_open (&t, dir, restart);
    s_phases_end (&t.phases, S_STARTUP);
    while (status == 0 && !fg_unit_done (t.unit))
        status = s_train_epoch (&t);
    if (status == 0)
        status = s_train_save (&t);
    s_train_close (&t);
    return status;
}

static void
s_eval_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl eval DIR --model FILE [--set section.key=value ...]\n"
        "\n"
        "Evaluates weights (a fedgrid blob, e.g. DIR/train/model.fgb, or a\n"
        "safetensors file, FILE ending in .safetensors) on the experiment's test\n"
        "set: prints test loss and accuracy.\n");
}

int
fedctl_cmd_eval (int argc, char **argv)
{
    static const struct option options [] = {
        { "set",   required_argument, NULL, 's' },
        { "model", required_argument, NULL, 'm' },
        { "help",  no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    fedctl_sets_t sets = { .count = 0 };
    const char *model_path = NULL;
    int c;
    while ((c = getopt_long (argc, argv, "s:m:h", options, NULL)) != -1) {
        switch (c) {
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'm': model_path = optarg; break;
            case 'h': s_eval_usage (stdout); return EX_OK;
            default:  s_eval_usage (stderr); return EX_USAGE;
        }
    }
    if (optind != argc - 1 || !model_path) {
        fedctl_fail ("eval takes one DIR and --model FILE");
        s_eval_usage (stderr);
        return EX_USAGE;
    }
    fg_config_t cfg;
    int rc = fedctl_load_config (argv [optind], &sets, &cfg);
    if (rc)
        return rc;
    fg_dataset_t *test = NULL;
    fg_state_t *weights = NULL;
    fg_error_t err;
    int status = fedctl_open_split (&cfg, FG_SPLIT_TEST, &test);
    if (status)
        return status;
    fg_model_spec_t spec;
    fg_unit_model_spec (cfg.model.name, test, &spec);
    rc = fedctl_weights_load (model_path, &spec, &weights, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        fg_dataset_destroy (&test);
        return rc == FG_ENOENT? EX_NOINPUT: EX_DATAERR;
    }
    fg_train_result_t result;
    rc = fg_unit_evaluate (&spec, weights, test, 0, (uint32_t) cfg.training.test_batch_size,
                           fedctl_threads (&cfg, 1), &result, &err);
    if (rc) {
        fedctl_fail ("%s: %s", model_path, err.msg);
        status = rc == FG_EMISMATCH? EX_DATAERR: EX_SOFTWARE;
    }
    else
        printf ("test loss %.4f  test accuracy %.2f%% (%llu images)\n", result.loss,
                result.count? 100.0 * (double) result.correct / (double) result.count: 0.0,
                (unsigned long long) result.count);
    fg_state_destroy (&weights);
    fg_dataset_destroy (&test);
    return status;
}
