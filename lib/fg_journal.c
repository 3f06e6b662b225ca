/*  fg_journal.c — the coordinator's LMDB journal (see fg_journal.h and
    docs/journal.md).

    Every write goes through s_put / s_del (one place per kind, where the
    test hook and the crash points hang) inside s_write, which runs one
    write transaction: begin, the operation's puts, commit; on
    MDB_MAP_FULL it aborts, grows the map (never past the file size plus
    the free disk space) and runs the operation again from the start.
    Any other failure aborts the transaction, so the last committed state
    is what stays on disk.                                                  */

#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "fg_journal_internal.h"
#include "fg_blob.h"
#include "fg_config.h"
#include "fg_log.h"
#include "fg_sha256.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#   define PACKAGE_VERSION "dev"
#endif

#define S_MAPSIZE_DEFAULT   ((size_t) 1 << 30)  //  address space, not disk
#define S_GROW_MAX          48                  //  map doublings per write
#define S_PATH_MAX          4096
#define S_REPORT_MAX        1000                //  verify stops reporting here

//  DB_OPTIMIZER came last (no schema change): a journal written before it
//  has no such database until a writer opens it; read-only handles then
//  see it as empty (have_optimizer false).
enum { DB_META, DB_ROUNDS, DB_UPDATES, DB_WEIGHTS, DB_METRICS, DB_NODES, DB_EVENTS,
       DB_OPTIMIZER, S_NDB };
static const char *s_db_names [S_NDB] = {
    "meta", "rounds", "updates", "weights", "metrics", "nodes", "events", "optimizer"
};

struct _fg_journal_t {
    MDB_env *env;
    MDB_dbi  db [S_NDB];
    bool     readonly;
    bool     have_optimizer;            //  the optimizer database exists
    bool     momentum;                  //  writer: the configuration has server momentum
    double   beta;                      //  writer: its aggregation.server_momentum
    char     dir [S_PATH_MAX];
    char     path [S_PATH_MAX];
    bool     have_last;                 //  writer: a committed round exists
    uint32_t last;                      //  writer: last committed round
    uint64_t keep_last;
    uint64_t keep_every;
    uint64_t free_bytes;                //  test override, UINT64_MAX: statvfs
    int      mdb_rc;                    //  LMDB/errno code of the last failure
    uint64_t txn_bytes;                 //  bytes put in the current write txn
    fg_journal_write_hook_fn *hook;
    void    *hook_arg;
    uint64_t writes;
};

//  ---- small helpers ----------------------------------------------------------

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void
s_be32 (uint8_t *p, uint32_t v)
{
    p [0] = (uint8_t) (v >> 24); p [1] = (uint8_t) (v >> 16);
    p [2] = (uint8_t) (v >> 8); p [3] = (uint8_t) v;
}

static void
s_be64 (uint8_t *p, uint64_t v)
{
    s_be32 (p, (uint32_t) (v >> 32));
    s_be32 (p + 4, (uint32_t) v);
}

static uint32_t
s_rd_be32 (const uint8_t *p)
{
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16 | (uint32_t) p [2] << 8 | p [3];
}

static uint64_t
s_rd_be64 (const uint8_t *p)
{
    return (uint64_t) s_rd_be32 (p) << 32 | s_rd_be32 (p + 4);
}

static uint32_t
s_rd_le32 (const uint8_t *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8 | (uint32_t) p [2] << 16
         | (uint32_t) p [3] << 24;
}

//  The FG code for an LMDB or errno failure.
static int
s_code (int rc)
{
    switch (rc) {
        case MDB_MAP_FULL: case ENOSPC: case EFBIG: case EDQUOT:
            return FG_EFULL;
        case ENOMEM:
            return FG_ENOMEM;
        case MDB_NOTFOUND: case ENOENT:
            return FG_ENOENT;
        case MDB_KEYEXIST:
            return FG_EEXIST;
        case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID:
            return FG_EFORMAT;
        case MDB_VERSION_MISMATCH:
            return FG_EVERSION;
        case MDB_READERS_FULL: case MDB_DBS_FULL:
            return FG_ESTATE;
        default:
            return FG_EIO;
    }
}

//  Records an LMDB/errno failure and fills err: "journal PATH: what: why".
static int
s_fail (fg_journal_t *self, int rc, fg_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
static int
s_fail (fg_journal_t *self, int rc, fg_error_t *err, const char *fmt, ...)
{
    self->mdb_rc = rc;
    char what [256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    int code = s_code (rc);
    if (code == FG_EFULL && rc != MDB_MAP_FULL)
        return fg_error_set (err, code, "journal %s: %s: disk full (%s); the last committed "
                             "state is intact: free some space and resume", self->path, what,
                             mdb_strerror (rc));
    if (rc == MDB_PANIC)
        return fg_error_set (err, code, "journal %s: %s: %s; close the journal and resume",
                             self->path, what, mdb_strerror (rc));
    return fg_error_set (err, code, "journal %s: %s: %s", self->path, what, mdb_strerror (rc));
}

//  Key names for messages and reports.
static void
s_key_name (int db, const void *key, size_t size, char *out, size_t cap)
{
    const uint8_t *k = (const uint8_t *) key;
    if (db == DB_META) {
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
    if (size == 4 && db != DB_EVENTS) {
        snprintf (out, cap, "%s/%" PRIu32, s_db_names [db], s_rd_be32 (k));
        return;
    }
    else
    if (size == 8 && (db == DB_UPDATES || db == DB_METRICS)) {
        snprintf (out, cap, "%s/%" PRIu32 "/%" PRIu32, s_db_names [db], s_rd_be32 (k),
                  s_rd_be32 (k + 4));
        return;
    }
    else
    if (size == 8 && db == DB_EVENTS) {
        snprintf (out, cap, "events/%" PRIu64, s_rd_be64 (k));
        return;
    }
    //  A key of the wrong shape: hex.
    int used = snprintf (out, cap, "%s/0x", s_db_names [db]);
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
            return s_fail (self, rc, err, "%s (write %" PRIu64 ")", label, self->writes);
    }
    return 0;
}

//  Puts key -> value. With MDB_RESERVE, *reserved receives the space to
//  fill; with MDB_NOOVERWRITE an existing key gives FG_EEXIST (no
//  message) and *reserved the stored value.
static int
s_put (fg_journal_t *self, MDB_txn *txn, int db, const char *label,
       const void *key, size_t ksize, const void *value, size_t vsize,
       unsigned flags, MDB_val *reserved, fg_error_t *err)
{
    int rc = s_hook (self, label, err);
    if (rc)
        return rc;
    MDB_val k = { ksize, (void *) key };
    MDB_val v = { vsize, (void *) value };
    self->txn_bytes += ksize + vsize;
    rc = mdb_put (txn, self->db [db], &k, &v, flags);
    if (rc == MDB_KEYEXIST && (flags & MDB_NOOVERWRITE)) {
        if (reserved)
            *reserved = v;
        return FG_EEXIST;
    }
    if (rc) {
        char name [64];
        s_key_name (db, key, ksize, name, sizeof name);
        return s_fail (self, rc, err, "%s: put %s (%zu bytes)", label, name, vsize);
    }
    if (reserved)
        *reserved = v;
    return 0;
}

static int
s_del (fg_journal_t *self, MDB_txn *txn, int db, const char *label,
       const void *key, size_t ksize, fg_error_t *err)
{
    int rc = s_hook (self, label, err);
    if (rc)
        return rc;
    MDB_val k = { ksize, (void *) key };
    rc = mdb_del (txn, self->db [db], &k, NULL);
    if (rc) {
        char name [64];
        s_key_name (db, key, ksize, name, sizeof name);
        return s_fail (self, rc, err, "%s: delete %s", label, name);
    }
    return 0;
}

//  Whether db exists in this environment (see DB_OPTIMIZER).
static bool
s_have (const fg_journal_t *self, int db)
{
    return db != DB_OPTIMIZER || self->have_optimizer;
}

//  Gets a value; FG_ENOENT (no message) when absent.
static int
s_get (fg_journal_t *self, MDB_txn *txn, int db, const void *key, size_t ksize,
       MDB_val *value, fg_error_t *err)
{
    if (!s_have (self, db))
        return FG_ENOENT;
    MDB_val k = { ksize, (void *) key };
    int rc = mdb_get (txn, self->db [db], &k, value);
    if (rc == MDB_NOTFOUND)
        return FG_ENOENT;
    if (rc) {
        char name [64];
        s_key_name (db, key, ksize, name, sizeof name);
        return s_fail (self, rc, err, "get %s", name);
    }
    return 0;
}

//  ---- transactions -----------------------------------------------------------

static int
s_read_begin (fg_journal_t *self, MDB_txn **txn, fg_error_t *err)
{
    for (int attempt = 0; ; attempt++) {
        int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn);
        if (rc == MDB_MAP_RESIZED && attempt < 3) {
            //  Another process grew the map: adopt its size.
            rc = mdb_env_set_mapsize (self->env, 0);
            if (rc == 0)
                continue;
        }
        if (rc)
            return s_fail (self, rc, err, "begin read transaction");
        return 0;
    }
}

//  Grows the map after MDB_MAP_FULL: double it, but never past what the
//  disk can hold (file size + free space). No transaction may be alive.
static int
s_grow (fg_journal_t *self, const char *what, fg_error_t *err)
{
    MDB_envinfo info;
    int rc = mdb_env_info (self->env, &info);
    if (rc)
        return s_fail (self, rc, err, "%s: read map size", what);
    uint64_t current = info.me_mapsize;
    uint64_t want = current > UINT64_MAX / 2? UINT64_MAX: current * 2;
    if (want > SIZE_MAX)
        want = SIZE_MAX;
    int fd = -1;
    struct stat st;
    if (mdb_env_get_fd (self->env, &fd) || fstat (fd, &st))
        return s_fail (self, errno? errno: EIO, err, "%s: size of the data file", what);
    uint64_t avail = self->free_bytes;
    if (avail == UINT64_MAX) {
        struct statvfs vfs;
        if (statvfs (self->dir, &vfs))
            return s_fail (self, errno, err, "%s: free disk space of %s", what, self->dir);
        avail = (uint64_t) vfs.f_bavail * (uint64_t) vfs.f_frsize;
    }
    uint64_t cap = (uint64_t) st.st_size + avail;
    long page = sysconf (_SC_PAGESIZE);
    if (page <= 0)
        page = 4096;
    if (want > cap)
        want = cap - cap % (uint64_t) page;
    if (want <= current) {
        self->mdb_rc = ENOSPC;
        return fg_error_set (err, FG_EFULL,
            "journal %s: %s: disk full: the journal needs more than its %" PRIu64 " bytes and "
            "the disk has %" PRIu64 " bytes free; the last committed state is intact: free "
            "some space and resume", self->path, what, current, avail);
    }
    rc = mdb_env_set_mapsize (self->env, (size_t) want);
    if (rc)
        return s_fail (self, rc, err, "%s: grow the map to %" PRIu64 " bytes", what, want);
    fg_debug ("journal %s: map grown from %" PRIu64 " to %" PRIu64 " bytes", self->path,
              current, want);
    return 0;
}

typedef int (s_txn_fn) (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err);

//  LMDB reports a short write (what a full disk often gives) as EIO: when
//  the disk has less room than the transaction wrote, call it full.
static int
s_eio_full (fg_journal_t *self, const char *what, int code, fg_error_t *err)
{
    struct statvfs vfs;
    if (statvfs (self->dir, &vfs))
        return code;
    uint64_t avail = (uint64_t) vfs.f_bavail * (uint64_t) vfs.f_frsize;
    if (self->free_bytes != UINT64_MAX)
        avail = self->free_bytes;
    if (avail >= self->txn_bytes + ((uint64_t) 1 << 20))
        return code;
    return fg_error_set (err, FG_EFULL, "journal %s: %s: disk full (write failed with %" PRIu64
                         " bytes free); the last committed state is intact: free some space "
                         "and resume", self->path, what, avail);
}

//  Runs fn in one write transaction (see the file comment). fn must be
//  repeatable: it may run again after a map growth.
static int
s_write (fg_journal_t *self, const char *what, s_txn_fn *fn, void *ctx, fg_error_t *err)
{
    if (self->readonly)
        return fg_error_set (err, FG_EINVAL, "journal %s: %s: the journal is open read-only",
                             self->path, what);
    for (int attempt = 0; ; attempt++) {
        self->mdb_rc = 0;
        self->txn_bytes = 0;
        MDB_txn *txn = NULL;
        int code;
        int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
        if (rc)
            code = s_fail (self, rc, err, "%s: begin write transaction", what);
        else {
            code = fn (self, txn, ctx, err);
            if (code == 0) {
                rc = mdb_txn_commit (txn);          //  frees txn, success or not
                if (rc)
                    code = s_fail (self, rc, err, "%s: commit", what);
            }
            else
                mdb_txn_abort (txn);                //  a failed txn is dead
        }
        if (code == 0)
            return 0;
        if (self->mdb_rc == EIO)
            code = s_eio_full (self, what, code, err);
        if (self->mdb_rc != MDB_MAP_FULL)
            return code;
        if (attempt >= S_GROW_MAX)
            return fg_error_set (err, FG_EFULL, "journal %s: %s: map still full after %d "
                                 "growths", self->path, what, attempt);
        code = s_grow (self, what, err);
        if (code)
            return code;
    }
}

//  Refuses writes on a read-only handle before anything else is checked.
#define S_WRITABLE(self, what) do { \
    if ((self)->readonly) \
        return fg_error_set (err, FG_EINVAL, "journal %s: %s: the journal is open read-only", \
                             (self)->path, what); \
} while (0)

