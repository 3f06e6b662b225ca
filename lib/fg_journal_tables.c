/*  fg_journal_tables.c — the journal's record tables besides rounds
    (fg_journal.h): meta, updates with their loss curves, weights
    checkpoints, optimizer state, nodes and events. Every read goes through
    the one record reader (fg_jdb_read / fg_jdb_lookup / fg_jdb_decode).  */

#include "fg_clock.h"
#include "fg_journal_internal.h"
#include "fg_le.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  A copy of size bytes (at least one allocated), or NULL after filling err.
static void *
s_copy (const void *data, uint64_t size, fg_error_t *err)
{
    void *copy = malloc (size? (size_t) size: 1);
    if (!copy)
        fg_error_set (err, FG_ENOMEM, "journal: out of memory (%" PRIu64 " bytes)", size);
    else
        memcpy (copy, data, (size_t) size);
    return copy;
}

//  A read transaction with a cursor on db; on failure neither is left.
static int
s_cursor_begin (fg_journal_t *self, int db, MDB_txn **txn, MDB_cursor **cursor,
                fg_error_t *err)
{
    int rc = fg_jdb_read_begin (self, txn, err);
    if (rc)
        return rc;
    int mrc = mdb_cursor_open (*txn, self->db [db], cursor);
    if (mrc) {
        mdb_txn_abort (*txn);
        return fg_jdb_fail (self, mrc, err, "open %s cursor", fg_jdb_names [db]);
    }
    return 0;
}

//  As s_cursor_begin, the cursor on the first key >= from (NULL: the
//  first key); *mrc is that positioning's LMDB code.
static int
s_cursor_from (fg_journal_t *self, int db, const void *from, size_t from_size, MDB_txn **txn,
               MDB_cursor **cursor, MDB_val *k, MDB_val *v, int *mrc, fg_error_t *err)
{
    int rc = s_cursor_begin (self, db, txn, cursor, err);
    if (rc)
        return rc;
    k->mv_size = from_size;
    k->mv_data = (void *) from;
    *mrc = mdb_cursor_get (*cursor, k, v, from? MDB_SET_RANGE: MDB_FIRST);
    return 0;
}

//  ---- meta ---------------------------------------------------------------------

int
fg_journal_meta (fg_journal_t *self, char *config_hash, char *experiment_id,
                 uint64_t *created_ns, fg_error_t *err)
{
    assert (self);
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    fg_jrec_any_t cfg, x;
    if ((rc = fg_jdb_meta_read (self, txn, "config", FG_JREC_CONFIG, &cfg, err)) == 0
    &&  (rc = fg_jdb_meta_read (self, txn, "experiment", FG_JREC_EXPERIMENT, &x, err)) == 0) {
        if (config_hash)
            memcpy (config_hash, cfg.config.hash, FG_JREC_HASH_HEX + 1);
        if (experiment_id)
            for (int i = 0; i < FG_JREC_ID_SIZE; i++)
                snprintf (experiment_id + 2 * i, 3, "%02x", x.experiment.id [i]);
        if (created_ns)
            *created_ns = x.experiment.created_ns;
    }
    mdb_txn_abort (txn);
    return rc;
}

int
fg_journal_config_text (fg_journal_t *self, char **text, fg_error_t *err)
{
    assert (self && text);
    *text = NULL;
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    fg_jrec_any_t cfg;
    if ((rc = fg_jdb_meta_read (self, txn, "config", FG_JREC_CONFIG, &cfg, err)) == 0) {
        *text = malloc ((size_t) cfg.config.length + 1);
        if (!*text)
            rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory");
        else {
            memcpy (*text, cfg.config.text, cfg.config.length);
            (*text) [cfg.config.length] = 0;
        }
    }
    mdb_txn_abort (txn);
    return rc;
}

//  ---- updates ------------------------------------------------------------------

