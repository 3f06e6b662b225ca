/*  fg_journal.c — the coordinator's LMDB journal (see fg_journal.h and
    docs/journal.md): opening and resuming, the write path, and the one
    record reader the other journal files use (fg_journal_internal.h).

    Every write goes through fg_jdb_put / fg_jdb_del (one place per kind,
    where the test hook and the crash points hang) inside fg_jdb_write,
    which runs one write transaction: begin, the operation's puts, commit;
    on MDB_MAP_FULL it aborts, grows the map (never past the file size
    plus the free disk space) and runs the operation again from the start
    (fg_lmdb_write). Any other failure aborts the transaction, so the last
    committed state is what stays on disk.                                 */

#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "fg_clock.h"
#include "fg_journal_internal.h"
#include "fg_sha256.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#   define PACKAGE_VERSION "dev"
#endif

#define S_MAPSIZE_DEFAULT   ((size_t) 1 << 30)  //  address space, not disk
#define S_GROW_MAX          48                  //  map doublings per write

const char *const fg_jdb_names [FG_JDB_COUNT] = {
    "meta", "rounds", "updates", "weights", "metrics", "nodes", "events", "optimizer"
};

//  ---- small helpers ----------------------------------------------------------

int
fg_jdb_fail (fg_journal_t *self, int rc, fg_error_t *err, const char *fmt, ...)
{
    char what [256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    return fg_lmdb_fail (self->lmdb, rc, err, "%s", what);
}

void
fg_jdb_key_name (int db, const void *key, size_t size, char *out, size_t cap)
{
    const uint8_t *k = (const uint8_t *) key;
    if (db == FG_JDB_META) {
        int n = (int) (size < 40? size: 40);
        bool printable = true;
        for (int i = 0; i < n; i++)
            if (k [i] < 0x20 || k [i] > 0x7e)
                printable = false;
        if (printable) {
            snprintf (out, cap, "meta/%.*s", n, (const char *) k);
            return;
        }
    }
    else
    if (size == 4 && db != FG_JDB_EVENTS) {
        snprintf (out, cap, "%s/%" PRIu32, fg_jdb_names [db], fg_jdb_get_be32 (k));
        return;
    }
    else
    if (size == 8 && (db == FG_JDB_UPDATES || db == FG_JDB_METRICS)) {
        snprintf (out, cap, "%s/%" PRIu32 "/%" PRIu32, fg_jdb_names [db], fg_jdb_get_be32 (k),
                  fg_jdb_get_be32 (k + 4));
        return;
    }
    else
    if (size == 8 && db == FG_JDB_EVENTS) {
        snprintf (out, cap, "events/%" PRIu64, fg_jdb_get_be64 (k));
        return;
    }
    //  A key of the wrong shape: hex.
    int used = snprintf (out, cap, "%s/0x", fg_jdb_names [db]);
    for (size_t i = 0; i < size && i < 16 && used > 0 && (size_t) used + 3 < cap; i++)
        used += snprintf (out + used, cap - (size_t) used, "%02x", k [i]);
}

//  ---- the one place every write goes through ---------------------------------

static int
s_hook (fg_journal_t *self, const char *label, fg_error_t *err)
{
    self->writes++;
    if (self->hook) {
        int rc = self->hook (label, self->writes, self->hook_arg);
        if (rc)
            return fg_jdb_fail (self, rc, err, "%s (write %" PRIu64 ")", label, self->writes);
    }
    return 0;
}

int
fg_jdb_put (fg_journal_t *self, MDB_txn *txn, int db, const char *label,
            const void *key, size_t ksize, const void *value, size_t vsize,
            unsigned flags, MDB_val *reserved, fg_error_t *err)
{
    int rc = s_hook (self, label, err);
    if (rc)
        return rc;
    MDB_val k = { ksize, (void *) key };
    MDB_val v = { vsize, (void *) value };
    rc = fg_lmdb_put (self->lmdb, txn, self->db [db], &k, &v, flags);
    if (rc == MDB_KEYEXIST && (flags & MDB_NOOVERWRITE)) {
        if (reserved)
            *reserved = v;
        return FG_EEXIST;
    }
    if (rc) {
        char name [64];
        fg_jdb_key_name (db, key, ksize, name, sizeof name);
        return fg_jdb_fail (self, rc, err, "%s: put %s (%zu bytes)", label, name, vsize);
    }
    if (reserved)
        *reserved = v;
    return 0;
}

int
fg_jdb_del (fg_journal_t *self, MDB_txn *txn, int db, const char *label,
            const void *key, size_t ksize, fg_error_t *err)
{
    int rc = s_hook (self, label, err);
    if (rc)
        return rc;
    MDB_val k = { ksize, (void *) key };
    rc = mdb_del (txn, self->db [db], &k, NULL);
    if (rc) {
        char name [64];
        fg_jdb_key_name (db, key, ksize, name, sizeof name);
        return fg_jdb_fail (self, rc, err, "%s: delete %s", label, name);
    }
    return 0;
}

bool
fg_jdb_have (const fg_journal_t *self, int db)
{
    return db != FG_JDB_OPTIMIZER || self->have_optimizer;
}

int
fg_jdb_get (fg_journal_t *self, MDB_txn *txn, int db, const void *key, size_t ksize,
            MDB_val *value, fg_error_t *err)
{
    if (!fg_jdb_have (self, db))
        return FG_ENOENT;
    MDB_val k = { ksize, (void *) key };
    int rc = mdb_get (txn, self->db [db], &k, value);
    if (rc == MDB_NOTFOUND)
        return FG_ENOENT;
    if (rc) {
        char name [64];
        fg_jdb_key_name (db, key, ksize, name, sizeof name);
        return fg_jdb_fail (self, rc, err, "get %s", name);
    }
    return 0;
}

int
fg_jdb_read_begin (fg_journal_t *self, MDB_txn **txn, fg_error_t *err)
{
    return fg_lmdb_read_begin (self->lmdb, txn, err);
}

typedef struct {
    fg_journal_t  *self;
    fg_jdb_txn_fn *fn;
    void          *ctx;
} s_txn_t;

static int
s_txn (MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_txn_t *t = (s_txn_t *) ctx;
    return t->fn (t->self, txn, t->ctx, err);
}

int
fg_jdb_write (fg_journal_t *self, const char *what, fg_jdb_txn_fn *fn, void *ctx,
              fg_error_t *err)
{
    FG_JDB_WRITABLE (self, what);
    s_txn_t t = { self, fn, ctx };
    return fg_lmdb_write (self->lmdb, what, 0, s_txn, &t, err);
}

//  ---- events (written inside other transactions too) ------------------------

int
fg_jdb_event_put (fg_journal_t *self, MDB_txn *txn, const char *label, uint32_t round,
                  const char *text, size_t length, uint64_t *seq_out, fg_error_t *err)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [FG_JDB_EVENTS], &cursor);
    if (rc)
        return fg_jdb_fail (self, rc, err, "%s: open events cursor", label);
    MDB_val k, v;
    uint64_t seq = 1;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    mdb_cursor_close (cursor);
    if (rc == 0) {
        if (k.mv_size != 8)
            return fg_error_set (err, FG_EFORMAT, "journal %s: %s: last events key is %zu "
                                 "bytes, not 8", self->path, label, k.mv_size);
        seq = fg_jdb_get_be64 (k.mv_data) + 1;
    }
    else
    if (rc != MDB_NOTFOUND)
        return fg_jdb_fail (self, rc, err, "%s: read last event", label);
    if (length > FG_JOURNAL_EVENT_MAX)
        length = FG_JOURNAL_EVENT_MAX;
    uint8_t key [8];
    fg_jdb_put_be64 (key, seq);
    size_t size = fg_jrec_size_event (length);
    MDB_val space;
    rc = fg_jdb_put (self, txn, FG_JDB_EVENTS, label, key, 8, NULL, size,
                     MDB_APPEND | MDB_RESERVE, &space, err);
    if (rc)
        return rc;
    fg_jrec_encode_event (space.mv_data, size, seq, fg_clock_wall_ns (), round, text, length);
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int
fg_jdb_eventf (fg_journal_t *self, MDB_txn *txn, const char *label, uint32_t round,
               fg_error_t *err, const char *fmt, ...)
{
    char text [512];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    if (n < 0)
        n = 0;
    if ((size_t) n >= sizeof text)
        n = sizeof text - 1;
    return fg_jdb_event_put (self, txn, label, round, text, (size_t) n, NULL, err);
}

