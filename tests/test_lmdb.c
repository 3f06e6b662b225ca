/*  test_lmdb.c — the LMDB mechanics every store uses (fg_lmdb): a write
    that fills a tiny map grows it and runs again, within the retry bound
    and the free disk; a short write diagnosed as a full disk; a reader in
    another environment takes up a map a writer process grew; the file
    check reads LMDB's meta pages as LMDB does (page size, last page in
    use) and refuses empty, truncated and foreign files before mapping.  */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fg_file.h"
#include "fg_test_util.h"
#include "fg_lmdb.h"

static char s_tmp [256];

static int
s_setup (void **state)
{
    (void) state;
    return fg_test_tmpdir ("fg-test-lmdb", s_tmp, sizeof s_tmp);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

static const char *
s_path (const char *name)
{
    static char path [512];
    snprintf (path, sizeof path, "%s/%s", s_tmp, name);
    return path;
}

//  A write of one value of `size` bytes under `key`, counting its runs.
typedef struct {
    fg_lmdb_t *lmdb;
    MDB_dbi    dbi;
    const char *key;
    size_t     size;
    int        runs;
} s_put_t;

static int
s_put_txn (MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_put_t *p = (s_put_t *) ctx;
    p->runs++;
    MDB_val k = { strlen (p->key), (void *) p->key }, v = { p->size, NULL };
    int rc = fg_lmdb_put (p->lmdb, txn, p->dbi, &k, &v, MDB_RESERVE);
    if (rc)
        return fg_lmdb_fail (p->lmdb, rc, err, "put %s", p->key);
    memset (v.mv_data, (int) p->size & 0xff, p->size);
    return 0;
}

static fg_lmdb_t *
s_open (const char *name, size_t mapsize, int grow_max, uint64_t free_bytes, MDB_dbi *dbi)
{
    fg_lmdb_opts_t opts = { .mapsize = mapsize, .grow_max = grow_max, .free_bytes = free_bytes };
    fg_lmdb_t *lmdb;
    fg_error_t err;
    if (fg_lmdb_open (s_path (name), &opts, &lmdb, &err)
    ||  fg_lmdb_open_db (lmdb, NULL, dbi, &err))
        fail_msg ("%s", err.msg);
    return lmdb;
}

//  The value of key, its size (0: absent).
static size_t
s_get (fg_lmdb_t *lmdb, MDB_dbi dbi, const char *key)
{
    MDB_txn *txn;
    fg_error_t err;
    if (fg_lmdb_read_begin (lmdb, &txn, &err))
        fail_msg ("%s", err.msg);
    MDB_val k = { strlen (key), (void *) key }, v = { 0, NULL };
    int rc = mdb_get (txn, dbi, &k, &v);
    mdb_txn_abort (txn);
    return rc? 0: v.mv_size;
}

static void
test_growth_and_retry (void **state)
{
    (void) state;
    MDB_dbi dbi;
    fg_lmdb_t *lmdb = s_open ("grow.lmdb", 64 << 10, 0, 0, &dbi);
    assert_int_equal (fg_lmdb_mapsize (lmdb), 64 << 10);
    fg_error_t err;
    //  1 MiB into 64 KiB: doubled until it fits, the write run again each time
    s_put_t p = { lmdb, dbi, "a", (size_t) 1 << 20, 0 };
    assert_int_equal (fg_lmdb_write (lmdb, "put a", 0, s_put_txn, &p, &err), 0);
    assert_true (p.runs > 1);
    assert_true (fg_lmdb_mapsize (lmdb) >= ((size_t) 1 << 20));
    assert_int_equal (s_get (lmdb, dbi, "a"), (size_t) 1 << 20);
    //  the store's growth estimate: one growth by at least `need`
    size_t before = fg_lmdb_mapsize (lmdb);
    s_put_t q = { lmdb, dbi, "b", (size_t) 6 << 20, 0 };
    assert_int_equal (fg_lmdb_write (lmdb, "put b", (size_t) 16 << 20, s_put_txn, &q, &err), 0);
    assert_int_equal (q.runs, 2);
    assert_true (fg_lmdb_mapsize (lmdb) >= before + ((size_t) 16 << 20));
    fg_lmdb_close (&lmdb);
    fg_lmdb_close (&lmdb);                      //  NULL-safe

    //  the retry bound: one growth is not enough for 4 MiB in 64 KiB
    lmdb = s_open ("bound.lmdb", 64 << 10, 1, 0, &dbi);
    s_put_t r = { lmdb, dbi, "c", (size_t) 4 << 20, 0 };
    assert_int_equal (fg_lmdb_write (lmdb, "put c", 0, s_put_txn, &r, &err), FG_EFULL);
    assert_non_null (strstr (err.msg, "map still full after 1 growths"));
    assert_non_null (strstr (err.msg, "bound.lmdb: put c"));
    assert_int_equal (r.runs, 2);
    assert_int_equal (s_get (lmdb, dbi, "c"), 0);
    fg_lmdb_close (&lmdb);

    //  the free disk: the map never grows past file size + free space
    lmdb = s_open ("disk.lmdb", 64 << 10, 0, 256 << 10, &dbi);
    s_put_t s = { lmdb, dbi, "d", (size_t) 1 << 20, 0 };
    assert_int_equal (fg_lmdb_write (lmdb, "put d", 0, s_put_txn, &s, &err), FG_EFULL);
    assert_non_null (strstr (err.msg, "disk full"));
    assert_non_null (strstr (err.msg, "intact"));
    s.size = 1000;                              //  what fits is still stored
    assert_int_equal (fg_lmdb_write (lmdb, "put d", 0, s_put_txn, &s, &err), 0);
    assert_int_equal (s_get (lmdb, dbi, "d"), 1000);
    fg_lmdb_close (&lmdb);
}

//  LMDB reports a short write (here: the file-size limit) as EIO; with
//  less free disk than the transaction wrote it is called a full disk.
static void
test_short_write (void **state)
{
    (void) state;
    MDB_dbi dbi;
    fg_lmdb_t *lmdb = s_open ("short.lmdb", (size_t) 64 << 20, 0, 1 << 20, &dbi);
    struct rlimit old, lim;
    assert_int_equal (getrlimit (RLIMIT_FSIZE, &old), 0);
    void (*prev) (int) = signal (SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 2 << 20;
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &lim), 0);
    s_put_t p = { lmdb, dbi, "big", (size_t) 4 << 20, 0 };
    fg_error_t err;
    int rc = fg_lmdb_write (lmdb, "put big", 0, s_put_txn, &p, &err);
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &old), 0);
    signal (SIGXFSZ, prev);
    assert_int_equal (rc, FG_EFULL);
    assert_non_null (strstr (err.msg, "disk full"));
    assert_int_equal (s_get (lmdb, dbi, "big"), 0);
    p.size = 100;
    assert_int_equal (fg_lmdb_write (lmdb, "put big", 0, s_put_txn, &p, &err), 0);
    fg_lmdb_close (&lmdb);
}

