/*  fg_journal_verify.c — the journal's invariants (fg_journal_check,
    fg_journal_verify, and the check fg_journal_open runs before a resume):
    every record decoded, its key agreeing with its content, every blob's
    CRC (or those a resume needs), and the invariants between databases
    that docs/journal.md lists. One walker per database fills s_check_t;
    the invariants that need every database are checked at the end.      */

#include "fg_journal_internal.h"
#include "fg_blob.h"
#include "fg_config.h"
#include "fg_le.h"
#include "fg_state.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void
s_problem (fg_jdb_report_t *rep, const char *key, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
static void
s_problem (fg_jdb_report_t *rep, const char *key, int code, const char *fmt, ...)
{
    char msg [FG_ERROR_MSG_MAX];
    va_list args;
    va_start (args, fmt);
    vsnprintf (msg, sizeof msg, fmt, args);
    va_end (args);
    if (rep->count == 0) {
        rep->first = code;
        snprintf (rep->first_key, sizeof rep->first_key, "%s", key);
        snprintf (rep->first_msg, sizeof rep->first_msg, "%s", msg);
    }
    rep->count++;
    if (rep->fn && rep->count <= FG_JDB_REPORT_MAX)
        rep->fn (key, code, msg, rep->arg);
}

typedef struct {
    uint32_t round;
    uint32_t state;
    uint64_t weights_size;
    uint32_t weights_crc;
    bool     has_metrics;
    bool     has_weights;
    bool     has_optimizer;
} s_round_info_t;

static s_round_info_t *
s_find_round (s_round_info_t *rounds, size_t n, uint32_t round)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rounds [mid].round == round)
            return &rounds [mid];
        if (rounds [mid].round < round)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

typedef struct {
    fg_jdb_report_t     *rep;
    fg_jdb_blobs_t       blobs;
    s_round_info_t *rounds;
    size_t          nrounds;
    size_t          cap;
    bool            alloc_failed;
    uint32_t        last_committed;     //  0: none
    uint32_t        open_round;         //  0: none
    uint64_t        last_seq;
    bool            meta_seen [3];
    bool            config_read;        //  beta is the configuration's
    double          beta;               //  aggregation.server_momentum
    uint32_t        pruned;             //  meta/pruned: updates of 1..pruned deleted
} s_check_t;

//  aggregation.server_momentum of a stored canonical configuration text.
//  Returns 0, FG_EFORMAT, FG_ERANGE or FG_ENOMEM.
static int
s_config_momentum (const char *text, size_t length, double *beta, fg_error_t *err)
{
    fg_config_t *cfg = malloc (sizeof *cfg);
    if (!cfg)
        return fg_error_set (err, FG_ENOMEM, "journal: out of memory");
    fg_config_defaults (cfg);
    int rc = fg_config_parse (cfg, text, length, "meta/config", err);
    *beta = rc? 0: cfg->aggregation.server_momentum;
    free (cfg);
    return rc;
}

//  A key that must be one big-endian u32 (a round, a node number): its
//  name in key, its value in *value (unless NULL); false after reporting a
//  key of another size.
static bool
s_key_u32 (s_check_t *c, int db, const MDB_val *k, char *key, size_t size, uint32_t *value)
{
    fg_jdb_key_name (db, k->mv_data, k->mv_size, key, size);
    if (k->mv_size != 4) {
        s_problem (c->rep, key, FG_EFORMAT, "key is %zu bytes, not 4", k->mv_size);
        return false;
    }
    if (value)
        *value = fg_jdb_get_be32 (k->mv_data);
    return true;
}

