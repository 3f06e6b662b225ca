/*  bench_journal.c — time to commit a round with a large weights blob
    (default LMDB durability: full sync at every commit).

        bench/bench_journal [DIR [MB [RUNS [momentum]]]]

    Creates a journal in a fresh folder under DIR (default /tmp), then per
    run: opens round r, stores one small update, commits round r with a
    MB-megabyte blob (retention K=2, so old checkpoints are deleted in the
    same transaction as in a long experiment), and prints each commit's
    wall time and the median. With "momentum", the configuration has
    server momentum and each commit also stores an MB-megabyte momentum
    buffer in the same transaction. Not part of make check's tests.      */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>

#include "fg_clock.h"
#include "fg_journal.h"

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

static int
s_rm (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

int
main (int argc, char **argv)
{
    const char *base = argc > 1? argv [1]: "/tmp";
    size_t mb = argc > 2? (size_t) atol (argv [2]): 60;
    int runs = argc > 3? atoi (argv [3]): 7;
    bool momentum = argc > 4 && strcmp (argv [4], "momentum") == 0;
    if (mb == 0 || runs < 1 || runs > 100 || (argc > 4 && !momentum)) {
        fprintf (stderr, "usage: bench_journal [DIR [MB [RUNS [momentum]]]]\n");
        return 64;
    }
    char dir [4096];
    snprintf (dir, sizeof dir, "%s/fg_bench_journal_XXXXXX", base);
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        return 73;
    }
    size_t size = mb << 20;
    unsigned char *blob = malloc (size);
    if (!blob)
        return 71;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        blob [i] = (unsigned char) x;
    }
    const char *hash = "0000000000000000000000000000000000000000000000000000000000000000";
    fg_journal_t *j;
    fg_error_t err;
    const char *config = momentum? "[aggregation]\nserver_momentum = 0.9\n": "[experiment]\n";
    if (fg_journal_open (dir, config, hash, true, &j, &err)
    ||  fg_journal_set_retention (j, 2, 0, &err)) {
        fprintf (stderr, "bench_journal: %s\n", err.msg);
        return 70;
    }
    double *t = calloc ((size_t) runs, sizeof *t);
    for (int r = 1; r <= runs; r++) {
        fg_journal_assignment_t a = { 0, 1, 1 };
        fg_journal_update_t u = { .round = (uint32_t) r, .shard = 0, .attempt = 1, .node = 1,
                                  .samples = 100 };
        float loss [2] = { 1.0f, 0.5f };
        blob [0] = (unsigned char) r;       //  each round's weights differ
        fg_journal_metrics_t m = { 1, 100, 0.5, 0.5, 0.5, 0 };
        uint32_t inc = 0;
        if (fg_journal_round_open (j, (uint32_t) r, &a, 1, &err)
        ||  fg_journal_put_update (j, &u, loss, 2, blob, 4096, NULL, &err)) {
            fprintf (stderr, "bench_journal: %s\n", err.msg);
            return 70;
        }
        double t0 = fg_clock_mono_s ();
        //  the buffer: the same bytes from offset 1 (as large, not equal)
        if (fg_journal_commit_round_with_optimizer (j, (uint32_t) r, blob, size,
                                                    momentum? blob + 1: NULL, size - 1,
                                                    &m, &inc, 1, &a, 1, &err)) {
            fprintf (stderr, "bench_journal: %s\n", err.msg);
            return 70;
        }
        t [r - 1] = fg_clock_mono_s () - t0;
        printf ("commit round %d: %zu MB in %.3f s\n", r, mb, t [r - 1]);
    }
    fg_journal_close (&j);
    qsort (t, (size_t) runs, sizeof *t, s_cmp);
    printf ("median commit of a %zu MB round%s over %d runs: %.3f s (min %.3f, max %.3f)\n",
            mb, momentum? " with its momentum buffer": "", runs, t [runs / 2], t [0],
            t [runs - 1]);
    free (t);
    free (blob);
    nftw (dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
