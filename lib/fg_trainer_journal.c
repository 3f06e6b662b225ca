/*  fg_trainer_journal.c — a trainer's own small LMDB journal.             */

#include "fg_trainer_journal.h"

#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAP_INITIAL ((size_t) 64 << 20)
#define S_GROW_MAX    8

struct _fg_tjournal_t {
    MDB_env *env;
    MDB_dbi  dbi;
    char     path [1100];
};

//  The small LMDB stores of a trainer (this journal, the sample cache):
//  one unnamed database in one file, no subdirectory, readers' slots of
//  dead processes freed, metadata not synced on every commit (a kill
//  cannot lose a commit; only a power cut can lose the last one).
int
fg_tjournal_lmdb_open (const char *path, MDB_env **env_p, MDB_dbi *dbi, fg_error_t *err)
{
    MDB_env *env = NULL;
    const char *step = "mdb_env_create";
    int rc = mdb_env_create (&env);
    if (rc == 0) {
        step = "mdb_env_set_mapsize";
        rc = mdb_env_set_mapsize (env, S_MAP_INITIAL);
    }
    if (rc == 0) {
        step = "mdb_env_open";
        rc = mdb_env_open (env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC, 0644);
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        int dead = 0;
        mdb_reader_check (env, &dead);
        step = "mdb_txn_begin";
        rc = mdb_txn_begin (env, NULL, 0, &txn);
    }
    if (rc == 0) {
        step = "mdb_dbi_open";
        rc = mdb_dbi_open (txn, NULL, 0, dbi);
    }
    if (rc == 0) {
        step = "mdb_txn_commit";
        rc = mdb_txn_commit (txn);
        txn = NULL;
    }
    if (rc) {
        if (txn)
            mdb_txn_abort (txn);
        if (env)
            mdb_env_close (env);
        return fg_error_set (err, FG_EIO, "%s: %s: %s", path, step, mdb_strerror (rc));
    }
    *env_p = env;
    return 0;
}

int
fg_tjournal_lmdb_recover (MDB_env *env, const char *path, int rc, size_t need, fg_error_t *err)
{
    assert (rc != 0);
    if (rc != MDB_MAP_FULL)
        return fg_error_set (err, rc == ENOSPC? FG_EFULL: FG_EIO, "%s: %s", path,
                             mdb_strerror (rc));
    MDB_envinfo info;
    mdb_env_info (env, &info);
    size_t grown = info.me_mapsize * 2;
    if (grown < info.me_mapsize + need)
        grown = info.me_mapsize + need;
    rc = mdb_env_set_mapsize (env, grown);
    if (rc)
        return fg_error_set (err, FG_EIO, "%s: cannot grow the map: %s", path,
                             mdb_strerror (rc));
    return 0;
}

int
fg_tjournal_lmdb_read_txn (MDB_env *env, const char *path, MDB_txn **txn, fg_error_t *err)
{
    int rc = mdb_txn_begin (env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {                //  another process grew the map
        mdb_env_set_mapsize (env, 0);
        rc = mdb_txn_begin (env, NULL, MDB_RDONLY, txn);
    }
    if (rc)
        return fg_error_set (err, FG_EIO, "%s: %s", path, mdb_strerror (rc));
    return 0;
}

fg_tjournal_t *
fg_tjournal_open (const char *dir, fg_error_t *err)
{
    fg_tjournal_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "trainer journal: out of memory");
        return NULL;
    }
    snprintf (self->path, sizeof self->path, "%s/trainer.lmdb", dir);
    if (fg_tjournal_lmdb_open (self->path, &self->env, &self->dbi, err)) {
        fg_tjournal_close (&self);
        return NULL;
    }
    return self;
}

void
fg_tjournal_close (fg_tjournal_t **self_p)
{
    if (self_p && *self_p) {
        if ((*self_p)->env)
            mdb_env_close ((*self_p)->env);
        free (*self_p);
        *self_p = NULL;
    }
}

//  One write: put (data) or delete (data NULL), growing the map on MDB_MAP_FULL.
static int
s_write (fg_tjournal_t *self, const char *key, const void *data, size_t size, fg_error_t *err)
{
    MDB_val k = { strlen (key), (void *) key };
    for (int attempt = 0; attempt < S_GROW_MAX; attempt++) {
        MDB_txn *txn;
        int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
        if (rc == 0) {
            if (data) {
                MDB_val v = { size, (void *) data };
                rc = mdb_put (txn, self->dbi, &k, &v, 0);
            }
            else {
                rc = mdb_del (txn, self->dbi, &k, NULL);
                if (rc == MDB_NOTFOUND)
                    rc = 0;
            }
            if (rc == 0)
                rc = mdb_txn_commit (txn);
            else
                mdb_txn_abort (txn);
        }
        if (rc == 0)
            return 0;
        if ((rc = fg_tjournal_lmdb_recover (self->env, self->path, rc, size * 2, err)))
            return rc;
    }
    return fg_error_set (err, FG_EFULL, "%s: map still full after growing", self->path);
}

int
fg_tjournal_put (fg_tjournal_t *self, const char *key, const void *data, size_t size,
                 fg_error_t *err)
{
    return s_write (self, key, data? data: "", size, err);
}

int
fg_tjournal_del (fg_tjournal_t *self, const char *key, fg_error_t *err)
{
    return s_write (self, key, NULL, 0, err);
}

int
fg_tjournal_get (fg_tjournal_t *self, const char *key, uint8_t **data, size_t *size,
                 fg_error_t *err)
{
    *data = NULL;
    *size = 0;
    MDB_txn *txn;
    int rc = fg_tjournal_lmdb_read_txn (self->env, self->path, &txn, err);
    if (rc)
        return rc;
    MDB_val k = { strlen (key), (void *) key }, v;
    rc = mdb_get (txn, self->dbi, &k, &v);
    if (rc == 0) {
        *data = malloc (v.mv_size? v.mv_size: 1);
        if (*data) {
            memcpy (*data, v.mv_data, v.mv_size);
            *size = v.mv_size;
        }
    }
    mdb_txn_abort (txn);
    if (rc == MDB_NOTFOUND)
        return fg_error_set (err, FG_ENOENT, "%s: no %s", self->path, key);
    if (rc)
        return fg_error_set (err, FG_EIO, "%s: %s", self->path, mdb_strerror (rc));
    return *data? 0: fg_error_set (err, FG_ENOMEM, "%s: out of memory", self->path);
}
