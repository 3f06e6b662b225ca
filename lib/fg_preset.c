/*  fg_preset.c — the named presets of `fedctl init --preset NAME`.

    A preset is the defaults (fmnist-cnn-iid) plus a list of overrides,
    applied through fg_config_set, so presets obey the same validation as
    a user's --set. The source study's four columns read its "epochs" as
    rounds of 5 local epochs with test batch 32 (DESIGN §1).

    Dataset paths: a preset names its data as "$DATA/<folder>", and
    $DATA is the environment variable FEDGRID_DATA when it is set and not
    empty, else /srv/data (docs/configuration.md, "Presets"). The path is
    resolved here, once, and `fedctl init` writes the resolved path into
    fedgrid.toml, so a run never depends on the environment (data.path is
    not part of the experiment hash either). On the project's machines
    FEDGRID_DATA=/work/shared/data makes every preset run as-is; the
    "-quick" presets are sized for the shared subset there.               */

#include "fg_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DATA_VAR     "FEDGRID_DATA"
#define S_DATA_DEFAULT "/srv/data"
#define S_DATA_PREFIX  "data.path=$DATA/"

typedef struct {
    const char *name;
    const char *description;
    const char *settings [16];          //  "section.key=value", NULL-terminated
} s_preset_t;

static const s_preset_t s_presets [] = {
    { "fmnist-cnn-iid",
      "Fashion-MNIST, cnn-small, 10 IID static shards (the embedded default)",
      { NULL } },
    { "cifar10-vgg16-iid",
      "CIFAR-10, vgg16-bn, 50 IID nodes, 90 rounds x 5 local epochs (study: 86.21 %)",
      { "data.dataset=cifar10", "data.path=$DATA/cifar10", "data.augment=true",
        "model.name=vgg16-bn", "grid.nodes=50", "experiment.rounds=90",
        "training.local_epochs=5", "training.batch_size=10", "training.lr=0.01",
        "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "cifar10-vgg16-skew",
      "CIFAR-10, vgg16-bn, 50 nodes skewed with balance 0.8, 150 rounds (study: 85.18 %)",
      { "data.dataset=cifar10", "data.path=$DATA/cifar10", "data.augment=true",
        "model.name=vgg16-bn", "grid.nodes=50", "experiment.rounds=150",
        "data.distribution=skew", "data.balance=0.8",
        "training.local_epochs=5", "training.batch_size=10", "training.lr=0.01",
        "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "tinyimagenet-mnv3-iid",
      "Tiny-ImageNet-200, mobilenetv3-large, 10 IID nodes, 80 rounds (study: 50.08 %)",
      { "data.dataset=tiny-imagenet", "data.path=$DATA/tiny-imagenet-200",
        "data.augment=true", "model.name=mobilenetv3-large", "grid.nodes=10",
        "experiment.rounds=80", "training.local_epochs=5", "training.batch_size=32",
        "training.lr=0.001", "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "tinyimagenet-mnv3-skew",
      "Tiny-ImageNet-200, mobilenetv3-large, 5 nodes skewed with balance 0.9, 60 rounds (study: 40.31 %)",
      { "data.dataset=tiny-imagenet", "data.path=$DATA/tiny-imagenet-200",
        "data.augment=true", "model.name=mobilenetv3-large", "grid.nodes=5",
        "experiment.rounds=60", "data.distribution=skew", "data.balance=0.9",
        "training.local_epochs=5", "training.batch_size=32", "training.lr=0.001",
        "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "tinyimagenet-mnv3s-quick",
      "Tiny-ImageNet-200 (the 100-per-class subset is enough), mobilenetv3-small, 4 IID nodes, "
      "3 rounds; fedctl train: 5 epochs",
      { "data.dataset=tiny-imagenet", "data.path=$DATA/tiny-imagenet-200",
        "data.augment=true", "model.name=mobilenetv3-small", "grid.nodes=4",
        "experiment.rounds=3", "training.local_epochs=1", "training.epochs=5",
        "training.batch_size=32", "training.lr=0.05", "training.momentum=0.9",
        "training.weight_decay=0.0005", "training.schedule=cosine", NULL } },
    { "texture-mnv3s",
      "texture set (class folders of large images), mobilenetv3-small at 128x128, 10 IID nodes, 30 rounds",
      { "data.dataset=texture", "data.path=$DATA/texture", "data.image_size=128",
        "data.augment=true", "model.name=mobilenetv3-small", "grid.nodes=10",
        "experiment.rounds=30", "training.local_epochs=1", "training.batch_size=32",
        "training.lr=0.05", "training.momentum=0.9", "training.weight_decay=0.0005",
        "training.schedule=cosine", NULL } },
    { "cifar100-vgg16-iid",
      "CIFAR-100, vgg16-bn, 50 IID nodes, 150 rounds",
      { "data.dataset=cifar100", "data.path=$DATA/cifar100", "data.augment=true",
        "model.name=vgg16-bn", "grid.nodes=50", "experiment.rounds=150",
        "training.local_epochs=5", "training.batch_size=10", "training.lr=0.01",
        "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "synthetic-tiny",
      "synthetic 28x28 data, cnn-small, 4 nodes, 3 rounds: seconds-long runs for tests",
      { "data.dataset=synthetic", "data.path=", "data.synthetic_train=800",
        "data.synthetic_test=200", "grid.nodes=4", "experiment.rounds=3",
        "training.batch_size=16", NULL } },
};

#define S_NPRESETS (sizeof s_presets / sizeof s_presets [0])

int
fg_config_preset (fg_config_t *cfg, const char *preset, fg_error_t *err)
{
    for (size_t i = 0; i < S_NPRESETS; i++) {
        if (strcmp (s_presets [i].name, preset))
            continue;
        fg_config_defaults (cfg);
        for (const char *const *s = s_presets [i].settings; *s; s++) {
            char path [4200];
            const char *setting = *s;
            if (strncmp (setting, S_DATA_PREFIX, strlen (S_DATA_PREFIX)) == 0) {
                const char *root = getenv (S_DATA_VAR);
                if (!root || !*root)
                    root = S_DATA_DEFAULT;
                if (root [0] != '/')        //  relative: it would be taken from DIR
                    return fg_error_set (err, FG_EINVAL, "preset %s: %s=%s is not an absolute "
                                         "path", preset, S_DATA_VAR, root);
                if ((size_t) snprintf (path, sizeof path, "data.path=%s/%s", root,
                                       setting + strlen (S_DATA_PREFIX)) >= sizeof path)
                    return fg_error_set (err, FG_ERANGE, "preset %s: %s is too long",
                                         preset, S_DATA_VAR);
                setting = path;
            }
            int rc = fg_config_set (cfg, setting, "preset", err);
            if (rc) {
                fg_error_prefix (err, "preset %s", preset);
                return rc;
            }
        }
        return 0;
    }
    char known [512] = "";
    for (size_t i = 0; i < S_NPRESETS; i++) {
        size_t used = strlen (known);
        snprintf (known + used, sizeof known - used, "%s%s", i? ", ": "", s_presets [i].name);
    }
    return fg_error_set (err, FG_ENOENT, "unknown preset '%s' (known: %s)", preset, known);
}

const char *
fg_config_preset_name (size_t i, const char **description)
{
    if (i >= S_NPRESETS)
        return NULL;
    if (description)
        *description = s_presets [i].description;
    return s_presets [i].name;
}