//  ---- the one record reader --------------------------------------------------

int
fg_jrec_decode_kind (int kind, bool check_blob, const void *value, size_t size,
                     fg_jrec_any_t *out, fg_error_t *err)
{
    switch (kind) {
        case FG_JREC_SCHEMA:     return fg_jrec_decode_schema (value, size, &out->schema, err);
        case FG_JREC_CONFIG:     return fg_jrec_decode_config (value, size, &out->config, err);
        case FG_JREC_EXPERIMENT: return fg_jrec_decode_experiment (value, size,
                                                                   &out->experiment, err);
        case FG_JREC_ROUND:      return fg_jrec_decode_round (value, size, &out->round, err);
        case FG_JREC_UPDATE:     return fg_jrec_decode_update (value, size, check_blob,
                                                               &out->update, err);
        case FG_JREC_WEIGHTS:    return fg_jrec_decode_weights (value, size, check_blob,
                                                                &out->weights, err);
        case FG_JREC_OPTIMIZER:  return fg_jrec_decode_optimizer (value, size, check_blob,
                                                                  &out->optimizer, err);
        case FG_JREC_METRICS:    return fg_jrec_decode_metrics (value, size, &out->metrics, err);
        case FG_JREC_LOSS:       return fg_jrec_decode_loss (value, size, &out->loss, err);
        case FG_JREC_NODE:       return fg_jrec_decode_node (value, size, &out->node, err);
        case FG_JREC_EVENT:      return fg_jrec_decode_event (value, size, &out->event, err);
        case FG_JREC_PRUNED:     return fg_jrec_decode_pruned (value, size, &out->pruned, err);
        default:                 return fg_error_set (err, FG_EFORMAT, "unknown record kind %d",
                                                      kind);
    }
}

