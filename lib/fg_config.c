/*  fg_config.c — the configuration table, the TOML-subset parser on top of
    libinih, canonical text and hash (see fg_config.h).

    ONE table below lists every key: section, name, type, default (as TOML
    text, parsed by the same code as a file), range or choices, whether it
    can change results (part of the experiment hash), and its meaning (the
    comment `fedctl init` writes above it).                                */

#include "fg_config.h"
#include "fg_endpoint.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_file.h"

typedef enum { T_INT, T_FLOAT, T_BOOL, T_STRING, T_CHOICE, T_INT_ARRAY } s_type_t;

typedef struct {
    const char *section;
    const char *name;
    s_type_t    type;
    size_t      offset;         //  of the value in fg_config_t
    size_t      count_offset;   //  T_INT_ARRAY: of the element count
    const char *value;          //  default, as TOML text
    double      min, max;       //  T_INT, T_FLOAT, T_INT_ARRAY elements
    const char *choices;        //  T_CHOICE: "a|b|c" in enum order
    int         experiment;     //  0: deployment; 1 (true): in the experiment
                                //  hash; S_HASH_IF_SET: in it when not at its
                                //  default (keys added after experiments
                                //  existed: their hashes, and so their
                                //  journals' resume, stand)
    const char *help;
} s_key_t;

#define S_HASH_IF_SET 2
#define F(field) offsetof (fg_config_t, field), 0
#define A(field) offsetof (fg_config_t, field), offsetof (fg_config_t, field##_count)
#define BIG 9007199254740992.0      //  2^53: integers exact in a double

