/*  fg_config.h — the experiment configuration (DIR/fedgrid.toml).

    A TOML-compatible subset read with libinih: [sections], key = value,
    "basic" and 'literal' strings, integers, floats, booleans and arrays of
    integers, # comments. Every key is typed, range-checked and defaulted
    in ONE table (fg_config.c); unknown sections and keys are refused with
    file:line. The canonical text (every key, table order, canonical value
    spelling) and its SHA-256 identify an experiment; the hash covers only
    the keys that can change results ("experiment" keys), so deployment
    settings — trainer count, threads, addresses — may differ on resume.  */

#ifndef FG_CONFIG_H_INCLUDED
#define FG_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_sha256.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_CONFIG_FILE      "fedgrid.toml"
#define FG_CONFIG_STR_MAX   192         //  longest string value (bytes)
#define FG_CONFIG_ARRAY_MAX 16          //  longest integer array
#define FG_CONFIG_FILE_MAX  (1 << 20)   //  largest configuration file

//  Enumerations: values are indexes into the key's choices, in this order.
typedef enum { FG_POLICY_EXACT, FG_POLICY_DEADLINE } fg_policy_t;
typedef enum { FG_BACKUP_LATE, FG_BACKUP_ALWAYS, FG_BACKUP_NEVER } fg_backup_t;
typedef enum {
    FG_DATASET_FASHION_MNIST, FG_DATASET_MNIST, FG_DATASET_CIFAR10,
    FG_DATASET_CIFAR100, FG_DATASET_TINY_IMAGENET, FG_DATASET_TEXTURE,
    FG_DATASET_SYNTHETIC, FG_DATASET_FOLDER
} fg_dataset_kind_t;
typedef enum {
    FG_STRATEGY_STOCHASTIC, FG_STRATEGY_STATIC, FG_STRATEGY_DYNAMIC, FG_STRATEGY_HYBRID
} fg_strategy_t;
typedef enum { FG_DIST_IID, FG_DIST_SKEW, FG_DIST_DIRICHLET } fg_distribution_t;
typedef enum {
    FG_MODEL_CNN_SMALL, FG_MODEL_VGG16_BN, FG_MODEL_MOBILENETV3_SMALL, FG_MODEL_MOBILENETV3_LARGE
} fg_model_kind_t;
typedef enum { FG_SCHEDULE_CONSTANT, FG_SCHEDULE_STEP, FG_SCHEDULE_COSINE } fg_schedule_t;
typedef enum {
    FG_AGG_FEDAVG, FG_AGG_MEDIAN, FG_AGG_TRIMMED_MEAN
} fg_aggregation_rule_t;

typedef struct {
    struct {
        int64_t seed;               //  root of every random stream
        int64_t rounds;             //  global rounds to run
        int     policy;             //  fg_policy_t
        double  quorum;             //  deadline policy: share of shards needed
    } experiment;
    struct {
        int     dataset;            //  fg_dataset_kind_t
        char    path [FG_CONFIG_STR_MAX];   //  as written; see fg_config_data_path
        int64_t train_limit;        //  0: whole training set
        int64_t test_limit;
        int64_t image_size;         //  folder: side after resize + centre crop
        int     strategy;           //  fg_strategy_t
        int     distribution;       //  fg_distribution_t
        double  balance;            //  skew: share from dominant classes
        int64_t dominant_classes;   //  skew: how many classes dominate a shard
        double  alpha;              //  dirichlet concentration
        double  keep_fraction;      //  hybrid: share kept from last round
        bool    augment;            //  random crop + horizontal flip
        int64_t synthetic_train;    //  synthetic: training samples
        int64_t synthetic_test;     //  synthetic: test samples
        int64_t texture_fragment;   //  texture: fragment side (source pixels)
        int64_t texture_stride;     //  texture: step between fragment origins
        int64_t texture_rotations;  //  texture: 1, 2 or 4 rotations per place
        double  texture_test_share; //  texture: share of each class's images held out
        double  texture_contrast;   //  texture: k of the mean +/- k std stretch; 0: none
        int64_t texture_cache_mb;   //  texture: bound of the decoded-image cache
    } data;
    struct {
        int     name;               //  fg_model_kind_t
    } model;
    struct {
        int64_t epochs;             //  fedctl train (centralised) only
        int64_t local_epochs;
        int64_t batch_size;
        double  lr;
        double  momentum;
        bool    nesterov;
        double  weight_decay;
        int     schedule;           //  fg_schedule_t
        int64_t warmup_epochs;
        int64_t milestones [FG_CONFIG_ARRAY_MAX];   //  step schedule
        int64_t milestones_count;
        double  gamma;              //  step schedule factor
        int64_t test_batch_size;
    } training;
    struct {
        int     rule;               //  fg_aggregation_rule_t
        double  trim_fraction;      //  trimmed mean: share cut at each end
        double  clip_norm;          //  0: no clipping of update norms
        double  max_update_norm;    //  0: no bound; larger updates rejected
        double  max_update_ratio;   //  0: off; else |delta| <= ratio * |global| rejected above
        double  ratio_floor_rms;    //  |global| counted as at least this * sqrt (PARAMs)
        double  server_lr;
        double  server_momentum;    //  FedAvgM; 0: plain FedAvg
    } aggregation;
    struct {
        int64_t nodes;              //  C: shards per round
        int64_t local_trainers;     //  trainers fedctl start runs in-process
        int64_t threads;            //  BLIS threads per trainer; 0: auto
        char    listen [FG_CONFIG_STR_MAX];
        bool    curve;              //  CURVE on a tcp listen endpoint
        char    allow_keys [FG_CONFIG_STR_MAX]; //  folder of allowed worker keys
        char    allow_ip [FG_CONFIG_STR_MAX];   //  allowed worker addresses
        int64_t heartbeat_ms;
        int64_t liveness;           //  missed beats before a peer is dead
        double  deadline_factor;    //  unit deadline = factor x expected time
        int64_t deadline_floor_s;   //  ... but never less than this
        int64_t max_frame;          //  bytes; ZMQ_MAXMSGSIZE on every socket
        int64_t chunk_size;         //  bytes per weights/data chunk
        int64_t replication;        //  R: distinct nodes per unit (1..3)
        double  spot_check;         //  R = 1: share of trusted nodes' units checked
        int64_t max_strikes;        //  more strikes: quarantined
        int     backup;             //  fg_backup_t: when an idle node gets a second copy
        double  backup_after;       //  late: held longer than this x expected time
    } grid;
    struct {
        int64_t keep_last;          //  weight checkpoints: the last K ...
        int64_t keep_every;         //  ... and every N-th round
        int64_t keep_updates;       //  update blobs of the last U committed rounds
    } journal;

    //  Not keys: where the configuration came from.
    char base_dir [4096];           //  folder of the file; "" = cwd
} fg_config_t;