typedef struct {
    const fg_journal_update_t *u;
    const float *loss;
    size_t nloss;
    const void *blob;
    size_t size;
    uint32_t crc;
    bool duplicate;
} s_update_t;

//  What differs between the stored loss curve of the update and c's
//  (NULL: nothing; *at: the first point that differs), or an FG code in *rc.
static const char *
s_loss_differs (fg_journal_t *self, MDB_txn *txn, const s_update_t *c, size_t *at, int *rc,
                fg_error_t *err)
{
    uint8_t key [8];
    fg_jdb_put_be32 (key, c->u->round);
    fg_jdb_put_be32 (key + 4, c->u->shard);
    fg_jrec_any_t l;
    *rc = fg_jdb_read (self, txn, FG_JDB_METRICS, key, 8, FG_JREC_LOSS, 0, &l, err);
    if (*rc == FG_ENOENT) {
        *rc = 0;
        return "loss curve (none stored)";
    }
    if (*rc)
        return NULL;
    if (l.loss.count != c->nloss)
        return "loss curve length";
    for (size_t i = 0; i < c->nloss; i++) {
        uint32_t bits;
        memcpy (&bits, &c->loss [i], 4);
        if (fg_le_get32 (l.loss.points + 4 * i) != bits) {
            *at = i;
            return "loss curve";
        }
    }
    return NULL;
}

//  An update is already stored under the key: same bytes or a mismatch.
static int
s_update_compare (fg_journal_t *self, MDB_txn *txn, s_update_t *c, const MDB_val *stored,
                  fg_error_t *err)
{
    const fg_journal_update_t *u = c->u;
    uint8_t key [8];
    fg_jdb_put_be32 (key, u->round);
    fg_jdb_put_be32 (key + 4, u->shard);
    MDB_val k = { 8, key };
    fg_jrec_any_t any;
    int rc = fg_jdb_decode (self, FG_JDB_UPDATES, &k, stored, FG_JREC_UPDATE, FG_JDB_BLOB, &any,
                            err);
    if (rc)
        return rc;
    const fg_jrec_update_t *old = &any.update;
    const char *what = NULL;
    size_t at = 0;
    if (old->head.samples != u->samples)
        what = "sample count";
    else
    if (old->head.blob_size != c->size)
        what = "blob length";
    else
    if (memcmp (old->blob, c->blob, c->size) != 0) {
        what = "blob bytes";
        while (at < c->size && old->blob [at] == ((const uint8_t *) c->blob) [at])
            at++;
    }
    else
    if (!(what = s_loss_differs (self, txn, c, &at, &rc, err)) && rc)
        return rc;
    if (what)
        return fg_error_set (err, FG_EMISMATCH,
            "journal: round %u shard %u: the update from node %u (attempt %u) differs from the "
            "stored one from node %u (attempt %u): %s differ%s (at %zu)", u->round, u->shard,
            u->node, u->attempt, old->head.node, old->head.attempt, what,
            what [strlen (what) - 1] == 's'? "": "s", at);
    c->duplicate = true;
    return 0;
}