//  The record's own idea of its key, when it is not the key's: "round 3",
//  "round 3 shard 1", "node 7". NULL when they agree (or kind has none).
static const char *
s_other_key (int kind, const fg_jrec_any_t *r, const MDB_val *k, char *buf, size_t cap)
{
    uint32_t k1 = k->mv_size >= 4? fg_jdb_get_be32 (k->mv_data): 0;
    uint32_t k2 = k->mv_size >= 8? fg_jdb_get_be32 ((const uint8_t *) k->mv_data + 4): 0;
    uint32_t round = 0, shard = 0;
    switch (kind) {
        case FG_JREC_ROUND:     round = r->round.head.round; break;
        case FG_JREC_WEIGHTS:   round = r->weights.round; break;
        case FG_JREC_OPTIMIZER: round = r->optimizer.round; break;
        case FG_JREC_METRICS:   round = r->metrics.round; break;
        case FG_JREC_UPDATE:
            if (r->update.head.round == k1 && r->update.head.shard == k2)
                return NULL;
            snprintf (buf, cap, "round %u shard %u", r->update.head.round, r->update.head.shard);
            return buf;
        case FG_JREC_LOSS:
            round = r->loss.round;
            shard = r->loss.shard;
            if (round == k1 && shard == k2)
                return NULL;
            snprintf (buf, cap, "round %u shard %u", round, shard);
            return buf;
        case FG_JREC_NODE:
            if (r->node.node.node == k1)
                return NULL;
            snprintf (buf, cap, "node %u", r->node.node.node);
            return buf;
        default:
            return NULL;
    }
    if (round == k1)
        return NULL;
    snprintf (buf, cap, "round %u", round);
    return buf;
}

int
fg_jdb_decode (fg_journal_t *self, int db, const MDB_val *k, const MDB_val *v, int kind,
               unsigned flags, fg_jrec_any_t *out, fg_error_t *err)
{
    int rc = fg_jrec_decode_kind (kind, (flags & FG_JDB_BLOB) != 0, v->mv_data, v->mv_size,
                                  out, err);
    char name [64], other [48];
    if (rc) {
        fg_jdb_key_name (db, k->mv_data, k->mv_size, name, sizeof name);
        fg_error_prefix (err, "journal %s: %s", self->path, name);
        return rc;
    }
    const char *is = (flags & FG_JDB_KEY)? s_other_key (kind, out, k, other, sizeof other): NULL;
    if (is) {
        fg_jdb_key_name (db, k->mv_data, k->mv_size, name, sizeof name);
        return fg_error_set (err, FG_EFORMAT, "journal %s: %s: record is of %s", self->path,
                             name, is);
    }
    return 0;
}