//  Fills cfg with every key's default (the fmnist-cnn-iid preset).
void
    fg_config_defaults (fg_config_t *cfg);

//  Parses TOML text over the current values of cfg. name is used in
//  messages ("exp/fedgrid.toml:12: ..."). On error cfg may be partly
//  updated: callers discard it. Returns 0, FG_EFORMAT (syntax, unknown
//  section or key, duplicate key, wrong type) or FG_ERANGE.
int
    fg_config_parse (fg_config_t *cfg, const char *text, size_t size,
                     const char *name, fg_error_t *err);

//  fg_config_defaults + fg_config_parse of the file at path, then
//  fg_config_validate. Sets cfg->base_dir to the file's folder.
//  Returns 0, FG_ENOENT, FG_EIO, FG_EFORMAT or FG_ERANGE.
int
    fg_config_load (fg_config_t *cfg, const char *path, fg_error_t *err);

//  Applies one override "section.key=value" (as fedctl --set). A value for
//  a string or choice key may be given without quotes. origin names the
//  source in messages (e.g. "--set"). Returns 0, FG_EFORMAT or FG_ERANGE.
int
    fg_config_set (fg_config_t *cfg, const char *assignment, const char *origin,
                   fg_error_t *err);

//  Checks rules that span keys (e.g. trimmed mean needs 2*trim < 1).
//  Returns 0 or FG_EINVAL.
int
    fg_config_validate (const fg_config_t *cfg, fg_error_t *err);

//  Canonical text: every key in table order, one canonical spelling per
//  value; experiment_only keeps only the keys the hash covers.
//  Caller owns the result (free ()); NULL when out of memory.
char *
    fg_config_canonical (const fg_config_t *cfg, bool experiment_only);

//  SHA-256 (hex) of fg_config_canonical (cfg, true): the experiment's
//  identity, stored in the journal.
void
    fg_config_hash (const fg_config_t *cfg, char hex [FG_SHA256_HEX_SIZE]);

//  A commented file for `fedctl init`: every key with its meaning, range
//  and value. preset may be NULL. Caller owns the result.
char *
    fg_config_commented (const fg_config_t *cfg, const char *preset);

//  The dataset path with a relative path taken from cfg->base_dir.
//  Returns 0 or FG_ERANGE when it does not fit in size bytes.
int
    fg_config_data_path (const fg_config_t *cfg, char *out, size_t size);

//  Name of the choice value of an enumerated key ("data.strategy"), or
//  NULL for an unknown key or value.
const char *
    fg_config_choice_name (const char *dotted_key, int value);

//  One key of the configuration table, for documentation (the generated
//  fedgrid.toml(5) page, `fedctl config man`). Strings are static.
typedef struct {
    const char *section;            //  "data"
    const char *name;               //  "train_limit"
    const char *type;               //  "integer", "float", "boolean", "string",
                                    //  "choice" or "integer array"
    const char *value;              //  default, as TOML text
    bool        ranged;             //  min and max apply (numbers, array elements)
    double      min, max;
    const char *choices;            //  choice: "a|b|c"; otherwise NULL
    bool        experiment;         //  covered by the experiment hash
    const char *help;               //  one-line meaning
} fg_config_key_t;

//  Key i of the table (table order: sections in file order), or NULL past
//  the last one. The pointer is to static storage owned by the library.
const fg_config_key_t *
    fg_config_key (size_t i);

//  Presets (`fedctl init --preset NAME`): defaults, then the preset's own
//  settings. Returns 0 or FG_ENOENT for an unknown name (the message lists
//  the known ones).
int
    fg_config_preset (fg_config_t *cfg, const char *preset, fg_error_t *err);

//  Name and one-line description of preset i, or NULL past the last one.
const char *
    fg_config_preset_name (size_t i, const char **description);

#ifdef __cplusplus
}
#endif

#endif
