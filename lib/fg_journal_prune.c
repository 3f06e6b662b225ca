/*  fg_journal_prune.c — update retention (fg_journal.h): the update blobs
    and loss curves of committed rounds are deleted once no resume and no
    verify needs them, inside the commit of a later round; meta/pruned
    records how far, so verify tells a pruned round from a damaged one.
    And the space the journal takes (file, pages in use, free pages).

    Why it is sound (docs/journal.md "Update retention"): a resume needs
    the newest weights checkpoint (with its momentum buffer) and the
    updates of the round still open; a committed round's weights are
    written in the same transaction as its commit, so no crash can leave a
    committed round whose weights must be refolded from its updates.     */

#include "fg_journal_internal.h"
#include "fg_log.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_PRUNE_ROUNDS_MAX  64          //  rounds one commit prunes (catch-up after a change)

int
fg_journal_set_update_retention (fg_journal_t *self, int64_t keep_updates, fg_error_t *err)
{
    assert (self);
    if (keep_updates < 0)
        return fg_error_set (err, FG_ERANGE, "journal: update retention keep_updates %" PRId64
                             " must be >= 0", keep_updates);
    self->keep_updates = (uint64_t) keep_updates;
    return 0;
}

//  Shards of round `round` in db (updates: u32 round || u32 shard keys;
//  metrics: the same for loss curves, beside 4-byte round keys), so they
//  can be deleted after the walk. Caller frees *keys.
static int
s_round_keys (fg_journal_t *self, MDB_txn *txn, int db, uint32_t round, uint32_t **keys,
              size_t *count, uint64_t *bytes, fg_error_t *err)
{
    *keys = NULL;
    *count = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [db], &cursor);
    if (rc)
        return fg_jdb_fail (self, rc, err, "prune: open %s cursor", fg_jdb_names [db]);
    uint8_t start [8];
    fg_jdb_put_be32 (start, round);
    fg_jdb_put_be32 (start + 4, 0);
    MDB_val k = { 8, start }, v;
    size_t cap = 0;
    int mrc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    for (; mrc == 0; mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 4 || fg_jdb_get_be32 (k.mv_data) != round)
            break;
        if (k.mv_size != 8)
            continue;                   //  metrics/R itself stays
        if (*count == cap) {
            cap = cap? 2 * cap: 64;
            uint32_t *grown = realloc (*keys, cap * sizeof *grown);
            if (!grown) {
                mdb_cursor_close (cursor);
                return fg_error_set (err, FG_ENOMEM, "journal: out of memory");
            }
            *keys = grown;
        }
        (*keys) [(*count)++] = fg_jdb_get_be32 ((const uint8_t *) k.mv_data + 4);
        if (bytes)
            *bytes += v.mv_size;
    }
    mdb_cursor_close (cursor);
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        return fg_jdb_fail (self, mrc, err, "prune: walk %s", fg_jdb_names [db]);
    return 0;
}

//  Deletes db's (round, shard) keys of one round.
static int
s_prune_db (fg_journal_t *self, MDB_txn *txn, int db, const char *label, uint32_t round,
            size_t *count, uint64_t *bytes, fg_error_t *err)
{
    uint32_t *shards;
    size_t n;
    int rc = s_round_keys (self, txn, db, round, &shards, &n, bytes, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t key [8];
        fg_jdb_put_be32 (key, round);
        fg_jdb_put_be32 (key + 4, shards [i]);
        rc = fg_jdb_del (self, txn, db, label, key, 8, err);
    }
    free (shards);
    if (count)
        *count += n;
    return rc;
}

int
fg_jdb_prune (fg_journal_t *self, MDB_txn *txn, uint32_t round, fg_jdb_pruned_t *out,
              fg_error_t *err)
{
    memset (out, 0, sizeof *out);
    out->through = self->pruned;
    //  keep the updates of rounds round - keep_updates + 1 .. round
    if (self->keep_updates >= round)
        return 0;
    uint32_t target = round - (uint32_t) self->keep_updates;
    if (target <= self->pruned)
        return 0;
    uint32_t from = self->pruned + 1;
    uint32_t to = target - self->pruned > S_PRUNE_ROUNDS_MAX? self->pruned + S_PRUNE_ROUNDS_MAX
                                                           : target;
    if (to < target)    //  a retention change left many: the next commits prune the rest
        fg_debug ("journal %s: prunes the updates of rounds %u..%u now, up to %u later",
                  self->path, from, to, target);
    int rc = 0;
    for (uint32_t q = from; rc == 0 && q <= to; q++) {
        rc = s_prune_db (self, txn, FG_JDB_UPDATES, "commit_round:prune-update", q,
                         &out->updates, &out->bytes, err);
        if (rc == 0)
            rc = s_prune_db (self, txn, FG_JDB_METRICS, "commit_round:prune-loss", q, NULL,
                             NULL, err);
    }
    if (rc)
        return rc;
    uint8_t rec [FG_JREC_SIZE_PRUNED];
    fg_jrec_encode_pruned (rec, sizeof rec, to);
    if ((rc = fg_jdb_put (self, txn, FG_JDB_META, "commit_round:pruned", "pruned", 6, rec,
                          sizeof rec, 0, NULL, err)))
        return rc;
    out->from = from;
    out->through = to;
    return 0;
}

int
fg_jdb_pruned_read (fg_journal_t *self, MDB_txn *txn, uint32_t *through, fg_error_t *err)
{
    *through = 0;
    fg_jrec_any_t r;
    int rc = fg_jdb_read (self, txn, FG_JDB_META, "pruned", 6, FG_JREC_PRUNED, 0, &r, err);
    if (rc == FG_ENOENT)
        return 0;                       //  nothing pruned (or a journal from before pruning)
    if (rc == 0)
        *through = r.pruned.through;
    return rc;
}

int
fg_journal_pruned (fg_journal_t *self, uint32_t *through, fg_error_t *err)
{
    assert (self && through);
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    rc = fg_jdb_pruned_read (self, txn, through, err);
    mdb_txn_abort (txn);
    return rc;
}

//  Pages on LMDB's free list (the free database's values are page lists,
//  their first word the count, as mdb_stat -f reads them): pages a later
//  write transaction reuses before the file grows.
static int
s_free_pages (fg_journal_t *self, MDB_txn *txn, uint64_t *pages, fg_error_t *err)
{
    *pages = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, 0, &cursor);
    if (rc)
        return fg_jdb_fail (self, rc, err, "open the free-page list");
    MDB_val k, v;
    int mrc;
    for (mrc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT))
        if (v.mv_size >= sizeof (size_t)) {
            size_t n;
            memcpy (&n, v.mv_data, sizeof n);
            *pages += n;
        }
    mdb_cursor_close (cursor);
    if (mrc != MDB_NOTFOUND)
        return fg_jdb_fail (self, mrc, err, "walk the free-page list");
    return 0;
}

int
fg_journal_space (fg_journal_t *self, fg_journal_space_t *out, fg_error_t *err)
{
    assert (self && out);
    memset (out, 0, sizeof *out);
    struct stat st;
    if (stat (self->path, &st) == 0)
        out->file_bytes = (uint64_t) st.st_size;
    MDB_env *env = fg_lmdb_env (self->lmdb);
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_envinfo info;
    MDB_stat mst;
    mdb_env_info (env, &info);
    mdb_env_stat (env, &mst);
    out->page_size = mst.ms_psize;
    out->pages = (uint64_t) info.me_last_pgno + 1;
    rc = s_free_pages (self, txn, &out->free_pages, err);
    mdb_txn_abort (txn);
    return rc;
}