static int
s_update_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_update_t *c = (s_update_t *) ctx;
    const fg_journal_update_t *u = c->u;
    c->duplicate = false;
    uint8_t key [8];
    fg_jdb_put_be32 (key, u->round);
    fg_jdb_put_be32 (key + 4, u->shard);
    MDB_val stored;
    int rc = fg_jdb_get (self, txn, FG_JDB_UPDATES, key, 8, &stored, err);
    if (rc == 0)
        return s_update_compare (self, txn, c, &stored, err);
    if (rc != FG_ENOENT)
        return rc;
    fg_jrec_round_t r;
    rc = fg_jdb_round_read (self, txn, u->round, &r, err);
    if (rc == FG_ENOENT || (rc == 0 && r.head.state != FG_ROUND_OPEN))
        return fg_error_set (err, FG_ESTATE, "journal: update of round %u shard %u from node %u "
                             "not stored: round %u is %s", u->round, u->shard, u->node, u->round,
                             rc == FG_ENOENT? "not open": "already committed");
    if (rc)
        return rc;
    fg_journal_update_t head = *u;
    head.received_ns = fg_clock_wall_ns ();
    head.blob_size = c->size;
    head.blob_crc = c->crc;
    MDB_val space;
    if ((rc = fg_jdb_put (self, txn, FG_JDB_UPDATES, "put_update:update", key, 8, NULL,
                          FG_JREC_SIZE_UPDATE + c->size, MDB_NOOVERWRITE | MDB_RESERVE, &space,
                          err)))
        return rc == FG_EEXIST? s_update_compare (self, txn, c, &space, err): rc;
    uint8_t *p = space.mv_data;
    fg_jrec_encode_update (p, FG_JREC_SIZE_UPDATE, &head);
    if (c->size)
        memcpy (p + FG_JREC_SIZE_UPDATE, c->blob, c->size);
    size_t lsize = fg_jrec_size_loss (c->nloss);
    if ((rc = fg_jdb_put (self, txn, FG_JDB_METRICS, "put_update:loss", key, 8, NULL, lsize,
                          MDB_RESERVE, &space, err)))
        return rc;
    fg_jrec_encode_loss (space.mv_data, lsize, u->round, u->shard, c->loss, c->nloss);
    return fg_jdb_eventf (self, txn, "put_update:event", u->round, err, "update stored: round "
                          "%u shard %u from node %u attempt %u, %" PRIu64 " samples, %zu bytes",
                          u->round, u->shard, u->node, u->attempt, u->samples, c->size);
}

int
fg_journal_put_update (fg_journal_t *self, const fg_journal_update_t *u,
                       const float *loss, size_t nloss, const void *blob, size_t size,
                       bool *duplicate, fg_error_t *err)
{
    assert (self);
    FG_JDB_WRITABLE (self, "put_update");
    if (duplicate)
        *duplicate = false;
    if (!u || (size && !blob) || (nloss && !loss))
        return fg_error_set (err, FG_EINVAL, "journal: put_update: update, blob and loss "
                             "arrays are required");
    if (u->round == 0 || u->round == FG_JOURNAL_LATEST || u->attempt == 0)
        return fg_error_set (err, FG_EINVAL, "journal: put_update: round %u attempt %u "
                             "(both count from 1)", u->round, u->attempt);
    if (nloss > FG_JOURNAL_LOSS_MAX)
        return fg_error_set (err, FG_ERANGE, "journal: put_update: loss curve of %zu points "
                             "(at most %d)", nloss, FG_JOURNAL_LOSS_MAX);
    if (size > SIZE_MAX - FG_JREC_SIZE_UPDATE)
        return fg_error_set (err, FG_EINVAL, "journal: put_update: blob too large");
    s_update_t c = { u, loss, nloss, blob, size, fg_jrec_crc (blob, size), false };
    int rc = fg_jdb_write (self, "put_update", s_update_txn, &c, err);
    if (rc == 0 && duplicate)
        *duplicate = c.duplicate;
    return rc;
}

//  The loss curve of updates/round/shard copied out (*loss NULL unless
//  asked for and not empty).
static int
s_loss_copy (fg_journal_t *self, MDB_txn *txn, const uint8_t key [8], float **loss,
             size_t *nloss, fg_error_t *err)
{
    fg_jrec_any_t any;
    int rc = fg_jdb_read (self, txn, FG_JDB_METRICS, key, 8, FG_JREC_LOSS, 0, &any, err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_EFORMAT, "journal %s: metrics/%u/%u: loss curve missing",
                             self->path, fg_jdb_get_be32 (key), fg_jdb_get_be32 (key + 4));
    if (rc)
        return rc;
    const fg_jrec_loss_t *l = &any.loss;
    if (loss && l->count) {
        *loss = malloc ((size_t) l->count * sizeof (float));
        if (!*loss)
            return fg_error_set (err, FG_ENOMEM, "journal: out of memory");
        for (uint32_t i = 0; i < l->count; i++) {
            uint32_t bits = fg_le_get32 (l->points + 4 * (size_t) i);
            memcpy (&(*loss) [i], &bits, 4);
        }
    }
    if (nloss)
        *nloss = l->count;
    return 0;
}