int
fg_jdb_read (fg_journal_t *self, MDB_txn *txn, int db, const void *key, size_t ksize,
             int kind, unsigned flags, fg_jrec_any_t *out, fg_error_t *err)
{
    MDB_val k = { ksize, (void *) key }, v;
    int rc = fg_jdb_get (self, txn, db, key, ksize, &v, err);
    if (rc)
        return rc;
    return fg_jdb_decode (self, db, &k, &v, kind, flags, out, err);
}

int
fg_jdb_lookup (fg_journal_t *self, int db, const void *key, size_t ksize, int kind,
               unsigned flags, MDB_txn **txn, fg_jrec_any_t *out, fg_error_t *err)
{
    int rc = fg_jdb_read_begin (self, txn, err);
    if (rc)
        return rc;
    rc = fg_jdb_read (self, *txn, db, key, ksize, kind, flags, out, err);
    if (rc) {
        mdb_txn_abort (*txn);
        *txn = NULL;
    }
    return rc;
}

int
fg_jdb_meta_read (fg_journal_t *self, MDB_txn *txn, const char *name, int kind,
                  fg_jrec_any_t *out, fg_error_t *err)
{
    int rc = fg_jdb_read (self, txn, FG_JDB_META, name, strlen (name), kind, 0, out, err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_EFORMAT, "journal %s: meta/%s is missing", self->path, name);
    return rc;
}

int
fg_jdb_round_read (fg_journal_t *self, MDB_txn *txn, uint32_t round, fg_jrec_round_t *r,
                   fg_error_t *err)
{
    uint8_t key [4];
    fg_jdb_put_be32 (key, round);
    fg_jrec_any_t any;
    int rc = fg_jdb_read (self, txn, FG_JDB_ROUNDS, key, 4, FG_JREC_ROUND, FG_JDB_KEY, &any, err);
    if (rc == 0)
        *r = any.round;
    return rc;
}

int
fg_jdb_scan_last (fg_journal_t *self, MDB_txn *txn, bool *have, uint32_t *last, fg_error_t *err)
{
    *have = false;
    *last = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [FG_JDB_ROUNDS], &cursor);
    if (rc)
        return fg_jdb_fail (self, rc, err, "open rounds cursor");
    MDB_val k, v;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    mdb_cursor_close (cursor);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return fg_jdb_fail (self, rc, err, "read last round");
    fg_jrec_round_t r;
    if ((rc = fg_jrec_decode_round (v.mv_data, v.mv_size, &r, err))) {
        fg_error_prefix (err, "journal %s: last round", self->path);
        return rc;
    }
    uint32_t last_round = r.head.state == FG_ROUND_COMMITTED? r.head.round: r.head.round - 1;
    *have = last_round > 0;
    *last = last_round;
    return 0;
}

int
fg_jdb_walk (fg_journal_t *self, MDB_txn *txn, int db, fg_jdb_walk_fn *fn, void *ctx,
             fg_error_t *err)
{
    if (!fg_jdb_have (self, db))
        return 0;                       //  an absent database is an empty one
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [db], &cursor);
    if (rc)
        return fg_jdb_fail (self, rc, err, "open %s cursor", fg_jdb_names [db]);
    MDB_val k, v;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
        fn (self, txn, &k, &v, ctx);
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    if (rc != MDB_NOTFOUND)
        return fg_jdb_fail (self, rc, err, "walk %s", fg_jdb_names [db]);
    return 0;
}

//  ---- opening and closing -----------------------------------------------------

const char *
fg_journal_remote_fs_name (unsigned long f_type)
{
    return fg_lmdb_remote_fs_name (f_type);
}

bool
fg_journal_exists (const char *dir)
{
    char path [FG_JDB_PATH_MAX];
    if (!dir || snprintf (path, sizeof path, "%s/%s", dir, FG_JOURNAL_FILE) >= (int) sizeof path)
        return false;
    return access (path, F_OK) == 0;
}

void
fg_journal_close (fg_journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_lmdb_close (&(*self_p)->lmdb);
    free (*self_p);
    *self_p = NULL;
}