static void
s_check_meta (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) txn;
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    fg_jdb_key_name (FG_JDB_META, k->mv_data, k->mv_size, key, sizeof key);
    fg_error_t e = { 0, "" };
    if (k->mv_size == 6 && memcmp (k->mv_data, "schema", 6) == 0) {
        c->meta_seen [0] = true;
        fg_jrec_schema_t s;
        if (fg_jrec_decode_schema (v->mv_data, v->mv_size, &s, &e))
            s_problem (c->rep, key, e.code, "%s", e.msg);
        else
        if (s.version != FG_JOURNAL_SCHEMA_VERSION)
            s_problem (c->rep, key, FG_EVERSION, "schema version %u, this fedgrid reads %d",
                       s.version, FG_JOURNAL_SCHEMA_VERSION);
    }
    else
    if (k->mv_size == 6 && memcmp (k->mv_data, "config", 6) == 0) {
        c->meta_seen [1] = true;
        fg_jrec_config_t cfg;
        if (fg_jrec_decode_config (v->mv_data, v->mv_size, &cfg, &e))
            s_problem (c->rep, key, e.code, "%s", e.msg);
        else
        if (s_config_momentum (cfg.text, cfg.length, &c->beta, &e))
            s_problem (c->rep, key, FG_EFORMAT, "canonical configuration text does not "
                       "parse (%s)", e.msg);
        else
            c->config_read = true;
    }
    else
    if (k->mv_size == 10 && memcmp (k->mv_data, "experiment", 10) == 0) {
        c->meta_seen [2] = true;
        fg_jrec_experiment_t x;
        if (fg_jrec_decode_experiment (v->mv_data, v->mv_size, &x, &e))
            s_problem (c->rep, key, e.code, "%s", e.msg);
    }
    else
    if (k->mv_size == 6 && memcmp (k->mv_data, "pruned", 6) == 0) {
        fg_jrec_pruned_t p;
        if (fg_jrec_decode_pruned (v->mv_data, v->mv_size, &p, &e))
            s_problem (c->rep, key, e.code, "%s", e.msg);
        else
            c->pruned = p.through;
    }
    else
        s_problem (c->rep, key, FG_EFORMAT, "unknown meta key");
    (void) self;
}

static void
s_check_round (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    uint32_t kround;
    if (!s_key_u32 (c, FG_JDB_ROUNDS, k, key, sizeof key, &kround))
        return;
    fg_error_t e = { 0, "" };
    fg_jrec_round_t r;
    if (fg_jrec_decode_round (v->mv_data, v->mv_size, &r, &e)) {
        s_problem (c->rep, key, e.code, "%s", e.msg);
        return;
    }
    if (r.head.round != kround) {
        s_problem (c->rep, key, FG_EFORMAT, "record is of round %u", r.head.round);
        return;
    }
    uint32_t prev = c->nrounds? c->rounds [c->nrounds - 1].round: 0;
    if (kround != prev + 1) {
        if (prev == 0)
            s_problem (c->rep, key, FG_ESTATE, "rounds start at %u, not 1", kround);
        else
            s_problem (c->rep, key, FG_ESTATE, "gap: round %u is followed by round %u", prev, kround);
    }
    if (c->open_round)
        s_problem (c->rep, key, FG_ESTATE, "follows round %u, which is still open", c->open_round);
    if (r.head.state == FG_ROUND_OPEN)
        c->open_round = kround;
    else {
        c->last_committed = kround;
        //  Every included shard has its update, unless update retention
        //  deleted the round's updates after it committed.
        for (uint32_t i = 0; kround > c->pruned && i < r.head.nincluded; i++) {
            uint8_t uk [8];
            fg_jdb_put_be32 (uk, kround);
            uint32_t shard = fg_le_get32 (r.included + 4 * (size_t) i);
            fg_jdb_put_be32 (uk + 4, shard);
            MDB_val uv;
            int rc = fg_jdb_get (self, txn, FG_JDB_UPDATES, uk, 8, &uv, NULL);
            if (rc == FG_ENOENT)
                s_problem (c->rep, key, FG_ESTATE, "included shard %u has no update "
                           "(updates/%u/%u missing)", shard, kround, shard);
            else
            if (rc)
                s_problem (c->rep, key, rc, "cannot read updates/%u/%u", kround, shard);
        }
    }
    if (c->nrounds == c->cap) {
        size_t cap = c->cap? 2 * c->cap: 64;
        s_round_info_t *grown = realloc (c->rounds, cap * sizeof *grown);
        if (!grown) {
            c->alloc_failed = true;
            return;
        }
        c->rounds = grown;
        c->cap = cap;
    }
    if (c->nrounds && kround <= c->rounds [c->nrounds - 1].round)
        return;                         //  keep the array sorted (can't happen: LMDB order)
    s_round_info_t *info = &c->rounds [c->nrounds++];
    memset (info, 0, sizeof *info);
    info->round = kround;
    info->state = r.head.state;
    info->weights_size = r.head.weights_size;
    info->weights_crc = r.head.weights_crc;
}

