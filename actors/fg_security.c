/*  fg_security.c — CURVE keys, allow-lists and the authentication guard
    (see fg_security.h).                                                  */

#include "fg_security.h"
#include "fg_file.h"
#include "fg_log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <czmq.h>
#include <inttypes.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_ALLOW_MAX     100000      //  keys in an allow-list folder
#define S_IPS_MAX       256         //  addresses in grid.allow_ip
#define S_RESCAN_MS     2000        //  allow-list folder checked this often
#define S_REPORT_MS     10000       //  one log line per kind this often at most

//  --------------------------------------------------------------------------
//  Keys and certificate files

static bool
s_z85_key (const char *text, size_t len)
{
    if (len != 40)
        return false;
    char copy [FG_SECURITY_KEY_TEXT];
    memcpy (copy, text, 40);
    copy [40] = '\0';
    uint8_t bin [32];
    return zmq_z85_decode (bin, copy) != NULL;
}

//  "key = value" or key = "value" on an indented line; NULs excluded.
static int
s_parse_line (char *line, char **key, char **value)
{
    while (*line == ' ' || *line == '\t')
        line++;
    char *equals = strchr (line, '=');
    if (!equals || equals == line)
        return -1;
    char *end = equals;
    while (end > line && (end [-1] == ' ' || end [-1] == '\t'))
        end--;
    *end = '\0';
    *key = line;
    char *v = equals + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen (v);
    while (n && (v [n - 1] == ' ' || v [n - 1] == '\t'))
        v [--n] = '\0';
    if (n >= 2 && (v [0] == '"' || v [0] == '\'') && v [n - 1] == v [0]) {
        v [n - 1] = '\0';
        v++;
    }
    else
    if (n && (v [0] == '"' || v [0] == '\''))
        return -1;                      //  unterminated quote
    *value = v;
    return 0;
}

int
fg_security_parse_cert (const char *text, size_t size, const char *name,
                        fg_keypair_t *keys, fg_error_t *err)
{
    memset (keys, 0, sizeof *keys);
    if (memchr (text, '\0', size))
        return fg_error_set (err, FG_EFORMAT, "%s: not a certificate (NUL byte)", name);
    char *copy = malloc (size + 1);
    if (!copy)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", name);
    memcpy (copy, text, size);
    copy [size] = '\0';
    int rc = 0;
    int lineno = 0;
    bool in_curve = false;
    bool have_public = false, have_secret = false;
    char *next = copy;
    while (rc == 0 && next && *next) {
        char *line = next;
        char *nl = strchr (line, '\n');
        next = nl? nl + 1: NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        size_t n = strlen (line);
        if (n && line [n - 1] == '\r')
            line [--n] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if (p == line) {                //  a section at the top level
            for (const char *q = p; *q; q++)
                if (!(isalnum ((unsigned char) *q) || *q == '-' || *q == '_' || *q == '.')) {
                    rc = fg_error_set (err, FG_EFORMAT, "%s:%d: expected a section name "
                                       "(curve, metadata) or an indented `name = \"value\"`",
                                       name, lineno);
                    break;
                }
            in_curve = strcmp (p, "curve") == 0;
            continue;
        }
        //  an indented bare word: a nested section (ZPL allows it)
        bool word = true;
        for (const char *q = p; *q && word; q++)
            word = isalnum ((unsigned char) *q) || *q == '-' || *q == '_' || *q == '.';
        if (word)
            continue;
        char *key, *value;
        if (s_parse_line (line, &key, &value)) {
            rc = fg_error_set (err, FG_EFORMAT, "%s:%d: expected `name = \"value\"`",
                               name, lineno);
            continue;
        }
        if (!in_curve)
            continue;                   //  metadata: not used
        bool is_public = strcmp (key, "public-key") == 0;
        bool is_secret = strcmp (key, "secret-key") == 0;
        if (!is_public && !is_secret)
            continue;
        if ((is_public && have_public) || (is_secret && have_secret))
            rc = fg_error_set (err, FG_EFORMAT, "%s:%d: %s given twice", name, lineno, key);
        else
        if (!s_z85_key (value, strlen (value)))
            rc = fg_error_set (err, FG_EFORMAT, "%s:%d: %s must be 40 Z85 characters "
                               "(a CURVE key), not %zu characters '%.48s'", name, lineno, key,
                               strlen (value), value);
        else {
            memcpy (is_public? keys->public_txt: keys->secret_txt, value, 41);
            if (is_public)
                have_public = true;
            else
                have_secret = true;
        }
    }
    free (copy);
    if (rc == 0 && !have_public)
        rc = fg_error_set (err, FG_EFORMAT, "%s: not a certificate: no `public-key` in a "
                           "`curve` section", name);
    if (rc == 0 && have_secret) {
        char derived [FG_SECURITY_KEY_TEXT];
        if (zmq_curve_public (derived, keys->secret_txt) != 0)
            rc = fg_error_set (err, FG_EUNSUPPORTED, "%s: libzmq cannot derive CURVE keys", name);
        else
        if (strcmp (derived, keys->public_txt) != 0)
            rc = fg_error_set (err, FG_EMISMATCH, "%s: public-key is not the one its "
                               "secret-key gives (damaged or edited file)", name);
    }
    if (rc)
        memset (keys, 0, sizeof *keys);
    return rc;
}

