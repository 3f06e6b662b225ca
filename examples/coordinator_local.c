/*  examples/coordinator_local.c — a federated run in one process through
    the public API of libfedgrid (only <fedgrid.h>): a coordinator and two
    local trainers on an inproc:// endpoint, the synthetic-tiny preset
    (synthetic 28x28 images, cnn-small, 4 shards per round) for 2 rounds:

        cc coordinator_local.c $(pkg-config --cflags --libs fedgrid)
        ./coordinator_local DIR

    DIR (created if needed) receives the experiment: the journal,
    status.json, rounds.csv and clients.csv are written by the coordinator
    as for `fedctl start`, and this program writes DIR/fedgrid.toml (the
    configuration it built, with fg_config_commented), so `fedctl status
    DIR` and `fedctl export` work on it afterwards. Prints each committed
    round's line and the final weights' SHA-256, the same as
    `fedctl start` prints for the same configuration: results depend on
    the seed and the settings only, never on the trainers' timing.      */

#include <fedgrid.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TRAINERS 2

//  synthetic-tiny with 2 rounds and one BLIS thread per trainer.
static int
s_config (fg_config_t *cfg, fg_error_t *err)
{
    int rc = fg_config_preset (cfg, "synthetic-tiny", err);
    if (rc == 0)
        rc = fg_config_set (cfg, "experiment.rounds=2", "example", err);
    if (rc == 0)
        rc = fg_config_set (cfg, "grid.threads=1", "example", err);
    if (rc == 0)
        rc = fg_config_validate (cfg, err);
    return rc;
}

//  DIR/fedgrid.toml, for the fedctl commands that read an experiment.
static int
s_write_config (const char *dir, const fg_config_t *cfg, fg_error_t *err)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/fedgrid.toml", dir);
    char *text = fg_config_commented (cfg, "synthetic-tiny");
    FILE *file = text? fopen (path, "w"): NULL;
    bool written = file && fputs (text, file) >= 0;
    if (file && fclose (file))
        written = false;
    free (text);
    return written? 0: fg_error_set (err, FG_EIO, "%s: cannot write it", path);
}

//  Waits for the coordinator's events until DONE (returns 0, the final
//  hash copied to hash) or FAILED (returns FG_EIO, the message in err).
static int
s_wait (fg_coordinator_t *coordinator, char hash [FG_SHA256_HEX_SIZE], fg_error_t *err)
{
    while (true) {
        char *kind = NULL, *text = NULL;
        if (fg_coordinator_event (coordinator, &kind, &text)) {
            fg_error_set (err, FG_EINTR, "interrupted");
            return FG_EINTR;
        }
        int rc = 1;
        if (strcmp (kind, "ROUND") == 0)
            printf ("%s\n", text);
        else
        if (strcmp (kind, "DONE") == 0) {
            snprintf (hash, FG_SHA256_HEX_SIZE, "%s", text);
            rc = 0;
        }
        else {
            fg_error_set (err, FG_EIO, "coordinator failed: %s", text);
            rc = FG_EIO;
        }
        free (kind);
        free (text);
        if (rc <= 0)
            return rc;
    }
}

static int
s_run (const char *dir, const fg_config_t *cfg, const fg_dataset_t *train,
       const fg_dataset_t *test, fg_error_t *err)
{
    fg_coordinator_args_t args = {
        .dir = dir, .cfg = cfg, .train = train, .test = test,
        .inproc = "example-coordinator", .listen = "", .eval_threads = 1
    };
    fg_coordinator_t *coordinator = fg_coordinator_new (&args, err);
    if (!coordinator)
        return err->code;
    fg_trainer_t *trainers [TRAINERS] = { NULL };
    int rc = 0;
    for (int i = 0; rc == 0 && i < TRAINERS; i++) {
        char node_id [32], cache [4200];
        snprintf (node_id, sizeof node_id, "example-%d", i);
        snprintf (cache, sizeof cache, "%s/trainers/example-%d", dir, i);
        fg_trainer_args_t targs = {
            .endpoint = "inproc://example-coordinator", .node_id = node_id, .train = train,
            .cache_dir = cache, .threads = 1,
            .heartbeat_ms = (int) cfg->grid.heartbeat_ms, .liveness = (int) cfg->grid.liveness,
            .max_frame = (size_t) cfg->grid.max_frame, .chunk_size = (size_t) cfg->grid.chunk_size
        };
        trainers [i] = fg_trainer_new (&targs, err);
        if (!trainers [i])
            rc = err->code;
    }
    char hash [FG_SHA256_HEX_SIZE] = "";
    if (rc == 0)
        rc = s_wait (coordinator, hash, err);
    if (rc == 0)
        printf ("final weights sha256 %s\n", hash);
    for (int i = 0; i < TRAINERS; i++)
        fg_trainer_destroy (&trainers [i]);
    fg_coordinator_destroy (&coordinator);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: coordinator_local DIR\n");
        return 2;
    }
    const char *dir = argv [1];
    mkdir (dir, 0755);
    fg_config_t cfg;
    fg_error_t err = { 0 };
    fg_dataset_t *train = NULL, *test = NULL;
    int rc = s_config (&cfg, &err);
    //  the synthetic set ignores the path; its size is the preset's
    if (rc == 0)
        rc = s_write_config (dir, &cfg, &err);
    if (rc == 0)
        rc = fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN,
                              (size_t) cfg.data.synthetic_train, &train, &err);
    if (rc == 0)
        rc = fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TEST,
                              (size_t) cfg.data.synthetic_test, &test, &err);
    if (rc == 0)
        rc = s_run (dir, &cfg, train, test, &err);
    if (rc)
        fprintf (stderr, "coordinator_local: %s\n", err.msg);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
    return rc? 1: 0;
}
