/*  fg_journal_dump.c — the journal printed readably (fg_journal_dump):
    every database with its record count, then one line per record (blobs
    as size and CRC; a damaged record as "DAMAGED: why"). One printer per
    record kind, chosen by the kind byte of the value.                    */

#include "fg_journal_internal.h"
#include "fg_le.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

static void
s_time (uint64_t ns, char *out, size_t cap)
{
    if (ns == 0) {
        snprintf (out, cap, "-");
        return;
    }
    time_t secs = (time_t) (ns / 1000000000u);
    struct tm tm;
    if (!gmtime_r (&secs, &tm) || !strftime (out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf (out, cap, "%" PRIu64 "ns", ns);
}

//  Prints text with non-printable bytes escaped.
static void
s_print_text (FILE *out, const char *text, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        unsigned char ch = (unsigned char) text [i];
        if (ch == '\\' || ch == '"')
            fprintf (out, "\\%c", ch);
        else
        if (ch >= 0x20 && ch < 0x7f)
            fputc (ch, out);
        else
            fprintf (out, "\\x%02x", ch);
    }
}

//  ---- one printer per record kind ----------------------------------------------

typedef void (s_print_fn) (FILE *out, const fg_jrec_any_t *r);

static void
s_print_schema (FILE *out, const fg_jrec_any_t *r)
{
    fprintf (out, "version %u\n", r->schema.version);
}

static void
s_print_pruned (FILE *out, const fg_jrec_any_t *r)
{
    fprintf (out, "updates of rounds 1..%u pruned\n", r->pruned.through);
}

static void
s_print_config (FILE *out, const fg_jrec_any_t *r)
{
    const fg_jrec_config_t *c = &r->config;
    fprintf (out, "hash %s, %u bytes of canonical text:\n", c->hash, c->length);
    const char *p = c->text, *end = c->text + c->length;
    while (p < end) {
        const char *nl = memchr (p, '\n', (size_t) (end - p));
        size_t n = nl? (size_t) (nl - p): (size_t) (end - p);
        fprintf (out, "      | ");
        s_print_text (out, p, n);
        fputc ('\n', out);
        p += n + (nl? 1: 0);
    }
}

static void
s_print_experiment (FILE *out, const fg_jrec_any_t *r)
{
    const fg_jrec_experiment_t *x = &r->experiment;
    char t1 [32];
    s_time (x->created_ns, t1, sizeof t1);
    fprintf (out, "id ");
    for (int i = 0; i < FG_JREC_ID_SIZE; i++)
        fprintf (out, "%02x", x->id [i]);
    fprintf (out, ", created %s by \"", t1);
    s_print_text (out, x->label, x->label_length);
    fprintf (out, "\"\n");
}

static void
s_print_round (FILE *out, const fg_jrec_any_t *any)
{
    const fg_jrec_round_t *r = &any->round;
    char t1 [32], t2 [32];
    s_time (r->head.opened_ns, t1, sizeof t1);
    s_time (r->head.committed_ns, t2, sizeof t2);
    if (r->head.state == FG_ROUND_OPEN)
        fprintf (out, "open, since %s\n", t1);
    else
        fprintf (out, "committed %s (opened %s), weights %" PRIu64 " bytes CRC %08x\n",
                 t2, t1, r->head.weights_size, r->head.weights_crc);
    fprintf (out, "             included (%u):", r->head.nincluded);
    for (uint32_t i = 0; i < r->head.nincluded; i++)
        fprintf (out, " %u", fg_le_get32 (r->included + 4 * (size_t) i));
    fprintf (out, "\n             assignments (%u, shard:node#attempt):", r->head.nassignments);
    for (uint32_t i = 0; i < r->head.nassignments; i++) {
        const uint8_t *p = r->assignments + 12 * (size_t) i;
        fprintf (out, " %u:%u#%u", fg_le_get32 (p), fg_le_get32 (p + 4), fg_le_get32 (p + 8));
    }
    fputc ('\n', out);
}

static void
s_print_update (FILE *out, const fg_jrec_any_t *r)
{
    const fg_journal_update_t *u = &r->update.head;
    char t1 [32];
    s_time (u->received_ns, t1, sizeof t1);
    fprintf (out, "node %u attempt %u, %" PRIu64 " samples, blob %" PRIu64 " bytes CRC "
             "%08x, received %s\n", u->node, u->attempt, u->samples, u->blob_size, u->blob_crc,
             t1);
}

static void
s_print_weights (FILE *out, const fg_jrec_any_t *r)
{
    fprintf (out, "blob %" PRIu64 " bytes CRC %08x\n", r->weights.blob_size, r->weights.blob_crc);
}

static void
s_print_optimizer (FILE *out, const fg_jrec_any_t *r)
{
    const fg_jrec_optimizer_t *o = &r->optimizer;
    fprintf (out, "%s, blob %" PRIu64 " bytes CRC %08x\n",
             o->what == FG_JREC_OPT_MOMENTUM? "momentum buffer": "?", o->blob_size, o->blob_crc);
}

static void
s_print_metrics (FILE *out, const fg_jrec_any_t *r)
{
    const fg_journal_metrics_t *m = &r->metrics.m;
    fprintf (out, "%u updates, %" PRIu64 " samples, train loss %.6g, test loss %.6g, "
             "test accuracy %.4f, %" PRIu64 " ms\n", m->updates, m->samples,
             m->train_loss, m->test_loss, m->test_accuracy, m->duration_ms);
}

static void
s_print_loss (FILE *out, const fg_jrec_any_t *r)
{
    const fg_jrec_loss_t *l = &r->loss;
    fprintf (out, "loss curve, %u points:", l->count);
    for (uint32_t i = 0; i < l->count; i++) {
        if (l->count > 12 && i == 6) {
            fprintf (out, " ...");
            i = l->count - 6;
        }
        uint32_t bits = fg_le_get32 (l->points + 4 * (size_t) i);
        float f;
        memcpy (&f, &bits, 4);
        fprintf (out, " %.5g", (double) f);
    }
    fputc ('\n', out);
}

static void
s_print_node (FILE *out, const fg_jrec_any_t *r)
{
    const fg_journal_node_t *n = &r->node.node;
    char t1 [32], t2 [32];
    s_time (n->first_seen_ns, t1, sizeof t1);
    s_time (n->last_seen_ns, t2, sizeof t2);
    fprintf (out, "\"");
    s_print_text (out, n->identity, strlen (n->identity));
    fprintf (out, "\", %.6g samples/s, trust %.3f, accepted %" PRIu64 ", rejected %"
             PRIu64 ", first seen %s, last seen %s, agreed %" PRIu64 ", strikes %u%s\n",
             n->speed, n->trust, n->accepted, n->rejected, t1, t2, n->agreed, n->strikes,
             n->quarantined? ", QUARANTINED": "");
}

static void
s_print_event (FILE *out, const fg_jrec_any_t *r)
{
    const fg_jrec_event_t *ev = &r->event;
    char t1 [32];
    s_time (ev->time_ns, t1, sizeof t1);
    fprintf (out, "%s ", t1);
    if (ev->round)
        fprintf (out, "[round %u] ", ev->round);
    s_print_text (out, ev->text, ev->length);
    fputc ('\n', out);
}

static s_print_fn *const s_printers [FG_JREC_KIND_MAX + 1] = {
    [FG_JREC_SCHEMA]     = s_print_schema,
    [FG_JREC_CONFIG]     = s_print_config,
    [FG_JREC_EXPERIMENT] = s_print_experiment,
    [FG_JREC_ROUND]      = s_print_round,
    [FG_JREC_UPDATE]     = s_print_update,
    [FG_JREC_WEIGHTS]    = s_print_weights,
    [FG_JREC_OPTIMIZER]  = s_print_optimizer,
    [FG_JREC_METRICS]    = s_print_metrics,
    [FG_JREC_LOSS]       = s_print_loss,
    [FG_JREC_NODE]       = s_print_node,
    [FG_JREC_EVENT]      = s_print_event,
    [FG_JREC_PRUNED]     = s_print_pruned,
};

//  ---- the walk -------------------------------------------------------------------

typedef struct {
    FILE *out;
    int   db;
} s_dump_t;

static void
s_dump_record (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) self; (void) txn;
    s_dump_t *d = (s_dump_t *) ctx;
    char key [64];
    fg_jdb_key_name (d->db, k->mv_data, k->mv_size, key, sizeof key);
    const char *name = strchr (key, '/')? strchr (key, '/') + 1: key;
    fprintf (d->out, "  %-10s ", name);
    int kind = fg_jrec_kind (v->mv_data, v->mv_size);
    fg_error_t e = { 0, "" };
    fg_jrec_any_t r;
    if (kind < 1 || kind > FG_JREC_KIND_MAX || !s_printers [kind])
        fprintf (d->out, "DAMAGED: unknown record kind %d\n", kind);
    else
    if (fg_jrec_decode_kind (kind, true, v->mv_data, v->mv_size, &r, &e))
        fprintf (d->out, "DAMAGED: %s\n", e.msg);
    else
        s_printers [kind] (d->out, &r);
}

int
fg_journal_dump (fg_journal_t *self, FILE *out, fg_error_t *err)
{
    assert (self && out);
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_env *env = fg_lmdb_env (self->lmdb);
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info (env, &info);
    mdb_env_stat (env, &st);
    fprintf (out, "journal %s (schema %d, map %zu bytes, %zu pages used of %u bytes)\n",
             self->path, FG_JOURNAL_SCHEMA_VERSION, info.me_mapsize,
             (size_t) info.me_last_pgno + 1, st.ms_psize);
    for (int db = 0; db < FG_JDB_COUNT && rc == 0; db++) {
        MDB_stat dst;
        if (!fg_jdb_have (self, db))
            fprintf (out, "%s (0 records: written before this database existed)\n",
                     fg_jdb_names [db]);
        else
        if (mdb_stat (txn, self->db [db], &dst) == 0)
            fprintf (out, "%s (%zu records)\n", fg_jdb_names [db], (size_t) dst.ms_entries);
        s_dump_t d = { out, db };
        rc = fg_jdb_walk (self, txn, db, s_dump_record, &d, err);
    }
    mdb_txn_abort (txn);
    if (rc == 0 && ferror (out))
        rc = fg_error_set (err, FG_EIO, "journal dump: write error");
    return rc;
}