//  Certificate text in the zcert_save layout (CZMQ's loader reads it).
static char *
s_cert_text (const fg_keypair_t *keys, bool secret)
{
    return zsys_sprintf (
        "#   ****  Generated by fedgrid  ****\n"
        "%s"
        "\n"
        "metadata\n"
        "curve\n"
        "    public-key = \"%s\"\n"
        "%s%s%s",
        secret
        ? "#   ZeroMQ CURVE **Secret** Certificate\n"
          "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
        : "#   ZeroMQ CURVE Public Certificate\n"
          "#   Exchange securely, or use a secure mechanism to verify the contents\n"
          "#   of this file after exchange.\n",
        keys->public_txt,
        secret? "    secret-key = \"": "", secret? keys->secret_txt: "", secret? "\"\n": "");
}

static int
s_write_cert (const char *path, const fg_keypair_t *keys, bool secret, fg_error_t *err)
{
    char *text = s_cert_text (keys, secret);
    if (!text)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    int rc = fg_file_write_atomic (path, text, strlen (text), secret? 0600: 0644, 1, err);
    zstr_free (&text);
    if (rc == 0 && secret && chmod (path, 0600) != 0)   //  whatever the umask did
        rc = fg_error_set (err, FG_EIO, "%s: chmod 600: %s", path, strerror (errno));
    return rc;
}

static int
s_paths (const char *dir, const char *name, char *pub, char *sec, size_t size, fg_error_t *err)
{
    int n = snprintf (pub, size, "%s/%s", dir, name);
    int m = snprintf (sec, size, "%s/%s_secret", dir, name);
    if (n < 0 || m < 0 || (size_t) m >= size)
        return fg_error_set (err, FG_ERANGE, "%s/%s: path too long", dir, name);
    return 0;
}

int
fg_security_keygen (const char *dir, const char *name, fg_keypair_t *keys, fg_error_t *err)
{
    char pub [4200], sec [4200];
    int rc = s_paths (dir, name, pub, sec, sizeof pub, err);
    if (rc)
        return rc;
    if (!zsys_has_curve ())
        return fg_error_set (err, FG_EUNSUPPORTED, "this libzmq was built without CURVE");
    if (access (pub, F_OK) == 0 || access (sec, F_OK) == 0)
        return fg_error_set (err, FG_EEXIST, "%s: a key pair exists already (delete %s and %s "
                             "to replace it: workers then need the new public key)",
                             pub, pub, sec);
    rc = fg_file_mkdirs (dir, err);
    if (rc)
        return rc;
    fg_keypair_t made;
    if (zmq_curve_keypair (made.public_txt, made.secret_txt) != 0)
        return fg_error_set (err, FG_EUNSUPPORTED, "zmq_curve_keypair: %s", zmq_strerror (errno));
    rc = s_write_cert (sec, &made, true, err);
    if (rc == 0)
        rc = s_write_cert (pub, &made, false, err);
    if (rc == 0 && keys)
        *keys = made;
    memset (&made, 0, sizeof made);
    return rc;
}

//  Reads and parses one certificate file.
static int
s_read_cert (const char *path, fg_keypair_t *keys, fg_error_t *err)
{
    char *text;
    size_t size;
    int rc = fg_file_read (path, FG_SECURITY_FILE_MAX, &text, &size, err);
    if (rc == FG_ERANGE)
        return fg_error_set (err, FG_EFORMAT, "%s: not a certificate (larger than %d bytes)",
                             path, FG_SECURITY_FILE_MAX);
    if (rc)
        return rc;
    rc = fg_security_parse_cert (text, size, path, keys, err);
    memset (text, 0, size);
    free (text);
    return rc;
}

