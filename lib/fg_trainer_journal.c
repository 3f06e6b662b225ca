/*  fg_trainer_journal.c — a trainer's own small LMDB journal, on fg_lmdb. */

#include "fg_trainer_journal.h"
#include "fg_lmdb.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_GROW_MAX    8

struct _fg_tjournal_t {
    fg_lmdb_t *lmdb;
    MDB_dbi    dbi;
};

fg_tjournal_t *
fg_tjournal_open_ex (const char *dir, size_t mapsize, fg_error_t *err)
{
    fg_tjournal_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "trainer journal: out of memory");
        return NULL;
    }
    if (fg_lmdb_open_recomputable (dir, "trainer.lmdb", mapsize, S_GROW_MAX, &self->lmdb,
                                   &self->dbi, err)) {
        fg_tjournal_close (&self);
        return NULL;
    }
    return self;
}

fg_tjournal_t *
fg_tjournal_open (const char *dir, fg_error_t *err)
{
    return fg_tjournal_open_ex (dir, 0, err);
}

void
fg_tjournal_close (fg_tjournal_t **self_p)
{
    if (self_p && *self_p) {
        fg_lmdb_close (&(*self_p)->lmdb);
        free (*self_p);
        *self_p = NULL;
    }
}

typedef struct {
    fg_tjournal_t *self;
    const char    *key;
    const void    *data;                //  NULL: delete
    size_t         size;
} s_write_t;

//  One write: put (data) or delete (data NULL; absent is fine).
static int
s_write_txn (MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_write_t *w = (s_write_t *) ctx;
    MDB_val k = { strlen (w->key), (void *) w->key };
    int rc;
    if (w->data) {
        MDB_val v = { w->size, (void *) w->data };
        rc = fg_lmdb_put (w->self->lmdb, txn, w->self->dbi, &k, &v, 0);
    }
    else {
        rc = mdb_del (txn, w->self->dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc? fg_lmdb_fail (w->self->lmdb, rc, err, "%s %s", w->data? "put": "delete",
                             w->key): 0;
}

int
fg_tjournal_put (fg_tjournal_t *self, const char *key, const void *data, size_t size,
                 fg_error_t *err)
{
    s_write_t w = { self, key, data? data: "", size };
    return fg_lmdb_write (self->lmdb, "put", size * 2, s_write_txn, &w, err);
}

int
fg_tjournal_del (fg_tjournal_t *self, const char *key, fg_error_t *err)
{
    s_write_t w = { self, key, NULL, 0 };
    return fg_lmdb_write (self->lmdb, "delete", 0, s_write_txn, &w, err);
}

int
fg_tjournal_get (fg_tjournal_t *self, const char *key, uint8_t **data, size_t *size,
                 fg_error_t *err)
{
    *data = NULL;
    *size = 0;
    MDB_txn *txn;
    int rc = fg_lmdb_read_begin (self->lmdb, &txn, err);
    if (rc)
        return rc;
    MDB_val k = { strlen (key), (void *) key }, v;
    int mrc = mdb_get (txn, self->dbi, &k, &v);
    if (mrc == MDB_NOTFOUND)
        rc = fg_error_set (err, FG_ENOENT, "%s: no %s", fg_lmdb_path (self->lmdb), key);
    else
    if (mrc)
        rc = fg_lmdb_fail (self->lmdb, mrc, err, "get %s", key);
    else
    if (!(*data = malloc (v.mv_size? v.mv_size: 1)))
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory", fg_lmdb_path (self->lmdb));
    else {
        memcpy (*data, v.mv_data, v.mv_size);
        *size = v.mv_size;
    }
    mdb_txn_abort (txn);
    return rc;
}