//  A damaged file's message ends with the other way out than a backup.
static void
s_afresh_hint (const char *dir, fg_error_t *err)
{
    if (!err)
        return;
    char hint [FG_ERROR_MSG_MAX + FG_JDB_PATH_MAX + 128];
    snprintf (hint, sizeof hint, "%s, or start afresh in a new directory: mkdir NEW && cp "
              "%s/fedgrid.toml NEW/ && fedctl start NEW", err->msg, dir);
    fg_error_set (err, err->code, "%s", hint);
}

//  Common part of every open: the folder, the file, the environment. An
//  existing file is checked against LMDB's meta pages first, and an empty
//  one refused: a journal that lost its data is not a new experiment.
static int
s_env_open (const char *dir, bool readonly, bool create, const fg_journal_opts_t *opts,
            fg_journal_t **out, fg_error_t *err)
{
    if (!dir || !*dir || !out)
        return fg_error_set (err, FG_EINVAL, "journal: no experiment directory given");
    *out = NULL;
    if (strlen (dir) + strlen (FG_JOURNAL_FILE) + 16 >= FG_JDB_PATH_MAX)
        return fg_error_set (err, FG_EINVAL, "journal: directory name too long (%zu bytes)",
                             strlen (dir));
    fg_journal_t *self = calloc (1, sizeof *self);
    if (!self)
        return fg_error_set (err, FG_ENOMEM, "journal: out of memory");
    self->readonly = readonly;
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    snprintf (self->path, sizeof self->path, "%s/%s", dir, FG_JOURNAL_FILE);
    self->keep_last = FG_JOURNAL_KEEP_LAST;
    self->keep_every = FG_JOURNAL_KEEP_EVERY;
    self->keep_updates = UINT64_MAX;    //  nothing pruned until asked
    char missing [3 * FG_JDB_PATH_MAX];
    snprintf (missing, sizeof missing, "journal: no journal in %s (%s does not exist); start "
              "the experiment first (fedctl start %s)", dir, self->path, dir);
    fg_lmdb_opts_t o = {
        .label = "journal", .maxdbs = FG_JDB_COUNT, .local_only = true,
        .dir_name = "experiment directory",
        .mapsize = readonly? 0: opts && opts->mapsize? opts->mapsize: S_MAPSIZE_DEFAULT,
        .flags = readonly? MDB_RDONLY: 0,
        .missing = readonly || !create? missing: NULL,
        .lock_hint = readonly? NULL: "is a coordinator running for this experiment?",
        .grow_max = S_GROW_MAX,
        .free_bytes = opts? opts->free_bytes: UINT64_MAX,
    };
    int rc = fg_lmdb_open (self->path, &o, &self->lmdb, err);
    if (rc == FG_EFORMAT)
        s_afresh_hint (dir, err);
    if (rc) {
        fg_journal_close (&self);
        return rc;
    }
    *out = self;
    return 0;
}

static int
s_schema_check (fg_journal_t *self, MDB_txn *txn, fg_error_t *err)
{
    fg_jrec_any_t r;
    int rc = fg_jdb_meta_read (self, txn, "schema", FG_JREC_SCHEMA, &r, err);
    if (rc)
        return rc;
    if (r.schema.version != FG_JOURNAL_SCHEMA_VERSION)
        return fg_error_set (err, FG_EVERSION,
            "journal %s has schema version %u and this fedgrid reads version %d; use the "
            "fedgrid release that wrote it, or start a new experiment in a new directory",
            self->path, r.schema.version, FG_JOURNAL_SCHEMA_VERSION);
    return 0;
}

typedef struct {
    const char *canonical;
    const char *hash;
    bool create;
} s_init_t;