int
fg_security_load_pair (const char *dir, const char *name, fg_keypair_t *keys, fg_error_t *err)
{
    memset (keys, 0, sizeof *keys);
    char pub [4200], sec [4200];
    int rc = s_paths (dir, name, pub, sec, sizeof pub, err);
    if (rc)
        return rc;
    struct stat st;
    if (lstat (sec, &st) != 0)
        return errno == ENOENT
             ? fg_error_set (err, FG_ENOENT, "%s: no such file (make a key pair with "
                             "`fedctl keygen %s`)", sec, dir)
             : fg_error_set (err, FG_EIO, "%s: %s", sec, strerror (errno));
    if (!S_ISREG (st.st_mode))
        return fg_error_set (err, FG_EINVAL, "%s: not a regular file", sec);
    if (st.st_mode & 077)
        return fg_error_set (err, FG_EINVAL, "%s: secret key readable or writable by others "
                             "(mode %04o): run `chmod 600 %s`", sec,
                             (unsigned) (st.st_mode & 07777), sec);
    if (st.st_uid != geteuid ())
        return fg_error_set (err, FG_EINVAL, "%s: secret key owned by uid %u, not by this "
                             "user (uid %u)", sec, (unsigned) st.st_uid, (unsigned) geteuid ());
    rc = s_read_cert (sec, keys, err);
    if (rc == 0 && !keys->secret_txt [0])
        rc = fg_error_set (err, FG_EFORMAT, "%s: no `secret-key` in its `curve` section", sec);
    if (rc == 0 && access (pub, F_OK) == 0) {
        fg_keypair_t pair;
        rc = s_read_cert (pub, &pair, err);
        if (rc == 0 && strcmp (pair.public_txt, keys->public_txt) != 0)
            rc = fg_error_set (err, FG_EMISMATCH, "%s holds another public key than %s "
                               "(files of two different pairs)", pub, sec);
    }
    if (rc)
        memset (keys, 0, sizeof *keys);
    return rc;
}

int
fg_security_ensure_pair (const char *dir, const char *name, fg_keypair_t *keys,
                         bool *created, fg_error_t *err)
{
    if (created)
        *created = false;
    char pub [4200], sec [4200];
    int rc = s_paths (dir, name, pub, sec, sizeof pub, err);
    if (rc)
        return rc;
    if (access (sec, F_OK) != 0 && errno == ENOENT) {
        if (access (pub, F_OK) == 0)
            return fg_error_set (err, FG_ENOENT, "%s: the public key is there but its secret "
                                 "%s is missing (restore it, or delete %s to make a new pair)",
                                 pub, sec, pub);
        rc = fg_security_keygen (dir, name, keys, err);
        if (rc == 0 && created)
            *created = true;
        return rc;
    }
    return fg_security_load_pair (dir, name, keys, err);
}

int
fg_security_read_public (const char *file_or_z85, char out [FG_SECURITY_KEY_TEXT],
                         fg_error_t *err)
{
    out [0] = '\0';
    size_t len = strlen (file_or_z85);
    if (s_z85_key (file_or_z85, len) && access (file_or_z85, F_OK) != 0) {
        memcpy (out, file_or_z85, 41);
        return 0;
    }
    fg_keypair_t keys;
    int rc = s_read_cert (file_or_z85, &keys, err);
    if (rc == FG_ENOENT)
        fg_error_set (err, rc, "%s: neither a file nor a 40-character Z85 public key",
                      file_or_z85);
    if (rc == 0)
        memcpy (out, keys.public_txt, 41);
    memset (&keys, 0, sizeof keys);
    return rc;
}

//  --------------------------------------------------------------------------
//  Allow-lists

typedef struct {
    char key [FG_SECURITY_KEY_TEXT];
    char *file;
} s_allowed_t;

static int
s_allowed_cmp (const void *a, const void *b)
{
    const s_allowed_t *x = a, *y = b;
    int c = strcmp (x->key, y->key);
    return c? c: strcmp (x->file, y->file);
}

static void
s_allowed_free (s_allowed_t *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        free (list [i].file);
    free (list);
}

static bool
s_skipped_name (const char *name)
{
    size_t n = strlen (name);
    return name [0] == '.' || name [n - 1] == '~'
        || (n >= 7 && strcmp (name + n - 7, "_secret") == 0);
}