//  A per-round record (weights/R, optimizer/R, metrics/R) that decoded:
//  its round must be its key's, and a committed one. info: that round's
//  (NULL: no round record). Returns info, or NULL after reporting the
//  problem; `what` names the record in the message.
static s_round_info_t *
s_committed_record (s_check_t *c, const char *key, uint32_t kround, uint32_t rec_round,
                    s_round_info_t *info, const char *what)
{
    if (rec_round != kround) {
        s_problem (c->rep, key, FG_EFORMAT, "record is of round %u", rec_round);
        return NULL;
    }
    if (!info || info->state != FG_ROUND_COMMITTED) {
        s_problem (c->rep, key, FG_ESTATE, "%s of round %u, which is not committed", what,
                   kround);
        return NULL;
    }
    return info;
}

//  A checkpoint record (weights/R, optimizer/R): key, presence, record and
//  its round. Returns the round's info with the decoded record in *r (key:
//  its name, *kround: R), or NULL after reporting the problem.
static s_round_info_t *
s_checkpoint (s_check_t *c, int db, const MDB_val *k, const MDB_val *v, char *key,
              size_t size, uint32_t *kround, fg_jrec_any_t *r)
{
    if (!s_key_u32 (c, db, k, key, size, kround))
        return NULL;
    bool blob = c->blobs == FG_JDB_BLOBS_ALL || *kround == c->last_committed;
    s_round_info_t *info = s_find_round (c->rounds, c->nrounds, *kround);
    bool weights = db == FG_JDB_WEIGHTS;
    if (info && weights)
        info->has_weights = true;       //  present, damaged or not
    else
    if (info)
        info->has_optimizer = true;
    fg_error_t e = { 0, "" };
    int kind = weights? FG_JREC_WEIGHTS: FG_JREC_OPTIMIZER;
    if (fg_jrec_decode_kind (kind, blob, v->mv_data, v->mv_size, r, &e)) {
        s_problem (c->rep, key, e.code, "%s", e.msg);
        return NULL;
    }
    return s_committed_record (c, key, *kround, weights? r->weights.round: r->optimizer.round,
                               info, weights? "checkpoint": "optimizer state");
}

static void
s_check_weights (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) self; (void) txn;
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    uint32_t kround;
    fg_jrec_any_t r;
    s_round_info_t *info = s_checkpoint (c, FG_JDB_WEIGHTS, k, v, key, sizeof key, &kround, &r);
    const fg_jrec_weights_t *w = &r.weights;
    if (info && (info->weights_size != w->blob_size || info->weights_crc != w->blob_crc))
        s_problem (c->rep, key, FG_ECHECKSUM, "blob is %" PRIu64 " bytes CRC %08x, the round "
                   "record says %" PRIu64 " bytes CRC %08x", w->blob_size, w->blob_crc,
                   info->weights_size, info->weights_crc);
}

//  The momentum buffer of round `round` has the layout of that round's
//  weights and finite values (verify only: both blobs are decoded).
static void
s_check_buffer_layout (fg_journal_t *self, MDB_txn *txn, s_check_t *c, const char *key,
                       uint32_t round, const fg_jrec_optimizer_t *o)
{
    fg_error_t e = { 0, "" };
    fg_state_t *buffer = NULL, *weights = NULL;
    uint8_t wkey [4];
    fg_jdb_put_be32 (wkey, round);
    fg_jrec_any_t w;
    if (fg_blob_decode (o->blob, (size_t) o->blob_size, NULL, &buffer, &e))
        s_problem (c->rep, key, FG_EFORMAT, "momentum buffer is not a full weights blob: %s",
                   e.msg);
    else
    if (fg_jdb_read (self, txn, FG_JDB_WEIGHTS, wkey, 4, FG_JREC_WEIGHTS, 0, &w, NULL))
        ;                               //  reported by the weights walk
    else
    if (fg_blob_decode (w.weights.blob, (size_t) w.weights.blob_size, NULL, &weights, &e))
        s_problem (c->rep, key, FG_EFORMAT, "cannot compare the momentum buffer with "
                   "weights/%u: the weights blob does not decode: %s", round, e.msg);
    else
    if (!fg_state_same_layout (weights, buffer, &e))
        s_problem (c->rep, key, FG_EFORMAT, "momentum buffer's layout differs from "
                   "weights/%u: %s", round, e.msg);
    else
        for (size_t i = 0; i < buffer->size; i++)
            if (!isfinite (buffer->data [i])) {
                s_problem (c->rep, key, FG_EFORMAT, "momentum buffer holds %s at float %zu",
                           isnan (buffer->data [i])? "NaN": "an infinity", i);
                break;
            }
    fg_state_destroy (&buffer);
    fg_state_destroy (&weights);
}

