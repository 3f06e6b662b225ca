/*  fg_security.c — CURVE key and certificate files: strict parsing,
    keygen, loading or making a pair, reading a public key (see
    fg_security.h). The allow-lists, the coordinator's guard and the
    worker's handshake diagnosis are in fg_security_allow.c,
    fg_security_guard.c and fg_security_handshake.c.                      */

#include "fg_security_internal.h"
#include "fg_file.h"
#include "fg_log.h"

#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

//  The secret key of a certificate must give the public key next to it.
//  Returns 0, FG_EUNSUPPORTED or FG_EMISMATCH.
static int
s_check_pair (const fg_keypair_t *keys, const char *name, fg_error_t *err)
{
    int rc = 0;
    char derived [FG_SECURITY_KEY_TEXT];
    if (zmq_curve_public (derived, keys->secret_txt) != 0)
        rc = fg_error_set (err, FG_EUNSUPPORTED, "%s: libzmq cannot derive CURVE keys", name);
    else
    if (strcmp (derived, keys->public_txt) != 0)
        rc = fg_error_set (err, FG_EMISMATCH, "%s: public-key is not the one its "
                           "secret-key gives (damaged or edited file)", name);
    return rc;
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
    if (rc == 0 && have_secret)
        rc = s_check_pair (keys, name, err);
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

int
fg_sec_write_cert (const char *path, const fg_keypair_t *keys, bool secret, fg_error_t *err)
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
    rc = fg_sec_write_cert (sec, &made, true, err);
    if (rc == 0)
        rc = fg_sec_write_cert (pub, &made, false, err);
    if (rc == 0 && keys)
        *keys = made;
    memset (&made, 0, sizeof made);
    return rc;
}

//  Reads and parses one certificate file.
int
fg_sec_read_cert (const char *path, fg_keypair_t *keys, fg_error_t *err)
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
    rc = fg_sec_read_cert (sec, keys, err);
    if (rc == 0 && !keys->secret_txt [0])
        rc = fg_error_set (err, FG_EFORMAT, "%s: no `secret-key` in its `curve` section", sec);
    if (rc == 0 && access (pub, F_OK) == 0) {
        fg_keypair_t pair;
        rc = fg_sec_read_cert (pub, &pair, err);
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
    int rc = fg_sec_read_cert (file_or_z85, &keys, err);
    if (rc == FG_ENOENT)
        fg_error_set (err, rc, "%s: neither a file nor a 40-character Z85 public key",
                      file_or_z85);
    if (rc == 0)
        memcpy (out, keys.public_txt, 41);
    memset (&keys, 0, sizeof keys);
    return rc;
}