//  A new journal (or one created but never initialised): schema, the
//  configuration, the experiment id and the first event.
static int
s_init_new (fg_journal_t *self, MDB_txn *txn, const s_init_t *init, fg_error_t *err)
{
    uint8_t schema [FG_JREC_SIZE_SCHEMA];
    fg_jrec_encode_schema (schema, sizeof schema, FG_JOURNAL_SCHEMA_VERSION);
    size_t tlen = strlen (init->canonical);
    size_t csize = fg_jrec_size_config (tlen);
    MDB_val space;
    int rc;
    if ((rc = fg_jdb_put (self, txn, FG_JDB_META, "init:schema", "schema", 6, schema,
                          sizeof schema, 0, NULL, err))
    ||  (rc = fg_jdb_put (self, txn, FG_JDB_META, "init:config", "config", 6, NULL, csize,
                          MDB_RESERVE, &space, err)))
        return rc;
    fg_jrec_encode_config (space.mv_data, csize, init->hash, init->canonical, tlen);
    //  The experiment id names this run of this configuration: a digest
    //  of the hash, the creation time, the host and the folder. It
    //  never feeds a computation (results depend on the hash alone).
    uint64_t created = fg_clock_wall_ns ();
    char host [256] = "";
    gethostname (host, sizeof host - 1);
    fg_sha256_t sha;
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256_init (&sha);
    fg_sha256_update (&sha, init->hash, FG_JREC_HASH_HEX);
    fg_sha256_update (&sha, &created, sizeof created);
    fg_sha256_update (&sha, host, strlen (host));
    fg_sha256_update (&sha, self->path, strlen (self->path));
    fg_sha256_final (&sha, digest);
    const char *label = "fedgrid " PACKAGE_VERSION;
    uint8_t xrec [FG_JREC_OVERHEAD + 28 + 64];
    size_t xsize = fg_jrec_encode_experiment (xrec, sizeof xrec, digest, created, label,
                                              strlen (label));
    if (FG_NEVER (xsize == 0))
        return fg_error_set (err, FG_EINVAL, "journal: experiment label too long");
    if ((rc = fg_jdb_put (self, txn, FG_JDB_META, "init:experiment", "experiment", 10, xrec,
                          xsize, 0, NULL, err)))
        return rc;
    return fg_jdb_eventf (self, txn, "init:event", 0, err, "journal created (schema %d, "
                          "configuration %.16s)", FG_JOURNAL_SCHEMA_VERSION, init->hash);
}

//  No meta/schema: every database must be empty (new, or a crash before
//  the first commit), and then create decides.
static int
s_init_empty (fg_journal_t *self, MDB_txn *txn, const s_init_t *init, fg_error_t *err)
{
    for (int i = 0; i < FG_JDB_COUNT; i++) {
        MDB_stat st;
        int rc = mdb_stat (txn, self->db [i], &st);
        if (rc)
            return fg_jdb_fail (self, rc, err, "stat database %s", fg_jdb_names [i]);
        if (st.ms_entries)
            return fg_error_set (err, FG_EFORMAT, "journal %s: meta/schema is missing but "
                                 "database %s has %zu records: the journal is damaged",
                                 self->path, fg_jdb_names [i], (size_t) st.ms_entries);
    }
    if (!init->create)
        return fg_error_set (err, FG_ENOENT, "journal %s was never initialised; start the "
                             "experiment first (fedctl start %s)", self->path, self->dir);
    return s_init_new (self, txn, init, err);
}

//  An initialised journal: this schema, this configuration.
static int
s_init_existing (fg_journal_t *self, MDB_txn *txn, const s_init_t *init, fg_error_t *err)
{
    int rc = s_schema_check (self, txn, err);
    if (rc)
        return rc;
    fg_jrec_any_t r;
    if ((rc = fg_jdb_meta_read (self, txn, "config", FG_JREC_CONFIG, &r, err)))
        return rc;
    const fg_jrec_config_t *cfg = &r.config;
    if (strcmp (cfg->hash, init->hash) != 0)
        return fg_error_set (err, FG_EMISMATCH,
            "journal in %s was written by another configuration (hash %.16s..., this one "
            "%.16s...); start a new experiment in a new directory or restore the original %s",
            self->dir, cfg->hash, init->hash, "fedgrid.toml");
    size_t tlen = strlen (init->canonical);
    if (cfg->length != tlen || memcmp (cfg->text, init->canonical, tlen) != 0)
        return fg_jdb_eventf (self, txn, "init:event", 0, err, "resumed with changed "
                              "deployment settings (configuration hash unchanged)");
    return 0;
}

