/*  fg_lmdb.c — the LMDB mechanics shared by fedgrid's stores (fg_lmdb.h).

    The file check reads LMDB's on-disk header as liblmdb 0.9 lays it out
    (native byte order and word size, as LMDB writes it): two meta pages,
    page 0 at offset 0 and page 1 at one page size. Each page starts with
    a page header (page number, pad, flags, bounds: 16 bytes on LP64),
    then the meta: magic 0xBEEFC0DE, data version 1, the fixed-map address,
    the map size, two database records of 48 bytes (the first one's pad
    field holds the page size), the last page in use and the transaction
    id that wrote it. LMDB reads the meta with the larger transaction id,
    and maps every page up to its last page in use.                       */

#include "fg_lmdb.h"
#include "fg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define S_GROW_MAX_DEFAULT  8
#define S_MAP_RECOMPUTABLE  ((size_t) 64 << 20)
#define S_META_MAGIC        0xBEEFC0DEu
#define S_DATA_VERSION      1
#define S_PAGE_META         0x08        //  the page header's flag of a meta page
#define S_PSIZE_MIN         256
#define S_PSIZE_MAX         65536

struct _fg_lmdb_t {
    MDB_env *env;
    char     path [FG_LMDB_PATH_MAX];
    char     dir [FG_LMDB_PATH_MAX];
    char     name [FG_LMDB_PATH_MAX + 16];  //  messages start with it
    char     kind [32];                 //  "journal", or "store" without a label
    int      grow_max;
    uint64_t free_bytes;                //  test override, UINT64_MAX: statvfs
    int      rc;                        //  LMDB/errno code of the last failure
    uint64_t txn_bytes;                 //  bytes put in the current write txn
};

//  ---- the file check ---------------------------------------------------------

//  LMDB's meta page as it lies on disk (see the file comment); our own
//  mirror of the layout, checked against the LP64 offsets below.
typedef struct {
    uint32_t pad;                       //  database 0: the page size
    uint16_t flags;
    uint16_t depth;
    size_t   branch_pages;
    size_t   leaf_pages;
    size_t   overflow_pages;
    size_t   entries;
    size_t   root;
} s_disk_db_t;

typedef struct {
    size_t   pgno;
    uint16_t pad;
    uint16_t flags;
    uint32_t bounds;
} s_disk_page_t;

typedef struct {
    uint32_t    magic;
    uint32_t    version;
    void       *address;
    size_t      mapsize;
    s_disk_db_t dbs [2];
    size_t      last_pg;
    size_t      txnid;
} s_disk_meta_t;

#if SIZE_MAX == UINT64_MAX
_Static_assert (sizeof (s_disk_page_t) == 16, "LMDB page header is 16 bytes on LP64");
_Static_assert (sizeof (s_disk_db_t) == 48, "LMDB MDB_db is 48 bytes on LP64");
_Static_assert (offsetof (s_disk_meta_t, dbs) == 24, "LMDB meta: databases at 24");
_Static_assert (offsetof (s_disk_meta_t, last_pg) == 120, "LMDB meta: last page at 120");
_Static_assert (offsetof (s_disk_meta_t, txnid) == 128, "LMDB meta: txnid at 128");
#endif

#define S_META_BYTES (sizeof (s_disk_page_t) + sizeof (s_disk_meta_t))

//  Reads the meta page at offset `at`: 1 when it is one LMDB accepts, 0
//  when not (LMDB refuses the file itself before mapping it), -1 (errno
//  set) when it cannot be read.
static int
s_read_meta (int fd, off_t at, s_disk_meta_t *meta)
{
    uint8_t buf [S_META_BYTES];
    ssize_t n = pread (fd, buf, sizeof buf, at);
    if (n < 0)
        return -1;
    if ((size_t) n < sizeof buf)
        return 0;
    s_disk_page_t head;
    memcpy (&head, buf, sizeof head);
    memcpy (meta, buf + sizeof head, sizeof *meta);
    return (head.flags & S_PAGE_META) && meta->magic == S_META_MAGIC
        && meta->version == S_DATA_VERSION;
}