static const s_key_t s_keys [] = {
    { "experiment", "seed", T_INT, F(experiment.seed), "1", 0, BIG, NULL, true,
      "root of every random stream: same seed and settings, same weights bit for bit" },
    { "experiment", "rounds", T_INT, F(experiment.rounds), "10", 1, 1000000, NULL, true,
      "global federated rounds" },
    { "experiment", "policy", T_CHOICE, F(experiment.policy), "\"exact\"", 0, 0,
      "exact|deadline", true,
      "exact: a round commits when every shard has a result; deadline: with what arrived in time" },
    { "experiment", "quorum", T_FLOAT, F(experiment.quorum), "0.8", 0.01, 1, NULL, true,
      "deadline policy: share of a round's shards needed to commit" },

    { "data", "dataset", T_CHOICE, F(data.dataset), "\"fashion-mnist\"", 0, 0,
      "fashion-mnist|mnist|cifar10|cifar100|tiny-imagenet|texture|synthetic|folder", true,
      "training and test set (folder: train/<class>/ and val/ or test/ of images, see docs/datasets.md)" },
    { "data", "path", T_STRING, F(data.path), "\"/usr/share/datasets/fashion-mnist\"", 0, 0, NULL, false,
      "dataset folder; a relative path is taken from this file's folder" },
    { "data", "train_limit", T_INT, F(data.train_limit), "0", 0, 1e9, NULL, true,
      "0: whole training set; N: its first N samples (quick runs)" },
    { "data", "test_limit", T_INT, F(data.test_limit), "0", 0, 1e9, NULL, true,
      "0: whole test set; N: its first N samples" },
    { "data", "image_size", T_INT, F(data.image_size), "64", 8, 1024, NULL, S_HASH_IF_SET,
      "folder: side of the square images after resize (shorter side) and centre crop" },
    { "data", "strategy", T_CHOICE, F(data.strategy), "\"static\"", 0, 0,
      "stochastic|static|dynamic|hybrid", true,
      "how local datasets (shards) are formed each round" },
    { "data", "distribution", T_CHOICE, F(data.distribution), "\"iid\"", 0, 0,
      "iid|skew|dirichlet", true,
      "label distribution of shards" },
    { "data", "balance", T_FLOAT, F(data.balance), "0.8", 0, 1, NULL, true,
      "skew: share of a shard drawn from its dominant classes" },
    { "data", "dominant_classes", T_INT, F(data.dominant_classes), "0", 0, 1000, NULL, true,
      "skew: dominant classes per shard; 0: max (1, ceil (classes / nodes))" },
    { "data", "alpha", T_FLOAT, F(data.alpha), "0.5", 1e-3, 1e6, NULL, true,
      "dirichlet: concentration (small = more skewed)" },
    { "data", "keep_fraction", T_FLOAT, F(data.keep_fraction), "0.5", 0, 1, NULL, true,
      "hybrid only: share of a shard kept from the previous round" },
    { "data", "augment", T_BOOL, F(data.augment), "false", 0, 0, NULL, true,
      "random crop (padding: cifar 4, mnist-family 2, others side / 8) and horizontal flip (not mnist) during training" },
    { "data", "synthetic_train", T_INT, F(data.synthetic_train), "2000", 1, 1e8, NULL, true,
      "synthetic dataset: training samples" },
    { "data", "synthetic_test", T_INT, F(data.synthetic_test), "500", 1, 1e8, NULL, true,
      "synthetic dataset: test samples" },
    { "data", "texture_fragment", T_INT, F(data.texture_fragment), "256", 1, 8192, NULL, S_HASH_IF_SET,
      "texture: side of a fragment in source pixels (resized to data.image_size)" },
    { "data", "texture_stride", T_INT, F(data.texture_stride), "128", 1, 8192, NULL, S_HASH_IF_SET,
      "texture: step between fragment origins (source pixels; x image_size / fragment integral)" },
    { "data", "texture_rotations", T_INT, F(data.texture_rotations), "1", 1, 4, NULL, S_HASH_IF_SET,
      "texture: rotations per place, 1, 2 or 4 (by r x 360 / rotations degrees)" },
    { "data", "texture_test_share", T_FLOAT, F(data.texture_test_share), "0.2", 0, 1, NULL, S_HASH_IF_SET,
      "texture: share of each class's images held out for testing (split by whole image)" },
    { "data", "texture_contrast", T_FLOAT, F(data.texture_contrast), "2.0", 0, 16, NULL, S_HASH_IF_SET,
      "texture: contrast stretch of each fragment, mean +/- k std to 0..255; 0: none" },
    { "data", "texture_cache_mb", T_INT, F(data.texture_cache_mb), "1024", 1, 1048576, NULL, false,
      "texture: MiB of decoded, scaled images kept (does not change results)" },

    { "model", "name", T_CHOICE, F(model.name), "\"cnn-small\"", 0, 0,
      "cnn-small|vgg16-bn|mobilenetv3-small|mobilenetv3-large", true,
      "network architecture" },

    { "training", "epochs", T_INT, F(training.epochs), "10", 1, 100000, NULL, true,
      "fedctl train (centralised baseline) only: epochs" },
    { "training", "local_epochs", T_INT, F(training.local_epochs), "1", 1, 10000, NULL, true,
      "epochs a trainer runs on its shard per round" },
    { "training", "batch_size", T_INT, F(training.batch_size), "32", 1, 65536, NULL, true,
      "mini-batch size" },
    { "training", "lr", T_FLOAT, F(training.lr), "0.05", 0, 100, NULL, true,
      "learning rate" },
    { "training", "momentum", T_FLOAT, F(training.momentum), "0.9", 0, 0.999999, NULL, true,
      "SGD momentum (0: plain SGD)" },
    { "training", "nesterov", T_BOOL, F(training.nesterov), "false", 0, 0, NULL, true,
      "Nesterov momentum" },
    { "training", "weight_decay", T_FLOAT, F(training.weight_decay), "0.0005", 0, 1, NULL, true,
      "L2 weight decay (SGD adds weight_decay x w to each gradient)" },
    { "training", "schedule", T_CHOICE, F(training.schedule), "\"cosine\"", 0, 0,
      "constant|step|cosine", true,
      "learning-rate schedule over epochs (federated: over rounds)" },
    { "training", "warmup_epochs", T_INT, F(training.warmup_epochs), "0", 0, 100000, NULL, true,
      "linear warm-up epochs before the schedule" },
    { "training", "milestones", T_INT_ARRAY, A(training.milestones), "[]", 1, 1e6, NULL, true,
      "step schedule: epochs at which the rate is multiplied by gamma" },
    { "training", "gamma", T_FLOAT, F(training.gamma), "0.1", 0, 1, NULL, true,
      "step schedule: factor at each milestone" },
    { "training", "test_batch_size", T_INT, F(training.test_batch_size), "32", 1, 65536, NULL, false,
      "batch size for evaluation (does not change results)" },

    { "aggregation", "rule", T_CHOICE, F(aggregation.rule), "\"fedavg\"", 0, 0,
      "fedavg|median|trimmed-mean", true,
      "how accepted updates are combined (fedavg: weighted by sample count)" },
    { "aggregation", "trim_fraction", T_FLOAT, F(aggregation.trim_fraction), "0.1", 0, 0.49, NULL, true,
      "trimmed-mean: share of values cut at each end" },
    { "aggregation", "clip_norm", T_FLOAT, F(aggregation.clip_norm), "0.0", 0, 1e12, NULL, true,
      "clip each update's L2 norm to this (0: no clipping)" },
    { "aggregation", "max_update_norm", T_FLOAT, F(aggregation.max_update_norm), "0.0", 0, 1e12, NULL, true,
      "reject updates whose L2 norm is above this (0: no bound)" },
    { "aggregation", "max_update_ratio", T_FLOAT, F(aggregation.max_update_ratio), "10.0", 0, 1e12, NULL, true,
      "reject updates whose L2 norm is above this times the global weights' norm (0: no bound)" },
    { "aggregation", "ratio_floor_rms", T_FLOAT, F(aggregation.ratio_floor_rms), "0.01", 0, 1e6, NULL, true,
      "max_update_ratio: the global norm counts as at least this x sqrt (weights) (near-zero models)" },
    { "aggregation", "server_lr", T_FLOAT, F(aggregation.server_lr), "1.0", 0, 100, NULL, true,
      "server learning rate applied to the averaged update" },
    { "aggregation", "server_momentum", T_FLOAT, F(aggregation.server_momentum), "0.0", 0, 0.999999, NULL, true,
      "server momentum (FedAvgM); 0: plain FedAvg" },

    { "grid", "nodes", T_INT, F(grid.nodes), "10", 1, 100000, NULL, true,
      "C: shards (work units) per round" },
    { "grid", "local_trainers", T_INT, F(grid.local_trainers), "2", 0, 1024, NULL, false,
      "trainers fedctl start runs in-process" },
    { "grid", "threads", T_INT, F(grid.threads), "0", 0, 1024, NULL, false,
      "BLIS threads per trainer; 0: cores / local_trainers" },
    { "grid", "listen", T_STRING, F(grid.listen), "\"\"", 0, 0, NULL, false,
      "endpoint for remote workers, e.g. \"tcp://*:7700\"; empty: local only" },
    { "grid", "curve", T_BOOL, F(grid.curve), "true", 0, 0, NULL, false,
      "CURVE encryption and authentication on a tcp listen endpoint (key: DIR/coordinator.key)" },
    { "grid", "allow_keys", T_STRING, F(grid.allow_keys), "\"\"", 0, 0, NULL, false,
      "folder of allowed worker public keys; empty: any worker holding the coordinator's key" },
    { "grid", "allow_ip", T_STRING, F(grid.allow_ip), "\"\"", 0, 0, NULL, false,
      "worker addresses allowed to connect, e.g. \"10.0.0.5, 10.0.0.6\"; empty: any" },
    { "grid", "heartbeat_ms", T_INT, F(grid.heartbeat_ms), "1000", 10, 600000, NULL, false,
      "heartbeat interval in both directions" },
    { "grid", "liveness", T_INT, F(grid.liveness), "5", 1, 1000, NULL, false,
      "missed heartbeats before a peer is declared dead" },
    { "grid", "deadline_factor", T_FLOAT, F(grid.deadline_factor), "3.0", 1, 1000, NULL, false,
      "a unit's deadline: this factor times its expected time on its node" },
    { "grid", "deadline_floor_s", T_INT, F(grid.deadline_floor_s), "60", 1, 1e7, NULL, false,
      "... but never less than this many seconds" },
    { "grid", "max_frame", T_INT, F(grid.max_frame), "4194304", 65536, 1073741824, NULL, false,
      "largest message frame in bytes (ZMQ_MAXMSGSIZE on every socket)" },
    { "grid", "chunk_size", T_INT, F(grid.chunk_size), "1048576", 1024, 1073741824, NULL, false,
      "bytes per weights or data chunk (at most max_frame minus headers)" },
    { "grid", "replication", T_INT, F(grid.replication), "1", 1, 3, NULL, false,
      "R: distinct nodes that compute each unit; it counts when a majority of their updates agree byte for byte" },
    { "grid", "spot_check", T_FLOAT, F(grid.spot_check), "0.0", 0, 1, NULL, false,
      "replication 1: share of a trusted node's units also computed by another node (new nodes: every unit)" },
    { "grid", "max_strikes", T_INT, F(grid.max_strikes), "3", 0, 1000000, NULL, false,
      "a node with more strikes than this is quarantined for the experiment (0: at its first)" },
    //  backup copies (actors/fg_coord_waste.c): deployment settings, never
    //  in the weights, so outside the experiment hash
    { "grid", "backup", T_CHOICE, F(grid.backup), "\"late\"", 0, 0, "late|always|never", false,
      "backup copy of a running unit to an idle node: late (its holder is late or slow and the idle node is expected first), always, never" },
    { "grid", "backup_after", T_FLOAT, F(grid.backup_after), "1.5", 1, 1000, NULL, false,
      "backup = late: a holder is late past this factor x its expected time; an idle node must need this factor x less than a slow holder still needs" },

    { "journal", "keep_last", T_INT, F(journal.keep_last), "3", 1, 1e9, NULL, false,
      "weight checkpoints kept: the last K rounds ..." },
    { "journal", "keep_every", T_INT, F(journal.keep_every), "10", 0, 1e9, NULL, false,
      "... and every N-th round (0: none)" },
    { "journal", "keep_updates", T_INT, F(journal.keep_updates), "1", 0, 1e9, NULL, false,
      "update blobs kept after their round committed: those of the last U committed rounds (0: none; older ones are pruned at each commit)" },
};