//  ---- events (written inside other transactions too) ------------------------

static int
s_event_put (fg_journal_t *self, MDB_txn *txn, const char *label, uint32_t round,
             const char *text, size_t length, uint64_t *seq_out, fg_error_t *err)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [DB_EVENTS], &cursor);
    if (rc)
        return s_fail (self, rc, err, "%s: open events cursor", label);
    MDB_val k, v;
    uint64_t seq = 1;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    mdb_cursor_close (cursor);
    if (rc == 0) {
        if (k.mv_size != 8)
            return fg_error_set (err, FG_EFORMAT, "journal %s: %s: last events key is %zu "
                                 "bytes, not 8", self->path, label, k.mv_size);
        seq = s_rd_be64 (k.mv_data) + 1;
    }
    else
    if (rc != MDB_NOTFOUND)
        return s_fail (self, rc, err, "%s: read last event", label);
    if (length > FG_JOURNAL_EVENT_MAX)
        length = FG_JOURNAL_EVENT_MAX;
    uint8_t key [8];
    s_be64 (key, seq);
    size_t size = fg_jrec_size_event (length);
    MDB_val space;
    rc = s_put (self, txn, DB_EVENTS, label, key, 8, NULL, size, MDB_APPEND | MDB_RESERVE,
                &space, err);
    if (rc)
        return rc;
    fg_jrec_encode_event (space.mv_data, size, seq, s_now_ns (), round, text, length);
    if (seq_out)
        *seq_out = seq;
    return 0;
}

static int
s_eventf (fg_journal_t *self, MDB_txn *txn, const char *label, uint32_t round,
          fg_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 6, 7)));
static int
s_eventf (fg_journal_t *self, MDB_txn *txn, const char *label, uint32_t round,
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
    return s_event_put (self, txn, label, round, text, (size_t) n, NULL, err);
}

//  ---- checks (verify, and the resume check at open) ---------------------------

typedef enum { S_BLOBS_ALL, S_BLOBS_RESUME } s_blobs_t;

typedef struct {
    fg_journal_report_fn *fn;
    void    *arg;
    size_t   count;
    int      first;                     //  code of the first problem
    char     first_key [64];
    char     first_msg [FG_ERROR_MSG_MAX];
} s_report_t;

static void
s_problem (s_report_t *rep, const char *key, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
static void
s_problem (s_report_t *rep, const char *key, int code, const char *fmt, ...)
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
    if (rep->fn && rep->count <= S_REPORT_MAX)
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

//  Walks db with fn (key, value) for each record. Returns 0 or an FG code
//  when the walk itself fails (LMDB error).
typedef void (s_walk_fn) (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                          void *ctx);

static int
s_walk (fg_journal_t *self, MDB_txn *txn, int db, s_walk_fn *fn, void *ctx, fg_error_t *err)
{
    if (!s_have (self, db))
        return 0;                       //  an absent database is an empty one
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [db], &cursor);
    if (rc)
        return s_fail (self, rc, err, "open %s cursor", s_db_names [db]);
    MDB_val k, v;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
        fn (self, txn, &k, &v, ctx);
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    if (rc != MDB_NOTFOUND)
        return s_fail (self, rc, err, "walk %s", s_db_names [db]);
    return 0;
}

typedef struct {
    s_report_t     *rep;
    s_blobs_t       blobs;
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
    s_key_name (db, k->mv_data, k->mv_size, key, size);
    if (k->mv_size != 4) {
        s_problem (c->rep, key, FG_EFORMAT, "key is %zu bytes, not 4", k->mv_size);
        return false;
    }
    if (value)
        *value = s_rd_be32 (k->mv_data);
    return true;
}

static void
s_check_meta (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) txn;
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    s_key_name (DB_META, k->mv_data, k->mv_size, key, sizeof key);
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
        s_problem (c->rep, key, FG_EFORMAT, "unknown meta key");
    (void) self;
}

