/*  gen_journal_corpus.c — writes the seed corpus of fuzz_journal into a
    folder, one valid value of every record kind (and a few variants):
        gen_journal_corpus fuzz/corpus/journal
    Built by make check (so it keeps compiling), run by hand when a record
    layout changes; its outputs are committed.                            */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_file.h"
#include "fg_journal_internal.h"

static int s_failed;

static void
s_write (const char *dir, const char *name, const uint8_t *data, size_t size)
{
    char path [4096];
    fg_error_t err;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    if (size == 0 || fg_file_write_atomic (path, data, size, 0644, 0, &err)) {
        fprintf (stderr, "gen_journal_corpus: %s: %s\n", path, size? err.msg: "encoding failed");
        s_failed = 1;
        return;
    }
    printf ("%s: %zu bytes\n", path, size);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_journal_corpus DIR\n");
        return 64;
    }
    const char *dir = argv [1];
    static uint8_t buf [1 << 16];
    size_t n;

    s_write (dir, "schema", buf, fg_jrec_encode_schema (buf, sizeof buf, FG_JOURNAL_SCHEMA_VERSION));
    s_write (dir, "pruned", buf, fg_jrec_encode_pruned (buf, sizeof buf, 7));
    const char *hash = "5d41402abc4b2a76b9719d911017c592ae2f0e1c7e8f7b9c1d6c3a4b5e6f7a8b";
    const char *text = "[experiment]\nseed = 42\nrounds = 100\npolicy = \"exact\"\n";
    s_write (dir, "config", buf, fg_jrec_encode_config (buf, sizeof buf, hash, text, strlen (text)));
    uint8_t id [FG_JREC_ID_SIZE] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0 };
    s_write (dir, "experiment", buf, fg_jrec_encode_experiment (buf, sizeof buf, id,
                                     1795000000000000000ull, "fedgrid 0.1.0", 13));

    fg_journal_assignment_t a [4] = { { 0, 1, 1 }, { 1, 2, 1 }, { 2, 3, 1 }, { 1, 4, 2 } };
    uint32_t inc [3] = { 0, 1, 2 };
    fg_journal_round_t open = { .round = 7, .state = FG_ROUND_OPEN, .opened_ns = 1795000000000000000ull,
                                .nassignments = 4, .assignments = a };
    s_write (dir, "round-open", buf, fg_jrec_encode_round (buf, sizeof buf, &open));
    fg_journal_round_t done = open;
    done.state = FG_ROUND_COMMITTED;
    done.committed_ns = open.opened_ns + 60000000000ull;
    done.weights_size = 64;
    done.weights_crc = 0x1234abcd;
    done.nincluded = 3;
    done.included = inc;
    s_write (dir, "round-committed", buf, fg_jrec_encode_round (buf, sizeof buf, &done));

    uint8_t blob [64];
    for (int i = 0; i < 64; i++)
        blob [i] = (uint8_t) (i * 37 + 11);
    fg_journal_update_t u = { .round = 7, .shard = 1, .attempt = 2, .node = 4, .samples = 6000,
                              .received_ns = 1795000000000000000ull, .blob_size = 64,
                              .blob_crc = fg_jrec_crc (blob, 64) };
    n = fg_jrec_encode_update (buf, sizeof buf, &u);
    memcpy (buf + n, blob, 64);
    s_write (dir, "update", buf, n + 64);
    u.blob_size = 0;
    u.blob_crc = 0;
    s_write (dir, "update-empty", buf, fg_jrec_encode_update (buf, sizeof buf, &u));

    n = fg_jrec_encode_weights (buf, sizeof buf, 7, 64, fg_jrec_crc (blob, 64));
    memcpy (buf + n, blob, 64);
    s_write (dir, "weights", buf, n + 64);
    n = fg_jrec_encode_optimizer (buf, sizeof buf, 7, FG_JREC_OPT_MOMENTUM, 64,
                                  fg_jrec_crc (blob, 64));
    memcpy (buf + n, blob, 64);
    s_write (dir, "optimizer", buf, n + 64);

    fg_journal_metrics_t m = { 3, 18000, 0.6931, 0.7012, 0.8125, 61234 };
    s_write (dir, "metrics", buf, fg_jrec_encode_metrics (buf, sizeof buf, 7, &m));
    float curve [6] = { 2.302f, 1.41f, 0.98f, 0.77f, 0.71f, 0.69f };
    s_write (dir, "loss", buf, fg_jrec_encode_loss (buf, sizeof buf, 7, 1, curve, 6));
    fg_journal_node_t node = { .node = 4, .identity = "pc-lab-4", .speed = 812.5, .trust = 0.9,
                               .accepted = 31, .rejected = 1, .first_seen_ns = 1,
                               .last_seen_ns = 1795000000000000000ull };
    s_write (dir, "node", buf, fg_jrec_encode_node (buf, sizeof buf, &node));
    const char *ev = "round 7 committed: 3 updates";
    s_write (dir, "event", buf, fg_jrec_encode_event (buf, sizeof buf, 42, 1795000000000000000ull,
                                                      7, ev, strlen (ev)));
    return s_failed;
}