int
fg_journal_get_update (fg_journal_t *self, uint32_t round, uint32_t shard,
                       fg_journal_update_t *u, float **loss, size_t *nloss,
                       void **blob, size_t *size, fg_error_t *err)
{
    assert (self);
    float *lcopy = NULL;
    size_t lcount = 0;
    if (loss)
        *loss = NULL;
    if (nloss)
        *nloss = 0;
    if (blob)
        *blob = NULL;
    if (size)
        *size = 0;
    uint8_t key [8];
    fg_jdb_put_be32 (key, round);
    fg_jdb_put_be32 (key + 4, shard);
    MDB_txn *txn;
    fg_jrec_any_t any;
    int rc = fg_jdb_lookup (self, FG_JDB_UPDATES, key, 8, FG_JREC_UPDATE,
                            FG_JDB_KEY | (blob? FG_JDB_BLOB: 0), &txn, &any, err);
    uint32_t pruned = 0;
    if (rc == FG_ENOENT && fg_journal_pruned (self, &pruned, NULL) == 0 && round <= pruned)
        return fg_error_set (err, FG_ENOENT, "journal %s: no update of round %u shard %u: the "
                             "updates of rounds 1..%u were pruned after they committed "
                             "(journal.keep_updates)", self->path, round, shard, pruned);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_ENOENT, "journal %s: no update of round %u shard %u",
                             self->path, round, shard);
    if (rc)
        return rc;
    const fg_jrec_update_t *rec = &any.update;
    void *bcopy = NULL;
    if ((loss || nloss) && (rc = s_loss_copy (self, txn, key, loss? &lcopy: NULL, &lcount, err)))
        goto done;
    if (blob && !(bcopy = s_copy (rec->blob, rec->head.blob_size, err))) {
        rc = FG_ENOMEM;
        goto done;
    }
    if (u)
        *u = rec->head;
    if (loss)
        *loss = lcopy, lcopy = NULL;
    if (nloss)
        *nloss = lcount;
    if (blob)
        *blob = bcopy, bcopy = NULL;
    if (size)
        *size = (size_t) rec->head.blob_size;
done:
    free (lcopy);
    free (bcopy);
    mdb_txn_abort (txn);
    return rc;
}