//  Every key of the folder, sorted, duplicates refused.
static int
s_allow_load (const char *dir, s_allowed_t **list_p, size_t *count_p, fg_error_t *err)
{
    *list_p = NULL;
    *count_p = 0;
    DIR *d = opendir (dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR
             ? fg_error_set (err, FG_ENOENT, "grid.allow_keys: %s: no such folder", dir)
             : fg_error_set (err, FG_EIO, "grid.allow_keys: %s: %s", dir, strerror (errno));
    s_allowed_t *list = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (d))) {
        if (s_skipped_name (entry->d_name))
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
            s_allowed_t *more = realloc (list, grown * sizeof *list);
            if (!more)
                rc = fg_error_set (err, FG_ENOMEM, "grid.allow_keys: out of memory");
            else {
                list = more;
                cap = grown;
            }
        }
        fg_keypair_t keys;
        if (rc == 0)
            rc = s_read_cert (path, &keys, err);
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
        s_allowed_free (list, count);
        return rc;
    }
    *list_p = list;
    *count_p = count;
    return 0;
}

int
fg_security_allow_check (const char *dir, size_t *count, fg_error_t *err)
{
    s_allowed_t *list;
    size_t n;
    int rc = s_allow_load (dir, &list, &n, err);
    if (rc == 0 && count)
        *count = n;
    s_allowed_free (rc? NULL: list, n);
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
        if (++count > S_IPS_MAX)
            return fg_error_set (err, FG_ERANGE, "grid.allow_ip: more than %d addresses",
                                 S_IPS_MAX);
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

//  --------------------------------------------------------------------------
//  The guard actor: zauth, the allow-list snapshot, the ROUTER's monitor

static pthread_mutex_t s_guard_lock = PTHREAD_MUTEX_INITIALIZER;
static bool s_guard_running = false;

typedef struct {
    bool curve;
    char allow_keys [4200];         //  resolved folder, "" = any key
    char allow_ip [FG_CONFIG_STR_MAX];
    char ips [S_IPS_MAX * (INET6_ADDRSTRLEN + 1) + 1];
    char own_key [FG_SECURITY_KEY_TEXT];
    char key_file [4200];           //  DIR/coordinator.key, for messages
    int status;
    fg_error_t err;
} s_guard_args_t;

typedef struct {
    zsock_t  *pipe;
    zactor_t *auth;
    zsock_t  *monitor;              //  PAIR to the ROUTER's monitor, or NULL
    zpoller_t *poller;
    bool      terminated;
    s_guard_args_t *a;              //  copy owned here
    char      snapshot [4200];      //  private folder given to zauth, or ""
    char      signature [65];       //  of the allow-list folder's listing
    char      bad_signature [65];   //  listing last reported as invalid
    int64_t   rescan_at;
    uint64_t  denied, failed;
    //  reporting: one line per kind per S_REPORT_MS
    int64_t   report_at [3];
    uint64_t  unreported [3];
} s_guard_t;

//  SHA-256 of the folder's listing (name, size, mtime), hex; "" on error.
static void
s_listing_signature (const char *dir, char out [65])
{
    out [0] = '\0';
    DIR *d = opendir (dir);
    if (!d)
        return;
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (czmq_destructor *) zstr_free);
    zlistx_set_comparator (names, (czmq_comparator *) strcmp);
    struct dirent *entry;
    while ((entry = readdir (d))) {
        if (s_skipped_name (entry->d_name))
            continue;
        char *path = zsys_sprintf ("%s/%s", dir, entry->d_name);
        struct stat st;
        if (path && stat (path, &st) == 0 && S_ISREG (st.st_mode))
            zlistx_add_end (names, zsys_sprintf ("%s %lld %lld.%09ld", entry->d_name,
                            (long long) st.st_size, (long long) st.st_mtim.tv_sec,
                            st.st_mtim.tv_nsec));
        zstr_free (&path);
    }
    closedir (d);
    zlistx_sort (names);
    zdigest_t *digest = zdigest_new ();
    for (char *line = zlistx_first (names); line; line = zlistx_next (names))
        zdigest_update (digest, (const byte *) line, strlen (line) + 1);
    snprintf (out, 65, "%s", zdigest_string (digest));
    zdigest_destroy (&digest);
    zlistx_destroy (&names);
}

static void
s_remove_tree (const char *dir)
{
    if (!*dir)
        return;
    DIR *d = opendir (dir);
    if (d) {
        struct dirent *entry;
        while ((entry = readdir (d)))
            if (strcmp (entry->d_name, ".") && strcmp (entry->d_name, "..")) {
                char *path = zsys_sprintf ("%s/%s", dir, entry->d_name);
                if (path)
                    unlink (path);
                zstr_free (&path);
            }
        closedir (d);
    }
    rmdir (dir);
}

