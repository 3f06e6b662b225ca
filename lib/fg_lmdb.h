/*  fg_lmdb.h — the LMDB mechanics shared by fedgrid's three stores (the
    coordinator's journal, a trainer's journal and its sample cache).
    Internal, not installed.

    One handle per environment file (no subdirectory). It opens the file
    with our flags after checking the file against LMDB's own meta pages
    (read with pread, never mapped: a truncated file must never reach
    mmap, where LMDB would die of SIGBUS); runs write transactions that
    grow the map on MDB_MAP_FULL and run again; calls a short write that
    LMDB reports as EIO "disk full" when the disk has no room; begins read
    transactions that take up a map another process grew; and turns LMDB
    and errno codes into FG codes with messages "NAME: what: why", where
    NAME is "journal PATH" for the coordinator's journal and PATH for the
    others.                                                                */

#ifndef FG_LMDB_H_INCLUDED
#define FG_LMDB_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_LMDB_PATH_MAX 4096

typedef struct _fg_lmdb_t fg_lmdb_t;

//  How a store opens its file. Zero fields take the defaults noted.
typedef struct {
    const char *label;          //  message prefix before the path ("journal"), NULL: none
    size_t   mapsize;           //  initial map size; 0: LMDB's (read-only: the file's)
    unsigned maxdbs;            //  named databases; 0: the unnamed one only
    unsigned flags;             //  added to MDB_NOSUBDIR | MDB_NOTLS (MDB_RDONLY,
                                //  MDB_NOMETASYNC; never MDB_NOSYNC)
    bool     empty_is_new;      //  an existing 0-byte file is a new store (a cache);
                                //  false: it is refused (a journal that lost its data)
    bool     local_only;        //  refuse a folder on a network filesystem
    const char *dir_name;       //  the folder in messages ("experiment directory")
    const char *missing;        //  non-NULL: the file must exist, and this is the
                                //  message (FG_ENOENT) when it does not
    const char *lock_hint;      //  non-NULL: take an exclusive lock on the data file
                                //  (one writer); the hint ends the refusal message
    int      grow_max;          //  map growths per write transaction; 0: 8
    uint64_t free_bytes;        //  pretend free disk for tests; 0 or UINT64_MAX: statvfs
} fg_lmdb_opts_t;

//  Opens (creating when absent, unless MDB_RDONLY or opts->missing) the
//  environment in file path; its folder must exist. An existing file is checked first (fg_lmdb_check_file). Caller
//  owns *out: fg_lmdb_close.
//  Returns 0, FG_EINVAL (path too long), FG_ENOENT (folder or read-only
//  file missing), FG_EUNSUPPORTED (network filesystem, local_only),
//  FG_EFORMAT (not an LMDB file, empty, truncated), FG_EVERSION, FG_ESTATE
//  (locked by another writer), FG_EFULL, FG_EIO, FG_ENOMEM.
int
    fg_lmdb_open (const char *path, const fg_lmdb_opts_t *opts, fg_lmdb_t **out,
                  fg_error_t *err);

//  A store of recomputable contents (a trainer's journal, its sample
//  cache): file in folder dir, one unnamed database (*dbi), metadata not
//  synced on every commit (MDB_NOMETASYNC: a kill loses no commit, a power
//  cut at most the last), an empty file taken as a new store; mapsize 0:
//  64 MiB; grow_max as in fg_lmdb_opts_t. Returns as fg_lmdb_open.
int
    fg_lmdb_open_recomputable (const char *dir, const char *file, size_t mapsize, int grow_max,
                               fg_lmdb_t **out, MDB_dbi *dbi, fg_error_t *err);

//  Closes the environment (dropping the lock); NULL-safe, nulls *self_p.
void
    fg_lmdb_close (fg_lmdb_t **self_p);

//  The file size sanity check, before anything maps the file: reads LMDB's
//  two meta pages (pread) and refuses a file shorter than two pages, or
//  shorter than the pages the newest valid meta says are in use. A file
//  whose header LMDB would itself refuse before mapping it (bad page flags,
//  another data version) passes, so LMDB's own code names it. label as in
//  fg_lmdb_opts_t. An absent file passes (nothing to map).
//  Returns 0, FG_EFORMAT (empty when !empty_is_new, not an LMDB file,
//  truncated: the message names the file, the sizes and what to do) or
//  FG_EIO (cannot read it).
int
    fg_lmdb_check_file (const char *path, const char *label, bool empty_is_new,
                        fg_error_t *err);

//  Name of a network filesystem type (statfs f_type) the stores refuse
//  (local_only), or NULL for a local one.
const char *
    fg_lmdb_remote_fs_name (unsigned long f_type);

//  The environment, for transactions and cursors.
MDB_env *
    fg_lmdb_env (fg_lmdb_t *self);

//  The data file's path; "NAME" of the messages.
const char *
    fg_lmdb_path (const fg_lmdb_t *self);
const char *
    fg_lmdb_name (const fg_lmdb_t *self);

//  Current map size in bytes (0 when unknown).
size_t
    fg_lmdb_mapsize (fg_lmdb_t *self);

//  The FG code of an LMDB or errno code.
int
    fg_lmdb_code (int rc);

//  Records an LMDB/errno failure rc (the write loop decides on it) and
//  fills err: "NAME: what: why" (a full disk and MDB_PANIC also say what
//  to do). Returns the FG code.
int
    fg_lmdb_fail (fg_lmdb_t *self, int rc, fg_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  mdb_put, counting the bytes for the short-write diagnosis of
//  fg_lmdb_write. Returns mdb_put's code (0 or LMDB's: the caller names
//  the key in fg_lmdb_fail).
int
    fg_lmdb_put (fg_lmdb_t *self, MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *value,
                 unsigned flags);

//  A read transaction; a map grown by another process is taken up
//  (MDB_MAP_RESIZED: mdb_env_set_mapsize (env, 0), then again).
//  Returns 0 or an FG code with "NAME: begin read transaction: why".
int
    fg_lmdb_read_begin (fg_lmdb_t *self, MDB_txn **txn, fg_error_t *err);

//  The body of a write transaction. It must be repeatable: after
//  MDB_MAP_FULL the transaction is aborted, the map grown and fn run
//  again from the start. Its LMDB failures go through fg_lmdb_fail or
//  fg_lmdb_put (so the loop sees MDB_MAP_FULL); a non-zero return aborts.
typedef int (fg_lmdb_txn_fn) (MDB_txn *txn, void *ctx, fg_error_t *err);

//  Runs fn in one write transaction: begin, fn, commit. On MDB_MAP_FULL
//  grows the map (double, by at least need: the store's estimate of what
//  this write adds, 0 when doubling is enough; never past the data
//  file's size plus the free disk space; no transaction is alive then) and
//  runs fn again, at most grow_max times. A failure with EIO when the disk
//  has less room than the transaction wrote becomes FG_EFULL. Any failure
//  leaves the last committed state. what names the operation in messages.
//  Returns 0, fn's code, FG_EFULL, FG_EIO or another FG code of LMDB's.
int
    fg_lmdb_write (fg_lmdb_t *self, const char *what, size_t need, fg_lmdb_txn_fn *fn,
                   void *ctx, fg_error_t *err);

//  Opens (creating) database name (NULL: the unnamed one) in a write
//  transaction of its own; the handle lives as long as the environment.
//  Returns 0 or an FG code with "NAME: open database: why".
int
    fg_lmdb_open_db (fg_lmdb_t *self, const char *name, MDB_dbi *dbi, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
