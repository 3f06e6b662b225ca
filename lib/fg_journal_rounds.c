/*  fg_journal_rounds.c — the journal's rounds (fg_journal.h): open a
    round with its assignments, commit it in one write transaction (the
    weights checkpoint, the momentum buffer, the metrics, the round's state,
    the retention deletions, the update pruning and an event), read rounds
    and metrics back.                                                      */

#include "fg_clock.h"
#include "fg_journal_internal.h"
#include "fg_le.h"
#include "fg_log.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_DROP_MAX  64                  //  checkpoints retention drops per commit

int
fg_journal_last_round (fg_journal_t *self, uint32_t *round, fg_error_t *err)
{
    assert (self && round);
    bool have = self->have_last;
    uint32_t last = self->last;
    if (self->readonly) {
        //  Another process writes: read it now.
        MDB_txn *txn;
        int rc = fg_jdb_read_begin (self, &txn, err);
        if (rc)
            return rc;
        rc = fg_jdb_scan_last (self, txn, &have, &last, err);
        mdb_txn_abort (txn);
        if (rc)
            return rc;
    }
    *round = have? last: 0;
    if (!have)
        return fg_error_set (err, FG_ENOENT, "journal %s: no round committed yet", self->path);
    return 0;
}

static uint32_t
s_next_round (fg_journal_t *self)
{
    return self->have_last? self->last + 1: 1;
}

static int
s_check_assignments (const fg_journal_assignment_t *a, size_t n, fg_error_t *err)
{
    if (n > FG_JREC_ASSIGN_MAX || (n && !a))
        return fg_error_set (err, FG_EINVAL, "journal: %zu assignments (at most %u, array required)",
                             n, FG_JREC_ASSIGN_MAX);
    for (size_t i = 0; i < n; i++)
        if (a [i].attempt == 0)
            return fg_error_set (err, FG_EINVAL, "journal: assignment %zu (shard %u) has attempt 0",
                                 i, a [i].shard);
    return 0;
}

//  ---- opening a round ------------------------------------------------------------

typedef struct {
    uint32_t round;
    const fg_journal_assignment_t *assignments;
    size_t nassignments;
} s_round_open_t;

//  The round as stored before this write: whether it exists, its state,
//  and when it was opened (*opened_ns: now when it does not exist).
static int
s_round_before (fg_journal_t *self, MDB_txn *txn, uint32_t round, bool *exists,
                uint32_t *state, uint64_t *opened_ns, fg_error_t *err)
{
    fg_jrec_round_t old;
    int rc = fg_jdb_round_read (self, txn, round, &old, err);
    if (rc && rc != FG_ENOENT)
        return rc;
    *exists = rc == 0;
    *state = *exists? old.head.state: 0;
    *opened_ns = *exists? old.head.opened_ns: fg_clock_wall_ns ();
    return 0;
}

//  Stores rounds/r->round (its arrays as given).
static int
s_round_put (fg_journal_t *self, MDB_txn *txn, const char *label, const fg_journal_round_t *r,
             fg_error_t *err)
{
    size_t size = fg_jrec_size_round (r->nassignments, r->nincluded);
    uint8_t key [4];
    fg_jdb_put_be32 (key, r->round);
    MDB_val space;
    int rc = fg_jdb_put (self, txn, FG_JDB_ROUNDS, label, key, 4, NULL, size, MDB_RESERVE,
                         &space, err);
    if (rc == 0)
        fg_jrec_encode_round (space.mv_data, size, r);
    return rc;
}

static int
s_round_open_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_round_open_t *o = (s_round_open_t *) ctx;
    bool reopen;
    uint32_t state;
    fg_journal_round_t r;
    memset (&r, 0, sizeof r);
    int rc = s_round_before (self, txn, o->round, &reopen, &state, &r.opened_ns, err);
    if (rc)
        return rc;
    r.round = o->round;
    r.state = FG_ROUND_OPEN;
    r.nassignments = (uint32_t) o->nassignments;
    r.assignments = (fg_journal_assignment_t *) o->assignments;
    if ((rc = s_round_put (self, txn, "round_open:round", &r, err)))
        return rc;
    return fg_jdb_eventf (self, txn, "round_open:event", o->round, err, "round %u %s: %zu "
                          "assignments", o->round, reopen? "assignments updated": "opened",
                          o->nassignments);
}

