/*  fg_preset.c — the named presets of `fedctl init --preset NAME`.

    A preset is the defaults (fmnist-cnn-iid) plus a list of overrides,
    applied through fg_config_set, so presets obey the same validation as
    a user's --set. The source study's four columns read its "epochs" as
    rounds of 5 local epochs with test batch 32 (DESIGN §1).              */

#include "fg_config.h"

#include <stdio.h>
#include <string.h>

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
      { "data.dataset=cifar10", "data.path=/srv/data/cifar10", "data.augment=true",
        "model.name=vgg16-bn", "grid.nodes=50", "experiment.rounds=90",
        "training.local_epochs=5", "training.batch_size=10", "training.lr=0.01",
        "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "cifar10-vgg16-skew",
      "CIFAR-10, vgg16-bn, 50 nodes skewed with balance 0.8, 150 rounds (study: 85.18 %)",
      { "data.dataset=cifar10", "data.path=/srv/data/cifar10", "data.augment=true",
        "model.name=vgg16-bn", "grid.nodes=50", "experiment.rounds=150",
        "data.distribution=skew", "data.balance=0.8",
        "training.local_epochs=5", "training.batch_size=10", "training.lr=0.01",
        "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "tinyimagenet-mnv3-iid",
      "Tiny-ImageNet-200, mobilenetv3-large, 10 IID nodes, 80 rounds (study: 50.08 %)",
      { "data.dataset=tiny-imagenet", "data.path=/srv/data/tiny-imagenet-200",
        "data.augment=true", "model.name=mobilenetv3-large", "grid.nodes=10",
        "experiment.rounds=80", "training.local_epochs=5", "training.batch_size=32",
        "training.lr=0.001", "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "tinyimagenet-mnv3-skew",
      "Tiny-ImageNet-200, mobilenetv3-large, 5 nodes skewed with balance 0.9, 60 rounds (study: 40.31 %)",
      { "data.dataset=tiny-imagenet", "data.path=/srv/data/tiny-imagenet-200",
        "data.augment=true", "model.name=mobilenetv3-large", "grid.nodes=5",
        "experiment.rounds=60", "data.distribution=skew", "data.balance=0.9",
        "training.local_epochs=5", "training.batch_size=32", "training.lr=0.001",
        "training.momentum=0.0", "training.weight_decay=0.0", "training.test_batch_size=32",
        "training.schedule=constant", NULL } },
    { "cifar100-vgg16-iid",
      "CIFAR-100, vgg16-bn, 50 IID nodes, 150 rounds",
      { "data.dataset=cifar100", "data.path=/srv/data/cifar100", "data.augment=true",
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
            int rc = fg_config_set (cfg, *s, "preset", err);
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