#define S_NKEYS (sizeof s_keys / sizeof s_keys [0])

//  Longest line the parser takes: Debian's libinih reads lines into a
//  200-byte buffer (INI_MAX_LINE), newline and NUL included.
#define S_LINE_MAX 198

static const char *s_sections [] = {
    "experiment", "data", "model", "training", "aggregation", "grid", "journal"
};
#define S_NSECTIONS (sizeof s_sections / sizeof s_sections [0])

static const s_key_t *
s_key_find (const char *section, const char *name)
{
    for (size_t i = 0; i < S_NKEYS; i++)
        if (strcmp (s_keys [i].section, section) == 0 && strcmp (s_keys [i].name, name) == 0)
            return &s_keys [i];
    return NULL;
}

//  Index of a known section in s_sections (the caller checked it is known).
static size_t
s_section_index (const char *section)
{
    size_t i = 0;
    while (i < S_NSECTIONS && strcmp (s_sections [i], section))
        i++;
    assert (i < S_NSECTIONS);
    return i;
}

static bool
s_section_known (const char *section)
{
    for (size_t i = 0; i < S_NSECTIONS; i++)
        if (strcmp (s_sections [i], section) == 0)
            return true;
    return false;
}

//  Edit distance (insertions, deletions, substitutions) of two short names,
//  for "did you mean"; names longer than 63 bytes count as far apart.
static size_t
s_distance (const char *a, const char *b)
{
    size_t n = strlen (a), m = strlen (b);
    if (n > 63 || m > 63)
        return SIZE_MAX;
    size_t row [64];
    for (size_t j = 0; j <= m; j++)
        row [j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diagonal = row [0];
        row [0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t above = row [j];
            size_t best = diagonal + (a [i - 1] != b [j - 1]);
            if (above + 1 < best)
                best = above + 1;
            if (row [j - 1] + 1 < best)
                best = row [j - 1] + 1;
            row [j] = best;
            diagonal = above;
        }
    }
    return row [m];
}

//  Why section.name is not a key, with the nearest key (at most 2 edits
//  of "section.name") and the keys of the section (or the sections).
static void
s_key_unknown (const char *section, const char *name, char *why, size_t size)
{
    char wanted [130], full [130], near [130] = "";
    snprintf (wanted, sizeof wanted, "%s.%s", section, name);
    size_t best = 3;
    for (size_t i = 0; i < S_NKEYS; i++) {
        snprintf (full, sizeof full, "%s.%s", s_keys [i].section, s_keys [i].name);
        size_t d = s_distance (wanted, full);
        if (d < best) {
            best = d;
            snprintf (near, sizeof near, "%s", full);
        }
    }
    int used = snprintf (why, size, "unknown key '%s'", wanted);
    if (*near && used >= 0 && (size_t) used < size)
        used += snprintf (why + used, size - (size_t) used, "; did you mean '%s'?", near);
    if (used < 0 || (size_t) used >= size)
        return;
    if (s_section_known (section)) {
        used += snprintf (why + used, size - (size_t) used, " (keys of [%s]:", section);
        for (size_t i = 0; i < S_NKEYS && (size_t) used < size; i++)
            if (strcmp (s_keys [i].section, section) == 0)
                used += snprintf (why + used, size - (size_t) used, " %s", s_keys [i].name);
    }
    else {
        used += snprintf (why + used, size - (size_t) used, " (sections:");
        for (size_t i = 0; i < S_NSECTIONS && (size_t) used < size; i++)
            used += snprintf (why + used, size - (size_t) used, " %s", s_sections [i]);
    }
    if ((size_t) used < size)
        snprintf (why + used, size - (size_t) used, ")");
}

