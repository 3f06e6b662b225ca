/*  fedctl — start, watch and resume fedgrid experiments.
    Results go to stdout; logs, progress and errors to stderr. Exit codes
    follow sysexits.h (64 usage, 65 bad data, 66 missing input, 73 cannot
    create, 74 I/O error, 78 configuration error).

    This file holds main and the command table only. Each command family
    has its own file (fedctl_<family>.c); what several of them need is in
    fedctl_common.c. Command files call fedctl_common.c, never each other. */

#include "fedctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *summary;
} s_command_t;

static const s_command_t s_commands [] = {
    { "init",   fedctl_cmd_init,   "write DIR/fedgrid.toml from a preset and --set overrides" },
    { "config", fedctl_cmd_config, "config check FILE: print the canonical configuration and its hash" },
    { "start",  fedctl_cmd_start,  "start a federated experiment: coordinator + local trainers" },
    { "resume", fedctl_cmd_resume, "continue an experiment exactly after any stop or crash" },
    { "worker", fedctl_cmd_worker, "serve a coordinator as a remote trainer" },
    { "keygen", fedctl_cmd_keygen, "make a CURVE key pair: DIR/coordinator.key (or --name NAME)" },
    { "status", fedctl_cmd_status, "round, accuracy, nodes, ETA and weights hash of an experiment" },
    { "export", fedctl_cmd_export, "write committed weights as a blob or safetensors" },
    { "train",  fedctl_cmd_train,  "centralised baseline: train the model on the whole training set" },
    { "eval",   fedctl_cmd_eval,   "evaluate a weights file on the experiment's test set" },
    { "report", fedctl_cmd_report, "draw experiments into one HTML page (and SVG charts)" },
    { "journal", fedctl_cmd_journal, "journal verify|dump DIR: check or print an experiment's journal" },
    { "debug",  fedctl_cmd_debug,  "debug crashpoints|shards: crash points; a round's shards" },
};
#define S_NCOMMANDS (sizeof s_commands / sizeof s_commands [0])

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl [--version] [--help] COMMAND [ARGS]\n"
        "\n"
        "fedgrid trains deep CNNs by federated learning on a grid of ordinary PCs.\n"
        "\n"
        "commands:\n");
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        fprintf (out, "  %-8s %s\n", s_commands [i].name, s_commands [i].summary);
    fprintf (out,
        "\n"
        "Every command that takes an experiment accepts --set section.key=value\n"
        "(repeatable). `fedctl COMMAND --help` describes a command.\n"
        "environment: FEDGRID_LOG=error|warn|info|debug|trace, NO_COLOR\n");
}

int
main (int argc, char **argv)
{
    static const struct option options [] = {
        { "help",    no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    //  BLIS's OpenMP threads spin while waiting by default, which stalls
    //  everything when trainers share the cores; waiting passively changes
    //  no result (a deployment setting; the user's own value wins)
    setenv ("OMP_WAIT_POLICY", "PASSIVE", 0);
    //  options before the command only: "+" stops at the first non-option
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "+hV", options, NULL)) != -1) {
        switch (c) {
            case 'h':
                s_usage (stdout);
                return EX_OK;
            case 'V':
                printf ("fedctl (fedgrid) %s\n", fg_version ());
                return EX_OK;
            default:
                fedctl_fail ("unknown option '%s'", argv [optind - 1]);
                s_usage (stderr);
                return EX_USAGE;
        }
    }
    if (optind >= argc) {
        s_usage (stderr);
        return EX_USAGE;
    }
    int first = optind;
    const char *name = argv [first];
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        if (strcmp (s_commands [i].name, name) == 0) {
            optind = 0;                 //  glibc: 0 re-initialises getopt
            return s_commands [i].run (argc - first, argv + first);
        }
    fedctl_fail ("unknown command '%s' (see fedctl --help)", name);
    return EX_USAGE;
}
