/*  test_config.c — the configuration table, parser, overrides, canonical
    text and hash, presets.                                               */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fg_config.h"
#include "fg_file.h"
#include "fg_test_util.h"

static int
s_parse (fg_config_t *cfg, const char *text, fg_error_t *err)
{
    fg_config_defaults (cfg);
    return fg_config_parse (cfg, text, strlen (text), "exp.toml", err);
}

static void
test_defaults_are_the_embedded_preset (void **state)
{
    fg_config_t cfg, preset;
    fg_error_t err;
    fg_config_defaults (&cfg);
    assert_int_equal (cfg.experiment.seed, 1);
    assert_int_equal (cfg.data.dataset, FG_DATASET_FASHION_MNIST);
    assert_string_equal (cfg.data.path, "/usr/share/datasets/fashion-mnist");
    assert_int_equal (cfg.model.name, FG_MODEL_CNN_SMALL);
    assert_int_equal (cfg.grid.nodes, 10);
    assert_int_equal (cfg.data.strategy, FG_STRATEGY_STATIC);
    assert_int_equal (fg_config_validate (&cfg, &err), 0);
    assert_int_equal (fg_config_preset (&preset, "fmnist-cnn-iid", &err), 0);
    char a [65], b [65];
    fg_config_hash (&cfg, a);
    fg_config_hash (&preset, b);
    assert_string_equal (a, b);
}

static void
test_every_type_parses (void **state)
{
    fg_config_t cfg;
    fg_error_t err;
    const char *text =
        "# a comment\n"
        "[experiment]\n"
        "seed = 1_000_000   # underscores between digits\n"
        "policy = \"deadline\"\n"
        "\n"
        "[ data ]\n"
        "path = 'literal\\path'\n"
        "balance = 9e-1\n"
        "augment = true\n"
        "strategy = \"hybrid\" # trailing comment\n"
        "[training]\n"
        "lr = 1\n"
        "milestones = [ 30, 60 ,90, ]\n"
        "momentum = 0.5\r\n"
        "[grid]\n"
        "listen = \"tcp://*:7700 ; not a comment\"\n";
    assert_int_equal (s_parse (&cfg, text, &err), 0);
    assert_int_equal (cfg.experiment.seed, 1000000);
    assert_int_equal (cfg.experiment.policy, FG_POLICY_DEADLINE);
    assert_string_equal (cfg.data.path, "literal\\path");
    assert_true (cfg.data.balance == 0.9);
    assert_true (cfg.data.augment);
    assert_int_equal (cfg.data.strategy, FG_STRATEGY_HYBRID);
    assert_true (cfg.training.lr == 1.0);
    assert_int_equal (cfg.training.milestones_count, 3);
    assert_int_equal (cfg.training.milestones [2], 90);
    assert_true (cfg.training.momentum == 0.5);
    assert_string_equal (cfg.grid.listen, "tcp://*:7700 ; not a comment");
}