//  A reader environment opened on a small map; a writer process grows the
//  map and fills it; the reader's next transaction takes up the new size.
static void
test_adopt_grown_map (void **state)
{
    (void) state;
    MDB_dbi dbi;
    fg_lmdb_t *lmdb = s_open ("shared.lmdb", 64 << 10, 0, 0, &dbi);
    fg_lmdb_close (&lmdb);
    fg_lmdb_opts_t ro = { .flags = MDB_RDONLY };
    fg_error_t err;
    fg_lmdb_t *reader;
    if (fg_lmdb_open (s_path ("shared.lmdb"), &ro, &reader, &err))
        fail_msg ("%s", err.msg);
    MDB_txn *txn;
    assert_int_equal (fg_lmdb_read_begin (reader, &txn, &err), 0);
    MDB_dbi rdbi;
    assert_int_equal (mdb_dbi_open (txn, NULL, 0, &rdbi), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    size_t small = fg_lmdb_mapsize (reader);
    assert_true (small < ((size_t) 1 << 20));

    fflush (NULL);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        MDB_dbi wdbi;
        fg_lmdb_t *writer = s_open ("shared.lmdb", 64 << 10, 0, 0, &wdbi);
        s_put_t p = { writer, wdbi, "big", (size_t) 2 << 20, 0 };
        int rc = fg_lmdb_write (writer, "put big", 0, s_put_txn, &p, NULL);
        fg_lmdb_close (&writer);
        _exit (rc? 1: 0);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  LMDB itself refuses the old map (MDB_MAP_RESIZED) ...
    MDB_txn *raw;
    assert_int_equal (mdb_txn_begin (fg_lmdb_env (reader), NULL, MDB_RDONLY, &raw),
                      MDB_MAP_RESIZED);
    //  ... and the helper takes up the grown one
    assert_int_equal (s_get (reader, rdbi, "big"), (size_t) 2 << 20);
    assert_true (fg_lmdb_mapsize (reader) > small);
    fg_lmdb_close (&reader);
}

static void
test_codes (void **state)
{
    (void) state;
    assert_int_equal (fg_lmdb_code (MDB_MAP_FULL), FG_EFULL);
    assert_int_equal (fg_lmdb_code (ENOSPC), FG_EFULL);
    assert_int_equal (fg_lmdb_code (MDB_NOTFOUND), FG_ENOENT);
    assert_int_equal (fg_lmdb_code (MDB_CORRUPTED), FG_EFORMAT);
    assert_int_equal (fg_lmdb_code (MDB_VERSION_MISMATCH), FG_EVERSION);
    assert_int_equal (fg_lmdb_code (MDB_READERS_FULL), FG_ESTATE);
    assert_int_equal (fg_lmdb_code (EIO), FG_EIO);
    assert_string_equal (fg_lmdb_remote_fs_name (0x6969), "NFS");
    assert_null (fg_lmdb_remote_fs_name (0xEF53));
    //  the folder must exist; a read-only store must too
    fg_lmdb_t *lmdb;
    fg_error_t err;
    assert_int_equal (fg_lmdb_open (s_path ("none/x.lmdb"), NULL, &lmdb, &err), FG_ENOENT);
    assert_null (lmdb);
    assert_non_null (strstr (err.msg, "x.lmdb"));
    fg_lmdb_opts_t ro = { .flags = MDB_RDONLY };
    assert_int_equal (fg_lmdb_open (s_path ("absent.lmdb"), &ro, &lmdb, &err), FG_ENOENT);
    fg_lmdb_opts_t must = { .missing = "no such store" };
    assert_int_equal (fg_lmdb_open (s_path ("absent.lmdb"), &must, &lmdb, &err), FG_ENOENT);
    assert_string_equal (err.msg, "no such store");
}

//  ---- the file check ---------------------------------------------------------

//  Writes the first n bytes of data as file name.
static const char *
s_cut (const char *name, const uint8_t *data, size_t n)
{
    fg_error_t err;
    const char *path = s_path (name);
    if (fg_file_write_atomic (path, data, n, 0644, 0, &err))
        fail_msg ("%s", err.msg);
    return path;
}

static void
s_refused (const char *path, bool empty_is_new, const char *words)
{
    fg_error_t err;
    assert_int_equal (fg_lmdb_check_file (path, "store", empty_is_new, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, path));
    assert_non_null (strstr (err.msg, words));
    fg_lmdb_opts_t opts = { .empty_is_new = empty_is_new };
    fg_lmdb_t *lmdb;
    assert_int_equal (fg_lmdb_open (path, &opts, &lmdb, &err), FG_EFORMAT);
    assert_null (lmdb);
    fg_lmdb_opts_t ro = { .flags = MDB_RDONLY, .empty_is_new = empty_is_new };
    assert_int_equal (fg_lmdb_open (path, &ro, &lmdb, &err), FG_EFORMAT);
}

static void
test_file_check (void **state)
{
    (void) state;
    //  a store of several pages (and one committed transaction after another)
    MDB_dbi dbi;
    fg_lmdb_t *lmdb = s_open ("whole.lmdb", 0, 0, 0, &dbi);
    fg_error_t err;
    for (int i = 0; i < 8; i++) {
        char key [8];
        snprintf (key, sizeof key, "k%d", i);
        s_put_t p = { lmdb, dbi, key, 20000 + (size_t) i, 0 };
        assert_int_equal (fg_lmdb_write (lmdb, "put", 0, s_put_txn, &p, &err), 0);
    }
    fg_lmdb_close (&lmdb);
    //  LMDB's own figures for it
    MDB_env *env;
    MDB_envinfo info;
    MDB_stat st;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_open (env, s_path ("whole.lmdb"), MDB_NOSUBDIR | MDB_RDONLY, 0644),
                      0);
    assert_int_equal (mdb_env_info (env, &info), 0);
    assert_int_equal (mdb_env_stat (env, &st), 0);
    mdb_env_close (env);
    size_t psize = st.ms_psize, used = (info.me_last_pgno + 1) * psize;
    char *whole;
    size_t size;
    assert_int_equal (fg_file_read (s_path ("whole.lmdb"), (size_t) 1 << 30, &whole, &size,
                                    &err), 0);
    assert_true (used <= size && used > 8 * psize);
    assert_int_equal (fg_lmdb_check_file (s_path ("whole.lmdb"), NULL, false, &err), 0);
    const uint8_t *data = (const uint8_t *) whole;

    //  exactly the pages in use passes (the check reads LMDB's last page
    //  as LMDB does); one byte less is refused, as are the usual cuts
    assert_int_equal (fg_lmdb_check_file (s_cut ("exact.lmdb", data, used), NULL, false, &err),
                      0);
    s_refused (s_cut ("byte.lmdb", data, used - 1), false, "truncated");
    s_refused (s_cut ("page.lmdb", data, used - psize), false, "truncated");
    s_refused (s_cut ("half.lmdb", data, size / 2), false, "truncated");
    s_refused (s_cut ("8k.lmdb", data, 8192), false, "truncated");
    s_refused (s_cut ("meta.lmdb", data, psize + 200), false, "two meta pages");
    s_refused (s_cut ("tiny.lmdb", data, 60), false, "not an LMDB file");
    s_refused (s_cut ("text.lmdb", (const uint8_t *) "[experiment]\nseed = 1\n", 22), false,
               "not an LMDB file");
    //  an empty file: refused where data is expected, a new store in a cache
    s_refused (s_cut ("empty.lmdb", data, 0), false, "empty");
    assert_int_equal (fg_lmdb_check_file (s_path ("empty.lmdb"), NULL, true, &err), 0);
    fg_lmdb_opts_t cache = { .empty_is_new = true };
    assert_int_equal (fg_lmdb_open (s_path ("empty.lmdb"), &cache, &lmdb, &err), 0);
    fg_lmdb_close (&lmdb);
    //  an absent file passes (nothing to map)
    assert_int_equal (fg_lmdb_check_file (s_path ("absent.lmdb"), NULL, false, &err), 0);
    //  the exact cut opens and reads
    lmdb = s_open ("exact.lmdb", 0, 0, 0, &dbi);
    assert_int_equal (s_get (lmdb, dbi, "k7"), 20007);
    fg_lmdb_close (&lmdb);
    free (whole);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_growth_and_retry),
        cmocka_unit_test (test_short_write),
        cmocka_unit_test (test_adopt_grown_map),
        cmocka_unit_test (test_codes),
        cmocka_unit_test (test_file_check),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
