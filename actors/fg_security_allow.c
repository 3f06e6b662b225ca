/*  fg_security_allow.c — allow-lists: the folder of worker keys
    (grid.allow_keys) and the addresses of grid.allow_ip (see
    fg_security.h).                                                       */

#include "fg_security_internal.h"
#include "fg_file.h"
#include "fg_log.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_ALLOW_MAX     100000      //  keys in an allow-list folder

static int
s_allowed_cmp (const void *a, const void *b)
{
    const fg_sec_allowed_t *x = a, *y = b;
    int c = strcmp (x->key, y->key);
    return c? c: strcmp (x->file, y->file);
}

void
fg_sec_allowed_free (fg_sec_allowed_t *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        free (list [i].file);
    free (list);
}

bool
fg_sec_skipped_name (const char *name)
{
    size_t n = strlen (name);
    return name [0] == '.' || name [n - 1] == '~'
        || (n >= 7 && strcmp (name + n - 7, "_secret") == 0);
}

//  Every key of the folder, sorted, duplicates refused.
int
fg_sec_allow_load (const char *dir, fg_sec_allowed_t **list_p, size_t *count_p, fg_error_t *err)
{
    *list_p = NULL;
    *count_p = 0;
    DIR *d = opendir (dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR
             ? fg_error_set (err, FG_ENOENT, "grid.allow_keys: %s: no such folder", dir)
             : fg_error_set (err, FG_EIO, "grid.allow_keys: %s: %s", dir, strerror (errno));
    fg_sec_allowed_t *list = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (d))) {
        if (fg_sec_skipped_name (entry->d_name))
            continue;
        char *path = zsys_sprintf ("%s/%s", dir, entry->d_name);
        struct stat st;
        if (!path)
            rc = fg_error_set (err, FG_ENOMEM, "grid.allow_keys: out of memory");
        else
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode)) {
            zstr_free (&path);
            continue;                   //  subfolders, dangling links
        }
        if (rc == 0 && count == S_ALLOW_MAX)
            rc = fg_error_set (err, FG_ERANGE, "grid.allow_keys: %s: more than %d keys",
                               dir, S_ALLOW_MAX);
        if (rc == 0 && count == cap) {
            size_t grown = cap? cap * 2: 16;
            fg_sec_allowed_t *more = realloc (list, grown * sizeof *list);
            if (!more)
                rc = fg_error_set (err, FG_ENOMEM, "grid.allow_keys: out of memory");
            else {
                list = more;
                cap = grown;
            }
        }
        fg_keypair_t keys;
        if (rc == 0)
            rc = fg_sec_read_cert (path, &keys, err);
        if (rc == 0) {
            memcpy (list [count].key, keys.public_txt, 41);
            list [count].file = path;
            path = NULL;
            count++;
        }
        else
            fg_error_prefix (err, "grid.allow_keys");
        memset (&keys, 0, sizeof keys);
        zstr_free (&path);
    }
    closedir (d);
    if (rc == 0 && count)
        qsort (list, count, sizeof *list, s_allowed_cmp);
    for (size_t i = 1; rc == 0 && i < count; i++)
        if (strcmp (list [i].key, list [i - 1].key) == 0)
            rc = fg_error_set (err, FG_EEXIST, "grid.allow_keys: %s and %s hold the same "
                               "public key (keep one)", list [i - 1].file, list [i].file);
    if (rc) {
        fg_sec_allowed_free (list, count);
        return rc;
    }
    *list_p = list;
    *count_p = count;
    return 0;
}

int
fg_security_allow_check (const char *dir, size_t *count, fg_error_t *err)
{
    fg_sec_allowed_t *list;
    size_t n;
    int rc = fg_sec_allow_load (dir, &list, &n, err);
    if (rc == 0 && count)
        *count = n;
    fg_sec_allowed_free (rc? NULL: list, n);
    return rc;
}

int
fg_security_parse_ips (const char *list, char *out, size_t size, fg_error_t *err)
{
    size_t used = 0;
    int count = 0;
    if (out && size)
        out [0] = '\0';
    const char *p = list;
    while (*p) {
        p += strspn (p, ", \t");
        size_t n = strcspn (p, ", \t");
        if (n == 0)
            break;
        char item [INET6_ADDRSTRLEN + 1];
        if (n >= sizeof item)
            return fg_error_set (err, FG_EINVAL, "grid.allow_ip: '%.*s' is not an IPv4 or "
                                 "IPv6 address", (int) (n > 60? 60: n), p);
        memcpy (item, p, n);
        item [n] = '\0';
        unsigned char bin [16];
        char canonical [INET6_ADDRSTRLEN];
        if (inet_pton (AF_INET, item, bin) == 1)
            inet_ntop (AF_INET, bin, canonical, sizeof canonical);
        else
        if (inet_pton (AF_INET6, item, bin) == 1)
            inet_ntop (AF_INET6, bin, canonical, sizeof canonical);
        else
            return fg_error_set (err, FG_EINVAL, "grid.allow_ip: '%s' is not an IPv4 or IPv6 "
                                 "address (exact addresses only, no ranges or names)", item);
        if (++count > FG_SEC_IPS_MAX)
            return fg_error_set (err, FG_ERANGE, "grid.allow_ip: more than %d addresses",
                                 FG_SEC_IPS_MAX);
        if (out) {
            size_t len = strlen (canonical);
            if (used + len + 2 > size)
                return fg_error_set (err, FG_ERANGE, "grid.allow_ip: list too long");
            memcpy (out + used, canonical, len);
            used += len;
            out [used++] = '\n';
            out [used] = '\0';
        }
        p += n;
    }
    return 0;
}
