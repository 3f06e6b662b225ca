/*  fedctl — start, watch and resume fedgrid experiments.
    Results go to stdout; logs, progress and errors to stderr. Exit codes
    follow sysexits.h (64 usage, 65 bad data, 66 missing input, 73 cannot
    create, 74 I/O error, 78 configuration error).                         */

#include "fedctl.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    { "journal", fedctl_cmd_journal, "journal verify|dump DIR: check or print an experiment's journal" },
    { "debug",  fedctl_cmd_debug,  "debug crashpoints: list the named crash points" },
};
#define S_NCOMMANDS (sizeof s_commands / sizeof s_commands [0])

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
    int rc = fg_dataset_open (cfg->data.dataset, path, split, limit, out, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return rc == FG_ENOENT? EX_NOINPUT: rc == FG_EUNSUPPORTED? EX_UNAVAILABLE: EX_DATAERR;
    }
    return 0;
}

int
fedctl_cmd_journal (int argc, char **argv)
{
    if (argc == 3 && strcmp (argv [1], "verify") == 0)
        return fedctl_journal_verify (argv [2], stdout);
    if (argc == 3 && strcmp (argv [1], "dump") == 0)
        return fedctl_journal_dump (argv [2], stdout);
    bool help = argc == 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0);
    fprintf (help? stdout: stderr,
        "usage: fedctl journal verify DIR   check every record, checksum and invariant\n"
        "       fedctl journal dump DIR     print every record readably\n"
        "Both open the journal read-only: safe beside a running coordinator.\n"
        "verify exits 0 when sound, 65 when damaged, 66 when there is no journal.\n");
    return help? EX_OK: EX_USAGE;
}

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