//  Collects the u32 at offset `at` of every key of db with the given size
//  whose first `prefix_len` bytes equal prefix.
static int
s_collect (fg_journal_t *self, int db, size_t ksize, const uint8_t *prefix, size_t prefix_len,
           size_t at, uint32_t **items, size_t *count, fg_error_t *err)
{
    *items = NULL;
    *count = 0;
    MDB_txn *txn;
    MDB_cursor *cursor;
    MDB_val k, v;
    int mrc;
    int rc = s_cursor_from (self, db, prefix_len? prefix: NULL, prefix_len, &txn, &cursor, &k, &v,
                            &mrc, err);
    if (rc)
        return rc;
    size_t cap = 0;
    uint32_t *list = NULL;
    while (mrc == 0) {
        if (prefix_len && (k.mv_size < prefix_len || memcmp (k.mv_data, prefix, prefix_len)))
            break;
        if (k.mv_size == ksize) {
            if (*count == cap) {
                cap = cap? 2 * cap: 16;
                uint32_t *grown = realloc (list, cap * sizeof *grown);
                if (!grown) {
                    rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory");
                    break;
                }
                list = grown;
            }
            list [(*count)++] = fg_jdb_get_be32 ((const uint8_t *) k.mv_data + at);
        }
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = fg_jdb_fail (self, mrc, err, "walk %s", fg_jdb_names [db]);
    if (rc) {
        free (list);
        *count = 0;
        return rc;
    }
    *items = list;
    return 0;
}

int
fg_journal_update_shards (fg_journal_t *self, uint32_t round, uint32_t **shards, size_t *count,
                          fg_error_t *err)
{
    assert (self && shards && count);
    uint8_t prefix [4];
    fg_jdb_put_be32 (prefix, round);
    return s_collect (self, FG_JDB_UPDATES, 8, prefix, 4, 4, shards, count, err);
}

//  ---- weights ------------------------------------------------------------------

int
fg_journal_weights_rounds (fg_journal_t *self, uint32_t **rounds, size_t *count, fg_error_t *err)
{
    assert (self && rounds && count);
    return s_collect (self, FG_JDB_WEIGHTS, 4, NULL, 0, 0, rounds, count, err);
}

//  Places cursor on the checkpoint of round (FG_JOURNAL_LATEST: the newest;
//  or_earlier: the newest at or before round). Returns mdb_cursor_get's code.
static int
s_weights_seek (MDB_cursor *cursor, uint32_t round, bool or_earlier, MDB_val *k, MDB_val *v)
{
    if (round == FG_JOURNAL_LATEST)
        return mdb_cursor_get (cursor, k, v, MDB_LAST);
    uint8_t key [4];
    fg_jdb_put_be32 (key, round);
    k->mv_size = 4;
    k->mv_data = key;
    int mrc = mdb_cursor_get (cursor, k, v, or_earlier? MDB_SET_RANGE: MDB_SET_KEY);
    if (or_earlier) {
        //  SET_RANGE gives the first key >= round: step back unless equal.
        if (mrc == 0 && !(k->mv_size == 4 && fg_jdb_get_be32 (k->mv_data) == round))
            mrc = mdb_cursor_get (cursor, k, v, MDB_PREV);
        else
        if (mrc == MDB_NOTFOUND)
            mrc = mdb_cursor_get (cursor, k, v, MDB_LAST);
    }
    if (k->mv_data == key)              //  MDB_SET_KEY keeps our key: do not leak it
        k->mv_data = NULL, k->mv_size = 0;
    return mrc;
}

int
fg_journal_get_weights (fg_journal_t *self, uint32_t round, bool or_earlier, uint32_t *found,
                        void **blob, size_t *size, fg_error_t *err)
{
    assert (self && blob && size);
    *blob = NULL;
    *size = 0;
    MDB_txn *txn;
    MDB_cursor *cursor;
    int rc = s_cursor_begin (self, FG_JDB_WEIGHTS, &txn, &cursor, err);
    if (rc)
        return rc;
    MDB_val k, v;
    int mrc = s_weights_seek (cursor, round, or_earlier, &k, &v);
    mdb_cursor_close (cursor);
    fg_jrec_any_t any;
    if (mrc == MDB_NOTFOUND && round == FG_JOURNAL_LATEST)
        rc = fg_error_set (err, FG_ENOENT, "journal %s: no weights checkpoint stored", self->path);
    else
    if (mrc == MDB_NOTFOUND)
        rc = fg_error_set (err, FG_ENOENT, "journal %s: no weights checkpoint %s round %u "
                           "(not committed or not retained)", self->path,
                           or_earlier? "at or before": "of", round);
    else
    if (mrc)
        rc = fg_jdb_fail (self, mrc, err, "read weights");
    else
    if ((rc = fg_jdb_decode (self, FG_JDB_WEIGHTS, &k, &v, FG_JREC_WEIGHTS,
                             FG_JDB_BLOB | FG_JDB_KEY, &any, err)) == 0
    &&  (*blob = s_copy (any.weights.blob, any.weights.blob_size, err)) == NULL)
        rc = FG_ENOMEM;
    else
    if (rc == 0) {
        *size = (size_t) any.weights.blob_size;
        if (found)
            *found = any.weights.round;
    }
    mdb_txn_abort (txn);
    return rc;
}

//  ---- optimizer state ------------------------------------------------------------

int
fg_journal_optimizer_rounds (fg_journal_t *self, uint32_t **rounds, size_t *count,
                             fg_error_t *err)
{
    assert (self && rounds && count);
    if (!fg_jdb_have (self, FG_JDB_OPTIMIZER)) {
        *rounds = NULL;
        *count = 0;
        return 0;
    }
    return s_collect (self, FG_JDB_OPTIMIZER, 4, NULL, 0, 0, rounds, count, err);
}

int
fg_journal_get_optimizer (fg_journal_t *self, uint32_t round, void **blob, size_t *size,
                          fg_error_t *err)
{
    assert (self && blob && size);
    *blob = NULL;
    *size = 0;
    uint8_t key [4];
    fg_jdb_put_be32 (key, round);
    MDB_txn *txn;
    fg_jrec_any_t any;
    int rc = fg_jdb_lookup (self, FG_JDB_OPTIMIZER, key, 4, FG_JREC_OPTIMIZER,
                            FG_JDB_BLOB | FG_JDB_KEY, &txn, &any, err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_ENOENT, "journal %s: no optimizer state (momentum buffer) "
                             "of round %u", self->path, round);
    if (rc)
        return rc;
    if (!(*blob = s_copy (any.optimizer.blob, any.optimizer.blob_size, err)))
        rc = FG_ENOMEM;
    else
        *size = (size_t) any.optimizer.blob_size;
    mdb_txn_abort (txn);
    return rc;
}

//  ---- nodes --------------------------------------------------------------------

static int
s_node_put_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    const fg_journal_node_t *node = (const fg_journal_node_t *) ctx;
    uint8_t rec [FG_JREC_OVERHEAD + 56 + FG_JOURNAL_IDENTITY_MAX];
    size_t size = fg_jrec_encode_node (rec, sizeof rec, node);
    if (FG_NEVER (size == 0))
        return fg_error_set (err, FG_EINVAL, "journal: node %u: cannot encode", node->node);
    uint8_t key [4];
    fg_jdb_put_be32 (key, node->node);
    return fg_jdb_put (self, txn, FG_JDB_NODES, "node_put", key, 4, rec, size, 0, NULL, err);
}