int
fg_journal_round_open (fg_journal_t *self, uint32_t round,
                       const fg_journal_assignment_t *assignments, size_t nassignments,
                       fg_error_t *err)
{
    assert (self);
    FG_JDB_WRITABLE (self, "round_open");
    int rc = s_check_assignments (assignments, nassignments, err);
    if (rc)
        return rc;
    if (round != s_next_round (self))
        return fg_error_set (err, FG_ESTATE, "journal %s: cannot open round %u: the next round "
                             "is %u", self->path, round, s_next_round (self));
    s_round_open_t o = { round, assignments, nassignments };
    return fg_jdb_write (self, "round_open", s_round_open_txn, &o, err);
}

//  ---- reading rounds back ------------------------------------------------------------

int
fg_journal_round_get (fg_journal_t *self, uint32_t round, fg_journal_round_t **out,
                      fg_error_t *err)
{
    assert (self && out);
    *out = NULL;
    uint8_t key [4];
    fg_jdb_put_be32 (key, round);
    MDB_txn *txn;
    fg_jrec_any_t any;
    int rc = fg_jdb_lookup (self, FG_JDB_ROUNDS, key, 4, FG_JREC_ROUND, FG_JDB_KEY, &txn, &any,
                            err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_ENOENT, "journal %s: round %u is not in the journal",
                             self->path, round);
    if (rc)
        return rc;
    const fg_jrec_round_t *r = &any.round;
    size_t size = sizeof (fg_journal_round_t)
                + r->head.nassignments * sizeof (fg_journal_assignment_t)
                + r->head.nincluded * sizeof (uint32_t);
    fg_journal_round_t *copy = malloc (size);
    if (!copy) {
        mdb_txn_abort (txn);
        return fg_error_set (err, FG_ENOMEM, "journal: out of memory");
    }
    *copy = r->head;
    copy->assignments = (fg_journal_assignment_t *) (copy + 1);
    copy->included = (uint32_t *) (copy->assignments + r->head.nassignments);
    for (uint32_t i = 0; i < r->head.nassignments; i++) {
        const uint8_t *p = r->assignments + 12 * (size_t) i;
        copy->assignments [i].shard = fg_le_get32 (p);
        copy->assignments [i].node = fg_le_get32 (p + 4);
        copy->assignments [i].attempt = fg_le_get32 (p + 8);
    }
    for (uint32_t i = 0; i < r->head.nincluded; i++)
        copy->included [i] = fg_le_get32 (r->included + 4 * (size_t) i);
    mdb_txn_abort (txn);
    *out = copy;
    return 0;
}

