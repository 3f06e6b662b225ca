/*  fedctl.h — shared pieces of the fedctl commands (cli/ only).           */

#ifndef FEDCTL_H_INCLUDED
#define FEDCTL_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>
#include <sysexits.h>
#include "fedgrid.h"

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

#endif