int
fg_journal_node_put (fg_journal_t *self, const fg_journal_node_t *node, fg_error_t *err)
{
    assert (self);
    FG_JDB_WRITABLE (self, "node_put");
    if (!node)
        return fg_error_set (err, FG_EINVAL, "journal: node_put: no node");
    size_t length = strnlen (node->identity, FG_JOURNAL_IDENTITY_MAX);
    if (length == 0 || length >= FG_JOURNAL_IDENTITY_MAX)
        return fg_error_set (err, FG_EINVAL, "journal: node %u: identity must be 1..%d bytes",
                             node->node, FG_JOURNAL_IDENTITY_MAX - 1);
    if (!(isfinite (node->speed) && node->speed >= 0.0)
    ||  !(node->trust >= 0.0 && node->trust <= 1.0))
        return fg_error_set (err, FG_EINVAL, "journal: node %u: speed %g must be finite and "
                             ">= 0, trust %g within 0..1", node->node, node->speed, node->trust);
    return fg_jdb_write (self, "node_put", s_node_put_txn, (void *) node, err);
}

int
fg_journal_node_get (fg_journal_t *self, uint32_t node, fg_journal_node_t *out, fg_error_t *err)
{
    assert (self && out);
    uint8_t key [4];
    fg_jdb_put_be32 (key, node);
    MDB_txn *txn;
    fg_jrec_any_t any;
    int rc = fg_jdb_lookup (self, FG_JDB_NODES, key, 4, FG_JREC_NODE, FG_JDB_KEY, &txn, &any,
                            err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_ENOENT, "journal %s: no node %u", self->path, node);
    if (rc)
        return rc;
    *out = any.node.node;
    mdb_txn_abort (txn);
    return 0;
}