void
fg_journal_round_destroy (fg_journal_round_t **self_p)
{
    if (self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int
fg_journal_metrics_get (fg_journal_t *self, uint32_t round, fg_journal_metrics_t *out,
                        fg_error_t *err)
{
    assert (self && out);
    uint8_t key [4];
    fg_jdb_put_be32 (key, round);
    MDB_txn *txn;
    fg_jrec_any_t any;
    int rc = fg_jdb_lookup (self, FG_JDB_METRICS, key, 4, FG_JREC_METRICS, 0, &txn, &any, err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_ENOENT, "journal %s: no metrics for round %u", self->path,
                             round);
    if (rc)
        return rc;
    *out = any.metrics.m;
    mdb_txn_abort (txn);
    return 0;
}

//  ---- committing a round -------------------------------------------------------------

//  Retention: keep the newest, the last keep_last, and multiples of keep_every.
static bool
s_keep (const fg_journal_t *self, uint32_t round, uint32_t newest)
{
    if (round >= newest)
        return true;
    if ((uint64_t) (newest - round) < self->keep_last)
        return true;
    return self->keep_every && round % self->keep_every == 0;
}

typedef struct {
    uint32_t round;
    const void *blob;
    size_t size;
    uint32_t crc;
    const void *opt;                    //  optimizer state blob, or NULL
    size_t opt_size;
    uint32_t opt_crc;
    const fg_journal_metrics_t *metrics;
    const uint32_t *included;
    size_t nincluded;
    const fg_journal_assignment_t *assignments;
    size_t nassignments;
    size_t ndrop;                       //  checkpoints the retention dropped
    fg_jdb_pruned_t pruned;             //  what the update retention deleted
} s_commit_t;

//  The invariant "updates of committed rounds are complete", at the source.
static int
s_commit_updates_present (fg_journal_t *self, MDB_txn *txn, const s_commit_t *c,
                          fg_error_t *err)
{
    uint8_t ukey [8];
    fg_jdb_put_be32 (ukey, c->round);
    for (size_t i = 0; i < c->nincluded; i++) {
        fg_jdb_put_be32 (ukey + 4, c->included [i]);
        MDB_val uv;
        int rc = fg_jdb_get (self, txn, FG_JDB_UPDATES, ukey, 8, &uv, err);
        if (rc == FG_ENOENT)
            return fg_error_set (err, FG_ESTATE, "journal %s: cannot commit round %u: shard %u "
                                 "is in the included set but no update of it is stored",
                                 self->path, c->round, c->included [i]);
        if (rc)
            return rc;
    }
    return 0;
}

//  A blob record (weights, optimizer state) with its blob after it.
static int
s_put_blob_record (fg_journal_t *self, MDB_txn *txn, int db, const char *label,
                   const uint8_t key [4], size_t head, const void *blob, size_t size,
                   uint8_t **record, fg_error_t *err)
{
    MDB_val space;
    int rc = fg_jdb_put (self, txn, db, label, key, 4, NULL, head + size, MDB_RESERVE, &space,
                         err);
    if (rc)
        return rc;
    *record = space.mv_data;
    memcpy (*record + head, blob, size);
    return 0;
}

//  1. weights, 1b. the server optimizer state beside them (FedAvgM momentum
//  buffer), 2. metrics, 3. the round's state.
static int
s_commit_records (fg_journal_t *self, MDB_txn *txn, const s_commit_t *c, uint64_t opened_ns,
                  fg_error_t *err)
{
    uint8_t key [4];
    fg_jdb_put_be32 (key, c->round);
    uint8_t *rec;
    int rc = s_put_blob_record (self, txn, FG_JDB_WEIGHTS, "commit_round:weights", key,
                                FG_JREC_SIZE_WEIGHTS, c->blob, c->size, &rec, err);
    if (rc)
        return rc;
    fg_jrec_encode_weights (rec, FG_JREC_SIZE_WEIGHTS, c->round, c->size, c->crc);
    if (c->opt) {
        if ((rc = s_put_blob_record (self, txn, FG_JDB_OPTIMIZER, "commit_round:optimizer", key,
                                     FG_JREC_SIZE_OPTIMIZER, c->opt, c->opt_size, &rec, err)))
            return rc;
        fg_jrec_encode_optimizer (rec, FG_JREC_SIZE_OPTIMIZER, c->round, FG_JREC_OPT_MOMENTUM,
                                  c->opt_size, c->opt_crc);
    }
    uint8_t mrec [FG_JREC_SIZE_METRICS];
    fg_jrec_encode_metrics (mrec, sizeof mrec, c->round, c->metrics);
    if ((rc = fg_jdb_put (self, txn, FG_JDB_METRICS, "commit_round:metrics", key, 4, mrec,
                          sizeof mrec, 0, NULL, err)))
        return rc;
    fg_journal_round_t r;
    memset (&r, 0, sizeof r);
    r.round = c->round;
    r.state = FG_ROUND_COMMITTED;
    r.opened_ns = opened_ns;
    r.committed_ns = fg_clock_wall_ns ();
    r.weights_size = c->size;
    r.weights_crc = c->crc;
    r.nassignments = (uint32_t) c->nassignments;
    r.assignments = (fg_journal_assignment_t *) c->assignments;
    r.nincluded = (uint32_t) c->nincluded;
    r.included = (uint32_t *) c->included;
    return s_round_put (self, txn, "commit_round:round", &r, err);
}

//  4. retention: collect the checkpoints to drop (at most S_DROP_MAX), then
//  drop them with their optimizer state.
static int
s_commit_retention (fg_journal_t *self, MDB_txn *txn, s_commit_t *c, fg_error_t *err)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [FG_JDB_WEIGHTS], &cursor);
    if (rc)
        return fg_jdb_fail (self, rc, err, "commit_round: open weights cursor");
    uint32_t drop [S_DROP_MAX];
    size_t ndrop = 0;
    bool more = false;
    MDB_val k, v;
    int crc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (crc == 0) {
        if (k.mv_size == 4) {
            uint32_t q = fg_jdb_get_be32 (k.mv_data);
            if (!s_keep (self, q, c->round)) {
                if (ndrop < S_DROP_MAX)
                    drop [ndrop++] = q;
                else
                    more = true;
            }
        }
        crc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    if (crc != MDB_NOTFOUND)
        return fg_jdb_fail (self, crc, err, "commit_round: walk weights");
    if (more)       //  a retention change left many: the next commits drop the rest
        fg_debug ("journal %s: retention drops 64 checkpoints now, more later", self->path);
    for (size_t i = 0; i < ndrop; i++) {
        uint8_t dkey [4];
        fg_jdb_put_be32 (dkey, drop [i]);
        if ((rc = fg_jdb_del (self, txn, FG_JDB_WEIGHTS, "commit_round:retention", dkey, 4, err)))
            return rc;
        //  the optimizer state goes with its checkpoint
        MDB_val ov;
        rc = fg_jdb_get (self, txn, FG_JDB_OPTIMIZER, dkey, 4, &ov, err);
        if (rc == 0)
            rc = fg_jdb_del (self, txn, FG_JDB_OPTIMIZER, "commit_round:retention-optimizer",
                             dkey, 4, err);
        if (rc && rc != FG_ENOENT)
            return rc;
    }
    c->ndrop = ndrop;
    return 0;
}

static int
s_commit_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_commit_t *c = (s_commit_t *) ctx;
    bool was_open;
    uint32_t state;
    uint64_t opened_ns;
    int rc = s_round_before (self, txn, c->round, &was_open, &state, &opened_ns, err);
    if (rc)
        return rc;
    if (was_open && FG_NEVER (state != FG_ROUND_OPEN))
        return fg_error_set (err, FG_ESTATE, "journal %s: round %u is already committed",
                             self->path, c->round);
    if ((rc = s_commit_updates_present (self, txn, c, err))
    ||  (rc = s_commit_records (self, txn, c, opened_ns, err))
    ||  (rc = s_commit_retention (self, txn, c, err))
    ||  (rc = fg_jdb_prune (self, txn, c->round, &c->pruned, err)))
        return rc;
    //  5. audit
    char extra [64] = "";
    if (c->opt)
        snprintf (extra, sizeof extra, ", momentum buffer %zu bytes CRC %08x", c->opt_size,
                  c->opt_crc);
    char pruned [96] = "", span [32];
    snprintf (span, sizeof span, c->pruned.from == c->pruned.through? "round %u"
              : "rounds %u..%u", c->pruned.from, c->pruned.through);
    if (c->pruned.from)
        snprintf (pruned, sizeof pruned, ", updates of %s pruned (%zu, %" PRIu64 " bytes)",
                  span, c->pruned.updates, c->pruned.bytes);
    return fg_jdb_eventf (self, txn, "commit_round:event", c->round, err,
                          "round %u committed: %zu updates, weights %zu bytes CRC %08x%s, %zu "
                          "checkpoint%s dropped%s", c->round, c->nincluded, c->size, c->crc,
                          extra, c->ndrop, c->ndrop == 1? "": "s", pruned);
}