static void
s_check_optimizer (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                   void *ctx)
{
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    uint32_t kround;
    fg_jrec_any_t r;
    s_round_info_t *info = s_checkpoint (c, FG_JDB_OPTIMIZER, k, v, key, sizeof key, &kround,
                                         &r);
    if (!info)
        return;
    if (!info->has_weights) {
        s_problem (c->rep, key, FG_ESTATE, "optimizer state without its weights checkpoint "
                   "(weights/%u missing): retention keeps or drops both", kround);
        return;
    }
    if (c->config_read && !(c->beta > 0)) {
        s_problem (c->rep, key, FG_ESTATE, "a momentum buffer, but the configuration has no "
                   "server momentum (aggregation.server_momentum = 0)");
        return;
    }
    if (c->blobs == FG_JDB_BLOBS_ALL)
        s_check_buffer_layout (self, txn, c, key, kround, &r.optimizer);
}

static void
s_check_update (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    fg_jdb_key_name (FG_JDB_UPDATES, k->mv_data, k->mv_size, key, sizeof key);
    if (k->mv_size != 8) {
        s_problem (c->rep, key, FG_EFORMAT, "key is %zu bytes, not 8", k->mv_size);
        return;
    }
    uint32_t kround = fg_jdb_get_be32 (k->mv_data);
    uint32_t kshard = fg_jdb_get_be32 ((const uint8_t *) k->mv_data + 4);
    bool blob = c->blobs == FG_JDB_BLOBS_ALL || kround == c->open_round;
    fg_error_t e = { 0, "" };
    fg_jrec_update_t u;
    if (fg_jrec_decode_update (v->mv_data, v->mv_size, blob, &u, &e)) {
        s_problem (c->rep, key, e.code, "%s", e.msg);
        return;
    }
    if (u.head.round != kround || u.head.shard != kshard) {
        s_problem (c->rep, key, FG_EFORMAT, "record is of round %u shard %u", u.head.round,
                   u.head.shard);
        return;
    }
    if (!s_find_round (c->rounds, c->nrounds, kround))
        s_problem (c->rep, key, FG_ESTATE, "update of round %u, which was never opened", kround);
    if (kround <= c->pruned)
        s_problem (c->rep, key, FG_ESTATE, "update of round %u, whose updates were pruned "
                   "(meta/pruned: rounds 1..%u): pruning deletes a round's updates together",
                   kround, c->pruned);
    MDB_val lv;
    int rc = fg_jdb_get (self, txn, FG_JDB_METRICS, k->mv_data, 8, &lv, NULL);
    if (rc == FG_ENOENT)
        s_problem (c->rep, key, FG_ESTATE, "its loss curve metrics/%u/%u is missing", kround, kshard);
}