//  Index of word in "a|b|c", or -1.
static int
s_choice_index (const char *choices, const char *word)
{
    size_t len = strlen (word);
    int index = 0;
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr (p, '|');
        size_t n = bar? (size_t) (bar - p): strlen (p);
        if (n == len && strncmp (p, word, n) == 0)
            return index;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

//  Copies choice number index of choices into out.
static const char *
s_choice_name (const char *choices, int index, char *out, size_t size)
{
    const char *p = choices;
    for (int i = 0; i < index && p; i++) {
        p = strchr (p, '|');
        if (p)
            p++;
    }
    if (!p || index < 0)
        return NULL;
    const char *bar = strchr (p, '|');
    size_t n = bar? (size_t) (bar - p): strlen (p);
    if (n >= size)
        return NULL;
    memcpy (out, p, n);
    out [n] = '\0';
    return out;
}

//  --------------------------------------------------------------------------
//  Values: TOML spellings of the supported types.

static const char *
s_skip_space (const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

//  After a value: only spaces and an optional # comment may follow.
static bool
s_at_end (const char *p)
{
    p = s_skip_space (p);
    return *p == '\0' || *p == '#';
}

//  TOML integer: [+-]? (0 | [1-9] (_? [0-9])*). Sets *end past it.
static int
s_parse_int (const char *p, long long *out, const char **end)
{
    const char *start = p;
    char digits [32];
    size_t n = 0;
    if (*p == '+' || *p == '-')
        digits [n++] = *p++;
    if (!isdigit ((unsigned char) *p))
        return -1;
    if (*p == '0' && isdigit ((unsigned char) p [1]))
        return -1;                      //  no leading zeros
    while (isdigit ((unsigned char) *p) || (*p == '_' && isdigit ((unsigned char) p [1])
                                            && p > start && isdigit ((unsigned char) p [-1]))) {
        if (*p != '_') {
            if (n >= sizeof digits - 1)
                return -2;              //  too many digits: out of range
            digits [n++] = *p;
        }
        p++;
    }
    digits [n] = '\0';
    errno = 0;
    long long value = strtoll (digits, NULL, 10);
    if (errno == ERANGE)
        return -2;
    *out = value;
    *end = p;
    return 0;
}

//  TOML float (or integer, taken as float): int [frac] [exp], no inf/nan.
static int
s_parse_float (const char *p, double *out, const char **end)
{
    char text [64];
    size_t n = 0;
    const char *q = p;
    if (*q == '+' || *q == '-')
        text [n++] = *q++;
    if (!isdigit ((unsigned char) *q))
        return -1;
    if (*q == '0' && isdigit ((unsigned char) q [1]))
        return -1;
    bool digit_before = false;
    for (; *q; q++) {
        char c = *q;
        if (isdigit ((unsigned char) c))
            digit_before = true;
        else
        if (c == '_' && digit_before && isdigit ((unsigned char) q [1]))
            continue;
        else
        if (c == '.' && digit_before && isdigit ((unsigned char) q [1]))
            digit_before = false;
        else
        if ((c == 'e' || c == 'E') && digit_before) {
            digit_before = false;
            if (n >= sizeof text - 2)
                return -1;
            text [n++] = c;
            if (q [1] == '+' || q [1] == '-')
                text [n++] = *++q;
            if (!isdigit ((unsigned char) q [1]))
                return -1;
            continue;
        }
        else
            break;
        if (n >= sizeof text - 1)
            return -1;
        text [n++] = c;
    }
    text [n] = '\0';
    errno = 0;
    double value = strtod (text, NULL);
    if (errno == ERANGE || !isfinite (value))
        return -2;
    *out = value;
    *end = q;
    return 0;
}

//  "basic" (with \" \\ \n \t \r escapes) or 'literal' string.
static int
s_parse_string (const char *p, char *out, size_t size, const char **end, const char **why)
{
    char quote = *p;
    if (quote != '"' && quote != '\'') {
        *why = "expected a quoted string";
        return -1;
    }
    size_t n = 0;
    for (p++; *p != quote; p++) {
        char c = *p;
        if (c == '\0') {
            *why = "unterminated string";
            return -1;
        }
        if ((unsigned char) c < 0x20 || c == 0x7f) {
            *why = "control character in string";
            return -1;
        }
        if (c == '\\' && quote == '"') {
            switch (*++p) {
                case '"':  c = '"';  break;
                case '\\': c = '\\'; break;
                case 'n':  c = '\n'; break;
                case 't':  c = '\t'; break;
                case 'r':  c = '\r'; break;
                default:
                    *why = "unknown escape in string (use \\\" \\\\ \\n \\t \\r)";
                    return -1;
            }
        }
        if (n + 1 >= size) {
            *why = "string too long";
            return -2;
        }
        out [n++] = c;
    }
    out [n] = '\0';
    *end = p + 1;
    return 0;
}

//  Parses text as the key's type into cfg. origin/line name the place in
//  messages ("file.toml:12" or "--set").
static int
s_assign (fg_config_t *cfg, const s_key_t *key, const char *text, const char *where,
          bool bare_strings, fg_error_t *err)
{
    char *field = (char *) cfg + key->offset;
    text = s_skip_space (text);
    const char *p = text;
    const char *end = p;
    const char *why = NULL;
    int rc;
    switch (key->type) {
        case T_INT: {
            long long value;
            rc = s_parse_int (p, &value, &end);
            if (rc == -1 || (rc == 0 && !s_at_end (end)))
                return fg_error_set (err, FG_EFORMAT, "%s: %s.%s = %s: expected an integer",
                                     where, key->section, key->name, text);
            if (rc == -2 || value < key->min || value > key->max)
                return fg_error_set (err, FG_ERANGE, "%s: %s.%s = %s: out of range [%.17g, %.17g]",
                                     where, key->section, key->name, text, key->min, key->max);
            *(int64_t *) field = value;
            return 0;
        }
        case T_FLOAT: {
            double value;
            rc = s_parse_float (p, &value, &end);
            if (rc == -1 || (rc == 0 && !s_at_end (end)))
                return fg_error_set (err, FG_EFORMAT, "%s: %s.%s = %s: expected a number",
                                     where, key->section, key->name, text);
            if (rc == -2 || value < key->min || value > key->max)
                return fg_error_set (err, FG_ERANGE, "%s: %s.%s = %s: out of range [%g, %g]",
                                     where, key->section, key->name, text, key->min, key->max);
            *(double *) field = value;
            return 0;
        }
        case T_BOOL: {
            bool value;
            if (strncmp (p, "true", 4) == 0)
                value = true, end = p + 4;
            else
            if (strncmp (p, "false", 5) == 0)
                value = false, end = p + 5;
            else
                end = NULL;
            if (!end || !s_at_end (end))
                return fg_error_set (err, FG_EFORMAT, "%s: %s.%s = %s: expected true or false",
                                     where, key->section, key->name, text);
            *(bool *) field = value;
            return 0;
        }
        case T_STRING:
        case T_CHOICE: {
            char value [FG_CONFIG_STR_MAX];
            if (bare_strings && *p != '"' && *p != '\'') {
                //  --set data.strategy=dynamic: the whole text is the value
                if (strlen (p) >= sizeof value)
                    return fg_error_set (err, FG_ERANGE, "%s: %s.%s: value longer than %d bytes",
                                         where, key->section, key->name, FG_CONFIG_STR_MAX - 1);
                strcpy (value, p);
            }
            else {
                rc = s_parse_string (p, value, sizeof value, &end, &why);
                if (rc == 0 && !s_at_end (end)) {
                    rc = -1;
                    why = "unexpected text after the string";
                }
                if (rc)
                    return fg_error_set (err, rc == -2? FG_ERANGE: FG_EFORMAT,
                                         "%s: %s.%s = %s: %s%s", where, key->section, key->name,
                                         text, why, rc == -2? " (at most 191 bytes)": "");
            }
            if (key->type == T_STRING) {
                //  the canonical form escapes " \ and control characters:
                //  it must still fit on one line (S_LINE_MAX), or it would
                //  not read back
                size_t escaped = strlen (value) + 2;
                for (const char *q = value; *q; q++)
                    escaped += *q == '"' || *q == '\\' || *q == '\n' || *q == '\t' || *q == '\r';
                if (strlen (key->name) + 3 + escaped > S_LINE_MAX)
                    return fg_error_set (err, FG_ERANGE, "%s: %s.%s: value too long: once written "
                                         "as a \"string\" with escapes its line exceeds %d characters",
                                         where, key->section, key->name, S_LINE_MAX);
                strcpy (field, value);
                return 0;
            }
            int index = s_choice_index (key->choices, value);
            if (index < 0)
                return fg_error_set (err, FG_ERANGE, "%s: %s.%s = \"%s\": not one of %s",
                                     where, key->section, key->name, value, key->choices);
            *(int *) field = index;
            return 0;
        }
        case T_INT_ARRAY: {
            int64_t values [FG_CONFIG_ARRAY_MAX];
            int64_t count = 0;
            if (*p != '[')
                return fg_error_set (err, FG_EFORMAT, "%s: %s.%s = %s: expected an array [a, b, ...]",
                                     where, key->section, key->name, text);
            p = s_skip_space (p + 1);
            while (*p != ']') {
                long long value;
                rc = s_parse_int (p, &value, &end);
                if (rc == -1)
                    return fg_error_set (err, FG_EFORMAT, "%s: %s.%s = %s: expected integers in the array",
                                         where, key->section, key->name, text);
                if (rc == -2 || value < key->min || value > key->max)
                    return fg_error_set (err, FG_ERANGE, "%s: %s.%s = %s: element %lld out of range [%.17g, %.17g]",
                                         where, key->section, key->name, text, (long long) count,
                                         key->min, key->max);
                if (count == FG_CONFIG_ARRAY_MAX)
                    return fg_error_set (err, FG_ERANGE, "%s: %s.%s: more than %d elements",
                                         where, key->section, key->name, FG_CONFIG_ARRAY_MAX);
                values [count++] = value;
                p = s_skip_space (end);
                if (*p == ',')
                    p = s_skip_space (p + 1);
                else
                if (*p != ']')
                    return fg_error_set (err, FG_EFORMAT, "%s: %s.%s = %s: expected ',' or ']'",
                                         where, key->section, key->name, text);
            }
            if (!s_at_end (p + 1))
                return fg_error_set (err, FG_EFORMAT, "%s: %s.%s = %s: unexpected text after the array",
                                     where, key->section, key->name, text);
            memcpy (field, values, sizeof values);
            *(int64_t *) ((char *) cfg + key->count_offset) = count;
            return 0;
        }
    }
    return fg_error_set (err, FG_EINVAL, "%s: %s.%s: unknown type", where, key->section, key->name);
}

void
fg_config_defaults (fg_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < S_NKEYS; i++) {
        int rc = s_assign (cfg, &s_keys [i], s_keys [i].value, "default", false, NULL);
        assert (rc == 0);               //  tested: every default parses
        (void) rc;
    }
}

//  --------------------------------------------------------------------------
//  Files: libinih splits sections and keys; a reader over memory counts
//  lines (so every message has file:line) and refuses what inih would
//  silently accept but TOML does not.

typedef struct {
    fg_config_t *cfg;
    const char  *name;          //  file name for messages
    const char  *text;          //  remaining input
    const char  *limit;
    int          line;          //  number of the line last handed to inih
    char         current [256]; //  that line, for messages
    bool         seen [S_NKEYS];
    int          section_line [S_NSECTIONS];   //  line of each [section], 0: not yet
    size_t       keys;          //  keys set
    fg_error_t  *err;
    int          rc;            //  first error
} s_parser_t;

static int
s_parser_fail (s_parser_t *self, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_parser_fail (s_parser_t *self, int code, const char *fmt, ...)
{
    if (self->rc == 0) {
        char why [FG_ERROR_MSG_MAX];
        va_list args;
        va_start (args, fmt);
        vsnprintf (why, sizeof why, fmt, args);
        va_end (args);
        self->rc = fg_error_set (self->err, code, "%s:%d: %s", self->name, self->line, why);
    }
    return 0;
}

//  inih reader: hands out one line per call (fgets semantics).
static char *
s_reader (char *buffer, int size, void *arg)
{
    s_parser_t *self = (s_parser_t *) arg;
    if (self->rc || self->text >= self->limit)
        return NULL;                    //  stop at the first error
    const char *start = self->text;
    const char *newline = memchr (start, '\n', (size_t) (self->limit - start));
    size_t len = newline? (size_t) (newline - start): (size_t) (self->limit - start);
    self->text = start + len + (newline? 1: 0);
    self->line++;
    if (len + 2 > (size_t) size || len >= sizeof self->current) {
        s_parser_fail (self, FG_EFORMAT, "line longer than %d characters",
                       (size < (int) sizeof self->current? size: (int) sizeof self->current) - 2);
        return NULL;
    }
    memcpy (buffer, start, len);
    buffer [len] = '\n';
    buffer [len + 1] = '\0';
    memcpy (self->current, start, len);
    self->current [len] = '\0';
    if (len && self->current [len - 1] == '\r')
        self->current [len - 1] = '\0';

    //  What TOML forbids and inih would take: "key: value", indented
    //  continuation lines, [[tables]], [a.b], unknown sections.
    const char *p = s_skip_space (self->current);
    if (*p == '\0' || *p == '#')
        return buffer;
    if (*p == ';') {
        s_parser_fail (self, FG_EFORMAT, "';' does not start a comment in TOML; use '#'");
        return NULL;
    }
    if (*p == '[') {
        const char *close = strchr (p, ']');
        if (p [1] == '[') {
            s_parser_fail (self, FG_EFORMAT, "arrays of tables ([[...]]) are not supported");
            return NULL;
        }
        if (!close || !s_at_end (close + 1)) {
            s_parser_fail (self, FG_EFORMAT, "malformed section header: %s", p);
            return NULL;
        }
        char section [64];
        const char *a = s_skip_space (p + 1);
        size_t n = (size_t) (close - a);
        while (n && (a [n - 1] == ' ' || a [n - 1] == '\t'))
            n--;
        if (n >= sizeof section) {
            s_parser_fail (self, FG_EFORMAT, "unknown section [%.*s]", (int) n, a);
            return NULL;
        }
        memcpy (section, a, n);
        section [n] = '\0';
        if (!s_section_known (section)) {
            s_parser_fail (self, FG_EFORMAT,
                           "unknown section [%s] (known: experiment, data, model, training, "
                           "aggregation, grid, journal)", section);
            return NULL;
        }
        //  TOML defines a table once
        int *first = &self->section_line [s_section_index (section)];
        if (*first) {
            s_parser_fail (self, FG_EFORMAT, "[%s] appears twice (first on line %d): "
                           "put all its keys under one header", section, *first);
            return NULL;
        }
        *first = self->line;
        //  hand inih the header without the spaces TOML allows inside
        snprintf (buffer, (size_t) size, "[%s]\n", section);
        return buffer;
    }
    if (p != self->current) {
        s_parser_fail (self, FG_EFORMAT, "indented line: TOML keys start at the margin here");
        return NULL;
    }
    const char *equals = strchr (p, '=');
    const char *colon = strchr (p, ':');
    if (colon && (!equals || colon < equals)) {
        s_parser_fail (self, FG_EFORMAT, "expected 'key = value' ('=' not ':'), found: %s", p);
        return NULL;
    }
    if (!equals) {
        s_parser_fail (self, FG_EFORMAT, "expected 'key = value', found: %s", p);
        return NULL;
    }
    return buffer;
}

//  inih handler: one key. Takes the value from our copy of the line, since
//  inih cuts values at " ;" (its inline comments), which TOML strings may hold.
static int
s_handler (void *arg, const char *section, const char *name, const char *value)
{
    s_parser_t *self = (s_parser_t *) arg;
    (void) value;
    if (self->rc)
        return 0;
    if (*section == '\0')
        return s_parser_fail (self, FG_EFORMAT, "key '%s' before any [section]", name);
    const s_key_t *key = s_key_find (section, name);
    if (!key) {
        char why [FG_ERROR_MSG_MAX - 64];
        s_key_unknown (section, name, why, sizeof why);
        return s_parser_fail (self, FG_EFORMAT, "%s", why);
    }
    size_t index = (size_t) (key - s_keys);
    if (self->seen [index])
        return s_parser_fail (self, FG_EFORMAT, "%s.%s is set twice", section, name);
    self->seen [index] = true;
    self->keys++;
    const char *raw = strchr (self->current, '=');
    assert (raw);                       //  the reader checked
    char where [300];
    snprintf (where, sizeof where, "%s:%d", self->name, self->line);
    fg_error_t local;
    int rc = s_assign (self->cfg, key, raw + 1, where, false, &local);
    if (rc && self->rc == 0) {
        self->rc = rc;
        if (self->err)
            *self->err = local;
    }
    return rc == 0;                     //  inih: non-zero means success
}

//  TOML is UTF-8 text: the line and column of the first byte that is not
//  (NUL, another control byte than tab, CR and LF, or bad UTF-8), or 0.
static size_t
s_text_error (const char *text, size_t size, int *line, size_t *column)
{
    const uint8_t *p = (const uint8_t *) text;
    size_t start = 0;
    *line = 1;
    for (size_t i = 0; i < size; ) {
        uint8_t c = p [i];
        size_t extra = c < 0x80? 0: (c & 0xE0) == 0xC0? 1: (c & 0xF0) == 0xE0? 2:
                       (c & 0xF8) == 0xF0? 3: 4;
        bool bad = extra == 4 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n')
                || c == 0x7F || (extra && (c == 0xC0 || c == 0xC1 || c > 0xF4));
        for (size_t k = 1; !bad && k <= extra; k++)
            bad = i + k >= size || (p [i + k] & 0xC0) != 0x80;
        if (bad) {
            *column = i - start + 1;
            return i + 1;
        }
        if (c == '\n') {
            (*line)++;
            start = i + 1;
        }
        i += extra + 1;
    }
    return 0;
}

int
fg_config_parse (fg_config_t *cfg, const char *text, size_t size, const char *name,
                 fg_error_t *err)
{
    s_parser_t parser;
    memset (&parser, 0, sizeof parser);
    parser.cfg = cfg;
    parser.name = name? name: "(config)";
    parser.text = text;
    parser.limit = text + size;
    parser.err = err;
    //  a UTF-8 byte order mark is allowed at the very start
    if (size >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
        parser.text += 3;
    int bad_line;
    size_t column, bad = s_text_error (text, size, &bad_line, &column);
    if (bad)
        return fg_error_set (err, FG_EFORMAT, "%s:%d: byte 0x%02X at column %zu is not TOML "
                             "text (UTF-8 without control characters): is this a binary file?",
                             parser.name, bad_line, (unsigned) (uint8_t) text [bad - 1], column);
    int line = ini_parse_stream (s_reader, &parser, s_handler, &parser);
    if (parser.rc)
        return parser.rc;
    if (parser.keys == 0)
        return fg_error_set (err, FG_EFORMAT, "%s: sets no key (an empty file?); `fedctl init "
                             "DIR` writes one with every key and its default", parser.name);
    if (line > 0)
        return fg_error_set (err, FG_EFORMAT, "%s:%d: syntax error (expected [section] or key = value)",
                             parser.name, line);
    if (line < 0)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory while parsing", parser.name);
    return 0;
}

int
fg_config_load (fg_config_t *cfg, const char *path, fg_error_t *err)
{
    fg_config_defaults (cfg);
    char *text;
    size_t size;
    int rc = fg_file_read (path, FG_CONFIG_FILE_MAX, &text, &size, err);
    if (rc)
        return rc;
    rc = fg_config_parse (cfg, text, size, path, err);
    free (text);
    if (rc)
        return rc;
    const char *slash = strrchr (path, '/');
    if (slash) {
        size_t n = (size_t) (slash - path);
        if (n == 0)
            n = 1;                      //  "/fedgrid.toml": the root
        if (n >= sizeof cfg->base_dir)
            return fg_error_set (err, FG_ERANGE, "%s: path too long", path);
        memcpy (cfg->base_dir, path, n);
        cfg->base_dir [n] = '\0';
    }
    return fg_config_validate (cfg, err);
}

int
fg_config_set (fg_config_t *cfg, const char *assignment, const char *origin,
               fg_error_t *err)
{
    const char *where = origin? origin: "--set";
    const char *dot = strchr (assignment, '.');
    const char *equals = strchr (assignment, '=');
    if (!dot || !equals || dot > equals)
        return fg_error_set (err, FG_EFORMAT, "%s %s: expected section.key=value", where, assignment);
    char section [64], name [64];
    size_t section_len = (size_t) (dot - assignment);
    size_t name_len = (size_t) (equals - dot - 1);
    if (section_len >= sizeof section || name_len >= sizeof name)
        return fg_error_set (err, FG_EFORMAT, "%s %s: unknown key", where, assignment);
    memcpy (section, assignment, section_len);
    section [section_len] = '\0';
    memcpy (name, dot + 1, name_len);
    name [name_len] = '\0';
    const s_key_t *key = s_key_find (section, name);
    if (!key) {
        char why [FG_ERROR_MSG_MAX - 64];
        s_key_unknown (section, name, why, sizeof why);
        return fg_error_set (err, FG_EFORMAT, "%s %s: %s", where, assignment, why);
    }
    return s_assign (cfg, key, equals + 1, where, true, err);
}

int
fg_config_validate (const fg_config_t *cfg, fg_error_t *err)
{
    if (cfg->training.schedule == FG_SCHEDULE_STEP && cfg->training.milestones_count == 0)
        return fg_error_set (err, FG_EINVAL, "training.schedule = \"step\" needs training.milestones, "
                             "e.g. milestones = [30, 60]");
    for (int64_t i = 1; i < cfg->training.milestones_count; i++)
        if (cfg->training.milestones [i] <= cfg->training.milestones [i - 1])
            return fg_error_set (err, FG_EINVAL, "training.milestones must increase: %lld after %lld",
                                 (long long) cfg->training.milestones [i],
                                 (long long) cfg->training.milestones [i - 1]);
    if (cfg->grid.chunk_size + 4096 > cfg->grid.max_frame)
        return fg_error_set (err, FG_EINVAL, "grid.chunk_size (%lld) must be at least 4096 bytes "
                             "below grid.max_frame (%lld)", (long long) cfg->grid.chunk_size,
                             (long long) cfg->grid.max_frame);
    fg_error_t local;
    if (cfg->grid.listen [0] && fg_endpoint_check (cfg->grid.listen, true, &local))
        return fg_error_set (err, FG_EINVAL, "grid.listen: %s", local.msg);
    if (cfg->data.dataset != FG_DATASET_SYNTHETIC && cfg->data.path [0] == '\0')
        return fg_error_set (err, FG_EINVAL, "data.path is empty: give the %s folder",
                             fg_config_choice_name ("data.dataset", cfg->data.dataset));
    if (cfg->data.train_limit && cfg->data.train_limit < cfg->grid.nodes)
        return fg_error_set (err, FG_EINVAL, "data.train_limit (%lld) is smaller than grid.nodes "
                             "(%lld): every shard needs at least one sample",
                             (long long) cfg->data.train_limit, (long long) cfg->grid.nodes);
    if (cfg->data.dataset == FG_DATASET_TEXTURE) {
        int64_t r = cfg->data.texture_rotations;
        if (r != 1 && r != 2 && r != 4)
            return fg_error_set (err, FG_EINVAL, "data.texture_rotations = %lld: must be 1, 2 "
                                 "or 4", (long long) r);
        if ((cfg->data.texture_stride * cfg->data.image_size) % cfg->data.texture_fragment)
            return fg_error_set (err, FG_EINVAL, "data.texture_stride (%lld) x data.image_size "
                                 "(%lld) must be a multiple of data.texture_fragment (%lld), so "
                                 "that fragments start on a pixel of the scaled image",
                                 (long long) cfg->data.texture_stride,
                                 (long long) cfg->data.image_size,
                                 (long long) cfg->data.texture_fragment);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Canonical text

//  Shortest decimal that reads back as the same double, always with a '.'
//  or an exponent so it stays a TOML float; whole numbers below 1e15 are
//  written out ("10.0", not "1e+01").
static void
s_format_float (double value, char *out, size_t size)
{
    if (value == floor (value) && fabs (value) < 1e15) {
        snprintf (out, size, "%.1f", value);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf (out, size, "%.*g", precision, value);
        if (strtod (out, NULL) == value)
            break;
    }
    if (!strpbrk (out, ".eE")) {
        size_t n = strlen (out);
        if (n + 3 <= size)
            memcpy (out + n, ".0", 3);
    }
}

static void
s_format_value (const fg_config_t *cfg, const s_key_t *key, char *out, size_t size)
{
    const char *field = (const char *) cfg + key->offset;
    switch (key->type) {
        case T_INT:
            snprintf (out, size, "%lld", (long long) *(const int64_t *) field);
            break;
        case T_FLOAT:
            s_format_float (*(const double *) field, out, size);
            break;
        case T_BOOL:
            snprintf (out, size, "%s", *(const bool *) field? "true": "false");
            break;
        case T_CHOICE: {
            char name [64];
            snprintf (out, size, "\"%s\"", s_choice_name (key->choices, *(const int *) field,
                                                          name, sizeof name));
            break;
        }
        case T_STRING: {
            size_t n = 0;
            out [n++] = '"';
            for (const char *p = field; *p && n + 4 < size; p++) {
                char c = *p;
                const char *esc = c == '"'? "\\\"": c == '\\'? "\\\\": c == '\n'? "\\n":
                                  c == '\t'? "\\t": c == '\r'? "\\r": NULL;
                if (esc) {
                    out [n++] = esc [0];
                    out [n++] = esc [1];
                }
                else
                    out [n++] = c;
            }
            out [n++] = '"';
            out [n] = '\0';
            break;
        }
        case T_INT_ARRAY: {
            const int64_t *values = (const int64_t *) field;
            int64_t count = *(const int64_t *) ((const char *) cfg + key->count_offset);
            size_t n = (size_t) snprintf (out, size, "[");
            for (int64_t i = 0; i < count && n < size; i++)
                n += (size_t) snprintf (out + n, size - n, "%s%lld", i? ", ": "", (long long) values [i]);
            if (n < size)
                snprintf (out + n, size - n, "]");
            break;
        }
    }
}

//  Growing string buffer for the text writers.
typedef struct { char *data; size_t len, cap; bool failed; } s_text_t;

static void
s_text_add (s_text_t *text, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_text_add (s_text_t *text, const char *fmt, ...)
{
    if (text->failed)
        return;
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (NULL, 0, fmt, args);
    va_end (args);
    if (n < 0 || text->len + (size_t) n + 1 > text->cap) {
        size_t cap = (text->cap + (size_t) (n > 0? n: 0) + 1) * 2;
        char *data = n < 0? NULL: realloc (text->data, cap);
        if (!data) {
            text->failed = true;
            return;
        }
        text->data = data;
        text->cap = cap;
    }
    va_start (args, fmt);
    vsnprintf (text->data + text->len, text->cap - text->len, fmt, args);
    va_end (args);
    text->len += (size_t) n;
}

static char *
s_text_finish (s_text_t *text)
{
    if (text->failed) {
        free (text->data);
        return NULL;
    }
    return text->data;
}

//  Whether key has the same canonical text in cfg and in defaults.
static bool
s_at_default (const fg_config_t *cfg, const fg_config_t *defaults, const s_key_t *key)
{
    char value [FG_CONFIG_STR_MAX * 2 + 8], initial [FG_CONFIG_STR_MAX * 2 + 8];
    s_format_value (cfg, key, value, sizeof value);
    s_format_value (defaults, key, initial, sizeof initial);
    return strcmp (value, initial) == 0;
}

char *
fg_config_canonical (const fg_config_t *cfg, bool experiment_only)
{
    s_text_t text = { NULL, 0, 0, false };
    s_text_add (&text, "%s", "");
    fg_config_t defaults;
    fg_config_defaults (&defaults);
    const char *section = NULL;
    for (size_t i = 0; i < S_NKEYS; i++) {
        const s_key_t *key = &s_keys [i];
        if (experiment_only && (!key->experiment
        ||  (key->experiment == S_HASH_IF_SET && s_at_default (cfg, &defaults, key))))
            continue;
        if (!section || strcmp (section, key->section)) {
            s_text_add (&text, "%s[%s]\n", section? "\n": "", key->section);
            section = key->section;
        }
        char value [FG_CONFIG_STR_MAX * 2 + 8];
        s_format_value (cfg, key, value, sizeof value);
        s_text_add (&text, "%s = %s\n", key->name, value);
    }
    return s_text_finish (&text);
}

void
fg_config_hash (const fg_config_t *cfg, char hex [FG_SHA256_HEX_SIZE])
{
    char *text = fg_config_canonical (cfg, true);
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256 (text? text: "", text? strlen (text): 0, digest);
    fg_sha256_hex (digest, hex);
    free (text);
}

char *
fg_config_commented (const fg_config_t *cfg, const char *preset)
{
    s_text_t text = { NULL, 0, 0, false };
    s_text_add (&text,
        "# fedgrid experiment configuration (TOML subset: [sections], key = value,\n"
        "# \"strings\", integers, floats, true/false, [integer arrays], # comments).\n"
        "# Written by `fedctl init`%s%s%s. Check it with `fedctl config check FILE`.\n"
        "# Keys marked (experiment) define the experiment: changing one makes a new\n"
        "# experiment. The others are deployment settings and may change on resume.\n",
        preset? " from preset \"": "", preset? preset: "", preset? "\"": "");
    const char *section = NULL;
    for (size_t i = 0; i < S_NKEYS; i++) {
        const s_key_t *key = &s_keys [i];
        if (!section || strcmp (section, key->section)) {
            s_text_add (&text, "\n[%s]\n", key->section);
            section = key->section;
        }
        char range [160] = "";
        if (key->type == T_CHOICE)
            snprintf (range, sizeof range, "; one of %s", key->choices);
        else
        if (key->type == T_INT || key->type == T_INT_ARRAY)
            snprintf (range, sizeof range, "; integer%s in [%.0f, %.0f]",
                      key->type == T_INT_ARRAY? "s": "", key->min, key->max);
        else
        if (key->type == T_FLOAT)
            snprintf (range, sizeof range, "; in [%g, %g]", key->min, key->max);
        char value [FG_CONFIG_STR_MAX * 2 + 8];
        s_format_value (cfg, key, value, sizeof value);
        s_text_add (&text, "# %s%s%s\n%s = %s\n", key->help, range,
                    key->experiment? " (experiment)": "", key->name, value);
    }
    return s_text_finish (&text);
}

int
fg_config_data_path (const fg_config_t *cfg, char *out, size_t size)
{
    int n = cfg->data.path [0] == '/' || cfg->base_dir [0] == '\0'
          ? snprintf (out, size, "%s", cfg->data.path)
          : snprintf (out, size, "%s/%s", cfg->base_dir, cfg->data.path);
    return n < 0 || (size_t) n >= size? FG_ERANGE: 0;
}

const char *
fg_config_choice_name (const char *dotted_key, int value)
{
    static _Thread_local char name [64];
    for (size_t i = 0; i < S_NKEYS; i++) {
        const s_key_t *key = &s_keys [i];
        size_t section_len = strlen (key->section);
        if (key->type == T_CHOICE
        &&  strncmp (dotted_key, key->section, section_len) == 0
        &&  dotted_key [section_len] == '.'
        &&  strcmp (dotted_key + section_len + 1, key->name) == 0)
            return s_choice_name (key->choices, value, name, sizeof name);
    }
    return NULL;
}

//  The table for documentation: built once from s_keys (same order), so a
//  generated page lists exactly what the parser accepts.
static fg_config_key_t s_public [S_NKEYS];
static pthread_once_t s_public_once = PTHREAD_ONCE_INIT;

static void
s_public_fill (void)
{
    static const char *types [] = {
        [T_INT] = "integer", [T_FLOAT] = "float", [T_BOOL] = "boolean",
        [T_STRING] = "string", [T_CHOICE] = "choice", [T_INT_ARRAY] = "integer array"
    };
    for (size_t i = 0; i < S_NKEYS; i++) {
        const s_key_t *key = &s_keys [i];
        s_public [i] = (fg_config_key_t) {
            .section = key->section, .name = key->name, .type = types [key->type],
            .value = key->value,
            .ranged = key->type == T_INT || key->type == T_FLOAT || key->type == T_INT_ARRAY,
            .min = key->min, .max = key->max,
            .choices = key->type == T_CHOICE? key->choices: NULL,
            .experiment = key->experiment, .help = key->help
        };
    }
}

const fg_config_key_t *
fg_config_key (size_t i)
{
    if (i >= S_NKEYS)
        return NULL;
    pthread_once (&s_public_once, s_public_fill);
    return &s_public [i];
}
