/*  fedctl_common.c — what the fedctl commands share: messages and exit
    codes, --set lists, loading an experiment's configuration, opening its
    dataset, BLIS thread counts, and reading the experiment's files
    (status.json, the journal's weights). Calls no command file.           */

#include "fedctl.h"
#include "fg_blob.h"
#include "fg_file.h"
#include "fg_journal.h"
#include "fg_safetensors.h"
#include "fg_texture.h"

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
    fg_texture_options_t texture;
    fg_texture_options_from_config (cfg, &texture);
    int rc = cfg->data.dataset == FG_DATASET_TEXTURE
           ? fg_dataset_open_texture (path, split, limit, &texture, out, &err)
           : cfg->data.dataset == FG_DATASET_FOLDER
           ? fg_dataset_open_folder (path, split, limit, (uint32_t) cfg->data.image_size, out, &err)
           : fg_dataset_open (cfg->data.dataset, path, split, limit, out, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        if (rc == FG_ENOENT && cfg->data.dataset != FG_DATASET_SYNTHETIC)
            fedctl_fail ("data.path is \"%s\": point it at the %s folder with --set "
                         "data.path=DIR (or edit [data] path in fedgrid.toml)", cfg->data.path,
                         fg_config_choice_name ("data.dataset", cfg->data.dataset));
        return rc == FG_ENOENT? EX_NOINPUT: rc == FG_EUNSUPPORTED? EX_UNAVAILABLE: EX_DATAERR;
    }
    return 0;
}

json_t *
fedctl_status_read (const char *dir)
{
    char path [4200], *text;
    size_t size;
    snprintf (path, sizeof path, "%s/status.json", dir);
    //  the coordinator writes well under 1 KiB; the bound keeps a stray
    //  file from costing memory. Anything but an object is as good as none.
    if (fg_file_read (path, 65536, &text, &size, NULL))
        return NULL;
    json_t *status = json_loadb (text, size, JSON_REJECT_DUPLICATES, NULL);
    free (text);
    if (status && !json_is_object (status))
        json_decref (status);
    return status && json_is_object (status)? status: NULL;
}

double
fedctl_status_number (const json_t *status, const char *name, double fallback)
{
    const json_t *value = json_object_get (status, name);
    return json_is_number (value)? json_number_value (value): fallback;
}

const char *
fedctl_status_string (const json_t *status, const char *name)
{
    const char *text = json_string_value (json_object_get (status, name));
    return text? text: "";
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

//  "a,b,c" of the first n values, 4 decimals (the published statistics')
static void
s_join_values (const double *v, uint32_t n, char *out, size_t size)
{
    size_t used = 0;
    out [0] = '\0';
    for (uint32_t c = 0; c < n && used < size; c++) {
        int w = snprintf (out + used, size - used, "%s%.4f", c? ",": "", v [c]);
        used += w > 0? (size_t) w: 0;
    }
}

int
fedctl_save_safetensors (const char *path, const fg_state_t *weights, const char *weights_hash,
                         const fg_config_t *cfg, const fg_dataset_t *test, const char *round,
                         fg_error_t *err)
{
    uint32_t classes = 0, h = 0, w = 0, c = 0;
    if (fg_dataset_kind_geometry (cfg->data.dataset, &classes, &h, &w, &c, NULL) && test) {
        classes = fg_dataset_classes (test);
        fg_dataset_shape (test, &h, &w, &c);
    }
    if (c == 0 || c > FG_DATASET_CHANNELS_MAX)
        return fg_error_set (err, FG_EINVAL, "%s: the input shape of %s is unknown without "
                             "its test set", path, fg_config_choice_name ("data.dataset",
                                                                          cfg->data.dataset));
    double mean [FG_DATASET_CHANNELS_MAX], std [FG_DATASET_CHANNELS_MAX];
    fg_dataset_kind_stats (cfg->data.dataset, mean, std);
    char text [6][48], means [64], stds [64], experiment [FG_SHA256_HEX_SIZE], hash [65];
    snprintf (text [0], sizeof text [0], "%u", classes);
    snprintf (text [1], sizeof text [1], "%u", h);
    snprintf (text [2], sizeof text [2], "%u", w);
    snprintf (text [3], sizeof text [3], "%u", c);
    s_join_values (mean, c, means, sizeof means);
    s_join_values (std, c, stds, sizeof stds);
    fg_config_hash (cfg, experiment);
    if (weights_hash)                   //  59 MB of SHA-256 for vgg16-bn: once
        snprintf (hash, sizeof hash, "%s", weights_hash);
    else
        fg_state_hash (weights, hash);
    //  (fg_config_choice_name's text lives until its next call)
    snprintf (text [4], sizeof text [4], "%s", fg_config_choice_name ("model.name", cfg->model.name));
    snprintf (text [5], sizeof text [5], "%s", fg_config_choice_name ("data.dataset", cfg->data.dataset));
    const fg_safetensors_meta_t meta [] = {
        { "model", text [4] }, { "dataset", text [5] },
        { "classes", text [0] }, { "input_height", text [1] }, { "input_width", text [2] },
        { "input_channels", text [3] }, { "mean", means }, { "std", stds },
        { "normalisation", "(pixel / 255 - mean) / std per channel" },
        { "layout", "NCHW" }, { "experiment", experiment }, { "round", round },
        { "weights_sha256", hash },
    };
    return fg_safetensors_save (path, weights, meta, sizeof meta / sizeof meta [0], err);
}

int
fedctl_weights_load (const char *path, const fg_model_spec_t *spec, fg_state_t **state,
                     fg_error_t *err)
{
    *state = NULL;
    size_t len = strlen (path);
    if (len < 12 || strcmp (path + len - 12, ".safetensors") != 0)
        return fg_blob_load (path, state, err);
    //  the model's own state is the layout the file must have
    fg_model_t *model = fg_model_new (spec, err);
    if (!model)
        return err->code? err->code: FG_ENOMEM;
    int rc = fg_safetensors_load (path, fg_model_state (model), state, err);
    fg_model_destroy (&model);
    return rc;
}