static void
s_check_metrics (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    fg_jdb_key_name (FG_JDB_METRICS, k->mv_data, k->mv_size, key, sizeof key);
    fg_error_t e = { 0, "" };
    if (k->mv_size == 4) {
        uint32_t kround = fg_jdb_get_be32 (k->mv_data);
        fg_jrec_metrics_t m;
        if (fg_jrec_decode_metrics (v->mv_data, v->mv_size, &m, &e))
            s_problem (c->rep, key, e.code, "%s", e.msg);
        else {
            s_round_info_t *info = s_committed_record (c, key, kround, m.round,
                                                       s_find_round (c->rounds, c->nrounds,
                                                                     kround), "metrics");
            if (info)
                info->has_metrics = true;
        }
    }
    else
    if (k->mv_size == 8) {
        uint32_t kround = fg_jdb_get_be32 (k->mv_data);
        uint32_t kshard = fg_jdb_get_be32 ((const uint8_t *) k->mv_data + 4);
        fg_jrec_loss_t l;
        if (fg_jrec_decode_loss (v->mv_data, v->mv_size, &l, &e))
            s_problem (c->rep, key, e.code, "%s", e.msg);
        else
        if (l.round != kround || l.shard != kshard)
            s_problem (c->rep, key, FG_EFORMAT, "record is of round %u shard %u", l.round, l.shard);
        else {
            MDB_val uv;
            if (kround <= c->pruned)
                s_problem (c->rep, key, FG_ESTATE, "loss curve of round %u, whose updates "
                           "were pruned (meta/pruned: rounds 1..%u): pruning deletes the "
                           "curves with them", kround, c->pruned);
            else
            if (fg_jdb_get (self, txn, FG_JDB_UPDATES, k->mv_data, 8, &uv, NULL) == FG_ENOENT)
                s_problem (c->rep, key, FG_ESTATE, "loss curve without its update "
                           "updates/%u/%u", kround, kshard);
        }
    }
    else
        s_problem (c->rep, key, FG_EFORMAT, "key is %zu bytes, not 4 or 8", k->mv_size);
}

static void
s_check_node (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) self; (void) txn;
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    if (!s_key_u32 (c, FG_JDB_NODES, k, key, sizeof key, NULL))
        return;
    fg_error_t e = { 0, "" };
    fg_jrec_node_t n;
    if (fg_jrec_decode_node (v->mv_data, v->mv_size, &n, &e))
        s_problem (c->rep, key, e.code, "%s", e.msg);
    else
    if (n.node.node != fg_jdb_get_be32 (k->mv_data))
        s_problem (c->rep, key, FG_EFORMAT, "record is of node %u", n.node.node);
}

static void
s_check_event (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) self; (void) txn;
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    fg_jdb_key_name (FG_JDB_EVENTS, k->mv_data, k->mv_size, key, sizeof key);
    if (k->mv_size != 8) {
        s_problem (c->rep, key, FG_EFORMAT, "key is %zu bytes, not 8", k->mv_size);
        return;
    }
    uint64_t seq = fg_jdb_get_be64 (k->mv_data);
    if (seq != c->last_seq + 1)
        s_problem (c->rep, key, FG_ESTATE, "event %" PRIu64 " follows event %" PRIu64 " (events "
                   "are numbered 1, 2, ... without gaps)", seq, c->last_seq);
    c->last_seq = seq;
    fg_error_t e = { 0, "" };
    fg_jrec_event_t ev;
    if (fg_jrec_decode_event (v->mv_data, v->mv_size, &ev, &e))
        s_problem (c->rep, key, e.code, "%s", e.msg);
    else
    if (ev.seq != seq)
        s_problem (c->rep, key, FG_EFORMAT, "record is event %" PRIu64, ev.seq);
}

//  What needs every database: each committed round has its metrics, the
//  newest its weights, and with server momentum every checkpoint its buffer.
static void
s_check_committed (s_check_t *c)
{
    //  only committed rounds are pruned, and the open round's updates never
    if (c->pruned > c->last_committed)
        s_problem (c->rep, "meta/pruned", FG_ESTATE, "says the updates of rounds 1..%u were "
                   "pruned, but the last committed round is %u (0: none)", c->pruned,
                   c->last_committed);
    for (size_t i = 0; i < c->nrounds; i++) {
        s_round_info_t *info = &c->rounds [i];
        if (info->state != FG_ROUND_COMMITTED)
            continue;
        char key [32];
        snprintf (key, sizeof key, "rounds/%u", info->round);
        if (!info->has_metrics)
            s_problem (c->rep, key, FG_ESTATE, "committed without metrics (metrics/%u missing)",
                       info->round);
        if (info->round == c->last_committed && !info->has_weights)
            s_problem (c->rep, key, FG_ESTATE, "newest committed round has no weights "
                       "checkpoint (weights/%u missing)", info->round);
        if (c->config_read && c->beta > 0 && info->has_weights && !info->has_optimizer) {
            snprintf (key, sizeof key, "optimizer/%u", info->round);
            s_problem (c->rep, key, FG_ESTATE, "missing: the configuration has server momentum "
                       "(aggregation.server_momentum = %g), so every weights checkpoint needs "
                       "its momentum buffer (weights/%u has none)", c->beta, info->round);
        }
    }
}