static void
s_check_round (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    uint32_t kround;
    if (!s_key_u32 (c, DB_ROUNDS, k, key, sizeof key, &kround))
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
        //  Every included shard has its update.
        for (uint32_t i = 0; i < r.head.nincluded; i++) {
            uint8_t uk [8];
            s_be32 (uk, kround);
            uint32_t shard = s_rd_le32 (r.included + 4 * (size_t) i);
            s_be32 (uk + 4, shard);
            MDB_val uv;
            int rc = s_get (self, txn, DB_UPDATES, uk, 8, &uv, NULL);
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

static void
s_check_weights (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) self; (void) txn;
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    uint32_t kround;
    if (!s_key_u32 (c, DB_WEIGHTS, k, key, sizeof key, &kround))
        return;
    bool blob = c->blobs == S_BLOBS_ALL || kround == c->last_committed;
    s_round_info_t *info = s_find_round (c->rounds, c->nrounds, kround);
    if (info)
        info->has_weights = true;       //  present, damaged or not
    fg_error_t e = { 0, "" };
    fg_jrec_weights_t w;
    if (fg_jrec_decode_weights (v->mv_data, v->mv_size, blob, &w, &e)) {
        s_problem (c->rep, key, e.code, "%s", e.msg);
        return;
    }
    if (!s_committed_record (c, key, kround, w.round, info, "checkpoint"))
        return;
    if (info->weights_size != w.blob_size || info->weights_crc != w.blob_crc)
        s_problem (c->rep, key, FG_ECHECKSUM, "blob is %" PRIu64 " bytes CRC %08x, the round "
                   "record says %" PRIu64 " bytes CRC %08x", w.blob_size, w.blob_crc,
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
    s_be32 (wkey, round);
    MDB_val wv;
    fg_jrec_weights_t w;
    if (fg_blob_decode (o->blob, (size_t) o->blob_size, NULL, &buffer, &e))
        s_problem (c->rep, key, FG_EFORMAT, "momentum buffer is not a full weights blob: %s",
                   e.msg);
    else
    if (s_get (self, txn, DB_WEIGHTS, wkey, 4, &wv, NULL)
    ||  fg_jrec_decode_weights (wv.mv_data, wv.mv_size, false, &w, &e))
        ;                               //  reported by the weights walk
    else
    if (fg_blob_decode (w.blob, (size_t) w.blob_size, NULL, &weights, &e))
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
    if (!s_key_u32 (c, DB_OPTIMIZER, k, key, sizeof key, &kround))
        return;
    bool blob = c->blobs == S_BLOBS_ALL || kround == c->last_committed;
    s_round_info_t *info = s_find_round (c->rounds, c->nrounds, kround);
    if (info)
        info->has_optimizer = true;     //  present, damaged or not
    fg_error_t e = { 0, "" };
    fg_jrec_optimizer_t o;
    if (fg_jrec_decode_optimizer (v->mv_data, v->mv_size, blob, &o, &e)) {
        s_problem (c->rep, key, e.code, "%s", e.msg);
        return;
    }
    if (!s_committed_record (c, key, kround, o.round, info, "optimizer state"))
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
    if (c->blobs == S_BLOBS_ALL)
        s_check_buffer_layout (self, txn, c, key, kround, &o);
}

static void
s_check_update (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    s_key_name (DB_UPDATES, k->mv_data, k->mv_size, key, sizeof key);
    if (k->mv_size != 8) {
        s_problem (c->rep, key, FG_EFORMAT, "key is %zu bytes, not 8", k->mv_size);
        return;
    }
    uint32_t kround = s_rd_be32 (k->mv_data);
    uint32_t kshard = s_rd_be32 ((const uint8_t *) k->mv_data + 4);
    bool blob = c->blobs == S_BLOBS_ALL || kround == c->open_round;
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
    MDB_val lv;
    int rc = s_get (self, txn, DB_METRICS, k->mv_data, 8, &lv, NULL);
    if (rc == FG_ENOENT)
        s_problem (c->rep, key, FG_ESTATE, "its loss curve metrics/%u/%u is missing", kround, kshard);
}

static void
s_check_metrics (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    s_key_name (DB_METRICS, k->mv_data, k->mv_size, key, sizeof key);
    fg_error_t e = { 0, "" };
    if (k->mv_size == 4) {
        uint32_t kround = s_rd_be32 (k->mv_data);
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
        uint32_t kround = s_rd_be32 (k->mv_data);
        uint32_t kshard = s_rd_be32 ((const uint8_t *) k->mv_data + 4);
        fg_jrec_loss_t l;
        if (fg_jrec_decode_loss (v->mv_data, v->mv_size, &l, &e))
            s_problem (c->rep, key, e.code, "%s", e.msg);
        else
        if (l.round != kround || l.shard != kshard)
            s_problem (c->rep, key, FG_EFORMAT, "record is of round %u shard %u", l.round, l.shard);
        else {
            MDB_val uv;
            if (s_get (self, txn, DB_UPDATES, k->mv_data, 8, &uv, NULL) == FG_ENOENT)
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
    if (!s_key_u32 (c, DB_NODES, k, key, sizeof key, NULL))
        return;
    fg_error_t e = { 0, "" };
    fg_jrec_node_t n;
    if (fg_jrec_decode_node (v->mv_data, v->mv_size, &n, &e))
        s_problem (c->rep, key, e.code, "%s", e.msg);
    else
    if (n.node.node != s_rd_be32 (k->mv_data))
        s_problem (c->rep, key, FG_EFORMAT, "record is of node %u", n.node.node);
}

static void
s_check_event (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) self; (void) txn;
    s_check_t *c = (s_check_t *) ctx;
    char key [64];
    s_key_name (DB_EVENTS, k->mv_data, k->mv_size, key, sizeof key);
    if (k->mv_size != 8) {
        s_problem (c->rep, key, FG_EFORMAT, "key is %zu bytes, not 8", k->mv_size);
        return;
    }
    uint64_t seq = s_rd_be64 (k->mv_data);
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

static int
s_check (fg_journal_t *self, s_blobs_t blobs, s_report_t *rep, fg_error_t *err)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    s_check_t c;
    memset (&c, 0, sizeof c);
    c.rep = rep;
    c.blobs = blobs;
    if ((rc = s_walk (self, txn, DB_META, s_check_meta, &c, err)))
        goto done;
    static const char *meta_keys [3] = { "meta/schema", "meta/config", "meta/experiment" };
    for (int i = 0; i < 3; i++)
        if (!c.meta_seen [i])
            s_problem (rep, meta_keys [i], FG_EFORMAT, "missing");
    if ((rc = s_walk (self, txn, DB_ROUNDS, s_check_round, &c, err))
    ||  (rc = s_walk (self, txn, DB_WEIGHTS, s_check_weights, &c, err))
    ||  (rc = s_walk (self, txn, DB_OPTIMIZER, s_check_optimizer, &c, err))
    ||  (rc = s_walk (self, txn, DB_UPDATES, s_check_update, &c, err))
    ||  (rc = s_walk (self, txn, DB_METRICS, s_check_metrics, &c, err))
    ||  (rc = s_walk (self, txn, DB_NODES, s_check_node, &c, err))
    ||  (rc = s_walk (self, txn, DB_EVENTS, s_check_event, &c, err)))
        goto done;
    if (c.alloc_failed) {
        rc = fg_error_set (err, FG_ENOMEM, "journal %s: verify: out of memory", self->path);
        goto done;
    }
    for (size_t i = 0; i < c.nrounds; i++) {
        s_round_info_t *info = &c.rounds [i];
        if (info->state != FG_ROUND_COMMITTED)
            continue;
        char key [32];
        snprintf (key, sizeof key, "rounds/%u", info->round);
        if (!info->has_metrics)
            s_problem (rep, key, FG_ESTATE, "committed without metrics (metrics/%u missing)",
                       info->round);
        if (info->round == c.last_committed && !info->has_weights)
            s_problem (rep, key, FG_ESTATE, "newest committed round has no weights checkpoint "
                       "(weights/%u missing)", info->round);
        if (c.config_read && c.beta > 0 && info->has_weights && !info->has_optimizer) {
            snprintf (key, sizeof key, "optimizer/%u", info->round);
            s_problem (rep, key, FG_ESTATE, "missing: the configuration has server momentum "
                       "(aggregation.server_momentum = %g), so every weights checkpoint needs "
                       "its momentum buffer (weights/%u has none)", c.beta, info->round);
        }
    }
    if (c.config_read) {
        self->momentum = c.beta > 0;
        self->beta = c.beta;
    }
done:
    free (c.rounds);
    mdb_txn_abort (txn);
    return rc;
}

//  ---- opening and closing -----------------------------------------------------

const char *
fg_journal_remote_fs_name (unsigned long f_type)
{
    switch (f_type) {
        case 0x6969:        return "NFS";
        case 0x517B:        return "SMB";
        case 0xFF534D42:    return "CIFS";
        case 0xFE534D42:    return "SMB2";
        case 0x5346414F:    return "AFS";
        case 0x73757245:    return "Coda";
        case 0x564c:        return "NCP";
        case 0x00C36400:    return "Ceph";
        case 0x01021997:    return "9P";
        case 0x47504653:    return "GPFS";
        case 0x0BD00BD0:    return "Lustre";
        default:            return NULL;
    }
}

bool
fg_journal_exists (const char *dir)
{
    char path [S_PATH_MAX];
    if (!dir || snprintf (path, sizeof path, "%s/%s", dir, FG_JOURNAL_FILE) >= (int) sizeof path)
        return false;
    return access (path, F_OK) == 0;
}

void
fg_journal_close (fg_journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_journal_t *self = *self_p;
    if (self->env)
        mdb_env_close (self->env);      //  also drops the flock on its fd
    free (self);
    *self_p = NULL;
}

//  Common part of every open: checks the folder, creates and opens the env.
static int
s_env_open (const char *dir, bool readonly, bool create, size_t mapsize,
            fg_journal_t **out, fg_error_t *err)
{
    if (!dir || !*dir || !out)
        return fg_error_set (err, FG_EINVAL, "journal: no experiment directory given");
    *out = NULL;
    if (strlen (dir) + strlen (FG_JOURNAL_FILE) + 16 >= S_PATH_MAX)
        return fg_error_set (err, FG_EINVAL, "journal: directory name too long (%zu bytes)", strlen (dir));
    struct stat st;
    if (stat (dir, &st) || !S_ISDIR (st.st_mode))
        return fg_error_set (err, FG_ENOENT, "journal: experiment directory %s does not exist "
                             "or is not a directory", dir);
    struct statfs fs;
    if (statfs (dir, &fs) == 0) {
        const char *remote = fg_journal_remote_fs_name ((unsigned long) fs.f_type);
        if (remote)
            return fg_error_set (err, FG_EUNSUPPORTED,
                "journal: %s is on a network filesystem (%s); LMDB's locks and shared memory "
                "map are not safe there: put the experiment directory on a local disk", dir, remote);
    }
    fg_journal_t *self = calloc (1, sizeof *self);
    if (!self)
        return fg_error_set (err, FG_ENOMEM, "journal: out of memory");
    self->readonly = readonly;
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    snprintf (self->path, sizeof self->path, "%s/%s", dir, FG_JOURNAL_FILE);
    self->keep_last = FG_JOURNAL_KEEP_LAST;
    self->keep_every = FG_JOURNAL_KEEP_EVERY;
    self->free_bytes = UINT64_MAX;
    int code = 0;
    if (access (self->path, F_OK) != 0 && (readonly || !create)) {
        code = fg_error_set (err, FG_ENOENT, "journal: no journal in %s (%s does not exist); "
                             "start the experiment first (fedctl start %s)", dir, self->path, dir);
        goto fail;
    }
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, 8);
    if (rc == 0 && !readonly)
        rc = mdb_env_set_mapsize (self->env, mapsize? mapsize: S_MAPSIZE_DEFAULT);
    if (rc) {
        code = s_fail (self, rc, err, "create environment");
        goto fail;
    }
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | (readonly? MDB_RDONLY: 0);
    rc = mdb_env_open (self->env, self->path, flags, 0644);
    if (rc) {
        if (rc == MDB_INVALID)
            code = fg_error_set (err, FG_EFORMAT, "journal %s: not an LMDB file (its header is "
                                 "damaged or it is another kind of file)", self->path);
        else
            code = s_fail (self, rc, err, "open");
        goto fail;
    }
    if (!readonly) {
        int fd;
        if (mdb_env_get_fd (self->env, &fd) == 0 && flock (fd, LOCK_EX | LOCK_NB) != 0) {
            code = errno == EWOULDBLOCK
                 ? fg_error_set (err, FG_ESTATE, "journal %s is open for writing by another "
                                 "process (is a coordinator running for this experiment?)", self->path)
                 : s_fail (self, errno, err, "lock");
            goto fail;
        }
    }
    int dead = 0;
    mdb_reader_check (self->env, &dead);
    if (dead)
        fg_info ("journal %s: cleared %d reader slot(s) left by dead processes", self->path, dead);
    *out = self;
    return 0;
fail:
    fg_journal_close (&self);
    return code;
}

//  Reads and decodes meta/NAME in txn.
static int
s_meta_get (fg_journal_t *self, MDB_txn *txn, const char *name, MDB_val *v, fg_error_t *err)
{
    int rc = s_get (self, txn, DB_META, name, strlen (name), v, err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_EFORMAT, "journal %s: meta/%s is missing", self->path, name);
    return rc;
}

static int
s_schema_check (fg_journal_t *self, MDB_txn *txn, fg_error_t *err)
{
    MDB_val v;
    fg_jrec_schema_t schema;
    int rc = s_meta_get (self, txn, "schema", &v, err);
    if (rc)
        return rc;
    if ((rc = fg_jrec_decode_schema (v.mv_data, v.mv_size, &schema, err))) {
        fg_error_prefix (err, "journal %s: meta/schema", self->path);
        return rc;
    }
    if (schema.version != FG_JOURNAL_SCHEMA_VERSION)
        return fg_error_set (err, FG_EVERSION,
            "journal %s has schema version %u and this fedgrid reads version %d; use the "
            "fedgrid release that wrote it, or start a new experiment in a new directory",
            self->path, schema.version, FG_JOURNAL_SCHEMA_VERSION);
    return 0;
}

typedef struct {
    const char *canonical;
    const char *hash;
    bool create;
} s_init_t;

static int
s_init_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_init_t *init = (s_init_t *) ctx;
    for (int i = 0; i < S_NDB; i++) {
        int rc = mdb_dbi_open (txn, s_db_names [i], MDB_CREATE, &self->db [i]);
        if (rc)
            return s_fail (self, rc, err, "open database %s", s_db_names [i]);
    }
    self->have_optimizer = true;        //  created here in a journal older than it
    MDB_val v;
    int rc = s_get (self, txn, DB_META, "schema", 6, &v, err);
    if (rc == FG_ENOENT) {
        //  New, or created but never initialised (a crash before the first
        //  commit): every database must be empty.
        for (int i = 0; i < S_NDB; i++) {
            MDB_stat st;
            if ((rc = mdb_stat (txn, self->db [i], &st)))
                return s_fail (self, rc, err, "stat database %s", s_db_names [i]);
            if (st.ms_entries)
                return fg_error_set (err, FG_EFORMAT, "journal %s: meta/schema is missing but "
                                     "database %s has %zu records: the journal is damaged",
                                     self->path, s_db_names [i], (size_t) st.ms_entries);
        }
        if (!init->create)
            return fg_error_set (err, FG_ENOENT, "journal %s was never initialised; start the "
                                 "experiment first (fedctl start %s)", self->path, self->dir);
        uint8_t schema [FG_JREC_SIZE_SCHEMA];
        fg_jrec_encode_schema (schema, sizeof schema, FG_JOURNAL_SCHEMA_VERSION);
        size_t tlen = strlen (init->canonical);
        size_t csize = fg_jrec_size_config (tlen);
        MDB_val space;
        if ((rc = s_put (self, txn, DB_META, "init:schema", "schema", 6, schema, sizeof schema,
                         0, NULL, err))
        ||  (rc = s_put (self, txn, DB_META, "init:config", "config", 6, NULL, csize,
                         MDB_RESERVE, &space, err)))
            return rc;
        fg_jrec_encode_config (space.mv_data, csize, init->hash, init->canonical, tlen);
        //  The experiment id names this run of this configuration: a digest
        //  of the hash, the creation time, the host and the folder. It
        //  never feeds a computation (results depend on the hash alone).
        uint64_t created = s_now_ns ();
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
        if ((rc = s_put (self, txn, DB_META, "init:experiment", "experiment", 10, xrec, xsize,
                         0, NULL, err)))
            return rc;
        return s_eventf (self, txn, "init:event", 0, err, "journal created (schema %d, "
                         "configuration %.16s)", FG_JOURNAL_SCHEMA_VERSION, init->hash);
    }
    if (rc)
        return rc;
    if ((rc = s_schema_check (self, txn, err)))
        return rc;
    fg_jrec_config_t cfg;
    if ((rc = s_meta_get (self, txn, "config", &v, err)))
        return rc;
    if ((rc = fg_jrec_decode_config (v.mv_data, v.mv_size, &cfg, err))) {
        fg_error_prefix (err, "journal %s: meta/config", self->path);
        return rc;
    }
    if (strcmp (cfg.hash, init->hash) != 0)
        return fg_error_set (err, FG_EMISMATCH,
            "journal in %s was written by another configuration (hash %.16s..., this one "
            "%.16s...); start a new experiment in a new directory or restore the original %s",
            self->dir, cfg.hash, init->hash, "fedgrid.toml");
    size_t tlen = strlen (init->canonical);
    if (cfg.length != tlen || memcmp (cfg.text, init->canonical, tlen) != 0)
        return s_eventf (self, txn, "init:event", 0, err, "resumed with changed deployment "
                         "settings (configuration hash unchanged)");
    return 0;
}

//  The last committed round, read from the rounds database.
static int
s_scan_last (fg_journal_t *self, MDB_txn *txn, bool *have, uint32_t *last, fg_error_t *err)
{
    *have = false;
    *last = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->db [DB_ROUNDS], &cursor);
    if (rc)
        return s_fail (self, rc, err, "open rounds cursor");
    MDB_val k, v;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    mdb_cursor_close (cursor);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return s_fail (self, rc, err, "read last round");
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
fg_journal_open_ex (const char *dir, const char *config_canonical, const char *config_hash,
                    bool create, const fg_journal_opts_t *opts, fg_journal_t **out,
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
    fg_journal_t *self;
    int rc = s_env_open (dir, false, create, opts? opts->mapsize: 0, &self, err);
    if (rc)
        return rc;
    if (opts)
        self->free_bytes = opts->free_bytes;
    s_init_t init = { config_canonical, config_hash, create };
    if ((rc = s_write (self, "open", s_init_txn, &init, err)))
        goto fail;
    s_report_t rep;
    memset (&rep, 0, sizeof rep);
    if ((rc = s_check (self, S_BLOBS_RESUME, &rep, err)))
        goto fail;
    if (rep.count) {
        rc = fg_error_set (err, rep.first,
            "journal %s is damaged: %s: %s (%zu problem%s in all); fedgrid will not resume "
            "from a damaged journal: run `fedctl journal verify %s` for the list, then restore "
            "the journal from a backup or start a new experiment in a new directory",
            self->path, rep.first_key, rep.first_msg, rep.count, rep.count == 1? "": "s",
            self->dir);
        goto fail;
    }
    MDB_txn *txn;
    if ((rc = s_read_begin (self, &txn, err)))
        goto fail;
    rc = s_scan_last (self, txn, &self->have_last, &self->last, err);
    mdb_txn_abort (txn);
    if (rc)
        goto fail;
    *out = self;
    return 0;
fail:
    fg_journal_close (&self);
    return rc;
}

int
fg_journal_open (const char *dir, const char *config_canonical, const char *config_hash,
                 bool create, fg_journal_t **out, fg_error_t *err)
{
    return fg_journal_open_ex (dir, config_canonical, config_hash, create, NULL, out, err);
}

//  Read-only open; check_schema false lets verify look at a damaged meta.
static int
s_open_readonly (const char *dir, bool check_schema, fg_journal_t **out, fg_error_t *err)
{
    fg_journal_t *self;
    int rc = s_env_open (dir, true, false, 0, &self, err);
    if (rc)
        return rc;
    MDB_txn *txn;
    if ((rc = s_read_begin (self, &txn, err)))
        goto fail;
    self->have_optimizer = true;
    for (int i = 0; i < S_NDB; i++) {
        int mrc = mdb_dbi_open (txn, s_db_names [i], 0, &self->db [i]);
        if (mrc == MDB_NOTFOUND && i == DB_OPTIMIZER) {
            self->have_optimizer = false;   //  written before it existed: empty
            continue;
        }
        if (mrc == MDB_NOTFOUND) {
            mdb_txn_abort (txn);
            rc = fg_error_set (err, FG_ENOENT, "journal %s was never initialised (database %s "
                               "is missing)", self->path, s_db_names [i]);
            goto fail;
        }
        if (mrc) {
            mdb_txn_abort (txn);
            rc = s_fail (self, mrc, err, "open database %s", s_db_names [i]);
            goto fail;
        }
    }
    if (check_schema && (rc = s_schema_check (self, txn, err))) {
        mdb_txn_abort (txn);
        goto fail;
    }
    int mrc = mdb_txn_commit (txn);         //  keeps the database handles
    if (mrc) {
        rc = s_fail (self, mrc, err, "end read transaction");
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
    return s_open_readonly (dir, true, out, err);
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
    MDB_envinfo info;
    if (!self || mdb_env_info (self->env, &info))
        return 0;
    return info.me_mapsize;
}

//  ---- meta ---------------------------------------------------------------------

int
fg_journal_meta (fg_journal_t *self, char *config_hash, char *experiment_id,
                 uint64_t *created_ns, fg_error_t *err)
{
    assert (self);
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_val v;
    fg_jrec_config_t cfg;
    fg_jrec_experiment_t x;
    if ((rc = s_meta_get (self, txn, "config", &v, err)))
        goto done;
    if ((rc = fg_jrec_decode_config (v.mv_data, v.mv_size, &cfg, err))) {
        fg_error_prefix (err, "journal %s: meta/config", self->path);
        goto done;
    }
    if ((rc = s_meta_get (self, txn, "experiment", &v, err)))
        goto done;
    if ((rc = fg_jrec_decode_experiment (v.mv_data, v.mv_size, &x, err))) {
        fg_error_prefix (err, "journal %s: meta/experiment", self->path);
        goto done;
    }
    if (config_hash)
        memcpy (config_hash, cfg.hash, FG_JREC_HASH_HEX + 1);
    if (experiment_id) {
        for (int i = 0; i < FG_JREC_ID_SIZE; i++)
            snprintf (experiment_id + 2 * i, 3, "%02x", x.id [i]);
    }
    if (created_ns)
        *created_ns = x.created_ns;
done:
    mdb_txn_abort (txn);
    return rc;
}

int
fg_journal_config_text (fg_journal_t *self, char **text, fg_error_t *err)
{
    assert (self && text);
    *text = NULL;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_val v;
    fg_jrec_config_t cfg;
    if ((rc = s_meta_get (self, txn, "config", &v, err)))
        goto done;
    if ((rc = fg_jrec_decode_config (v.mv_data, v.mv_size, &cfg, err))) {
        fg_error_prefix (err, "journal %s: meta/config", self->path);
        goto done;
    }
    *text = malloc ((size_t) cfg.length + 1);
    if (!*text) {
        rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory");
        goto done;
    }
    memcpy (*text, cfg.text, cfg.length);
    (*text) [cfg.length] = 0;
done:
    mdb_txn_abort (txn);
    return rc;
}

//  ---- rounds -------------------------------------------------------------------

int
fg_journal_last_round (fg_journal_t *self, uint32_t *round, fg_error_t *err)
{
    assert (self && round);
    bool have = self->have_last;
    uint32_t last = self->last;
    if (self->readonly) {
        //  Another process writes: read it now.
        MDB_txn *txn;
        int rc = s_read_begin (self, &txn, err);
        if (rc)
            return rc;
        rc = s_scan_last (self, txn, &have, &last, err);
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

//  Reads and decodes rounds/round in txn; FG_ENOENT (no message) if absent.
static int
s_round_read (fg_journal_t *self, MDB_txn *txn, uint32_t round, fg_jrec_round_t *r,
              fg_error_t *err)
{
    uint8_t key [4];
    s_be32 (key, round);
    MDB_val v;
    int rc = s_get (self, txn, DB_ROUNDS, key, 4, &v, err);
    if (rc)
        return rc;
    if ((rc = fg_jrec_decode_round (v.mv_data, v.mv_size, r, err)))
        fg_error_prefix (err, "journal %s: rounds/%u", self->path, round);
    else
    if (r->head.round != round)
        rc = fg_error_set (err, FG_EFORMAT, "journal %s: rounds/%u: record is of round %u",
                           self->path, round, r->head.round);
    return rc;
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

typedef struct {
    uint32_t round;
    const fg_journal_assignment_t *assignments;
    size_t nassignments;
} s_round_open_t;

static int
s_round_open_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_round_open_t *o = (s_round_open_t *) ctx;
    fg_jrec_round_t old;
    int rc = s_round_read (self, txn, o->round, &old, err);
    if (rc && rc != FG_ENOENT)
        return rc;
    bool reopen = rc == 0;
    fg_journal_round_t r;
    memset (&r, 0, sizeof r);
    r.round = o->round;
    r.state = FG_ROUND_OPEN;
    r.opened_ns = reopen? old.head.opened_ns: s_now_ns ();
    r.nassignments = (uint32_t) o->nassignments;
    r.assignments = (fg_journal_assignment_t *) o->assignments;
    size_t size = fg_jrec_size_round (r.nassignments, 0);
    uint8_t key [4];
    s_be32 (key, o->round);
    MDB_val space;
    if ((rc = s_put (self, txn, DB_ROUNDS, "round_open:round", key, 4, NULL, size, MDB_RESERVE,
                     &space, err)))
        return rc;
    fg_jrec_encode_round (space.mv_data, size, &r);
    return s_eventf (self, txn, "round_open:event", o->round, err, "round %u %s: %zu assignments",
                     o->round, reopen? "assignments updated": "opened", o->nassignments);
}

int
fg_journal_round_open (fg_journal_t *self, uint32_t round,
                       const fg_journal_assignment_t *assignments, size_t nassignments,
                       fg_error_t *err)
{
    assert (self);
    S_WRITABLE (self, "round_open");
    int rc = s_check_assignments (assignments, nassignments, err);
    if (rc)
        return rc;
    if (round != s_next_round (self))
        return fg_error_set (err, FG_ESTATE, "journal %s: cannot open round %u: the next round "
                             "is %u", self->path, round, s_next_round (self));
    s_round_open_t o = { round, assignments, nassignments };
    return s_write (self, "round_open", s_round_open_txn, &o, err);
}

int
fg_journal_round_get (fg_journal_t *self, uint32_t round, fg_journal_round_t **out,
                      fg_error_t *err)
{
    assert (self && out);
    *out = NULL;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    fg_jrec_round_t r;
    rc = s_round_read (self, txn, round, &r, err);
    if (rc == FG_ENOENT)
        rc = fg_error_set (err, FG_ENOENT, "journal %s: round %u is not in the journal",
                           self->path, round);
    if (rc)
        goto done;
    size_t size = sizeof (fg_journal_round_t)
                + r.head.nassignments * sizeof (fg_journal_assignment_t)
                + r.head.nincluded * sizeof (uint32_t);
    fg_journal_round_t *copy = malloc (size);
    if (!copy) {
        rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory");
        goto done;
    }
    *copy = r.head;
    copy->assignments = (fg_journal_assignment_t *) (copy + 1);
    copy->included = (uint32_t *) (copy->assignments + r.head.nassignments);
    for (uint32_t i = 0; i < r.head.nassignments; i++) {
        const uint8_t *p = r.assignments + 12 * (size_t) i;
        copy->assignments [i].shard = s_rd_le32 (p);
        copy->assignments [i].node = s_rd_le32 (p + 4);
        copy->assignments [i].attempt = s_rd_le32 (p + 8);
    }
    for (uint32_t i = 0; i < r.head.nincluded; i++)
        copy->included [i] = s_rd_le32 (r.included + 4 * (size_t) i);
    *out = copy;
done:
    mdb_txn_abort (txn);
    return rc;
}

void
fg_journal_round_destroy (fg_journal_round_t **self_p)
{
    if (self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

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
} s_commit_t;

static int
s_commit_txn (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_commit_t *c = (s_commit_t *) ctx;
    fg_jrec_round_t old;
    int rc = s_round_read (self, txn, c->round, &old, err);
    if (rc && rc != FG_ENOENT)
        return rc;
    bool was_open = rc == 0;
    if (was_open && FG_NEVER (old.head.state != FG_ROUND_OPEN))
        return fg_error_set (err, FG_ESTATE, "journal %s: round %u is already committed",
                             self->path, c->round);
    //  The invariant "updates of committed rounds are complete", at the source.
    uint8_t ukey [8];
    s_be32 (ukey, c->round);
    for (size_t i = 0; i < c->nincluded; i++) {
        s_be32 (ukey + 4, c->included [i]);
        MDB_val uv;
        rc = s_get (self, txn, DB_UPDATES, ukey, 8, &uv, err);
        if (rc == FG_ENOENT)
            return fg_error_set (err, FG_ESTATE, "journal %s: cannot commit round %u: shard %u "
                                 "is in the included set but no update of it is stored",
                                 self->path, c->round, c->included [i]);
        if (rc)
            return rc;
    }
    uint8_t key [4];
    s_be32 (key, c->round);
    //  1. weights
    MDB_val space;
    if ((rc = s_put (self, txn, DB_WEIGHTS, "commit_round:weights", key, 4, NULL,
                     FG_JREC_SIZE_WEIGHTS + c->size, MDB_RESERVE, &space, err)))
        return rc;
    uint8_t *w = space.mv_data;
    fg_jrec_encode_weights (w, FG_JREC_SIZE_WEIGHTS, c->round, c->size, c->crc);
    memcpy (w + FG_JREC_SIZE_WEIGHTS, c->blob, c->size);
    //  1b. the server optimizer state beside them (FedAvgM momentum buffer)
    if (c->opt) {
        if ((rc = s_put (self, txn, DB_OPTIMIZER, "commit_round:optimizer", key, 4, NULL,
                         FG_JREC_SIZE_OPTIMIZER + c->opt_size, MDB_RESERVE, &space, err)))
            return rc;
        uint8_t *o = space.mv_data;
        fg_jrec_encode_optimizer (o, FG_JREC_SIZE_OPTIMIZER, c->round, FG_JREC_OPT_MOMENTUM,
                                  c->opt_size, c->opt_crc);
        memcpy (o + FG_JREC_SIZE_OPTIMIZER, c->opt, c->opt_size);
    }
    //  2. metrics
    uint8_t mrec [FG_JREC_SIZE_METRICS];
    fg_jrec_encode_metrics (mrec, sizeof mrec, c->round, c->metrics);
    if ((rc = s_put (self, txn, DB_METRICS, "commit_round:metrics", key, 4, mrec, sizeof mrec,
                     0, NULL, err)))
        return rc;
    //  3. the round's state
    fg_journal_round_t r;
    memset (&r, 0, sizeof r);
    r.round = c->round;
    r.state = FG_ROUND_COMMITTED;
    r.opened_ns = was_open? old.head.opened_ns: s_now_ns ();
    r.committed_ns = s_now_ns ();
    r.weights_size = c->size;
    r.weights_crc = c->crc;
    r.nassignments = (uint32_t) c->nassignments;
    r.assignments = (fg_journal_assignment_t *) c->assignments;
    r.nincluded = (uint32_t) c->nincluded;
    r.included = (uint32_t *) c->included;
    size_t rsize = fg_jrec_size_round (r.nassignments, r.nincluded);
    if ((rc = s_put (self, txn, DB_ROUNDS, "commit_round:round", key, 4, NULL, rsize,
                     MDB_RESERVE, &space, err)))
        return rc;
    fg_jrec_encode_round (space.mv_data, rsize, &r);
    //  4. retention: collect the checkpoints to drop, then drop them
    MDB_cursor *cursor;
    if ((rc = mdb_cursor_open (txn, self->db [DB_WEIGHTS], &cursor)))
        return s_fail (self, rc, err, "commit_round: open weights cursor");
    uint32_t drop [64];
    size_t ndrop = 0;
    bool more = false;
    MDB_val k, v;
    int crc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (crc == 0) {
        if (k.mv_size == 4) {
            uint32_t q = s_rd_be32 (k.mv_data);
            if (!s_keep (self, q, c->round)) {
                if (ndrop < 64)
                    drop [ndrop++] = q;
                else
                    more = true;
            }
        }
        crc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    if (crc != MDB_NOTFOUND)
        return s_fail (self, crc, err, "commit_round: walk weights");
    if (more)       //  a retention change left many: the next commits drop the rest
        fg_debug ("journal %s: retention drops 64 checkpoints now, more later", self->path);
    for (size_t i = 0; i < ndrop; i++) {
        uint8_t dkey [4];
        s_be32 (dkey, drop [i]);
        if ((rc = s_del (self, txn, DB_WEIGHTS, "commit_round:retention", dkey, 4, err)))
            return rc;
        //  the optimizer state goes with its checkpoint
        MDB_val ov;
        rc = s_get (self, txn, DB_OPTIMIZER, dkey, 4, &ov, err);
        if (rc == 0)
            rc = s_del (self, txn, DB_OPTIMIZER, "commit_round:retention-optimizer", dkey, 4,
                        err);
        if (rc && rc != FG_ENOENT)
            return rc;
    }
    //  5. audit
    char extra [64] = "";
    if (c->opt)
        snprintf (extra, sizeof extra, ", momentum buffer %zu bytes CRC %08x", c->opt_size,
                  c->opt_crc);
    return s_eventf (self, txn, "commit_round:event", c->round, err,
                     "round %u committed: %zu updates, weights %zu bytes CRC %08x%s, %zu "
                     "checkpoint%s dropped", c->round, c->nincluded, c->size, c->crc, extra,
                     ndrop, ndrop == 1? "": "s");
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
    S_WRITABLE (self, "commit_round");
    if (!blob || size == 0 || !metrics)
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: weights blob and "
                             "metrics are required", round);
    if (size > SIZE_MAX - FG_JREC_SIZE_WEIGHTS)
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: blob too large", round);
    if (optimizer && (optimizer_size == 0 || optimizer_size > SIZE_MAX - FG_JREC_SIZE_OPTIMIZER))
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: optimizer state of %zu "
                             "bytes", round, optimizer_size);
    //  The invariant "a momentum buffer iff server momentum", at the source.
    if (!optimizer != !self->momentum)
        return fg_error_set (err, FG_EINVAL, "journal %s: commit round %u: the configuration "
                             "has aggregation.server_momentum = %g, so the round's momentum "
                             "buffer %s", self->path, round, self->beta,
                             self->momentum? "is required": "must not be given");
    if (nincluded > FG_JREC_SHARDS_MAX || (nincluded && !included))
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: %zu included shards "
                             "(at most %u, array required)", round, nincluded, FG_JREC_SHARDS_MAX);
    for (size_t i = 1; i < nincluded; i++)
        if (included [i] <= included [i - 1])
            return fg_error_set (err, FG_EINVAL, "journal: commit round %u: included shards "
                                 "not strictly increasing at index %zu", round, i);
    double acc = metrics->test_accuracy;
    if (!isnan (acc) && !(acc >= 0.0 && acc <= 1.0))
        return fg_error_set (err, FG_EINVAL, "journal: commit round %u: test accuracy %g "
                             "outside 0..1", round, acc);
    int rc = s_check_assignments (assignments, nassignments, err);
    if (rc)
        return rc;
    if (round != s_next_round (self))
        return fg_error_set (err, FG_ESTATE, "journal %s: cannot commit round %u: the next "
                             "round is %u", self->path, round, s_next_round (self));
    s_commit_t c = { round, blob, size, fg_jrec_crc (blob, size),
                     optimizer, optimizer? optimizer_size: 0,
                     optimizer? fg_jrec_crc (optimizer, optimizer_size): 0,
                     metrics, included, nincluded, assignments, nassignments };
    if ((rc = s_write (self, "commit_round", s_commit_txn, &c, err)))
        return rc;
    self->have_last = true;
    self->last = round;
    return 0;
}

int
fg_journal_metrics_get (fg_journal_t *self, uint32_t round, fg_journal_metrics_t *out,
                        fg_error_t *err)
{
    assert (self && out);
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    uint8_t key [4];
    s_be32 (key, round);
    MDB_val v;
    fg_jrec_metrics_t m;
    rc = s_get (self, txn, DB_METRICS, key, 4, &v, err);
    if (rc == FG_ENOENT)
        rc = fg_error_set (err, FG_ENOENT, "journal %s: no metrics for round %u", self->path, round);
    else
    if (rc == 0 && (rc = fg_jrec_decode_metrics (v.mv_data, v.mv_size, &m, err)))
        fg_error_prefix (err, "journal %s: metrics/%u", self->path, round);
    else
    if (rc == 0)
        *out = m.m;
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

//  An update is already stored under the key: same bytes or a mismatch.
static int
s_update_compare (fg_journal_t *self, MDB_txn *txn, s_update_t *c, const MDB_val *stored,
                  fg_error_t *err)
{
    const fg_journal_update_t *u = c->u;
    fg_jrec_update_t old;
    int rc = fg_jrec_decode_update (stored->mv_data, stored->mv_size, true, &old, err);
    if (rc) {
        fg_error_prefix (err, "journal %s: updates/%u/%u", self->path, u->round, u->shard);
        return rc;
    }
    const char *what = NULL;
    size_t at = 0;
    if (old.head.samples != u->samples)
        what = "sample count";
    else
    if (old.head.blob_size != c->size)
        what = "blob length";
    else
    if (memcmp (old.blob, c->blob, c->size) != 0) {
        what = "blob bytes";
        while (at < c->size && old.blob [at] == ((const uint8_t *) c->blob) [at])
            at++;
    }
    else {
        uint8_t key [8];
        s_be32 (key, u->round);
        s_be32 (key + 4, u->shard);
        MDB_val lv;
        fg_jrec_loss_t l;
        rc = s_get (self, txn, DB_METRICS, key, 8, &lv, err);
        if (rc == 0 && (rc = fg_jrec_decode_loss (lv.mv_data, lv.mv_size, &l, err)))
            fg_error_prefix (err, "journal %s: metrics/%u/%u", self->path, u->round, u->shard);
        if (rc == FG_ENOENT)
            what = "loss curve (none stored)";
        else
        if (rc)
            return rc;
        else
        if (l.count != c->nloss)
            what = "loss curve length";
        else
            for (size_t i = 0; i < c->nloss && !what; i++) {
                uint32_t bits;
                memcpy (&bits, &c->loss [i], 4);
                if (s_rd_le32 (l.points + 4 * i) != bits) {
                    what = "loss curve";
                    at = i;
                }
            }
    }
    if (what)
        return fg_error_set (err, FG_EMISMATCH,
            "journal: round %u shard %u: the update from node %u (attempt %u) differs from the "
            "stored one from node %u (attempt %u): %s differ%s (at %zu)", u->round, u->shard,
            u->node, u->attempt, old.head.node, old.head.attempt, what,
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
    s_be32 (key, u->round);
    s_be32 (key + 4, u->shard);
    MDB_val stored;
    int rc = s_get (self, txn, DB_UPDATES, key, 8, &stored, err);
    if (rc == 0)
        return s_update_compare (self, txn, c, &stored, err);
    if (rc != FG_ENOENT)
        return rc;
    fg_jrec_round_t r;
    rc = s_round_read (self, txn, u->round, &r, err);
    if (rc == FG_ENOENT || (rc == 0 && r.head.state != FG_ROUND_OPEN))
        return fg_error_set (err, FG_ESTATE, "journal: update of round %u shard %u from node %u "
                             "not stored: round %u is %s", u->round, u->shard, u->node, u->round,
                             rc == FG_ENOENT? "not open": "already committed");
    if (rc)
        return rc;
    fg_journal_update_t head = *u;
    head.received_ns = s_now_ns ();
    head.blob_size = c->size;
    head.blob_crc = c->crc;
    MDB_val space;
    if ((rc = s_put (self, txn, DB_UPDATES, "put_update:update", key, 8, NULL,
                     FG_JREC_SIZE_UPDATE + c->size, MDB_NOOVERWRITE | MDB_RESERVE, &space, err)))
        return rc == FG_EEXIST? s_update_compare (self, txn, c, &space, err): rc;
    uint8_t *p = space.mv_data;
    fg_jrec_encode_update (p, FG_JREC_SIZE_UPDATE, &head);
    if (c->size)
        memcpy (p + FG_JREC_SIZE_UPDATE, c->blob, c->size);
    size_t lsize = fg_jrec_size_loss (c->nloss);
    if ((rc = s_put (self, txn, DB_METRICS, "put_update:loss", key, 8, NULL, lsize,
                     MDB_RESERVE, &space, err)))
        return rc;
    fg_jrec_encode_loss (space.mv_data, lsize, u->round, u->shard, c->loss, c->nloss);
    return s_eventf (self, txn, "put_update:event", u->round, err, "update stored: round %u "
                     "shard %u from node %u attempt %u, %" PRIu64 " samples, %zu bytes",
                     u->round, u->shard, u->node, u->attempt, u->samples, c->size);
}

int
fg_journal_put_update (fg_journal_t *self, const fg_journal_update_t *u,
                       const float *loss, size_t nloss, const void *blob, size_t size,
                       bool *duplicate, fg_error_t *err)
{
    assert (self);
    S_WRITABLE (self, "put_update");
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
    int rc = s_write (self, "put_update", s_update_txn, &c, err);
    if (rc == 0 && duplicate)
        *duplicate = c.duplicate;
    return rc;
}

int
fg_journal_get_update (fg_journal_t *self, uint32_t round, uint32_t shard,
                       fg_journal_update_t *u, float **loss, size_t *nloss,
                       void **blob, size_t *size, fg_error_t *err)
{
    assert (self);
    if (loss)
        *loss = NULL;
    if (nloss)
        *nloss = 0;
    if (blob)
        *blob = NULL;
    if (size)
        *size = 0;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    uint8_t key [8];
    s_be32 (key, round);
    s_be32 (key + 4, shard);
    MDB_val v, lv;
    fg_jrec_update_t rec;
    fg_jrec_loss_t l;
    float *lcopy = NULL;
    void *bcopy = NULL;
    rc = s_get (self, txn, DB_UPDATES, key, 8, &v, err);
    if (rc == FG_ENOENT)
        rc = fg_error_set (err, FG_ENOENT, "journal %s: no update of round %u shard %u",
                           self->path, round, shard);
    if (rc)
        goto done;
    if ((rc = fg_jrec_decode_update (v.mv_data, v.mv_size, blob != NULL, &rec, err))) {
        fg_error_prefix (err, "journal %s: updates/%u/%u", self->path, round, shard);
        goto done;
    }
    if (rec.head.round != round || rec.head.shard != shard) {
        rc = fg_error_set (err, FG_EFORMAT, "journal %s: updates/%u/%u: record is of round %u "
                           "shard %u", self->path, round, shard, rec.head.round, rec.head.shard);
        goto done;
    }
    if (loss || nloss) {
        rc = s_get (self, txn, DB_METRICS, key, 8, &lv, err);
        if (rc == FG_ENOENT)
            rc = fg_error_set (err, FG_EFORMAT, "journal %s: metrics/%u/%u: loss curve missing",
                               self->path, round, shard);
        if (rc)
            goto done;
        if ((rc = fg_jrec_decode_loss (lv.mv_data, lv.mv_size, &l, err))) {
            fg_error_prefix (err, "journal %s: metrics/%u/%u", self->path, round, shard);
            goto done;
        }
        if (loss && l.count) {
            lcopy = malloc ((size_t) l.count * sizeof (float));
            if (!lcopy) {
                rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory");
                goto done;
            }
            for (uint32_t i = 0; i < l.count; i++) {
                uint32_t bits = s_rd_le32 (l.points + 4 * (size_t) i);
                memcpy (&lcopy [i], &bits, 4);
            }
        }
    }
    if (blob) {
        bcopy = malloc (rec.head.blob_size? (size_t) rec.head.blob_size: 1);
        if (!bcopy) {
            rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory (%" PRIu64 " bytes)",
                               rec.head.blob_size);
            goto done;
        }
        memcpy (bcopy, rec.blob, (size_t) rec.head.blob_size);
    }
    if (u)
        *u = rec.head;
    if (loss)
        *loss = lcopy, lcopy = NULL;
    if (nloss)
        *nloss = l.count;
    if (blob)
        *blob = bcopy, bcopy = NULL;
    if (size)
        *size = (size_t) rec.head.blob_size;
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
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open (txn, self->db [db], &cursor);
    if (mrc) {
        mdb_txn_abort (txn);
        return s_fail (self, mrc, err, "open %s cursor", s_db_names [db]);
    }
    MDB_val k = { prefix_len, (void *) prefix }, v;
    mrc = mdb_cursor_get (cursor, &k, &v, prefix_len? MDB_SET_RANGE: MDB_FIRST);
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
            list [(*count)++] = s_rd_be32 ((const uint8_t *) k.mv_data + at);
        }
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = s_fail (self, mrc, err, "walk %s", s_db_names [db]);
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
    s_be32 (prefix, round);
    return s_collect (self, DB_UPDATES, 8, prefix, 4, 4, shards, count, err);
}

//  ---- weights ------------------------------------------------------------------

int
fg_journal_weights_rounds (fg_journal_t *self, uint32_t **rounds, size_t *count, fg_error_t *err)
{
    assert (self && rounds && count);
    return s_collect (self, DB_WEIGHTS, 4, NULL, 0, 0, rounds, count, err);
}

int
fg_journal_get_weights (fg_journal_t *self, uint32_t round, bool or_earlier, uint32_t *found,
                        void **blob, size_t *size, fg_error_t *err)
{
    assert (self && blob && size);
    *blob = NULL;
    *size = 0;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open (txn, self->db [DB_WEIGHTS], &cursor);
    if (mrc) {
        mdb_txn_abort (txn);
        return s_fail (self, mrc, err, "open weights cursor");
    }
    uint8_t key [4];
    MDB_val k, v;
    if (round == FG_JOURNAL_LATEST)
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
    else {
        s_be32 (key, round);
        k.mv_size = 4;
        k.mv_data = key;
        mrc = mdb_cursor_get (cursor, &k, &v, or_earlier? MDB_SET_RANGE: MDB_SET_KEY);
        if (or_earlier) {
            //  SET_RANGE gives the first key >= round: step back unless equal.
            if (mrc == 0 && !(k.mv_size == 4 && s_rd_be32 (k.mv_data) == round))
                mrc = mdb_cursor_get (cursor, &k, &v, MDB_PREV);
            else
            if (mrc == MDB_NOTFOUND)
                mrc = mdb_cursor_get (cursor, &k, &v, MDB_LAST);
        }
    }
    mdb_cursor_close (cursor);
    fg_jrec_weights_t w;
    if (mrc == MDB_NOTFOUND) {
        if (round == FG_JOURNAL_LATEST)
            rc = fg_error_set (err, FG_ENOENT, "journal %s: no weights checkpoint stored", self->path);
        else
            rc = fg_error_set (err, FG_ENOENT, "journal %s: no weights checkpoint %s round %u "
                               "(not committed or not retained)", self->path,
                               or_earlier? "at or before": "of", round);
        goto done;
    }
    if (mrc) {
        rc = s_fail (self, mrc, err, "read weights");
        goto done;
    }
    uint32_t kround = k.mv_size == 4? s_rd_be32 (k.mv_data): 0;
    if ((rc = fg_jrec_decode_weights (v.mv_data, v.mv_size, true, &w, err))) {
        fg_error_prefix (err, "journal %s: weights/%u", self->path, kround);
        goto done;
    }
    if (w.round != kround) {
        rc = fg_error_set (err, FG_EFORMAT, "journal %s: weights/%u: record is of round %u",
                           self->path, kround, w.round);
        goto done;
    }
    void *copy = malloc ((size_t) w.blob_size);
    if (!copy) {
        rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory (%" PRIu64 " bytes)", w.blob_size);
        goto done;
    }
    memcpy (copy, w.blob, (size_t) w.blob_size);
    *blob = copy;
    *size = (size_t) w.blob_size;
    if (found)
        *found = w.round;
done:
    mdb_txn_abort (txn);
    return rc;
}

//  ---- optimizer state ------------------------------------------------------------

int
fg_journal_optimizer_rounds (fg_journal_t *self, uint32_t **rounds, size_t *count,
                             fg_error_t *err)
{
    assert (self && rounds && count);
    if (!s_have (self, DB_OPTIMIZER)) {
        *rounds = NULL;
        *count = 0;
        return 0;
    }
    return s_collect (self, DB_OPTIMIZER, 4, NULL, 0, 0, rounds, count, err);
}

int
fg_journal_get_optimizer (fg_journal_t *self, uint32_t round, void **blob, size_t *size,
                          fg_error_t *err)
{
    assert (self && blob && size);
    *blob = NULL;
    *size = 0;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    uint8_t key [4];
    s_be32 (key, round);
    MDB_val v;
    fg_jrec_optimizer_t o;
    rc = s_get (self, txn, DB_OPTIMIZER, key, 4, &v, err);
    if (rc == FG_ENOENT)
        rc = fg_error_set (err, FG_ENOENT, "journal %s: no optimizer state (momentum buffer) "
                           "of round %u", self->path, round);
    if (rc)
        goto done;
    if ((rc = fg_jrec_decode_optimizer (v.mv_data, v.mv_size, true, &o, err))) {
        fg_error_prefix (err, "journal %s: optimizer/%u", self->path, round);
        goto done;
    }
    if (o.round != round) {
        rc = fg_error_set (err, FG_EFORMAT, "journal %s: optimizer/%u: record is of round %u",
                           self->path, round, o.round);
        goto done;
    }
    void *copy = malloc (o.blob_size? (size_t) o.blob_size: 1);
    if (!copy) {
        rc = fg_error_set (err, FG_ENOMEM, "journal: out of memory (%" PRIu64 " bytes)",
                           o.blob_size);
        goto done;
    }
    memcpy (copy, o.blob, (size_t) o.blob_size);
    *blob = copy;
    *size = (size_t) o.blob_size;
done:
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
    s_be32 (key, node->node);
    return s_put (self, txn, DB_NODES, "node_put", key, 4, rec, size, 0, NULL, err);
}

int
fg_journal_node_put (fg_journal_t *self, const fg_journal_node_t *node, fg_error_t *err)
{
    assert (self);
    S_WRITABLE (self, "node_put");
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
    return s_write (self, "node_put", s_node_put_txn, (void *) node, err);
}

int
fg_journal_node_get (fg_journal_t *self, uint32_t node, fg_journal_node_t *out, fg_error_t *err)
{
    assert (self && out);
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    uint8_t key [4];
    s_be32 (key, node);
    MDB_val v;
    fg_jrec_node_t n;
    rc = s_get (self, txn, DB_NODES, key, 4, &v, err);
    if (rc == FG_ENOENT)
        rc = fg_error_set (err, FG_ENOENT, "journal %s: no node %u", self->path, node);
    else
    if (rc == 0 && (rc = fg_jrec_decode_node (v.mv_data, v.mv_size, &n, err)))
        fg_error_prefix (err, "journal %s: nodes/%u", self->path, node);
    else
    if (rc == 0 && n.node.node != node)
        rc = fg_error_set (err, FG_EFORMAT, "journal %s: nodes/%u: record is of node %u",
                           self->path, node, n.node.node);
    else
    if (rc == 0)
        *out = n.node;
    mdb_txn_abort (txn);
    return rc;
}

int
fg_journal_nodes_foreach (fg_journal_t *self, fg_journal_node_fn *fn, void *arg, fg_error_t *err)
{
    assert (self && fn);
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open (txn, self->db [DB_NODES], &cursor);
    if (mrc) {
        mdb_txn_abort (txn);
        return s_fail (self, mrc, err, "open nodes cursor");
    }
    MDB_val k, v;
    mrc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (mrc == 0 && rc == 0) {
        fg_jrec_node_t n;
        char key [64];
        if ((rc = fg_jrec_decode_node (v.mv_data, v.mv_size, &n, err))) {
            s_key_name (DB_NODES, k.mv_data, k.mv_size, key, sizeof key);
            fg_error_prefix (err, "journal %s: %s", self->path, key);
            break;
        }
        rc = fn (&n.node, arg);
        if (rc == 0)
            mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = s_fail (self, mrc, err, "walk nodes");
    return rc;
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
    return s_event_put (self, txn, "event_append", e->round, e->text, e->length, &e->seq, err);
}

int
fg_journal_event_append (fg_journal_t *self, uint32_t round, const char *text, uint64_t *seq,
                         fg_error_t *err)
{
    assert (self);
    S_WRITABLE (self, "event_append");
    if (!text)
        return fg_error_set (err, FG_EINVAL, "journal: event_append: no text");
    size_t length = strnlen (text, FG_JOURNAL_EVENT_MAX + 1);
    if (length > FG_JOURNAL_EVENT_MAX)
        return fg_error_set (err, FG_ERANGE, "journal: event text longer than %d bytes",
                             FG_JOURNAL_EVENT_MAX);
    s_event_t e = { round, text, length, 0 };
    int rc = s_write (self, "event_append", s_event_txn, &e, err);
    if (rc == 0 && seq)
        *seq = e.seq;
    return rc;
}

int
fg_journal_events_foreach (fg_journal_t *self, uint64_t from, fg_journal_event_fn *fn, void *arg,
                           fg_error_t *err)
{
    assert (self && fn);
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open (txn, self->db [DB_EVENTS], &cursor);
    if (mrc) {
        mdb_txn_abort (txn);
        return s_fail (self, mrc, err, "open events cursor");
    }
    uint8_t key [8];
    s_be64 (key, from);
    MDB_val k = { 8, key }, v;
    mrc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    char text [FG_JOURNAL_EVENT_MAX + 1];
    while (mrc == 0 && rc == 0) {
        fg_jrec_event_t ev;
        if ((rc = fg_jrec_decode_event (v.mv_data, v.mv_size, &ev, err))) {
            char name [64];
            s_key_name (DB_EVENTS, k.mv_data, k.mv_size, name, sizeof name);
            fg_error_prefix (err, "journal %s: %s", self->path, name);
            break;
        }
        memcpy (text, ev.text, ev.length);
        text [ev.length] = 0;
        fg_journal_event_t pub = { ev.seq, ev.time_ns, ev.round, ev.length, text };
        rc = fn (&pub, arg);
        if (rc == 0)
            mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = s_fail (self, mrc, err, "walk events");
    return rc;
}

//  ---- verify -------------------------------------------------------------------

int
fg_journal_check (fg_journal_t *self, fg_journal_report_fn *report, void *arg,
                  size_t *problems, fg_error_t *err)
{
    assert (self);
    s_report_t rep;
    memset (&rep, 0, sizeof rep);
    rep.fn = report;
    rep.arg = arg;
    if (problems)
        *problems = 0;
    int rc = s_check (self, S_BLOBS_ALL, &rep, err);
    if (rc)
        return rc;
    if (problems)
        *problems = rep.count;
    if (rep.count)
        return fg_error_set (err, rep.first, "journal %s: %zu problem%s, the first: %s: %s",
                             self->path, rep.count, rep.count == 1? "": "s", rep.first_key,
                             rep.first_msg);
    return 0;
}

int
fg_journal_verify (const char *dir, fg_journal_report_fn *report, void *arg, size_t *problems,
                   fg_error_t *err)
{
    if (problems)
        *problems = 0;
    fg_journal_t *self;
    int rc = s_open_readonly (dir, false, &self, err);
    if (rc)
        return rc;
    rc = fg_journal_check (self, report, arg, problems, err);
    fg_journal_close (&self);
    return rc;
}

//  ---- dump ---------------------------------------------------------------------

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

static void
s_dump_record (fg_journal_t *self, MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *ctx)
{
    (void) txn;
    FILE *out = ((void **) ctx) [0];
    int db = *(int *) ((void **) ctx) [1];
    char key [64];
    s_key_name (db, k->mv_data, k->mv_size, key, sizeof key);
    const char *name = strchr (key, '/')? strchr (key, '/') + 1: key;
    fg_error_t e = { 0, "" };
    char t1 [32], t2 [32];
    int kind = fg_jrec_kind (v->mv_data, v->mv_size);
    fprintf (out, "  %-10s ", name);
    int rc = FG_EFORMAT;
    if (kind == FG_JREC_SCHEMA) {
        fg_jrec_schema_t s;
        if ((rc = fg_jrec_decode_schema (v->mv_data, v->mv_size, &s, &e)) == 0)
            fprintf (out, "version %u\n", s.version);
    }
    else
    if (kind == FG_JREC_CONFIG) {
        fg_jrec_config_t c;
        if ((rc = fg_jrec_decode_config (v->mv_data, v->mv_size, &c, &e)) == 0) {
            fprintf (out, "hash %s, %u bytes of canonical text:\n", c.hash, c.length);
            const char *p = c.text, *end = c.text + c.length;
            while (p < end) {
                const char *nl = memchr (p, '\n', (size_t) (end - p));
                size_t n = nl? (size_t) (nl - p): (size_t) (end - p);
                fprintf (out, "      | ");
                s_print_text (out, p, n);
                fputc ('\n', out);
                p += n + (nl? 1: 0);
            }
        }
    }
    else
    if (kind == FG_JREC_EXPERIMENT) {
        fg_jrec_experiment_t x;
        if ((rc = fg_jrec_decode_experiment (v->mv_data, v->mv_size, &x, &e)) == 0) {
            s_time (x.created_ns, t1, sizeof t1);
            fprintf (out, "id ");
            for (int i = 0; i < FG_JREC_ID_SIZE; i++)
                fprintf (out, "%02x", x.id [i]);
            fprintf (out, ", created %s by \"", t1);
            s_print_text (out, x.label, x.label_length);
            fprintf (out, "\"\n");
        }
    }
    else
    if (kind == FG_JREC_ROUND) {
        fg_jrec_round_t r;
        if ((rc = fg_jrec_decode_round (v->mv_data, v->mv_size, &r, &e)) == 0) {
            s_time (r.head.opened_ns, t1, sizeof t1);
            s_time (r.head.committed_ns, t2, sizeof t2);
            if (r.head.state == FG_ROUND_OPEN)
                fprintf (out, "open, since %s\n", t1);
            else
                fprintf (out, "committed %s (opened %s), weights %" PRIu64 " bytes CRC %08x\n",
                         t2, t1, r.head.weights_size, r.head.weights_crc);
            fprintf (out, "             included (%u):", r.head.nincluded);
            for (uint32_t i = 0; i < r.head.nincluded; i++)
                fprintf (out, " %u", s_rd_le32 (r.included + 4 * (size_t) i));
            fprintf (out, "\n             assignments (%u, shard:node#attempt):", r.head.nassignments);
            for (uint32_t i = 0; i < r.head.nassignments; i++) {
                const uint8_t *p = r.assignments + 12 * (size_t) i;
                fprintf (out, " %u:%u#%u", s_rd_le32 (p), s_rd_le32 (p + 4), s_rd_le32 (p + 8));
            }
            fputc ('\n', out);
        }
    }
    else
    if (kind == FG_JREC_UPDATE) {
        fg_jrec_update_t u;
        if ((rc = fg_jrec_decode_update (v->mv_data, v->mv_size, true, &u, &e)) == 0) {
            s_time (u.head.received_ns, t1, sizeof t1);
            fprintf (out, "node %u attempt %u, %" PRIu64 " samples, blob %" PRIu64 " bytes CRC "
                     "%08x, received %s\n", u.head.node, u.head.attempt, u.head.samples,
                     u.head.blob_size, u.head.blob_crc, t1);
        }
    }
    else
    if (kind == FG_JREC_WEIGHTS) {
        fg_jrec_weights_t w;
        if ((rc = fg_jrec_decode_weights (v->mv_data, v->mv_size, true, &w, &e)) == 0)
            fprintf (out, "blob %" PRIu64 " bytes CRC %08x\n", w.blob_size, w.blob_crc);
    }
    else
    if (kind == FG_JREC_OPTIMIZER) {
        fg_jrec_optimizer_t o;
        if ((rc = fg_jrec_decode_optimizer (v->mv_data, v->mv_size, true, &o, &e)) == 0)
            fprintf (out, "%s, blob %" PRIu64 " bytes CRC %08x\n",
                     o.what == FG_JREC_OPT_MOMENTUM? "momentum buffer": "?", o.blob_size,
                     o.blob_crc);
    }
    else
    if (kind == FG_JREC_METRICS) {
        fg_jrec_metrics_t m;
        if ((rc = fg_jrec_decode_metrics (v->mv_data, v->mv_size, &m, &e)) == 0)
            fprintf (out, "%u updates, %" PRIu64 " samples, train loss %.6g, test loss %.6g, "
                     "test accuracy %.4f, %" PRIu64 " ms\n", m.m.updates, m.m.samples,
                     m.m.train_loss, m.m.test_loss, m.m.test_accuracy, m.m.duration_ms);
    }
    else
    if (kind == FG_JREC_LOSS) {
        fg_jrec_loss_t l;
        if ((rc = fg_jrec_decode_loss (v->mv_data, v->mv_size, &l, &e)) == 0) {
            fprintf (out, "loss curve, %u points:", l.count);
            for (uint32_t i = 0; i < l.count; i++) {
                if (l.count > 12 && i == 6) {
                    fprintf (out, " ...");
                    i = l.count - 6;
                }
                uint32_t bits = s_rd_le32 (l.points + 4 * (size_t) i);
                float f;
                memcpy (&f, &bits, 4);
                fprintf (out, " %.5g", (double) f);
            }
            fputc ('\n', out);
        }
    }
    else
    if (kind == FG_JREC_NODE) {
        fg_jrec_node_t n;
        if ((rc = fg_jrec_decode_node (v->mv_data, v->mv_size, &n, &e)) == 0) {
            s_time (n.node.first_seen_ns, t1, sizeof t1);
            s_time (n.node.last_seen_ns, t2, sizeof t2);
            fprintf (out, "\"");
            s_print_text (out, n.node.identity, strlen (n.node.identity));
            fprintf (out, "\", %.6g samples/s, trust %.3f, accepted %" PRIu64 ", rejected %"
                     PRIu64 ", first seen %s, last seen %s\n", n.node.speed, n.node.trust,
                     n.node.accepted, n.node.rejected, t1, t2);
        }
    }
    else
    if (kind == FG_JREC_EVENT) {
        fg_jrec_event_t ev;
        if ((rc = fg_jrec_decode_event (v->mv_data, v->mv_size, &ev, &e)) == 0) {
            s_time (ev.time_ns, t1, sizeof t1);
            fprintf (out, "%s ", t1);
            if (ev.round)
                fprintf (out, "[round %u] ", ev.round);
            s_print_text (out, ev.text, ev.length);
            fputc ('\n', out);
        }
    }
    else
        fg_error_set (&e, FG_EFORMAT, "unknown record kind %d", kind);
    if (rc)
        fprintf (out, "DAMAGED: %s\n", e.msg);
    (void) self;
}

int
fg_journal_dump (fg_journal_t *self, FILE *out, fg_error_t *err)
{
    assert (self && out);
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn, err);
    if (rc)
        return rc;
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info (self->env, &info);
    mdb_env_stat (self->env, &st);
    fprintf (out, "journal %s (schema %d, map %zu bytes, %zu pages used of %u bytes)\n",
             self->path, FG_JOURNAL_SCHEMA_VERSION, info.me_mapsize,
             (size_t) info.me_last_pgno + 1, st.ms_psize);
    for (int db = 0; db < S_NDB && rc == 0; db++) {
        MDB_stat dst;
        if (!s_have (self, db))
            fprintf (out, "%s (0 records: written before this database existed)\n",
                     s_db_names [db]);
        else
        if (mdb_stat (txn, self->db [db], &dst) == 0)
            fprintf (out, "%s (%zu records)\n", s_db_names [db], (size_t) dst.ms_entries);
        void *ctx [2] = { out, &db };
        rc = s_walk (self, txn, db, s_dump_record, ctx, err);
    }
    mdb_txn_abort (txn);
    if (rc == 0 && ferror (out))
        rc = fg_error_set (err, FG_EIO, "journal dump: write error");
    return rc;
}