static const char *
s_sep (const char *label)
{
    return label && *label? " ": "";
}

int
fg_lmdb_check_file (const char *path, const char *label, bool empty_is_new, fg_error_t *err)
{
    const char *lb = label? label: "";
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT? 0: fg_error_set (err, FG_EIO, "%s%s%s: open: %s", lb, s_sep (lb),
                                                 path, strerror (errno));
    s_disk_meta_t m0, m1;
    int ok0 = s_read_meta (fd, 0, &m0), ok1 = 0;
    uint32_t psize = ok0 == 1? m0.dbs [0].pad: 0;
    bool psize_ok = psize >= S_PSIZE_MIN && psize <= S_PSIZE_MAX && (psize & (psize - 1)) == 0;
    if (ok0 == 1 && psize_ok)
        ok1 = s_read_meta (fd, (off_t) psize, &m1);
    //  The size after reading the metas: a writer beside us only grows the
    //  file, and writes its pages before the meta that counts them.
    struct stat st;
    int rc = fstat (fd, &st);
    int saved = errno;
    close (fd);
    if (ok0 < 0 || ok1 < 0 || rc)
        return fg_error_set (err, FG_EIO, "%s%s%s: read its header: %s", lb, s_sep (lb), path,
                             strerror (rc? saved: errno));
    long long size = (long long) st.st_size;
    if (size == 0 && empty_is_new)
        return 0;
    if (size == 0)
        return fg_error_set (err, FG_EFORMAT, "%s%s%s is empty (0 bytes): it holds nothing, not "
                             "even LMDB's header; restore it from a backup", lb, s_sep (lb), path);
    if (ok0 == 0 && (size < (long long) S_META_BYTES || m0.magic != S_META_MAGIC))
        return fg_error_set (err, FG_EFORMAT, "%s%s%s: not an LMDB file (its header is damaged or "
                             "it is another kind of file; %lld bytes)", lb, s_sep (lb), path, size);
    if (ok0 == 0)
        return 0;                       //  LMDB names what is wrong with page 0
    if (!psize_ok)
        return fg_error_set (err, FG_EFORMAT, "%s%s%s: not an LMDB file (its header is damaged: "
                             "page size %" PRIu32 ")", lb, s_sep (lb), path, psize);
    if (size < 2 * (long long) psize)
        return fg_error_set (err, FG_EFORMAT, "%s%s%s is truncated: %lld bytes, shorter than "
                             "LMDB's two meta pages (%lld bytes); restore it from a backup",
                             lb, s_sep (lb), path, size, 2 * (long long) psize);
    if (ok1 == 0)
        return 0;                       //  LMDB refuses it (meta page 1) before mapping
    const s_disk_meta_t *newest = m1.txnid > m0.txnid? &m1: &m0;
    unsigned long long pages = (unsigned long long) newest->last_pg + 1;
    unsigned long long need = pages * psize;
    if (newest->last_pg >= SIZE_MAX / psize || (unsigned long long) size < need)
        return fg_error_set (err, FG_EFORMAT, "%s%s%s is truncated: %lld bytes, but its last "
                             "commit (transaction %llu) uses %llu pages of %" PRIu32 " bytes "
                             "(%llu bytes), so reading it would crash; restore it from a backup",
                             lb, s_sep (lb), path, size, (unsigned long long) newest->txnid,
                             pages, psize, need);
    return 0;
}

//  ---- codes and messages -------------------------------------------------------

int
fg_lmdb_code (int rc)
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

