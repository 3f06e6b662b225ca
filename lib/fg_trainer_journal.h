/*  fg_trainer_journal.h — a trainer's own small journal (internal).

    One LMDB file, CACHE/trainer.lmdb, holding at most:
      "unit"    the checkpoint of the unit in progress at its last epoch
                boundary (fg_unit_checkpoint bytes)
      "result"  a finished result not yet acknowledged by the coordinator
    so a trainer killed mid-unit continues from its last epoch, and one
    killed after finishing sends its result again when it comes back.
    Everything here can be recomputed, so the environment is opened with
    MDB_NOMETASYNC (integrity kept, the last commit may be lost on an OS
    crash) — never with MDB_NOSYNC.                                         */

#ifndef FG_TRAINER_JOURNAL_H_INCLUDED
#define FG_TRAINER_JOURNAL_H_INCLUDED

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"

typedef struct _fg_tjournal_t fg_tjournal_t;

//  Opens (creating) the one-database LMDB file `path` (no subdirectory)
//  with a 64 MiB initial map, as the trainer's own stores use it. Returns
//  0 or FG_EIO naming the file, the step and LMDB's reason.
int
    fg_tjournal_lmdb_open (const char *path, MDB_env **env, MDB_dbi *dbi, fg_error_t *err);

//  After a write transaction of such a store failed with rc (!= 0):
//  MDB_MAP_FULL grows the map (doubling, by at least `need` bytes) and
//  returns 0 so the caller tries again; anything else becomes FG_EFULL
//  (ENOSPC) or FG_EIO naming the file, as does a failure to grow.
int
    fg_tjournal_lmdb_recover (MDB_env *env, const char *path, int rc, size_t need,
                              fg_error_t *err);

//  A read transaction of such a store, taking up a map another process
//  grew. Returns 0 or FG_EIO naming the file.
int
    fg_tjournal_lmdb_read_txn (MDB_env *env, const char *path, MDB_txn **txn,
                               fg_error_t *err);

//  Opens (creating) dir/trainer.lmdb. Returns NULL and fills err
//  (FG_EIO naming the file and LMDB's reason, FG_ENOMEM).
fg_tjournal_t *
    fg_tjournal_open (const char *dir, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_tjournal_close (fg_tjournal_t **self_p);

//  Replaces the value of key in one transaction; grows the map when full.
//  Returns 0, FG_EFULL or FG_EIO.
int
    fg_tjournal_put (fg_tjournal_t *self, const char *key, const void *data, size_t size,
                     fg_error_t *err);

//  Copies the value of key into *data (caller frees). Returns 0, FG_ENOENT
//  or FG_EIO / FG_ENOMEM.
int
    fg_tjournal_get (fg_tjournal_t *self, const char *key, uint8_t **data, size_t *size,
                     fg_error_t *err);

//  Deletes key (absent is fine). Returns 0 or FG_EIO.
int
    fg_tjournal_del (fg_tjournal_t *self, const char *key, fg_error_t *err);

#endif
