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
                          images/s                                         */

#include "fedctl.h"
#include "fg_blob.h"
#include "fg_dataset.h"
#include "fg_file.h"
#include "fg_unit.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

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

int
fedctl_cmd_train (int argc, char **argv)
{
    static const struct option options [] = {
        { "set",     required_argument, NULL, 's' },
        { "restart", no_argument,       NULL, 'r' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    fedctl_sets_t sets = { .count = 0 };
    bool restart = false;
    int c;
    while ((c = getopt_long (argc, argv, "s:rh", options, NULL)) != -1) {
        switch (c) {
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'r': restart = true; break;
            case 'h': s_train_usage (stdout); return EX_OK;
            default:  s_train_usage (stderr); return EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        fedctl_fail ("train takes exactly one DIR");
        s_train_usage (stderr);
        return EX_USAGE;
    }
    const char *dir = argv [optind];
    fg_config_t cfg;
    int rc = fedctl_load_config (dir, &sets, &cfg);
    if (rc)
        return rc;
    fg_dataset_t *train = NULL, *test = NULL;
    fg_unit_t *unit = NULL;
    fg_model_t *init = NULL;
    uint32_t *indices = NULL;
    FILE *csv = NULL;
    fg_error_t err;
    int status = EX_OK;
    if ((status = fedctl_open_split (&cfg, FG_SPLIT_TRAIN, &train))
    ||  (status = fedctl_open_split (&cfg, FG_SPLIT_TEST, &test)))
        goto done;

    char hash [FG_SHA256_HEX_SIZE], folder [4200], ckpt [4300], path [4300];
    fg_config_hash (&cfg, hash);
    snprintf (folder, sizeof folder, "%s/train", dir);
    snprintf (ckpt, sizeof ckpt, "%s/%.12s.ckpt", folder, hash);
    if (fg_file_mkdirs (folder, &err)) {
        fedctl_fail ("%s", err.msg);
        status = EX_CANTCREAT;
        goto done;
    }

    fg_unit_spec_t spec;
    memset (&spec, 0, sizeof spec);
    fg_unit_model_spec (cfg.model.name, train, &spec.model);
    init = fg_model_new (&spec.model, &err);
    if (!init) {
        fedctl_fail ("%s", err.msg);
        status = EX_CONFIG;
        goto done;
    }
    fg_model_init (init, (uint64_t) cfg.experiment.seed);
    size_t count = fg_dataset_count (train);
    indices = malloc (count * sizeof (uint32_t));
    if (!indices) {
        fedctl_fail ("out of memory");
        status = EX_OSERR;
        goto done;
    }
    for (size_t i = 0; i < count; i++)
        indices [i] = (uint32_t) i;
    spec.data = train;
    spec.indices = indices;
    spec.count = count;
    fg_optim_config_from (&spec.optim, &cfg, (double) cfg.training.epochs);
    spec.seed = (uint64_t) cfg.experiment.seed;
    spec.epochs = (uint32_t) cfg.training.epochs;
    spec.batch = (uint32_t) cfg.training.batch_size;
    spec.augment = cfg.data.augment;
    spec.threads = fedctl_threads (&cfg, 1);
    if (fg_optim_config_check (&spec.optim, &err)) {
        fedctl_fail ("%s", err.msg);
        status = EX_CONFIG;
        goto done;
    }
    unit = fg_unit_new (&spec, fg_model_state (init), &err);
    if (!unit) {
        fedctl_fail ("%s", err.msg);
        status = EX_SOFTWARE;
        goto done;
    }
    fprintf (stderr, "fedctl: %s (%llu parameters) on %s: %zu training, %zu test images, "
             "batch %u, %d threads\n", fg_model_kind_name (cfg.model.name),
             (unsigned long long) fg_model_param_count (init), fg_dataset_name (train),
             count, fg_dataset_count (test), spec.batch, spec.threads);
    if (!restart && access (ckpt, F_OK) == 0) {
        uint8_t *bytes;
        size_t size;
        rc = fg_file_read (ckpt, (size_t) 1 << 34, (char **) &bytes, &size, &err);
        if (rc == 0) {
            rc = fg_unit_restore (unit, bytes, size, &err);
            free (bytes);
        }
        if (rc) {
            fedctl_fail ("cannot resume from %s: %s (run with --restart to start over)", ckpt, err.msg);
            status = EX_DATAERR;
            goto done;
        }
        fprintf (stderr, "fedctl: resuming after epoch %u from %s\n", fg_unit_epoch (unit), ckpt);
    }
    snprintf (path, sizeof path, "%s/epochs.csv", folder);
    csv = fopen (path, fg_unit_epoch (unit) && !restart? "a": "w");
    if (!csv) {
        fedctl_fail ("%s: cannot open for writing", path);
        status = EX_CANTCREAT;
        goto done;
    }
    if (fg_unit_epoch (unit) == 0)
        fprintf (csv, "epoch,train_loss,train_accuracy,test_loss,test_accuracy,images_per_s\n");
    while (!fg_unit_done (unit)) {
        double start = s_now ();
        bool epoch_done = false;
        while (!epoch_done) {
            if (fg_unit_step (unit, &epoch_done, &err)) {
                fedctl_fail ("%s", err.msg);
                status = EX_SOFTWARE;
                goto done;
            }
        }
        double seconds = s_now () - start;
        uint64_t trained = fg_unit_samples (unit);
        fg_train_result_t result;
        if (fg_unit_evaluate (&spec.model, fg_model_state (fg_unit_model (unit)), test, 0,
                              (uint32_t) cfg.training.test_batch_size, spec.threads, &result, &err)) {
            fedctl_fail ("evaluation: %s", err.msg);
            status = EX_SOFTWARE;
            goto done;
        }
        uint32_t n;
        const double *losses = fg_unit_losses (unit, &n);
        const double *accuracies = fg_unit_accuracies (unit, &n);
        double test_acc = result.count? (double) result.correct / (double) result.count: 0;
        printf ("epoch %u/%u  loss %.4f  train %.2f%%  test loss %.4f  test %.2f%%  %.0f img/s\n",
                n, spec.epochs, losses [n - 1], 100 * accuracies [n - 1], result.loss,
                100 * test_acc, (double) trained / seconds);
        fflush (stdout);
        fprintf (csv, "%u,%.6f,%.6f,%.6f,%.6f,%.1f\n", n, losses [n - 1], accuracies [n - 1],
                 result.loss, test_acc, (double) trained / seconds);
        fflush (csv);
        uint8_t *bytes;
        size_t size;
        rc = fg_unit_checkpoint (unit, &bytes, &size, &err);
        if (rc == 0) {
            rc = fg_file_write_atomic (ckpt, bytes, size, 0644, 0, &err);
            free (bytes);
        }
        if (rc) {
            fedctl_fail ("checkpoint: %s", err.msg);
            status = fedctl_exit_code (rc);
            goto done;
        }
    }
    const fg_state_t *final = fg_model_state (fg_unit_model (unit));
    snprintf (path, sizeof path, "%s/model.fgb", folder);
    rc = fg_blob_save (path, final, &err);
    if (rc == 0) {
        snprintf (path, sizeof path, "%s/model.safetensors", folder);
        rc = fg_blob_export_safetensors (path, final, &err);
    }
    if (rc) {
        fedctl_fail ("%s", err.msg);
        status = fedctl_exit_code (rc);
        goto done;
    }
    char weights_hash [65];
    fg_state_hash (final, weights_hash);
    printf ("final weights %s/model.fgb sha256 %s\n", folder, weights_hash);

done:
    if (csv)
        fclose (csv);
    free (indices);
    fg_unit_destroy (&unit);
    fg_model_destroy (&init);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
    return status;
}

static void
s_eval_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl eval DIR --model FILE [--set section.key=value ...]\n"
        "\n"
        "Evaluates weights (a fedgrid blob, e.g. DIR/train/model.fgb) on the\n"
        "experiment's test set: prints test loss and accuracy.\n");
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
    rc = fg_blob_load (model_path, &weights, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        fg_dataset_destroy (&test);
        return rc == FG_ENOENT? EX_NOINPUT: EX_DATAERR;
    }
    fg_model_spec_t spec;
    fg_unit_model_spec (cfg.model.name, test, &spec);
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