static int
s_init_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_init_t *init = (s_init_t *) ctx;
    for (int i = 0; i < FG_JDB_COUNT; i++) {
        int rc = mdb_dbi_open (txn, fg_jdb_names [i], MDB_CREATE, &self->db [i]);
        if (rc)
            return fg_jdb_fail (self, rc, err, "open database %s", fg_jdb_names [i]);
    }
    self->have_optimizer = true;        //  created here in a journal older than it
    MDB_val v;
    int rc = fg_jdb_get (self, txn, FG_JDB_META, "schema", 6, &v, err);
    if (rc == FG_ENOENT)
        return s_init_empty (self, txn, init, err);
    if (rc)
        return rc;
    return s_init_existing (self, txn, init, err);
}

//  A journal gone while its mark says rounds were committed: never a new
//  experiment, never "not started".
static int
s_missing_beside_mark (const char *dir, const fg_jdb_mark_t *mark, fg_error_t *err)
{
    return fg_error_set (err, FG_EMISMATCH, "journal %s/%s is missing, but %s/%s says round "
                         "%" PRIu32 " was committed: restore the journal from a backup, or "
                         "remove %s to start the experiment afresh", dir, FG_JOURNAL_FILE,
                         dir, FG_JOURNAL_MARK_FILE, mark->round, FG_JOURNAL_MARK_FILE);
}

//  The arguments of fg_journal_open_ex.
static int
s_open_args (const char *config_canonical, const char *config_hash, fg_journal_t **out,
             fg_error_t *err)
{
    if (!config_canonical || !config_hash || !out)
        return fg_error_set (err, FG_EINVAL, "journal: configuration text and hash are required");
    size_t hlen = strlen (config_hash);
    bool hex = hlen == FG_JREC_HASH_HEX;
    for (size_t i = 0; hex && i < hlen; i++)
        hex = (config_hash [i] >= '0' && config_hash [i] <= '9')
           || (config_hash [i] >= 'a' && config_hash [i] <= 'f');
    if (!hex)
        return fg_error_set (err, FG_EINVAL, "journal: configuration hash \"%.70s\" is not 64 "
                             "lower-case hex digits", config_hash);
    if (strlen (config_canonical) > FG_JREC_CONFIG_MAX)
        return fg_error_set (err, FG_EINVAL, "journal: configuration text longer than %u bytes",
                             FG_JREC_CONFIG_MAX);
    return 0;
}

//  The resume check: every small record and invariant, the blobs a resume
//  needs; then the last committed round.
static int
s_resume_check (fg_journal_t *self, fg_error_t *err)
{
    fg_jdb_report_t rep;
    memset (&rep, 0, sizeof rep);
    int rc = fg_jdb_check (self, FG_JDB_BLOBS_RESUME, &rep, err);
    if (rc)
        return rc;
    if (rep.count)
        return fg_error_set (err, rep.first,
            "journal %s is damaged: %s: %s (%zu problem%s in all); fedgrid will not resume "
            "from a damaged journal: run `fedctl journal verify %s` for the list, then restore "
            "the journal from a backup or start a new experiment in a new directory",
            self->path, rep.first_key, rep.first_msg, rep.count, rep.count == 1? "": "s",
            self->dir);
    MDB_txn *txn;
    if ((rc = fg_jdb_read_begin (self, &txn, err)))
        return rc;
    rc = fg_jdb_scan_last (self, txn, &self->have_last, &self->last, err);
    mdb_txn_abort (txn);
    return rc;
}

int
fg_journal_open_ex (const char *dir, const char *config_canonical, const char *config_hash,
                    bool create, const fg_journal_opts_t *opts, fg_journal_t **out,
                    fg_error_t *err)
{
    int rc = s_open_args (config_canonical, config_hash, out, err);
    if (rc)
        return rc;
    *out = NULL;
    fg_jdb_mark_t mark;
    fg_error_t merr;
    int mrc = dir && *dir? fg_jdb_mark_read (dir, &mark, &merr): FG_ENOENT;
    if (mrc == 0 && !fg_journal_exists (dir))
        return s_missing_beside_mark (dir, &mark, err);
    fg_journal_t *self;
    if ((rc = s_env_open (dir, false, create, opts, &self, err)))
        return rc;
    s_init_t init = { config_canonical, config_hash, create };
    if ((rc = fg_jdb_write (self, "open", s_init_txn, &init, err))
    ||  (rc = s_resume_check (self, err))
    ||  (rc = fg_jdb_mark_open (self, mrc, &mark, &merr, err))) {
        fg_journal_close (&self);
        return rc;
    }
    *out = self;
    return 0;
}

