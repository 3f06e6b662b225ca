/*  fuzz_journal.c — libFuzzer harness for the journal's record decoders
    (every record kind's value bytes; fg_journal_internal.h).

    Each input is decoded by every decoder twice: as given, and with its
    record CRC recomputed (so the fuzzer reaches the field checks behind
    the CRC). Oracles: a refusal always carries a message; a record that
    decodes encodes again to the very same bytes (the blob kinds: the
    record part, and the blob is exactly what follows it).                */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_journal_internal.h"

static uint8_t s_out [FG_JREC_OVERHEAD + 68 + FG_JREC_CONFIG_MAX];

static void
s_same (const uint8_t *data, size_t size, size_t n)
{
    assert (n == size);
    assert (memcmp (s_out, data, size) == 0);
}

static void
s_refused (int rc, const fg_error_t *err)
{
    assert (rc == FG_EFORMAT || rc == FG_ECHECKSUM || rc == FG_EVERSION);
    assert (err->code == rc && err->msg [0] != 0);
}

static void
s_decode_all (const uint8_t *data, size_t size)
{
    fg_error_t err;
    int rc;
    {
        fg_jrec_schema_t r;
        if ((rc = fg_jrec_decode_schema (data, size, &r, &err)) == 0)
            s_same (data, size, fg_jrec_encode_schema (s_out, sizeof s_out, r.version));
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_pruned_t r;
        if ((rc = fg_jrec_decode_pruned (data, size, &r, &err)) == 0)
            s_same (data, size, fg_jrec_encode_pruned (s_out, sizeof s_out, r.through));
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_config_t r;
        if ((rc = fg_jrec_decode_config (data, size, &r, &err)) == 0)
            s_same (data, size, fg_jrec_encode_config (s_out, sizeof s_out, r.hash, r.text, r.length));
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_experiment_t r;
        if ((rc = fg_jrec_decode_experiment (data, size, &r, &err)) == 0)
            s_same (data, size, fg_jrec_encode_experiment (s_out, sizeof s_out, r.id, r.created_ns,
                                                           r.label, r.label_length));
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_round_t r;
        if ((rc = fg_jrec_decode_round (data, size, &r, &err)) == 0) {
            fg_journal_round_t head = r.head;
            head.assignments = malloc ((head.nassignments + 1) * sizeof *head.assignments);
            head.included = malloc ((head.nincluded + 1) * sizeof *head.included);
            assert (head.assignments && head.included);
            memcpy (head.assignments, r.assignments, 12 * (size_t) head.nassignments);
            memcpy (head.included, r.included, 4 * (size_t) head.nincluded);
            s_same (data, size, fg_jrec_encode_round (s_out, sizeof s_out, &head));
            free (head.assignments);
            free (head.included);
        }
        else
            s_refused (rc, &err);
    }
    for (int check = 0; check < 2; check++) {
        fg_jrec_update_t r;
        if ((rc = fg_jrec_decode_update (data, size, check, &r, &err)) == 0) {
            assert (r.blob == data + FG_JREC_SIZE_UPDATE);
            assert (r.head.blob_size == size - FG_JREC_SIZE_UPDATE);
            s_same (data, FG_JREC_SIZE_UPDATE, fg_jrec_encode_update (s_out, sizeof s_out, &r.head));
            if (check)
                assert (fg_jrec_crc (r.blob, (size_t) r.head.blob_size) == r.head.blob_crc);
        }
        else
            s_refused (rc, &err);
    }
    for (int check = 0; check < 2; check++) {
        fg_jrec_weights_t r;
        if ((rc = fg_jrec_decode_weights (data, size, check, &r, &err)) == 0) {
            assert (r.blob == data + FG_JREC_SIZE_WEIGHTS);
            assert (r.blob_size == size - FG_JREC_SIZE_WEIGHTS);
            s_same (data, FG_JREC_SIZE_WEIGHTS, fg_jrec_encode_weights (s_out, sizeof s_out,
                                                    r.round, r.blob_size, r.blob_crc));
        }
        else
            s_refused (rc, &err);
    }
    for (int check = 0; check < 2; check++) {
        fg_jrec_optimizer_t r;
        if ((rc = fg_jrec_decode_optimizer (data, size, check, &r, &err)) == 0) {
            assert (r.blob == data + FG_JREC_SIZE_OPTIMIZER);
            assert (r.blob_size == size - FG_JREC_SIZE_OPTIMIZER);
            assert (r.what >= 1 && r.what <= FG_JREC_OPT_MAX);
            s_same (data, FG_JREC_SIZE_OPTIMIZER, fg_jrec_encode_optimizer (s_out, sizeof s_out,
                                                      r.round, r.what, r.blob_size, r.blob_crc));
            if (check)
                assert (fg_jrec_crc (r.blob, (size_t) r.blob_size) == r.blob_crc);
        }
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_metrics_t r;
        if ((rc = fg_jrec_decode_metrics (data, size, &r, &err)) == 0)
            s_same (data, size, fg_jrec_encode_metrics (s_out, sizeof s_out, r.round, &r.m));
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_loss_t r;
        if ((rc = fg_jrec_decode_loss (data, size, &r, &err)) == 0) {
            float *points = malloc (((size_t) r.count + 1) * sizeof (float));
            assert (points);
            memcpy (points, r.points, 4 * (size_t) r.count);     //  little-endian host
            s_same (data, size, fg_jrec_encode_loss (s_out, sizeof s_out, r.round, r.shard,
                                                     points, r.count));
            free (points);
        }
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_node_t r;
        static const uint8_t zeros [16];
        if ((rc = fg_jrec_decode_node (data, size, &r, &err)) == 0) {
            size_t n = fg_jrec_encode_node (s_out, sizeof s_out, &r.node);
            //  a record without the trust tail is written again with a
            //  zero one: the same body before it
            if (n == size + 16)
                assert (memcmp (s_out + 8, data + 8, size - 12) == 0
                     && memcmp (s_out + size - 4, zeros, 16) == 0);
            else
                s_same (data, size, n);
        }
        else
            s_refused (rc, &err);
    }
    {
        fg_jrec_event_t r;
        if ((rc = fg_jrec_decode_event (data, size, &r, &err)) == 0)
            s_same (data, size, fg_jrec_encode_event (s_out, sizeof s_out, r.seq, r.time_ns,
                                                      r.round, r.text, r.length));
        else
            s_refused (rc, &err);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_decode_all (data, size);
    //  Again with the record CRC made right, when the length allows one.
    if (size >= FG_JREC_OVERHEAD) {
        uint32_t n = (uint32_t) data [4] | (uint32_t) data [5] << 8
                   | (uint32_t) data [6] << 16 | (uint32_t) data [7] << 24;
        if (n <= size - FG_JREC_OVERHEAD) {
            uint8_t *copy = malloc (size);
            assert (copy);
            memcpy (copy, data, size);
            uint32_t crc = fg_jrec_crc (copy, 8 + (size_t) n);
            for (int i = 0; i < 4; i++)
                copy [8 + n + (uint32_t) i] = (uint8_t) (crc >> (8 * i));
            s_decode_all (copy, size);
            free (copy);
        }
    }
    return 0;
}