int
fg_jdb_check (fg_journal_t *self, fg_jdb_blobs_t blobs, fg_jdb_report_t *rep, fg_error_t *err)
{
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    s_check_t c;
    memset (&c, 0, sizeof c);
    c.rep = rep;
    c.blobs = blobs;
    if ((rc = fg_jdb_walk (self, txn, FG_JDB_META, s_check_meta, &c, err)))
        goto done;
    static const char *meta_keys [3] = { "meta/schema", "meta/config", "meta/experiment" };
    for (int i = 0; i < 3; i++)
        if (!c.meta_seen [i])
            s_problem (rep, meta_keys [i], FG_EFORMAT, "missing");
    if ((rc = fg_jdb_walk (self, txn, FG_JDB_ROUNDS, s_check_round, &c, err))
    ||  (rc = fg_jdb_walk (self, txn, FG_JDB_WEIGHTS, s_check_weights, &c, err))
    ||  (rc = fg_jdb_walk (self, txn, FG_JDB_OPTIMIZER, s_check_optimizer, &c, err))
    ||  (rc = fg_jdb_walk (self, txn, FG_JDB_UPDATES, s_check_update, &c, err))
    ||  (rc = fg_jdb_walk (self, txn, FG_JDB_METRICS, s_check_metrics, &c, err))
    ||  (rc = fg_jdb_walk (self, txn, FG_JDB_NODES, s_check_node, &c, err))
    ||  (rc = fg_jdb_walk (self, txn, FG_JDB_EVENTS, s_check_event, &c, err)))
        goto done;
    if (c.alloc_failed) {
        rc = fg_error_set (err, FG_ENOMEM, "journal %s: verify: out of memory", self->path);
        goto done;
    }
    s_check_committed (&c);
    if (c.config_read) {
        self->momentum = c.beta > 0;
        self->beta = c.beta;
    }
    self->pruned = c.pruned;
done:
    free (c.rounds);
    mdb_txn_abort (txn);
    return rc;
}

//  ---- verify -------------------------------------------------------------------

//  The verdict of a check: 0, or the first problem's code and a summary.
static int
s_verdict (fg_journal_t *self, const fg_jdb_report_t *rep, size_t *problems, fg_error_t *err)
{
    if (problems)
        *problems = rep->count;
    if (rep->count)
        return fg_error_set (err, rep->first, "journal %s: %zu problem%s, the first: %s: %s",
                             self->path, rep->count, rep->count == 1? "": "s", rep->first_key,
                             rep->first_msg);
    return 0;
}

int
fg_journal_check (fg_journal_t *self, fg_journal_report_fn *report, void *arg,
                  size_t *problems, fg_error_t *err)
{
    assert (self);
    fg_jdb_report_t rep;
    memset (&rep, 0, sizeof rep);
    rep.fn = report;
    rep.arg = arg;
    if (problems)
        *problems = 0;
    int rc = fg_jdb_check (self, FG_JDB_BLOBS_ALL, &rep, err);
    return rc? rc: s_verdict (self, &rep, problems, err);
}

int
fg_journal_verify (const char *dir, fg_journal_report_fn *report, void *arg, size_t *problems,
                   fg_error_t *err)
{
    if (problems)
        *problems = 0;
    //  The mark before the journal's read transactions (see fg_jdb_mark_read).
    fg_jdb_mark_t mark;
    fg_error_t merr;
    int mrc = dir && *dir? fg_jdb_mark_read (dir, &mark, &merr): FG_ENOENT;
    fg_journal_t *self;
    int rc = fg_jdb_open_readonly (dir, false, &self, err);
    if (rc)
        return rc;
    fg_jdb_report_t rep;
    memset (&rep, 0, sizeof rep);
    rep.fn = report;
    rep.arg = arg;
    rc = fg_jdb_check (self, FG_JDB_BLOBS_ALL, &rep, err);
    if (rc == 0 && mrc == 0 && fg_jdb_mark_check (self, &mark, true, &merr))
        mrc = merr.code;
    if (rc == 0 && mrc && mrc != FG_ENOENT)
        s_problem (&rep, FG_JOURNAL_MARK_FILE, mrc, "%s", merr.msg);
    if (rc == 0)
        rc = s_verdict (self, &rep, problems, err);
    fg_journal_close (&self);
    return rc;
}