//  Each bad input gives its code and a message naming file:line and the
//  thing that is wrong.
static void
test_bad_input_is_named (void **state)
{
    static const struct { const char *text; int code; const char *needle; } cases [] = {
        { "[experiment]\nsead = 1\n", FG_EFORMAT, "exp.toml:2: unknown key 'experiment.sead'; did you mean 'experiment.seed'? (keys of [experiment]: seed rounds" },
        { "[experimnt]\n", FG_EFORMAT, "exp.toml:1: unknown section [experimnt]" },
        { "seed = 1\n", FG_EFORMAT, "exp.toml:1: key 'seed' before any [section]" },
        { "[experiment]\nseed = 1\nseed = 2\n", FG_EFORMAT, "exp.toml:3: experiment.seed is set twice" },
        { "[experiment]\nrounds = 0\n", FG_ERANGE, "exp.toml:2: experiment.rounds = 0: out of range" },
        { "[experiment]\nrounds = 12x\n", FG_EFORMAT, "expected an integer" },
        { "[experiment]\nrounds = 99999999999999999999999\n", FG_ERANGE, "out of range" },
        { "[experiment]\nrounds = 010\n", FG_EFORMAT, "expected an integer" },
        { "[experiment]\npolicy = \"fast\"\n", FG_ERANGE, "not one of exact|deadline" },
        { "[experiment]\npolicy = exact\n", FG_EFORMAT, "expected a quoted string" },
        { "[data]\npath = \"open\n", FG_EFORMAT, "unterminated string" },
        { "[data]\npath = \"a\\qb\"\n", FG_EFORMAT, "unknown escape" },
        { "[data]\nbalance = 1.5\n", FG_ERANGE, "data.balance = 1.5: out of range [0, 1]" },
        { "[data]\nbalance = nan\n", FG_EFORMAT, "expected a number" },
        { "[data]\nbalance = 1e999\n", FG_ERANGE, "out of range" },
        { "[data]\naugment = yes\n", FG_EFORMAT, "expected true or false" },
        { "[training]\nmilestones = [1, x]\n", FG_EFORMAT, "expected integers" },
        { "[training]\nmilestones = [1 2]\n", FG_EFORMAT, "expected ',' or ']'" },
        { "[training]\nmilestones = 5\n", FG_EFORMAT, "expected an array" },
        { "[training]\nmilestones = [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n", FG_ERANGE, "more than 16" },
        { "[experiment]\nseed: 1\n", FG_EFORMAT, "'=' not ':'" },
        { "[experiment]\nseed = 1\n  rounds = 2\n", FG_EFORMAT, "exp.toml:3: indented line" },
        { "[experiment]\njust words\n", FG_EFORMAT, "exp.toml:2: expected 'key = value'" },
        { "[[experiment]]\n", FG_EFORMAT, "arrays of tables" },
        { "[experiment\n", FG_EFORMAT, "malformed section header" },
        { "; ini comment\n", FG_EFORMAT, "use '#'" },
        { "[experiment]\nseed = 1 2\n", FG_EFORMAT, "expected an integer" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        fg_config_t cfg;
        fg_error_t err;
        int rc = s_parse (&cfg, cases [i].text, &err);
        if (rc != cases [i].code || !strstr (err.msg, cases [i].needle)) {
            print_error ("case %zu: got %d '%s', want %d containing '%s'\n",
                         i, rc, rc? err.msg: "", cases [i].code, cases [i].needle);
            fail ();
        }
    }
}

static void
test_overlong_line_and_nul_are_refused (void **state)
{
    fg_config_t cfg;
    fg_error_t err;
    char text [600];
    memset (text, 'x', sizeof text);
    memcpy (text, "[data]\npath = \"", 15);
    text [sizeof text - 2] = '"';
    text [sizeof text - 1] = '\n';
    fg_config_defaults (&cfg);
    assert_int_equal (fg_config_parse (&cfg, text, sizeof text, "long.toml", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "long.toml:2: line longer than"));
    const char nul [] = "[data]\npath = \"a\0b\"\n";
    fg_config_defaults (&cfg);
    assert_int_equal (fg_config_parse (&cfg, nul, sizeof nul - 1, "nul.toml", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "nul.toml:2: byte 0x00 at column 10 is not TOML text"));
}

//  What TOML and fedgrid refuse although inih would read it: a table
//  defined twice, a file that sets nothing, bytes that are not UTF-8 text
//  (never echoed back raw).
static void
test_file_shape_is_checked (void **state)
{
    (void) state;
    static const struct { const char *text; size_t size; const char *expect; } cases [] = {
        { "[data]\ndataset = \"mnist\"\n[grid]\nnodes = 2\n[data]\naugment = true\n", 0,
          "exp.toml:5: [data] appears twice (first on line 1)" },
        { "", 0, "exp.toml: sets no key (an empty file?)" },
        { "# only a comment\n\n[data]\n", 0, "exp.toml: sets no key" },
        { "[data]\npath = \"\xff\xfe\"\n", 0, "exp.toml:2: byte 0xFF at column 9 is not TOML text" },
        { "[data]\n\x1b[31mpath = \"x\"\n", 0, "exp.toml:2: byte 0x1B at column 1" },
        { "\x7f" "ELF\x02\x01\x01", 7, "exp.toml:1: byte 0x7F at column 1" },
        { "[data]\npath = \"caf\xc3\xa9\"\n", 0, NULL },      //  UTF-8 is text
        { "[data]\npath = \"\xc3\"\n", 0, "exp.toml:2: byte 0xC3 at column 9" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        fg_config_t cfg;
        fg_error_t err;
        fg_config_defaults (&cfg);
        size_t size = cases [i].size? cases [i].size: strlen (cases [i].text);
        int rc = fg_config_parse (&cfg, cases [i].text, size, "exp.toml", &err);
        if (!cases [i].expect) {
            assert_int_equal (rc, 0);
            assert_string_equal (cfg.data.path, "caf\xc3\xa9");
            continue;
        }
        assert_int_equal (rc, FG_EFORMAT);
        if (!strstr (err.msg, cases [i].expect))
            fail_msg ("case %zu: '%s' lacks '%s'", i, err.msg, cases [i].expect);
        for (const char *m = err.msg; *m; m++)
            assert_true ((uint8_t) *m >= 0x20 && (uint8_t) *m < 0x7F);
    }
}

//  A typo in a --set key or a file key names the nearest key and lists
//  the section's keys; an unknown section lists the sections.
static void
test_unknown_key_suggests (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_error_t err;
    fg_config_defaults (&cfg);
    assert_int_equal (fg_config_set (&cfg, "data.datset=cifar10", NULL, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "--set data.datset=cifar10: unknown key 'data.datset'; "
                                      "did you mean 'data.dataset'? (keys of [data]: dataset path"));
    assert_int_equal (fg_config_set (&cfg, "trainig.lr=0.1", NULL, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "did you mean 'training.lr'? (sections: experiment data"));
    assert_int_equal (fg_config_set (&cfg, "grid.zzzzzzzz=1", NULL, &err), FG_EFORMAT);
    assert_null (strstr (err.msg, "did you mean"));
    assert_non_null (strstr (err.msg, "(keys of [grid]: "));
}

//  A string that fits when read but whose escaped form would not fit on
//  one line is refused: the canonical text must always read back.
static void
test_escaped_string_must_fit_on_a_line (void **state)
{
    fg_config_t cfg;
    fg_error_t err;
    char text [256] = "[grid]\nlisten = '";
    size_t n = strlen (text);
    for (int i = 0; i < 120; i++)
        text [n++] = '\\';                 //  120 bytes, 240 once escaped
    text [n++] = '\'';
    text [n++] = '\n';
    text [n] = '\0';
    assert_int_equal (s_parse (&cfg, text, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "once written"));
    //  a few backslashes fit: the canonical text reads back
    assert_int_equal (s_parse (&cfg, "[grid]\nlisten = '\\\\\\'\n", &err), 0);
    char *canonical = fg_config_canonical (&cfg, false);
    fg_config_t again;
    assert_int_equal (s_parse (&again, canonical, &err), 0);
    assert_string_equal (again.grid.listen, cfg.grid.listen);
    free (canonical);
}

static void
test_overrides (void **state)
{
    fg_config_t cfg;
    fg_error_t err;
    fg_config_defaults (&cfg);
    assert_int_equal (fg_config_set (&cfg, "data.strategy=dynamic", "--set", &err), 0);
    assert_int_equal (cfg.data.strategy, FG_STRATEGY_DYNAMIC);
    assert_int_equal (fg_config_set (&cfg, "data.path=\"quoted dir\"", "--set", &err), 0);
    assert_string_equal (cfg.data.path, "quoted dir");
    assert_int_equal (fg_config_set (&cfg, "data.path=bare dir", "--set", &err), 0);
    assert_string_equal (cfg.data.path, "bare dir");
    assert_int_equal (fg_config_set (&cfg, "training.milestones=[5,10]", "--set", &err), 0);
    assert_int_equal (cfg.training.milestones_count, 2);
    assert_int_equal (fg_config_set (&cfg, "grid.nodes=0", "--set", &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "--set: grid.nodes = 0"));
    assert_int_equal (fg_config_set (&cfg, "grid.nodez=3", "--set", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "unknown key 'grid.nodez'"));
    assert_int_equal (fg_config_set (&cfg, "nodes=3", "--set", &err), FG_EFORMAT);
    assert_int_equal (fg_config_set (&cfg, "data.strategy=sideways", "--set", &err), FG_ERANGE);
}

static void
test_cross_key_rules (void **state)
{
    fg_config_t cfg;
    fg_error_t err;
    fg_config_defaults (&cfg);
    fg_config_set (&cfg, "training.schedule=step", NULL, &err);
    assert_int_equal (fg_config_validate (&cfg, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "milestones"));
    fg_config_set (&cfg, "training.milestones=[60, 30]", NULL, &err);
    assert_int_equal (fg_config_validate (&cfg, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "must increase"));
    fg_config_set (&cfg, "training.milestones=[30, 60]", NULL, &err);
    assert_int_equal (fg_config_validate (&cfg, &err), 0);
    fg_config_set (&cfg, "data.train_limit=5", NULL, &err);
    assert_int_equal (fg_config_validate (&cfg, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "train_limit"));
    fg_config_defaults (&cfg);
    fg_config_set (&cfg, "grid.chunk_size=4194304", NULL, &err);
    assert_int_equal (fg_config_validate (&cfg, &err), FG_EINVAL);
}

static void
test_canonical_round_trip_and_hash (void **state)
{
    fg_config_t cfg, again;
    fg_error_t err;
    assert_int_equal (s_parse (&cfg, "[training]\nlr = 0.1\nweight_decay = 5e-4\n"
                                      "[data]\npath = \"a \\\"b\\\" c\"\n", &err), 0);
    char *text = fg_config_canonical (&cfg, false);
    assert_non_null (strstr (text, "lr = 0.1\n"));
    assert_non_null (strstr (text, "weight_decay = 0.0005\n"));
    assert_non_null (strstr (text, "rounds = 10\n"));
    assert_non_null (strstr (text, "momentum = 0.9\n"));
    assert_non_null (strstr (text, "path = \"a \\\"b\\\" c\"\n"));
    assert_int_equal (s_parse (&again, text, &err), 0);
    char *text2 = fg_config_canonical (&again, false);
    assert_string_equal (text, text2);
    free (text);
    free (text2);
    char h1 [65], h2 [65];
    fg_config_hash (&cfg, h1);
    fg_config_hash (&again, h2);
    assert_string_equal (h1, h2);
    assert_int_equal (strlen (h1), 64);
    //  deployment keys do not change the experiment's identity ...
    fg_config_set (&again, "grid.local_trainers=7", NULL, &err);
    fg_config_set (&again, "grid.listen=tcp://*:9", NULL, &err);
    fg_config_set (&again, "data.path=/elsewhere", NULL, &err);
    fg_config_hash (&again, h2);
    assert_string_equal (h1, h2);
    //  ... experiment keys do
    fg_config_set (&again, "experiment.seed=2", NULL, &err);
    fg_config_hash (&again, h2);
    assert_string_not_equal (h1, h2);
    //  the canonical text of experiment keys leaves deployment keys out
    text = fg_config_canonical (&cfg, true);
    assert_null (strstr (text, "local_trainers"));
    assert_non_null (strstr (text, "seed = 1\n"));
    free (text);
}

static void
test_every_preset_round_trips (void **state)
{
    const char *name;
    size_t count = 0;
    for (size_t i = 0; (name = fg_config_preset_name (i, NULL)); i++, count++) {
        fg_config_t cfg, again;
        fg_error_t err;
        assert_int_equal (fg_config_preset (&cfg, name, &err), 0);
        assert_int_equal (fg_config_validate (&cfg, &err), 0);
        char *text = fg_config_commented (&cfg, name);
        assert_int_equal (s_parse (&again, text, &err), 0);
        char h1 [65], h2 [65];
        fg_config_hash (&cfg, h1);
        fg_config_hash (&again, h2);
        assert_string_equal (h1, h2);
        char *c1 = fg_config_canonical (&cfg, false), *c2 = fg_config_canonical (&again, false);
        assert_string_equal (c1, c2);
        free (c1);
        free (c2);
        free (text);
    }
    assert_true (count >= 6);
    fg_config_t cfg;
    fg_error_t err;
    assert_int_equal (fg_config_preset (&cfg, "cifar10-vgg16-skew", &err), 0);
    assert_int_equal (cfg.model.name, FG_MODEL_VGG16_BN);
    assert_int_equal (cfg.grid.nodes, 50);
    assert_int_equal (cfg.experiment.rounds, 150);
    assert_int_equal (cfg.data.distribution, FG_DIST_SKEW);
    assert_true (cfg.data.balance == 0.8);
    assert_int_equal (fg_config_preset (&cfg, "nope", &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "cifar10-vgg16-iid"));
}

static void
test_load_file_and_relative_path (void **state)
{
    char dir [200];
    assert_int_equal (fg_test_tmpdir ("fg-test-config", dir, sizeof dir), 0);
    char path [256], data [512];
    snprintf (path, sizeof path, "%s/fedgrid.toml", dir);
    const char *text = "[data]\ndataset = \"cifar10\"\npath = \"cifar\"\n";
    fg_error_t err;
    assert_int_equal (fg_file_write_atomic (path, text, strlen (text), 0644, 1, &err), 0);
    fg_config_t cfg;
    assert_int_equal (fg_config_load (&cfg, path, &err), 0);
    assert_int_equal (fg_config_data_path (&cfg, data, sizeof data), 0);
    char want [300];
    snprintf (want, sizeof want, "%s/cifar", dir);
    assert_string_equal (data, want);
    assert_int_equal (fg_config_data_path (&cfg, data, 5), FG_ERANGE);
    //  a missing file is FG_ENOENT naming the path
    char missing [300];
    snprintf (missing, sizeof missing, "%s/none.toml", dir);
    assert_int_equal (fg_config_load (&cfg, missing, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "none.toml"));
    assert_int_equal (fg_test_rmtree (dir), 0);
}

static void
test_choice_names (void **state)
{
    assert_string_equal (fg_config_choice_name ("data.strategy", FG_STRATEGY_HYBRID), "hybrid");
    assert_string_equal (fg_config_choice_name ("model.name", FG_MODEL_MOBILENETV3_LARGE),
                         "mobilenetv3-large");
    assert_null (fg_config_choice_name ("data.strategy", 99));
    assert_null (fg_config_choice_name ("data.seed", 0));
}

//  The study's Tiny-ImageNet columns (DESIGN §1): MobileNetV3 (large) on
//  Tiny-ImageNet-200, rounds of 5 local epochs, batch 32, lr 0.001, plain
//  SGD at a constant rate; IID over 10 nodes for 80 rounds, skewed with
//  balance 0.9 over 5 nodes for 60 rounds (dominant classes automatic:
//  docs/partitioning.md). The quick variant trains mobilenetv3-small.
static void
test_dataset_presets (void **state)
{
    (void) state;
    static const struct { const char *name; int model, nodes, rounds, dist; double balance; }
    want [] = {
        { "tinyimagenet-mnv3-iid",  FG_MODEL_MOBILENETV3_LARGE, 10, 80, FG_DIST_IID,  0.8 },
        { "tinyimagenet-mnv3-skew", FG_MODEL_MOBILENETV3_LARGE,  5, 60, FG_DIST_SKEW, 0.9 },
        { "tinyimagenet-mnv3s-quick", FG_MODEL_MOBILENETV3_SMALL, 4, 3, FG_DIST_IID,  0.8 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want [0]; i++) {
        fg_config_t cfg;
        fg_error_t err;
        assert_int_equal (fg_config_preset (&cfg, want [i].name, &err), 0);
        assert_int_equal (cfg.data.dataset, FG_DATASET_TINY_IMAGENET);
        assert_true (cfg.data.augment);
        assert_int_equal (cfg.model.name, want [i].model);
        assert_int_equal (cfg.grid.nodes, want [i].nodes);
        assert_int_equal (cfg.experiment.rounds, want [i].rounds);
        assert_int_equal (cfg.data.distribution, want [i].dist);
        assert_true (cfg.data.balance == want [i].balance);
        assert_int_equal (cfg.data.dominant_classes, 0);
        assert_int_equal (cfg.training.batch_size, 32);
        assert_int_equal (cfg.data.train_limit, 0);
        assert_int_equal (cfg.data.test_limit, 0);
        if (i < 2) {            //  the study's recipe
            assert_int_equal (cfg.training.local_epochs, 5);
            assert_true (cfg.training.lr == 0.001 && cfg.training.momentum == 0.0);
            assert_true (cfg.training.weight_decay == 0.0);
            assert_int_equal (cfg.training.schedule, FG_SCHEDULE_CONSTANT);
        }
        else {                  //  the recipe of the torchvision comparison
            assert_int_equal (cfg.training.epochs, 5);
            assert_true (cfg.training.lr == 0.05 && cfg.training.momentum == 0.9);
            assert_true (cfg.training.weight_decay == 0.0005);
            assert_int_equal (cfg.training.schedule, FG_SCHEDULE_COSINE);
        }
    }
    //  the texture preset: the model and input side docs/datasets.md recommends
    fg_config_t cfg;
    fg_error_t err;
    assert_int_equal (fg_config_preset (&cfg, "texture-mnv3s", &err), 0);
    assert_int_equal (cfg.data.dataset, FG_DATASET_TEXTURE);
    assert_int_equal (cfg.model.name, FG_MODEL_MOBILENETV3_SMALL);
    assert_int_equal (cfg.data.image_size, 128);
    assert_int_equal (fg_config_validate (&cfg, &err), 0);
}

//  Keys added after experiments existed enter the experiment hash only
//  when set away from their default, so the hash of an older experiment
//  (and the resume of its journal) stands: the embedded default's hash is
//  the one it had before data.image_size and the texture keys.
static void
test_hash_stands_across_added_keys (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_error_t err;
    char hex [FG_SHA256_HEX_SIZE];
    fg_config_defaults (&cfg);
    fg_config_hash (&cfg, hex);
    assert_string_equal (hex, "16da9f6c4e34f57dd3dee19b3c2e137234bdca2b428ee644f9f9523a73892b48");
    char *text = fg_config_canonical (&cfg, true);
    assert_null (strstr (text, "image_size"));
    free (text);
    assert_int_equal (fg_config_set (&cfg, "data.texture_stride=64", NULL, &err), 0);
    char changed [FG_SHA256_HEX_SIZE];
    fg_config_hash (&cfg, changed);
    assert_string_not_equal (changed, hex);
    text = fg_config_canonical (&cfg, true);
    assert_non_null (strstr (text, "texture_stride = 64\n"));
    free (text);
    //  the full canonical text keeps every key
    text = fg_config_canonical (&cfg, false);
    assert_non_null (strstr (text, "image_size = 64\n"));
    free (text);
}

//  fg_config_key lists the table: the canonical text's keys in its order,
//  each default accepted by fg_config_set, choices and ranges as parsed.
static void
test_key_table_is_listed (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_config_defaults (&cfg);
    char *canonical = fg_config_canonical (&cfg, false);
    assert_non_null (canonical);
    const char *line = canonical;
    size_t i = 0, experiment = 0;
    const fg_config_key_t *key;
    for (; (key = fg_config_key (i)); i++) {
        //  the canonical text has "[section]" headers and "name = value" lines
        while (*line == '[' || *line == '\n')
            line = strchr (line, '\n') + 1;
        size_t n = strlen (key->name);
        assert_int_equal (strncmp (line, key->name, n), 0);
        assert_int_equal (strncmp (line + n, " = ", 3), 0);
        line = strchr (line, '\n') + 1;
        char assignment [512];
        snprintf (assignment, sizeof assignment, "%s.%s=%s", key->section, key->name, key->value);
        fg_config_t copy = cfg;
        assert_int_equal (fg_config_set (&copy, assignment, "test", NULL), 0);
        assert_true (key->help && *key->help);
        assert_true (strcmp (key->type, "choice") == 0? key->choices != NULL: key->choices == NULL);
        if (key->ranged)
            assert_true (key->min <= key->max);
        experiment += key->experiment;
    }
    assert_string_equal (line, "");            //  every line was a key
    assert_null (fg_config_key (i));
    assert_null (fg_config_key ((size_t) -1));
    assert_true (experiment > 0 && experiment < i);
    //  an example of each kind, as the table says
    for (i = 0; (key = fg_config_key (i)); i++)
        if (strcmp (key->section, "data") == 0 && strcmp (key->name, "strategy") == 0)
            break;
    assert_non_null (key);
    assert_string_equal (key->choices, "stochastic|static|dynamic|hybrid");
    assert_string_equal (key->value, "\"static\"");
    assert_true (key->experiment);
    free (canonical);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_defaults_are_the_embedded_preset),
        cmocka_unit_test (test_every_type_parses),
        cmocka_unit_test (test_bad_input_is_named),
        cmocka_unit_test (test_overlong_line_and_nul_are_refused),
        cmocka_unit_test (test_escaped_string_must_fit_on_a_line),
        cmocka_unit_test (test_file_shape_is_checked),
        cmocka_unit_test (test_unknown_key_suggests),
        cmocka_unit_test (test_hash_stands_across_added_keys),
        cmocka_unit_test (test_overrides),
        cmocka_unit_test (test_cross_key_rules),
        cmocka_unit_test (test_canonical_round_trip_and_hash),
        cmocka_unit_test (test_every_preset_round_trips),
        cmocka_unit_test (test_dataset_presets),
        cmocka_unit_test (test_load_file_and_relative_path),
        cmocka_unit_test (test_choice_names),
        cmocka_unit_test (test_key_table_is_listed),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