int
fg_lmdb_fail (fg_lmdb_t *self, int rc, fg_error_t *err, const char *fmt, ...)
{
    self->rc = rc;
    char what [256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    int code = fg_lmdb_code (rc);
    if (code == FG_EFULL && rc != MDB_MAP_FULL)
        return fg_error_set (err, code, "%s: %s: disk full (%s); the last committed state is "
                             "intact: free some space and resume", self->name, what,
                             mdb_strerror (rc));
    if (rc == MDB_PANIC)
        return fg_error_set (err, code, "%s: %s: %s; close the %s and resume",
                             self->name, what, mdb_strerror (rc), self->kind);
    return fg_error_set (err, code, "%s: %s: %s", self->name, what, mdb_strerror (rc));
}

//  ---- opening ----------------------------------------------------------------------

const char *
fg_lmdb_remote_fs_name (unsigned long f_type)
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

//  The folder: it exists, and (local_only) is not on a network filesystem.
static int
s_check_dir (const char *path, const char *dir, const fg_lmdb_opts_t *opts, fg_error_t *err)
{
    const char *lb = opts->label? opts->label: path;
    const char *dname = opts->dir_name? opts->dir_name: "folder";
    struct stat st;
    if (stat (dir, &st) || !S_ISDIR (st.st_mode))
        return fg_error_set (err, FG_ENOENT, "%s: %s %s does not exist or is not a directory",
                             lb, dname, dir);
    struct statfs fs;
    if (opts->local_only && statfs (dir, &fs) == 0) {
        const char *remote = fg_lmdb_remote_fs_name ((unsigned long) fs.f_type);
        if (remote)
            return fg_error_set (err, FG_EUNSUPPORTED,
                "%s: %s is on a network filesystem (%s); LMDB's locks and shared memory "
                "map are not safe there: put the %s on a local disk", lb, dir, remote, dname);
    }
    return 0;
}

static int
s_env_open (fg_lmdb_t *self, const fg_lmdb_opts_t *opts, fg_error_t *err)
{
    bool readonly = (opts->flags & MDB_RDONLY) != 0;
    int rc = mdb_env_create (&self->env);
    if (rc == 0 && opts->maxdbs)
        rc = mdb_env_set_maxdbs (self->env, opts->maxdbs);
    if (rc == 0 && !readonly && opts->mapsize)
        rc = mdb_env_set_mapsize (self->env, opts->mapsize);
    if (rc)
        return fg_lmdb_fail (self, rc, err, "create environment");
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | opts->flags;
    rc = mdb_env_open (self->env, self->path, flags, 0644);
    if (rc == MDB_INVALID)
        return fg_error_set (err, FG_EFORMAT, "%s: not an LMDB file (its header is damaged or "
                             "it is another kind of file)", self->name);
    if (rc)
        return fg_lmdb_fail (self, rc, err, "open");
    int fd;
    if (opts->lock_hint && mdb_env_get_fd (self->env, &fd) == 0
    &&  flock (fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK
             ? fg_error_set (err, FG_ESTATE, "%s is open for writing by another process (%s)",
                             self->name, opts->lock_hint)
             : fg_lmdb_fail (self, errno, err, "lock");
    int dead = 0;
    mdb_reader_check (self->env, &dead);
    if (dead)
        fg_info ("%s: cleared %d reader slot(s) left by dead processes", self->name, dead);
    return 0;
}

int
fg_lmdb_open (const char *path, const fg_lmdb_opts_t *opts, fg_lmdb_t **out, fg_error_t *err)
{
    static const fg_lmdb_opts_t defaults;
    if (!opts)
        opts = &defaults;
    *out = NULL;
    if (!path || !*path || strlen (path) + 16 >= FG_LMDB_PATH_MAX)
        return fg_error_set (err, FG_EINVAL, "%s: no file name, or one too long",
                             opts->label? opts->label: "lmdb");
    fg_lmdb_t *self = calloc (1, sizeof *self);
    if (!self)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    snprintf (self->path, sizeof self->path, "%s", path);
    snprintf (self->dir, sizeof self->dir, "%s", path);
    char *slash = strrchr (self->dir, '/');
    if (slash == self->dir)
        slash [1] = 0;
    else
    if (slash)
        *slash = 0;
    else
        snprintf (self->dir, sizeof self->dir, ".");
    snprintf (self->name, sizeof self->name, "%s%s%s", opts->label? opts->label: "",
              s_sep (opts->label), path);
    snprintf (self->kind, sizeof self->kind, "%s", opts->label? opts->label: "store");
    self->grow_max = opts->grow_max > 0? opts->grow_max: S_GROW_MAX_DEFAULT;
    self->free_bytes = opts->free_bytes? opts->free_bytes: UINT64_MAX;
    int rc = s_check_dir (path, self->dir, opts, err);
    if (rc == 0 && opts->missing && access (path, F_OK) != 0)
        rc = fg_error_set (err, FG_ENOENT, "%s", opts->missing);
    if (rc == 0)
        rc = fg_lmdb_check_file (path, opts->label, opts->empty_is_new, err);
    if (rc == 0)
        rc = s_env_open (self, opts, err);
    if (rc) {
        fg_lmdb_close (&self);
        return rc;
    }
    *out = self;
    return 0;
}

void
fg_lmdb_close (fg_lmdb_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->env)
        mdb_env_close ((*self_p)->env);     //  also drops the flock on its fd
    free (*self_p);
    *self_p = NULL;
}

MDB_env *
fg_lmdb_env (fg_lmdb_t *self)
{
    return self->env;
}

const char *
fg_lmdb_path (const fg_lmdb_t *self)
{
    return self->path;
}

const char *
fg_lmdb_name (const fg_lmdb_t *self)
{
    return self->name;
}

size_t
fg_lmdb_mapsize (fg_lmdb_t *self)
{
    MDB_envinfo info;
    if (!self || mdb_env_info (self->env, &info))
        return 0;
    return info.me_mapsize;
}

//  ---- transactions -------------------------------------------------------------

int
fg_lmdb_put (fg_lmdb_t *self, MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *value,
             unsigned flags)
{
    self->txn_bytes += key->mv_size + value->mv_size;
    return mdb_put (txn, dbi, key, value, flags);
}

int
fg_lmdb_read_begin (fg_lmdb_t *self, MDB_txn **txn, fg_error_t *err)
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
            return fg_lmdb_fail (self, rc, err, "begin read transaction");
        return 0;
    }
}

