/*  fedctl debug — tools for developers and test drivers.                 */

#include "fedctl.h"
#include "fg_crash.h"
#include "fg_partition.h"

#include <stdlib.h>
#include <string.h>

//  debug shards DIR ROUND [--set k=v ...]: the shards of round ROUND as the
//  partitioner actor computes them for the experiment in DIR (hybrid:
//  rebuilt from round 0), one line per shard, "S N i0 i1 ... i(N-1)",
//  indices ascending. For reference implementations to check their
//  partition against (bench/torch_fedavg.py, tests/test_torch_fedavg.sh).
static int
s_shards (int argc, char **argv)
{
    fedctl_sets_t sets = { .count = 0 };
    const char *dir = NULL, *round_text = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp (argv [i], "--set") == 0 && i + 1 < argc) {
            if (fedctl_sets_add (&sets, argv [++i]))
                return EX_USAGE;
        }
        else
        if (!dir)
            dir = argv [i];
        else
        if (!round_text)
            round_text = argv [i];
        else
            dir = NULL, i = argc;               //  one argument too many
    }
    char *end = NULL;
    unsigned long round = round_text? strtoul (round_text, &end, 10): 0;
    if (!dir || !round_text || !*round_text || *end || round >= UINT32_MAX) {
        fedctl_fail ("usage: fedctl debug shards DIR ROUND [--set section.key=value ...]");
        return EX_USAGE;
    }
    fg_config_t cfg;
    int status = fedctl_load_config (dir, &sets, &cfg);
    fg_dataset_t *train = NULL;
    if (status == 0)
        status = fedctl_open_split (&cfg, FG_SPLIT_TRAIN, &train);
    if (status)
        return status;
    fg_error_t err;
    fg_partition_params_t params;
    fg_partition_t *partition = NULL;
    fg_shards_t *shards = NULL;
    int rc = fg_partition_params_from_config (&params, &cfg, &err);
    if (rc == 0) {
        partition = fg_partition_new (fg_dataset_labels (train), fg_dataset_count (train),
                                      fg_dataset_classes (train), &params, &err);
        rc = partition? 0: (err.code? err.code: FG_ENOMEM);
    }
    if (rc == 0)
        rc = fg_partition_round (partition, (uint32_t) round, NULL, &shards, &err);
    for (uint32_t s = 0; rc == 0 && s < shards->nshards; s++) {
        size_t begin = shards->offset [s], count = shards->offset [s + 1] - begin;
        printf ("%u %zu", s, count);
        for (size_t i = 0; i < count; i++)
            printf (" %u", shards->index [begin + i]);
        printf ("\n");
    }
    if (rc)
        fedctl_fail ("%s", err.msg);
    fg_shards_destroy (&shards);
    fg_partition_destroy (&partition);
    fg_dataset_destroy (&train);
    return rc? fedctl_exit_code (rc): EX_OK;
}

int
fedctl_cmd_debug (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv [1], "crashpoints") == 0) {
        const char *description;
        for (size_t i = 0; fg_crash_point_name (i, &description); i++)
            printf ("%-28s %s\n", fg_crash_point_name (i, NULL), description);
        return EX_OK;
    }
    if (argc >= 2 && strcmp (argv [1], "shards") == 0)
        return s_shards (argc, argv);
    FILE *out = argc == 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0)
              ? stdout: stderr;
    fprintf (out,
        "usage: fedctl debug crashpoints\n"
        "       fedctl debug shards DIR ROUND [--set section.key=value ...]\n"
        "\n"
        "crashpoints lists the named crash points. FEDGRID_CRASH=point:n makes a\n"
        "process kill itself with SIGKILL on the n-th pass of that point\n"
        "(crash-injection tests).\n"
        "shards prints the shards of round ROUND (rounds count from 1; hybrid is\n"
        "rebuilt from round 0), one line per shard: shard, size, sample indices.\n");
    return out == stdout? EX_OK: EX_USAGE;
}