int
fg_journal_commit_round (fg_journal_t *self, uint32_t round, const void *blob, size_t size,
                         const fg_journal_metrics_t *metrics,
                         const uint32_t *included, size_t nincluded,
                         const fg_journal_assignment_t *assignments, size_t nassignments,
                         fg_error_t *err)
{
    return fg_journal_commit_round_with_optimizer (self, round, blob, size, NULL, 0, metrics,
                                                   included, nincluded, assignments,
                                                   nassignments, err);
}

//  The arguments of a commit (everything but the round number's order).
static int
s_commit_args (fg_journal_t *self, const s_commit_t *c, fg_error_t *err)
{
    uint32_t round = c->round;
    if (!c->blob || c->size == 0 || !c->metrics)
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: weights blob and "
                             "metrics are required", round);
    if (c->size > SIZE_MAX - FG_JREC_SIZE_WEIGHTS)
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: blob too large", round);
    if (c->opt && (c->opt_size == 0 || c->opt_size > SIZE_MAX - FG_JREC_SIZE_OPTIMIZER))
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: optimizer state of %zu "
                             "bytes", round, c->opt_size);
    //  The invariant "a momentum buffer iff server momentum", at the source.
    if (!c->opt != !self->momentum)
        return fg_error_set (err, FG_EINVAL, "journal %s: commit round %u: the configuration "
                             "has aggregation.server_momentum = %g, so the round's momentum "
                             "buffer %s", self->path, round, self->beta,
                             self->momentum? "is required": "must not be given");
    if (c->nincluded > FG_JREC_SHARDS_MAX || (c->nincluded && !c->included))
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: %zu included shards "
                             "(at most %u, array required)", round, c->nincluded,
                             FG_JREC_SHARDS_MAX);
    for (size_t i = 1; i < c->nincluded; i++)
        if (c->included [i] <= c->included [i - 1])
            return fg_error_set (err, FG_EINVAL, "journal: commit round %u: included shards "
                                 "not strictly increasing at index %zu", round, i);
    double acc = c->metrics->test_accuracy;
    if (!isnan (acc) && !(acc >= 0.0 && acc <= 1.0))
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: test accuracy %g "
                             "outside 0..1", round, acc);
    return s_check_assignments (c->assignments, c->nassignments, err);
}