int
fg_journal_open (const char *dir, const char *config_canonical, const char *config_hash,
                 bool create, fg_journal_t **out, fg_error_t *err)
{
    return fg_journal_open_ex (dir, config_canonical, config_hash, create, NULL, out, err);
}

//  Opens the databases in a read transaction (that keeps the handles).
static int
s_open_dbs_readonly (fg_journal_t *self, MDB_txn *txn, fg_error_t *err)
{
    self->have_optimizer = true;
    for (int i = 0; i < FG_JDB_COUNT; i++) {
        int mrc = mdb_dbi_open (txn, fg_jdb_names [i], 0, &self->db [i]);
        if (mrc == MDB_NOTFOUND && i == FG_JDB_OPTIMIZER) {
            self->have_optimizer = false;   //  written before it existed: empty
            continue;
        }
        if (mrc == MDB_NOTFOUND)
            return fg_error_set (err, FG_ENOENT, "journal %s was never initialised (database "
                                 "%s is missing)", self->path, fg_jdb_names [i]);
        if (mrc)
            return fg_jdb_fail (self, mrc, err, "open database %s", fg_jdb_names [i]);
    }
    return 0;
}

int
fg_jdb_open_readonly (const char *dir, bool check_schema, fg_journal_t **out, fg_error_t *err)
{
    if (out)
        *out = NULL;                    //  a caller may close it after a failure
    fg_journal_t *self;
    int rc = s_env_open (dir, true, false, NULL, &self, err);
    if (rc)
        return rc;
    MDB_txn *txn;
    if ((rc = fg_jdb_read_begin (self, &txn, err)))
        goto fail;
    if ((rc = s_open_dbs_readonly (self, txn, err))
    ||  (check_schema && (rc = s_schema_check (self, txn, err)))) {
        mdb_txn_abort (txn);
        goto fail;
    }
    int mrc = mdb_txn_commit (txn);         //  keeps the database handles
    if (mrc) {
        rc = fg_jdb_fail (self, mrc, err, "end read transaction");
        goto fail;
    }
    *out = self;
    return 0;
fail:
    fg_journal_close (&self);
    return rc;
}

int
fg_journal_open_readonly (const char *dir, fg_journal_t **out, fg_error_t *err)
{
    //  The mark first: a writer beside us only moves the journal ahead of it.
    fg_jdb_mark_t mark;
    fg_error_t merr;
    int mrc = dir && *dir? fg_jdb_mark_read (dir, &mark, &merr): FG_ENOENT;
    if (mrc == 0 && !fg_journal_exists (dir)) {
        *out = NULL;
        return s_missing_beside_mark (dir, &mark, err);
    }
    int rc = fg_jdb_open_readonly (dir, true, out, err);
    if (rc)
        return rc;
    if (mrc && mrc != FG_ENOENT)
        rc = fg_error_set (err, mrc, "%s; run `fedctl journal verify %s`, and if it says OK "
                           "remove the mark and resume (resume writes it again)", merr.msg, dir);
    else
    if (mrc == 0)
        rc = fg_jdb_mark_check (*out, &mark, false, err);
    if (rc)
        fg_journal_close (out);
    return rc;
}

int
fg_journal_set_retention (fg_journal_t *self, int64_t keep_last, int64_t keep_every,
                          fg_error_t *err)
{
    assert (self);
    if (keep_last < 0 || keep_every < 0)
        return fg_error_set (err, FG_ERANGE, "journal: retention keep_last %" PRId64 " and "
                             "keep_every %" PRId64 " must be >= 0", keep_last, keep_every);
    self->keep_last = keep_last < 1? 1: (uint64_t) keep_last;
    self->keep_every = (uint64_t) keep_every;
    return 0;
}

void
fg_journal_set_write_hook (fg_journal_t *self, fg_journal_write_hook_fn *fn, void *arg)
{
    assert (self);
    self->hook = fn;
    self->hook_arg = arg;
}

size_t
fg_journal_mapsize (fg_journal_t *self)
{
    return self? fg_lmdb_mapsize (self->lmdb): 0;
}
