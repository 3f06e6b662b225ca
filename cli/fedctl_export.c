/*  fedctl export — committed global weights out of an experiment's journal,
    as a fedgrid blob or safetensors, after checking that the journal is
    this configuration's; or (--round 0) the initial weights, which are not
    journaled: a function of the model and experiment.seed alone.         */

#include "fedctl.h"
#include "fg_journal.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

//  FG_EMISMATCH when DIR's journal was written by another configuration.
static int
s_journal_meta_matches (const char *dir, const fg_config_t *cfg, fg_error_t *err)
{
    fg_journal_t *journal = NULL;
    int rc = fg_journal_open_readonly (dir, &journal, err);
    char stored [65], hash [FG_SHA256_HEX_SIZE];
    if (rc == 0)
        rc = fg_journal_meta (journal, stored, NULL, NULL, err);
    fg_journal_close (&journal);
    if (rc)
        return rc;
    fg_config_hash (cfg, hash);
    if (strcmp (stored, hash))
        return fg_error_set (err, FG_EMISMATCH, "the journal in %s was written by another "
                             "configuration (experiment %.12s, this one %.12s)", dir, stored, hash);
    return 0;
}

enum { S_BLOB, S_SAFETENSORS };

//  Round 0: the weights the coordinator starts a new experiment from
//  (fg_model_init with experiment.seed, the model spec of the training
//  split, as fg_coord_start.c). No journal is needed. Returns 0 or the
//  exit code (printed).
static int
s_initial_weights (const fg_config_t *cfg, fg_state_t **weights)
{
    fg_dataset_t *train = NULL;
    int status = fedctl_open_split (cfg, FG_SPLIT_TRAIN, &train);
    if (status)
        return status;
    fg_model_spec_t spec;
    fg_unit_model_spec (cfg->model.name, train, &spec);
    fg_dataset_destroy (&train);
    fg_error_t err;
    fg_model_t *model = fg_model_new (&spec, &err);
    if (!model) {
        fedctl_fail ("%s", err.msg);
        return EX_CONFIG;
    }
    fg_model_init (model, (uint64_t) cfg->experiment.seed);
    *weights = fg_state_dup (fg_model_state (model));
    fg_model_destroy (&model);
    if (!*weights) {
        fedctl_fail ("out of memory");
        return EX_OSERR;
    }
    return 0;
}

//  The format a file name asks for, by its extension, or -1.
static int
s_format_of (const char *path)
{
    const char *dot = strrchr (path, '.');
    const char *slash = strrchr (path, '/');
    if (!dot || (slash && dot < slash))
        return -1;
    return strcmp (dot, ".fgb") == 0? S_BLOB: strcmp (dot, ".safetensors") == 0? S_SAFETENSORS: -1;
}

int
fedctl_cmd_export (int argc, char **argv)
{
    static const struct option options [] = {
        { "round",  required_argument, NULL, 'r' },
        { "output", required_argument, NULL, 'o' },
        { "set",    required_argument, NULL, 's' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    uint32_t round = FG_JOURNAL_LATEST;
    const char *output = NULL;
    fedctl_sets_t sets = { .count = 0 };
    int c;
    while ((c = getopt_long (argc, argv, "r:o:s:h", options, NULL)) != -1) {
        char *end;
        switch (c) {
            case 'r':
                if (strcmp (optarg, "last")) {
                    unsigned long value = strtoul (optarg, &end, 10);
                    if (*end || *optarg == '\0' || value >= UINT32_MAX) {
                        fedctl_fail ("--round %s: expected a round number or last", optarg);
                        return EX_USAGE;
                    }
                    round = (uint32_t) value;
                }
                break;
            case 'o': output = optarg; break;
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'h':
                printf ("usage: fedctl export DIR [--round N|last] -o FILE\n\nWrites committed "
                        "global weights: FILE.fgb a fedgrid blob, FILE.safetensors with the "
                        "metadata\n(model, classes, input shape, normalisation, experiment, "
                        "round) a PyTorch user needs\n(docs/models.md). --round 0: the initial "
                        "weights (from experiment.seed;\nno journal needed).\n");
                return EX_OK;
            default:
                return EX_USAGE;
        }
    }
    if (optind != argc - 1 || !output) {
        fedctl_fail ("usage: fedctl export DIR [--round N|last] -o FILE");
        return EX_USAGE;
    }
    int format = s_format_of (output);
    if (format < 0) {
        fedctl_fail ("-o %s: unknown format; fedctl export writes FILE.fgb (a fedgrid blob, "
                     "fedctl eval reads it) or FILE.safetensors (with the model's metadata, "
                     "for PyTorch: docs/models.md)", output);
        return EX_USAGE;
    }
    //  the journal must be this experiment's (with the same --set as the run)
    fg_config_t cfg;
    int status = fedctl_load_config (argv [optind], &sets, &cfg);
    if (status)
        return status;
    fg_error_t err;
    fg_state_t *weights = NULL;
    uint32_t found = 0;
    int rc = 0;
    if (round == 0) {
        status = s_initial_weights (&cfg, &weights);
        if (status)
            return status;
    }
    else
    if ((rc = s_journal_meta_matches (argv [optind], &cfg, &err))) {
        fedctl_fail ("%s", err.msg);
        return EX_DATAERR;
    }
    else
    if ((rc = fedctl_journal_weights (argv [optind], round, &found, &weights, &err))) {
        fedctl_fail ("%s%s", err.msg, rc == FG_ENOENT? " (fedctl journal dump lists the retained rounds)": "");
        return rc == FG_ENOENT? EX_NOINPUT: EX_DATAERR;
    }
    char round_text [16];
    snprintf (round_text, sizeof round_text, "%u", found);
    fg_dataset_t *test = NULL;
    if (format == S_SAFETENSORS
    &&  fg_dataset_kind_geometry (cfg.data.dataset, NULL, NULL, NULL, NULL, NULL)
    &&  (status = fedctl_open_split (&cfg, FG_SPLIT_TEST, &test))) {
        fg_state_destroy (&weights);
        return status;                  //  its classes and shape are the metadata's
    }
    rc = format == S_SAFETENSORS
       ? fedctl_save_safetensors (output, weights, NULL, &cfg, test, round_text, &err)
       : fg_blob_save (output, weights, &err);
    fg_dataset_destroy (&test);
    char hash [65];
    fg_state_hash (weights, hash);
    fg_state_destroy (&weights);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return EX_CANTCREAT;
    }
    printf ("%s: weights of round %u, sha256 %s\n", output, found, hash);
    return EX_OK;
}
