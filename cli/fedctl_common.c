/*  fedctl_common.c — what the fedctl commands share: messages and exit
    codes, --set lists, loading an experiment's configuration, opening its
    dataset, BLIS thread counts, and reading the experiment's files
    (status.json, the journal's weights). Calls no command file.           */

#include "fedctl.h"
#include "fg_blob.h"
#include "fg_file.h"
#include "fg_journal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
fedctl_fail (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fputs ("fedctl: ", stderr);
    vfprintf (stderr, fmt, args);
    fputc ('\n', stderr);
    va_end (args);
}

int
fedctl_exit_code (int code)
{
    switch (code) {
        case FG_OK:        return EX_OK;
        case FG_ENOENT:    return EX_NOINPUT;
        case FG_EIO:       return EX_IOERR;
        case FG_EFULL:     return EX_IOERR;
        case FG_EEXIST:    return EX_CANTCREAT;
        case FG_EFORMAT:
        case FG_ERANGE:
        case FG_EINVAL:    return EX_CONFIG;
        case FG_ECHECKSUM:
        case FG_EVERSION:
        case FG_EMISMATCH: return EX_DATAERR;
        case FG_ENOMEM:    return EX_OSERR;
        default:           return EX_SOFTWARE;
    }
}

int
fedctl_sets_add (fedctl_sets_t *sets, const char *assignment)
{
    if (sets->count == FEDCTL_MAX_SETS) {
        fedctl_fail ("more than %d --set options", FEDCTL_MAX_SETS);
        return EX_USAGE;
    }
    sets->items [sets->count++] = assignment;
    return 0;
}

int
fedctl_load_config (const char *dir_or_file, const fedctl_sets_t *sets, fg_config_t *cfg)
{
    char path [4200];
    size_t len = strlen (dir_or_file);
    bool is_file = len >= 5 && strcmp (dir_or_file + len - 5, ".toml") == 0;
    if (is_file)
        snprintf (path, sizeof path, "%s", dir_or_file);
    else
        snprintf (path, sizeof path, "%s/%s", dir_or_file, FG_CONFIG_FILE);
    fg_error_t err;
    int rc = fg_config_load (cfg, path, &err);
    for (int i = 0; rc == 0 && sets && i < sets->count; i++)
        rc = fg_config_set (cfg, sets->items [i], "--set", &err);
    if (rc == 0 && sets && sets->count)
        rc = fg_config_validate (cfg, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        if (rc == FG_ENOENT && !is_file)
            fprintf (stderr, "fedctl: create it with: fedctl init %s --preset fmnist-cnn-iid\n",
                     dir_or_file);
        return fedctl_exit_code (rc);
    }
    return 0;
}

int
fedctl_threads (const fg_config_t *cfg, int sharers)
{
    if (cfg->grid.threads > 0)
        return (int) cfg->grid.threads;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    int threads = cores > 0? (int) cores / (sharers > 0? sharers: 1): 1;
    return threads > 0? threads: 1;
}

int
fedctl_open_split (const fg_config_t *cfg, fg_split_t split, fg_dataset_t **out)
{
    char path [4096];
    fg_error_t err;
    if (fg_config_data_path (cfg, path, sizeof path)) {
        fedctl_fail ("data.path is too long");
        return EX_CONFIG;
    }
    size_t limit = (size_t) (split == FG_SPLIT_TRAIN? cfg->data.train_limit: cfg->data.test_limit);
    if (cfg->data.dataset == FG_DATASET_SYNTHETIC && limit == 0)
        limit = (size_t) (split == FG_SPLIT_TRAIN? cfg->data.synthetic_train: cfg->data.synthetic_test);
    int rc = cfg->data.dataset == FG_DATASET_FOLDER
           ? fg_dataset_open_folder (path, split, limit, (uint32_t) cfg->data.image_size, out, &err)
           : fg_dataset_open (cfg->data.dataset, path, split, limit, out, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return rc == FG_ENOENT? EX_NOINPUT: rc == FG_EUNSUPPORTED? EX_UNAVAILABLE: EX_DATAERR;
    }
    return 0;
}

char *
fedctl_status_read (const char *dir)
{
    char path [4200], *text;
    size_t size;
    snprintf (path, sizeof path, "%s/status.json", dir);
    return fg_file_read (path, 4096, &text, &size, NULL) == 0? text: NULL;
}

double
fedctl_status_number (const char *text, const char *name, double fallback)
{
    char key [64];
    snprintf (key, sizeof key, "\"%s\": ", name);
    const char *p = strstr (text, key);
    return p? strtod (p + strlen (key), NULL): fallback;
}

int
fedctl_journal_weights (const char *dir, uint32_t round, uint32_t *found, fg_state_t **state,
                        fg_error_t *err)
{
    fg_journal_t *journal = NULL;
    int rc = fg_journal_open_readonly (dir, &journal, err);
    void *blob = NULL;
    size_t size = 0;
    if (rc == 0)
        rc = fg_journal_get_weights (journal, round, false, found, &blob, &size, err);
    if (rc == 0)
        rc = fg_blob_decode (blob, size, NULL, state, err);
    free (blob);
    fg_journal_close (&journal);
    return rc;
}