//  Builds a new snapshot of the allowed keys (plus the coordinator's own)
//  and points zauth at it. Returns 0 or an FG_E code (err filled).
static int
s_guard_load_keys (s_guard_t *self, fg_error_t *err)
{
    s_allowed_t *list = NULL;
    size_t count = 0;
    int rc = s_allow_load (self->a->allow_keys, &list, &count, err);
    if (rc)
        return rc;
    const char *tmp = getenv ("TMPDIR");
    char *snapshot = zsys_sprintf ("%s/fedgrid-allow-XXXXXX", tmp && *tmp? tmp: "/tmp");
    if (!snapshot || !mkdtemp (snapshot)) {
        rc = fg_error_set (err, FG_EIO, "grid.allow_keys: cannot make a folder under %s: %s",
                           tmp && *tmp? tmp: "/tmp", strerror (errno));
        zstr_free (&snapshot);
        s_allowed_free (list, count);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i <= count; i++) {
        fg_keypair_t keys;
        memset (&keys, 0, sizeof keys);
        if (i == count) {
            //  the coordinator's own key, unless listed already (zauth's
            //  certificate store must never see a key twice)
            bool listed = false;
            for (size_t j = 0; j < count && !listed; j++)
                listed = strcmp (list [j].key, self->a->own_key) == 0;
            if (!self->a->own_key [0] || listed)
                break;
            memcpy (keys.public_txt, self->a->own_key, 41);
        }
        else
            memcpy (keys.public_txt, list [i].key, 41);
        char path [4300];
        snprintf (path, sizeof path, "%s/%zu.key", snapshot, i);
        rc = s_write_cert (path, &keys, false, err);
    }
    s_allowed_free (list, count);
    if (rc) {
        s_remove_tree (snapshot);
        zstr_free (&snapshot);
        return rc;
    }
    zstr_sendx (self->auth, "CURVE", snapshot, NULL);
    zsock_wait (self->auth);
    s_remove_tree (self->snapshot);
    snprintf (self->snapshot, sizeof self->snapshot, "%s", snapshot);
    zstr_free (&snapshot);
    fg_info ("coordinator: %zu worker key%s allowed (grid.allow_keys = %s)",
             count, count == 1? "": "s", self->a->allow_keys);
    return 0;
}

static void
s_guard_destroy (s_guard_t **self_p)
{
    s_guard_t *self = *self_p;
    if (!self)
        return;
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->monitor);
    zactor_destroy (&self->auth);
    s_remove_tree (self->snapshot);
    free (self->a);
    free (self);
    *self_p = NULL;
}

static s_guard_t *
s_guard_new (zsock_t *pipe, s_guard_args_t *a)
{
    s_guard_t *self = calloc (1, sizeof *self);
    if (self)
        self->a = malloc (sizeof *a);
    if (!self || !self->a) {
        free (self);
        fg_error_set (&a->err, FG_ENOMEM, "coordinator: out of memory");
        return NULL;
    }
    *self->a = *a;
    self->pipe = pipe;
    self->auth = zactor_new (zauth, NULL);
    self->poller = zpoller_new (pipe, NULL);
    if (!self->auth || !self->poller) {
        fg_error_set (&a->err, FG_ENOMEM, "coordinator: cannot start zauth");
        s_guard_destroy (&self);
        return NULL;
    }
    zpoller_set_nonstop (self->poller, true);
    if (a->ips [0]) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, "ALLOW");
        char *copy = strdup (a->ips);
        for (char *save = NULL, *ip = strtok_r (copy, "\n", &save); ip;
             ip = strtok_r (NULL, "\n", &save))
            zmsg_addstr (msg, ip);
        free (copy);
        zmsg_send (&msg, self->auth);
        zsock_wait (self->auth);
    }
    if (a->curve && !a->allow_keys [0]) {
        zstr_sendx (self->auth, "CURVE", CURVE_ALLOW_ANY, NULL);
        zsock_wait (self->auth);
    }
    else
    if (a->curve) {
        s_listing_signature (a->allow_keys, self->signature);
        if (s_guard_load_keys (self, &a->err)) {
            s_guard_destroy (&self);
            return NULL;
        }
        self->rescan_at = zclock_mono () + S_RESCAN_MS;
    }
    return self;
}

//  What the allow-lists are, for the refusal line.
static const char *
s_denied_reason (s_guard_t *self, char *buf, size_t size)
{
    const s_guard_args_t *a = self->a;
    if (a->curve && a->allow_keys [0] && a->allow_ip [0])
        snprintf (buf, size, "its public key is not in grid.allow_keys (%.600s) or its address "
                  "is not in grid.allow_ip (%s)", a->allow_keys, a->allow_ip);
    else
    if (a->curve && a->allow_keys [0])
        snprintf (buf, size, "its public key is not in grid.allow_keys (%.600s): copy the "
                  "worker's CACHE/worker.key there to admit it", a->allow_keys);
    else
        snprintf (buf, size, "its address is not in grid.allow_ip (%s)", a->allow_ip);
    return buf;
}

