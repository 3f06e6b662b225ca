/*  fg_test_util.c — temporary folders for the unit tests.                */

#include "fg_test_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

int
fg_test_tmpdir (const char *name, char *dir, size_t size)
{
    const char *tmp = getenv ("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    int len = snprintf (dir, size, "%s/%s-XXXXXX", tmp, name);
    if (len < 0 || (size_t) len >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp (dir)? 0: -1;
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

int
fg_test_rmtree (const char *path)
{
    //  depth first (a folder after its contents); FTW_PHYS: a link is
    //  removed, never followed
    return nftw (path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}