//  Free disk bytes for the journal's folder (the test override first).
static int
s_free_bytes (fg_lmdb_t *self, uint64_t *avail)
{
    *avail = self->free_bytes;
    if (*avail != UINT64_MAX)
        return 0;
    struct statvfs vfs;
    if (statvfs (self->dir, &vfs))
        return -1;
    *avail = (uint64_t) vfs.f_bavail * (uint64_t) vfs.f_frsize;
    return 0;
}

//  Grows the map after MDB_MAP_FULL: double it (and by at least need),
//  but never past what the disk can hold (file size + free space). No
//  transaction may be alive.
static int
s_grow (fg_lmdb_t *self, const char *what, size_t need, fg_error_t *err)
{
    MDB_envinfo info;
    int rc = mdb_env_info (self->env, &info);
    if (rc)
        return fg_lmdb_fail (self, rc, err, "%s: read map size", what);
    uint64_t current = info.me_mapsize;
    uint64_t want = current > UINT64_MAX / 2? UINT64_MAX: current * 2;
    if (want - current < need)
        want = current > UINT64_MAX - need? UINT64_MAX: current + need;
    if (want > SIZE_MAX)
        want = SIZE_MAX;
    int fd = -1;
    struct stat st;
    if (mdb_env_get_fd (self->env, &fd) || fstat (fd, &st))
        return fg_lmdb_fail (self, errno? errno: EIO, err, "%s: size of the data file", what);
    uint64_t avail;
    if (s_free_bytes (self, &avail))
        return fg_lmdb_fail (self, errno, err, "%s: free disk space of %s", what, self->dir);
    uint64_t cap = (uint64_t) st.st_size + avail;
    long page = sysconf (_SC_PAGESIZE);
    if (page <= 0)
        page = 4096;
    if (want > cap)
        want = cap - cap % (uint64_t) page;
    if (want <= current) {
        self->rc = ENOSPC;
        return fg_error_set (err, FG_EFULL,
            "%s: %s: disk full: the %s needs more than its %" PRIu64 " bytes and "
            "the disk has %" PRIu64 " bytes free; the last committed state is intact: free "
            "some space and resume", self->name, what, self->kind, current, avail);
    }
    rc = mdb_env_set_mapsize (self->env, (size_t) want);
    if (rc)
        return fg_lmdb_fail (self, rc, err, "%s: grow the map to %" PRIu64 " bytes", what, want);
    fg_debug ("%s: map grown from %" PRIu64 " to %" PRIu64 " bytes", self->name, current, want);
    return 0;
}

