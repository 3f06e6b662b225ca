/*  fedctl.h — shared pieces of the fedctl commands (cli/ only).           */

#ifndef FEDCTL_H_INCLUDED
#define FEDCTL_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>
#include <sysexits.h>
#include "fedgrid.h"
#include "fg_dataset.h"

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

//  Commands: argc/argv start at the command name. Return a sysexits code.
int fedctl_cmd_init (int argc, char **argv);
int fedctl_cmd_config (int argc, char **argv);
int fedctl_cmd_debug (int argc, char **argv);
int fedctl_cmd_train (int argc, char **argv);
int fedctl_cmd_start (int argc, char **argv);
int fedctl_cmd_resume (int argc, char **argv);
int fedctl_cmd_worker (int argc, char **argv);
int fedctl_cmd_keygen (int argc, char **argv);
int fedctl_cmd_status (int argc, char **argv);
int fedctl_cmd_export (int argc, char **argv);
int fedctl_cmd_journal (int argc, char **argv);

//  cli/fedctl_journal.c
int fedctl_journal_verify (const char *dir, FILE *out);
int fedctl_journal_dump (const char *dir, FILE *out);
int fedctl_cmd_eval (int argc, char **argv);

#endif