//  Calls each (key, record) of db from key `from` (NULL: the first) on,
//  decoded as kind, until each returns non-zero (returned).
typedef int (s_each_fn) (const fg_jrec_any_t *record, void *arg);

static int
s_foreach (fg_journal_t *self, int db, const void *from, size_t from_size, int kind,
           s_each_fn *each, void *arg, fg_error_t *err)
{
    MDB_txn *txn;
    MDB_cursor *cursor;
    MDB_val k, v;
    int mrc;
    int rc = s_cursor_from (self, db, from, from_size, &txn, &cursor, &k, &v, &mrc, err);
    if (rc)
        return rc;
    while (mrc == 0 && rc == 0) {
        fg_jrec_any_t any;
        if ((rc = fg_jdb_decode (self, db, &k, &v, kind, 0, &any, err)))
            break;
        rc = each (&any, arg);
        if (rc == 0)
            mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = fg_jdb_fail (self, mrc, err, "walk %s", fg_jdb_names [db]);
    return rc;
}

typedef struct {
    fg_journal_node_fn  *node_fn;
    fg_journal_event_fn *event_fn;
    void *arg;
} s_each_t;

static int
s_each_node (const fg_jrec_any_t *record, void *arg)
{
    s_each_t *each = (s_each_t *) arg;
    return each->node_fn (&record->node.node, each->arg);
}

int
fg_journal_nodes_foreach (fg_journal_t *self, fg_journal_node_fn *fn, void *arg, fg_error_t *err)
{
    assert (self && fn);
    s_each_t each = { fn, NULL, arg };
    return s_foreach (self, FG_JDB_NODES, NULL, 0, FG_JREC_NODE, s_each_node, &each, err);
}

//  ---- events -------------------------------------------------------------------

typedef struct {
    uint32_t round;
    const char *text;
    size_t length;
    uint64_t seq;
} s_event_t;

static int
s_event_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_event_t *e = (s_event_t *) ctx;
    return fg_jdb_event_put (self, txn, "event_append", e->round, e->text, e->length, &e->seq,
                             err);
}

int
fg_journal_event_append (fg_journal_t *self, uint32_t round, const char *text, uint64_t *seq,
                         fg_error_t *err)
{
    assert (self);
    FG_JDB_WRITABLE (self, "event_append");
    if (!text)
        return fg_error_set (err, FG_EINVAL, "journal: event_append: no text");
    size_t length = strnlen (text, FG_JOURNAL_EVENT_MAX + 1);
    if (length > FG_JOURNAL_EVENT_MAX)
        return fg_error_set (err, FG_ERANGE, "journal: event text longer than %d bytes",
                             FG_JOURNAL_EVENT_MAX);
    s_event_t e = { round, text, length, 0 };
    int rc = fg_jdb_write (self, "event_append", s_event_txn, &e, err);
    if (rc == 0 && seq)
        *seq = e.seq;
    return rc;
}

static int
s_each_event (const fg_jrec_any_t *record, void *arg)
{
    s_each_t *each = (s_each_t *) arg;
    const fg_jrec_event_t *ev = &record->event;
    char text [FG_JOURNAL_EVENT_MAX + 1];
    memcpy (text, ev->text, ev->length);
    text [ev->length] = 0;
    fg_journal_event_t pub = { ev->seq, ev->time_ns, ev->round, ev->length, text };
    return each->event_fn (&pub, each->arg);
}

int
fg_journal_events_foreach (fg_journal_t *self, uint64_t from, fg_journal_event_fn *fn, void *arg,
                           fg_error_t *err)
{
    assert (self && fn);
    uint8_t key [8];
    fg_jdb_put_be64 (key, from);
    s_each_t each = { NULL, fn, arg };
    return s_foreach (self, FG_JDB_EVENTS, key, 8, FG_JREC_EVENT, s_each_event, &each, err);
}
