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

#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"

typedef struct _fg_tjournal_t fg_tjournal_t;

//  Opens (creating) dir/trainer.lmdb (fg_lmdb: a truncated file is
//  refused before it is mapped; an empty one is a new journal). Returns
//  NULL and fills err naming the file and the reason: FG_ENOENT (no such
//  folder), FG_EFORMAT (not an LMDB file, truncated: delete it, it only
//  holds what can be recomputed), FG_EIO, FG_ENOMEM.
fg_tjournal_t *
    fg_tjournal_open (const char *dir, fg_error_t *err);

//  As fg_tjournal_open with an initial map size (0: 64 MiB), for tests.
fg_tjournal_t *
    fg_tjournal_open_ex (const char *dir, size_t mapsize, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_tjournal_close (fg_tjournal_t **self_p);

//  Replaces the value of key in one transaction; grows the map when full
//  (by at least twice the value's size, at most 8 times).
//  Returns 0, FG_EFULL or FG_EIO.
int
    fg_tjournal_put (fg_tjournal_t *self, const char *key, const void *data, size_t size,
                     fg_error_t *err);

//  Copies the value of key into *data (caller frees). Returns 0, FG_ENOENT
//  (no such key), FG_EIO or FG_ENOMEM.
int
    fg_tjournal_get (fg_tjournal_t *self, const char *key, uint8_t **data, size_t *size,
                     fg_error_t *err);

//  Deletes key (absent is fine). Returns 0 or FG_EIO.
int
    fg_tjournal_del (fg_tjournal_t *self, const char *key, fg_error_t *err);

#endif
