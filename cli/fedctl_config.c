/*  fedctl init, fedctl config check — writing and checking fedgrid.toml. */

#include "fedctl.h"
#include "fg_file.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void
s_init_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl init DIR [--preset NAME] [--set section.key=value ...] [--force]\n"
        "\n"
        "Creates DIR (if needed) and writes DIR/fedgrid.toml: every key with its\n"
        "meaning, range and value, from the preset and the overrides. Refuses to\n"
        "replace an existing file unless --force. Presets:\n");
    const char *description;
    for (size_t i = 0; fg_config_preset_name (i, &description); i++)
        fprintf (out, "  %-24s %s\n", fg_config_preset_name (i, NULL), description);
}

int
fedctl_cmd_init (int argc, char **argv)
{
    static const struct option options [] = {
        { "preset", required_argument, NULL, 'p' },
        { "set",    required_argument, NULL, 's' },
        { "force",  no_argument,       NULL, 'f' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *preset = "fmnist-cnn-iid";
    fedctl_sets_t sets = { .count = 0 };
    bool force = false;
    int c;
    while ((c = getopt_long (argc, argv, "p:s:fh", options, NULL)) != -1) {
        switch (c) {
            case 'p': preset = optarg; break;
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'f': force = true; break;
            case 'h': s_init_usage (stdout); return EX_OK;
            default:  s_init_usage (stderr); return EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        fedctl_fail ("init takes exactly one DIR");
        s_init_usage (stderr);
        return EX_USAGE;
    }
    const char *dir = argv [optind];
    fg_config_t cfg;
    fg_error_t err;
    int rc = fg_config_preset (&cfg, preset, &err);
    for (int i = 0; rc == 0 && i < sets.count; i++)
        rc = fg_config_set (&cfg, sets.items [i], "--set", &err);
    if (rc == 0)
        rc = fg_config_validate (&cfg, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return rc == FG_ENOENT? EX_USAGE: fedctl_exit_code (rc);
    }
    char *text = fg_config_commented (&cfg, preset);
    if (!text) {
        fedctl_fail ("out of memory");
        return EX_OSERR;
    }
    //  What we write must read back as the same experiment.
    fg_config_t check;
    fg_config_defaults (&check);
    char want [FG_SHA256_HEX_SIZE], got [FG_SHA256_HEX_SIZE];
    fg_config_hash (&cfg, want);
    if (fg_config_parse (&check, text, strlen (text), "generated", &err) == 0)
        fg_config_hash (&check, got);
    else
        got [0] = '\0';
    if (strcmp (want, got)) {
        fedctl_fail ("internal error: generated file does not read back (%s)", err.msg);
        free (text);
        return EX_SOFTWARE;
    }
    char path [4200];
    snprintf (path, sizeof path, "%s/%s", dir, FG_CONFIG_FILE);
    rc = fg_file_mkdirs (dir, &err);
    if (rc == 0)
        rc = fg_file_write_atomic (path, text, strlen (text), 0644, !force, &err);
    free (text);
    if (rc) {
        fedctl_fail ("%s%s", err.msg, rc == FG_EEXIST? " (use --force to replace it)": "");
        return EX_CANTCREAT;
    }
    printf ("%s\n", path);
    fprintf (stderr, "fedctl: wrote %s (preset %s, experiment %.12s)\n", path, preset, want);
    return EX_OK;
}

static void
s_config_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl config check FILE|DIR [--set section.key=value ...]\n"
        "\n"
        "Reads the configuration (DIR means DIR/fedgrid.toml), applies the\n"
        "overrides and validates every key. Prints the canonical form and the\n"
        "experiment hash on stdout, or the error with file:line on stderr.\n");
}

int
fedctl_cmd_config (int argc, char **argv)
{
    static const struct option options [] = {
        { "set",  required_argument, NULL, 's' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    fedctl_sets_t sets = { .count = 0 };
    int c;
    while ((c = getopt_long (argc, argv, "s:h", options, NULL)) != -1) {
        switch (c) {
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'h': s_config_usage (stdout); return EX_OK;
            default:  s_config_usage (stderr); return EX_USAGE;
        }
    }
    //  hidden: the build writes fedgrid.toml(5) with it (cli/fedctl_man.c)
    if (optind == argc - 1 && strcmp (argv [optind], "man") == 0)
        return fedctl_config_man (stdout);
    if (optind != argc - 2 || strcmp (argv [optind], "check")) {
        fedctl_fail ("expected: config check FILE");
        s_config_usage (stderr);
        return EX_USAGE;
    }
    fg_config_t cfg;
    int rc = fedctl_load_config (argv [optind + 1], &sets, &cfg);
    if (rc)
        return rc;
    char *text = fg_config_canonical (&cfg, false);
    char hash [FG_SHA256_HEX_SIZE];
    fg_config_hash (&cfg, hash);
    if (!text) {
        fedctl_fail ("out of memory");
        return EX_OSERR;
    }
    printf ("%s\n# experiment hash: %s\n", text, hash);
    free (text);
    return EX_OK;
}