static void
s_guard_report (s_guard_t *self, int kind, const char *line)
{
    int64_t now = zclock_mono ();
    if (now < self->report_at [kind]) {
        self->unreported [kind]++;
        return;
    }
    if (self->unreported [kind])
        fg_warn ("coordinator: %s (and %" PRIu64 " more since the last report)", line,
                 self->unreported [kind]);
    else
        fg_warn ("coordinator: %s", line);
    self->unreported [kind] = 0;
    self->report_at [kind] = now + S_REPORT_MS;
}

static void
s_guard_on_monitor (s_guard_t *self)
{
    zmsg_t *msg = zmsg_recv (self->monitor);
    zframe_t *frame = msg? zmsg_first (msg): NULL;
    if (!frame || zframe_size (frame) != 6) {
        zmsg_destroy (&msg);
        return;
    }
    uint16_t event;
    uint32_t value;
    memcpy (&event, zframe_data (frame), 2);
    memcpy (&value, zframe_data (frame) + 2, 4);
    zmsg_destroy (&msg);
    char line [1200], reason [1000];
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        self->denied++;
        snprintf (line, sizeof line, "refused a worker (authentication status %u): %s",
                  (unsigned) value, s_denied_reason (self, reason, sizeof reason));
        s_guard_report (self, 0, line);
    }
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        self->failed++;
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
            snprintf (line, sizeof line, "a peer failed the CURVE handshake: it does not hold "
                      "this coordinator's public key (fedctl worker --server-key %.1000s)",
                      self->a->key_file);
            s_guard_report (self, 1, line);
        }
        else
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
            if (self->a->curve)
                snprintf (line, sizeof line, "a peer connected without CURVE: start workers "
                          "with --server-key %.1000s", self->a->key_file);
            else
                snprintf (line, sizeof line, "a peer connected with CURVE but grid.curve is "
                          "false here: start the worker without --server-key");
            s_guard_report (self, 2, line);
        }
        else {
            snprintf (line, sizeof line, "a peer broke the handshake (ZeroMQ protocol "
                      "error 0x%08x)", (unsigned) value);
            s_guard_report (self, 2, line);
        }
    }
}

static void
s_guard_rescan (s_guard_t *self)
{
    char signature [65];
    s_listing_signature (self->a->allow_keys, signature);
    if (strcmp (signature, self->signature) == 0 || strcmp (signature, self->bad_signature) == 0)
        return;
    fg_error_t err;
    if (s_guard_load_keys (self, &err) == 0) {
        memcpy (self->signature, signature, sizeof signature);
        self->bad_signature [0] = '\0';
    }
    else {
        fg_warn ("coordinator: %s; keeping the previous allow list", err.msg);
        memcpy (self->bad_signature, signature, sizeof signature);
    }
}

static void
s_guard_actor (zsock_t *pipe, void *arg)
{
    s_guard_args_t *a = (s_guard_args_t *) arg;
    s_guard_t *self = s_guard_new (pipe, a);
    a->status = self? 0: (a->err.code? a->err.code: FG_ENOMEM);
    zsock_signal (pipe, 0);
    while (self && !self->terminated) {
        int timeout = -1;
        if (self->rescan_at) {
            int64_t wait = self->rescan_at - zclock_mono ();
            timeout = wait < 0? 0: (int) wait;
        }
        void *which = zpoller_wait (self->poller, timeout);
        if (which == self->pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *command = msg? zmsg_popstr (msg): NULL;
            if (!command || streq (command, "$TERM"))
                self->terminated = true;
            else
            if (streq (command, "WATCH")) {
                char *endpoint = zmsg_popstr (msg);
                zsock_destroy (&self->monitor);
                self->monitor = zsock_new (ZMQ_PAIR);
                int rc = self->monitor && endpoint? zsock_connect (self->monitor, "%s", endpoint): -1;
                if (rc == 0)
                    zpoller_add (self->poller, self->monitor);
                zstr_free (&endpoint);
                zsock_signal (pipe, rc == 0? 0: 1);
            }
            else
            if (streq (command, "COUNTS"))
                zsock_send (pipe, "88", self->denied, self->failed);
            zstr_free (&command);
            zmsg_destroy (&msg);
            continue;
        }
        if (which && which == self->monitor)
            s_guard_on_monitor (self);
        if (self->rescan_at && zclock_mono () >= self->rescan_at) {
            s_guard_rescan (self);
            self->rescan_at = zclock_mono () + S_RESCAN_MS;
        }
    }
    s_guard_destroy (&self);
}