//  LMDB reports a short write (what a full disk often gives) as EIO: when
//  the disk has less room than the transaction wrote, call it full.
static int
s_eio_full (fg_lmdb_t *self, const char *what, int code, fg_error_t *err)
{
    struct statvfs vfs;
    if (statvfs (self->dir, &vfs))
        return code;
    uint64_t avail = (uint64_t) vfs.f_bavail * (uint64_t) vfs.f_frsize;
    if (self->free_bytes != UINT64_MAX)
        avail = self->free_bytes;
    if (avail >= self->txn_bytes + ((uint64_t) 1 << 20))
        return code;
    return fg_error_set (err, FG_EFULL, "%s: %s: disk full (write failed with %" PRIu64
                         " bytes free); the last committed state is intact: free some space "
                         "and resume", self->name, what, avail);
}

//  One attempt: begin, fn, commit; the transaction is gone afterwards.
static int
s_attempt (fg_lmdb_t *self, const char *what, fg_lmdb_txn_fn *fn, void *ctx, fg_error_t *err)
{
    self->rc = 0;
    self->txn_bytes = 0;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc)
        return fg_lmdb_fail (self, rc, err, "%s: begin write transaction", what);
    int code = fn (txn, ctx, err);
    if (code) {
        mdb_txn_abort (txn);            //  a failed txn is dead
        return code;
    }
    rc = mdb_txn_commit (txn);          //  frees txn, success or not
    return rc? fg_lmdb_fail (self, rc, err, "%s: commit", what): 0;
}

int
fg_lmdb_write (fg_lmdb_t *self, const char *what, size_t need, fg_lmdb_txn_fn *fn, void *ctx,
               fg_error_t *err)
{
    for (int attempt = 0; ; attempt++) {
        int code = s_attempt (self, what, fn, ctx, err);
        if (code == 0)
            return 0;
        if (self->rc == EIO)
            code = s_eio_full (self, what, code, err);
        if (self->rc != MDB_MAP_FULL)
            return code;
        if (attempt >= self->grow_max)
            return fg_error_set (err, FG_EFULL, "%s: %s: map still full after %d growths",
                                 self->name, what, attempt);
        code = s_grow (self, what, need, err);
        if (code)
            return code;
    }
}

typedef struct {
    fg_lmdb_t  *self;
    const char *name;
    MDB_dbi    *dbi;
} s_open_db_t;

static int
s_open_db (MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_open_db_t *o = (s_open_db_t *) ctx;
    int rc = mdb_dbi_open (txn, o->name, o->name? MDB_CREATE: 0, o->dbi);
    return rc? fg_lmdb_fail (o->self, rc, err, "open database"): 0;
}

int
fg_lmdb_open_db (fg_lmdb_t *self, const char *name, MDB_dbi *dbi, fg_error_t *err)
{
    s_open_db_t o = { self, name, dbi };
    return fg_lmdb_write (self, "open", 0, s_open_db, &o, err);
}

int
fg_lmdb_open_recomputable (const char *dir, const char *file, size_t mapsize, int grow_max,
                           fg_lmdb_t **out, MDB_dbi *dbi, fg_error_t *err)
{
    char path [FG_LMDB_PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, file);
    fg_lmdb_opts_t opts = {
        .mapsize = mapsize? mapsize: S_MAP_RECOMPUTABLE, .flags = MDB_NOMETASYNC,
        .empty_is_new = true, .dir_name = "cache folder", .grow_max = grow_max
    };
    int rc = fg_lmdb_open (path, &opts, out, err);
    if (rc == 0 && (rc = fg_lmdb_open_db (*out, NULL, dbi, err)))
        fg_lmdb_close (out);
    return rc;
}