int
fg_journal_commit_round_with_optimizer (fg_journal_t *self, uint32_t round,
                                        const void *blob, size_t size,
                                        const void *optimizer, size_t optimizer_size,
                                        const fg_journal_metrics_t *metrics,
                                        const uint32_t *included, size_t nincluded,
                                        const fg_journal_assignment_t *assignments,
                                        size_t nassignments, fg_error_t *err)
{
    assert (self);
    FG_JDB_WRITABLE (self, "commit_round");
    s_commit_t c = { round, blob, size, 0, optimizer, optimizer? optimizer_size: 0, 0,
                     metrics, included, nincluded, assignments, nassignments, 0,
                     { 0, 0, 0, 0 } };
    int rc = s_commit_args (self, &c, err);
    if (rc)
        return rc;
    if (round != s_next_round (self))
        return fg_error_set (err, FG_ESTATE, "journal %s: cannot commit round %u: the next "
                             "round is %u", self->path, round, s_next_round (self));
    c.crc = fg_jrec_crc (blob, size);
    c.opt_crc = optimizer? fg_jrec_crc (optimizer, optimizer_size): 0;
    if ((rc = fg_jdb_write (self, "commit_round", s_commit_txn, &c, err)))
        return rc;
    self->have_last = true;
    self->last = round;
    self->pruned = c.pruned.through;
    return fg_jdb_mark_after_commit (self, round, blob, size, err);
}