struct _fg_guard_t {
    zactor_t *actor;
    void     *router;               //  monitored (zsock_t)
};

//  Checks the settings and loads (or makes) the coordinator's pair into a;
//  *needed false when the endpoint needs no guard.
static int
s_guard_prepare (const fg_config_t *cfg, const char *dir, const char *listen,
                 s_guard_args_t *a, fg_keypair_t *pair, bool *created, bool *needed,
                 fg_error_t *err)
{
    memset (pair, 0, sizeof *pair);
    *created = false;
    *needed = listen && *listen && strncmp (listen, "inproc://", 9) != 0
           && (cfg->grid.curve || cfg->grid.allow_ip [0]);
    if (!*needed)
        return 0;
    a->curve = cfg->grid.curve;
    snprintf (a->allow_ip, sizeof a->allow_ip, "%s", cfg->grid.allow_ip);
    snprintf (a->key_file, sizeof a->key_file, "%.4000s/%s", dir, FG_SECURITY_SERVER_NAME);
    int rc = fg_security_parse_ips (cfg->grid.allow_ip, a->ips, sizeof a->ips, err);
    const char *allow = cfg->grid.allow_keys;
    if (rc == 0 && a->curve && *allow) {
        int n = allow [0] == '/' || !cfg->base_dir [0]
              ? snprintf (a->allow_keys, sizeof a->allow_keys, "%s", allow)
              : snprintf (a->allow_keys, sizeof a->allow_keys, "%s/%s", cfg->base_dir, allow);
        if (n < 0 || (size_t) n >= sizeof a->allow_keys)
            rc = fg_error_set (err, FG_ERANGE, "grid.allow_keys: path too long");
        if (rc == 0)
            rc = fg_security_allow_check (a->allow_keys, NULL, err);
    }
    if (rc == 0 && a->curve) {
        if (!zsys_has_curve ())
            rc = fg_error_set (err, FG_EUNSUPPORTED, "grid.curve = true but this libzmq has no "
                               "CURVE (set grid.curve = false on a trusted network)");
        else
            rc = fg_security_ensure_pair (dir, FG_SECURITY_SERVER_NAME, pair, created, err);
        if (rc == 0)
            memcpy (a->own_key, pair->public_txt, 41);
    }
    return rc;
}

int
fg_security_preflight (const fg_config_t *cfg, const char *dir, const char *listen,
                       fg_keypair_t *keys, fg_error_t *err)
{
    s_guard_args_t *a = calloc (1, sizeof *a);
    if (!a)
        return fg_error_set (err, FG_ENOMEM, "out of memory");
    fg_keypair_t pair;
    bool created, needed;
    int rc = s_guard_prepare (cfg, dir, listen, a, &pair, &created, &needed, err);
    if (rc == 0 && created)
        fg_info ("coordinator: made the CURVE key pair %s/%s", dir, FG_SECURITY_SERVER_NAME);
    if (keys)
        *keys = pair;
    memset (&pair, 0, sizeof pair);
    free (a);
    return rc;
}

