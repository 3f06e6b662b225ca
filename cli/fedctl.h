/*  fedctl.h — shared pieces of the fedctl commands (cli/ only): the
    helpers of fedctl_common.c and each command's entry point.            */

#ifndef FEDCTL_H_INCLUDED
#define FEDCTL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>
#include <jansson.h>
#include "fedgrid.h"
#include "fg_dataset.h"
#include "fg_model.h"

#define FEDCTL_MAX_SETS 64

//  The --set overrides of one command line, in order.
typedef struct {
    const char *items [FEDCTL_MAX_SETS];
    int count;
} fedctl_sets_t;

//  Adds one --set value; returns EX_USAGE (with a message) when full.
int
    fedctl_sets_add (fedctl_sets_t *sets, const char *assignment);

//  Loads DIR/fedgrid.toml (or a file path), applies sets, validates.
//  Prints the error and returns a sysexits code, or 0.
int
    fedctl_load_config (const char *dir_or_file, const fedctl_sets_t *sets, fg_config_t *cfg);

//  BLIS threads for one of `sharers` users of the cores: grid.threads, or
//  cores / sharers (at least 1).
int
    fedctl_threads (const fg_config_t *cfg, int sharers);

//  Opens one split of the configured dataset (synthetic: its configured
//  size). Prints the error and returns a sysexits code, or 0.
int
    fedctl_open_split (const fg_config_t *cfg, fg_split_t split, fg_dataset_t **out);

//  Maps an FG_E* code to the sysexits code fedctl exits with.
int
    fedctl_exit_code (int fg_code);

//  Prints "fedctl: message" to stderr.
void
    fedctl_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

//  DIR/status.json, the coordinator's live state, parsed by jansson
//  (caller owns it: json_decref), or NULL when there is none or it is not
//  a JSON object.
json_t *
    fedctl_status_read (const char *dir);

//  The number called name in status (may be NULL), or fallback when it is
//  missing or not a number.
double
    fedctl_status_number (const json_t *status, const char *name, double fallback);

//  The string called name in status (may be NULL), or "" when it is
//  missing or not a string. Valid while status lives.
const char *
    fedctl_status_string (const json_t *status, const char *name);

//  Decodes the weights of round (FG_JOURNAL_LATEST: the newest retained)
//  from DIR's journal, opened read-only; *found (may be NULL) gets the
//  round. Caller owns *state. Returns 0, or the code of fg_journal_open_
//  readonly, fg_journal_get_weights (FG_ENOENT: no such round) or
//  fg_blob_decode, with err set.
int
    fedctl_journal_weights (const char *dir, uint32_t round, uint32_t *found,
                            fg_state_t **state, fg_error_t *err);

//  Writes weights as safetensors with the metadata a user needs to run
//  them (docs/blob.md, "safetensors metadata"): model, dataset, classes,
//  input_height/_width/_channels (from the kind, or from test — the
//  opened test split — when the kind alone does not say), mean and std
//  (comma-separated, per channel), layout "NCHW", experiment (the
//  configuration hash), round ("" for fedctl train) and weights_sha256
//  (weights_hash when the caller has it, else computed).
//  Returns 0 or an FG_E* code, err set.
int
    fedctl_save_safetensors (const char *path, const fg_state_t *weights,
                             const char *weights_hash, const fg_config_t *cfg,
                             const fg_dataset_t *test,
                             const char *round, fg_error_t *err);

//  Reads a weights file for the model of spec: safetensors when path ends
//  in ".safetensors" (checked against the model's tensors and shapes,
//  fg_safetensors_load), else a fedgrid blob (fg_blob_load). Caller owns
//  *state. Returns 0 or the code of fg_model_new or the loader, err set.
int
    fedctl_weights_load (const char *path, const fg_model_spec_t *spec, fg_state_t **state,
                         fg_error_t *err);

//  Commands (one file per family): argc/argv start at the command name.
//  Return a sysexits code.
int fedctl_cmd_init (int argc, char **argv);        //  fedctl_config.c
int fedctl_cmd_config (int argc, char **argv);      //  fedctl_config.c
int fedctl_cmd_start (int argc, char **argv);       //  fedctl_start.c
int fedctl_cmd_resume (int argc, char **argv);      //  fedctl_start.c
int fedctl_cmd_worker (int argc, char **argv);      //  fedctl_worker.c
int fedctl_cmd_keygen (int argc, char **argv);      //  fedctl_keygen.c
int fedctl_cmd_status (int argc, char **argv);      //  fedctl_status.c
int fedctl_cmd_export (int argc, char **argv);      //  fedctl_export.c
int fedctl_cmd_train (int argc, char **argv);       //  fedctl_train.c
int fedctl_cmd_eval (int argc, char **argv);        //  fedctl_train.c
int fedctl_cmd_journal (int argc, char **argv);     //  fedctl_journal.c
int fedctl_cmd_debug (int argc, char **argv);       //  fedctl_debug.c
int fedctl_cmd_report (int argc, char **argv);      //  fedctl_report.c

//  Writes the fedgrid.toml(5) page (roff) to out; `fedctl config man`.
//  Returns EX_OK or EX_IOERR.
int fedctl_config_man (FILE *out);                  //  fedctl_man.c

#endif