int
fg_guard_open (fg_guard_t **guard_p, void *router, const fg_config_t *cfg,
               const char *dir, const char *listen, fg_keypair_t *keys, fg_error_t *err)
{
    *guard_p = NULL;
    if (keys)
        memset (keys, 0, sizeof *keys);
    s_guard_args_t *a = calloc (1, sizeof *a);
    if (!a)
        return fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    fg_keypair_t pair;
    bool created, needed;
    int rc = s_guard_prepare (cfg, dir, listen, a, &pair, &created, &needed, err);
    if (rc == 0 && !needed) {
        free (a);
        return 0;
    }
    fg_guard_t *self = NULL;
    if (rc == 0) {
        pthread_mutex_lock (&s_guard_lock);
        if (s_guard_running)
            rc = fg_error_set (err, FG_ESTATE, "coordinator: another coordinator of this process "
                               "already secures a tcp endpoint (one authentication handler per "
                               "process)");
        else
            s_guard_running = true;
        pthread_mutex_unlock (&s_guard_lock);
    }
    if (rc == 0) {
        self = calloc (1, sizeof *self);
        if (self)
            self->actor = zactor_new (s_guard_actor, a);
        if (!self || !self->actor || a->status) {
            rc = self && self->actor && a->status
               ? (*err = a->err, a->status)
               : fg_error_set (err, FG_ENOMEM, "coordinator: cannot start the guard");
            if (self)
                zactor_destroy (&self->actor);
            free (self);
            self = NULL;
            pthread_mutex_lock (&s_guard_lock);
            s_guard_running = false;
            pthread_mutex_unlock (&s_guard_lock);
        }
    }
    if (rc == 0) {
        zsock_set_zap_domain (router, "fedgrid");
        if (a->curve) {
            zsock_set_curve_publickey (router, pair.public_txt);
            zsock_set_curve_secretkey (router, pair.secret_txt);
            zsock_set_curve_server (router, 1);
            if (created)
                fg_info ("coordinator: made the CURVE key pair %s/%s", dir,
                         FG_SECURITY_SERVER_NAME);
        }
        self->router = router;
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "inproc://fedgrid-guard-%p", (void *) self);
        if (zmq_socket_monitor (zsock_resolve (router), endpoint,
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                              | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
            zstr_sendx (self->actor, "WATCH", endpoint, NULL);
            if (zsock_wait (self->actor) != 0)
                fg_warn ("coordinator: cannot watch handshakes: refusals will not be logged");
        }
        if (keys)
            *keys = pair;
        *guard_p = self;
    }
    memset (&pair, 0, sizeof pair);
    memset (a, 0, sizeof *a);
    free (a);
    return rc;
}

void
fg_guard_counts (fg_guard_t *self, uint64_t *denied, uint64_t *failed)
{
    uint64_t d = 0, f = 0;
    if (self) {
        zstr_send (self->actor, "COUNTS");
        zsock_recv (self->actor, "88", &d, &f);
    }
    if (denied)
        *denied = d;
    if (failed)
        *failed = f;
}

void
fg_guard_destroy (fg_guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_guard_t *self = *self_p;
    zactor_destroy (&self->actor);
    free (self);
    *self_p = NULL;
    pthread_mutex_lock (&s_guard_lock);
    s_guard_running = false;
    pthread_mutex_unlock (&s_guard_lock);
}

//  --------------------------------------------------------------------------
//  The worker side: what a client socket's failed handshakes point at

struct _fg_handshake_t {
    zsock_t *monitor;
    uint16_t event;                 //  last failure seen, 0: none
    uint32_t value;
    char     line [400];
};

fg_handshake_t *
fg_handshake_new (void *socket)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned counter = 0;
    pthread_mutex_lock (&lock);
    unsigned number = ++counter;
    pthread_mutex_unlock (&lock);
    fg_handshake_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char endpoint [80];
    snprintf (endpoint, sizeof endpoint, "inproc://fedgrid-handshake-%p-%u", (void *) self,
              number);
    if (zmq_socket_monitor (zsock_resolve (socket), endpoint,
                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                          | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                          | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                          | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0
    ||  !(self->monitor = zsock_new (ZMQ_PAIR))
    ||  zsock_connect (self->monitor, "%s", endpoint) != 0) {
        zsock_destroy (&self->monitor);
        free (self);
        return NULL;
    }
    return self;
}

const char *
fg_handshake_problem (fg_handshake_t *self)
{
    if (!self)
        return NULL;
    while (zsock_events (self->monitor) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->monitor);
        zframe_t *frame = msg? zmsg_first (msg): NULL;
        if (frame && zframe_size (frame) == 6) {
            uint16_t event;
            memcpy (&event, zframe_data (frame), 2);
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                self->event = 0;
            else {
                self->event = event;
                memcpy (&self->value, zframe_data (frame) + 2, 4);
            }
        }
        if (!msg)
            break;
        zmsg_destroy (&msg);
    }
    if (self->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf (self->line, sizeof self->line, "the coordinator refused this worker "
                  "(status %u): its public key (" FG_SECURITY_WORKER_NAME " in the --cache "
                  "folder) is not in the coordinator's grid.allow_keys folder, or its address "
                  "is not in grid.allow_ip", (unsigned) self->value);
    else
    if (self->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    &&  self->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf (self->line, sizeof self->line, "the coordinator uses another security "
                  "mechanism: give --server-key when its grid.curve is true, none when false");
    else
    if (self->event)
        snprintf (self->line, sizeof self->line, "the handshake fails: check that --server-key "
                  "is the coordinator's public key (DIR/" FG_SECURITY_SERVER_NAME " of the "
                  "experiment)");
    else
        return NULL;
    self->event = 0;
    return self->line;
}

void
fg_handshake_destroy (fg_handshake_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->monitor);
    free (*self_p);
    *self_p = NULL;
}
