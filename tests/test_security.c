/*  test_security.c — CURVE key files, allow-lists, the coordinator's guard
    (zauth + CURVE server) and the worker's handshake diagnosis, over real
    tcp on 127.0.0.1.                                                     */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fg_config.h"
#include "fg_file.h"
#include "fg_log.h"
#include "fg_security.h"
#include "fg_test_util.h"

static char s_dir [64];

static int
s_setup (void **state)
{
    (void) state;
    return fg_test_tmpdir ("fg-test-security", s_dir, sizeof s_dir);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_dir);
}

static void
s_write (const char *name, const char *text, int mode)
{
    char path [256];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    assert_int_equal (fg_file_write_atomic (path, text, strlen (text), mode, 0, NULL), 0);
    assert_int_equal (chmod (path, (mode_t) mode), 0);
}

//  Log lines captured for the tests that check what is said.
static char s_log [16384];
static pthread_mutex_t s_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void
s_sink (fg_log_level_t level, const char *line, void *arg)
{
    (void) level;
    (void) arg;
    pthread_mutex_lock (&s_log_lock);
    size_t used = strlen (s_log);
    snprintf (s_log + used, sizeof s_log - used, "%s\n", line);
    pthread_mutex_unlock (&s_log_lock);
}

static bool
s_logged (const char *needle)
{
    pthread_mutex_lock (&s_log_lock);
    bool found = strstr (s_log, needle) != NULL;
    pthread_mutex_unlock (&s_log_lock);
    return found;
}

//  ---- certificate text -----------------------------------------------------

static void
test_keygen_load_round_trip (void **state)
{
    (void) state;
    fg_keypair_t made, loaded;
    fg_error_t err;
    assert_int_equal (fg_security_keygen (s_dir, "a.key", &made, &err), 0);
    assert_int_equal (strlen (made.public_txt), 40);
    assert_int_equal (strlen (made.secret_txt), 40);
    char path [256];
    struct stat st;
    snprintf (path, sizeof path, "%s/a.key_secret", s_dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    snprintf (path, sizeof path, "%s/a.key", s_dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0077, 0044);
    assert_int_equal (fg_security_load_pair (s_dir, "a.key", &loaded, &err), 0);
    assert_memory_equal (&made, &loaded, sizeof made);
    //  CZMQ reads fedgrid's files (zauth's certificate store uses it)
    zcert_t *cert = zcert_load (path);
    assert_non_null (cert);
    assert_string_equal (zcert_public_txt (cert), made.public_txt);
    zcert_destroy (&cert);
    //  ... and fedgrid reads CZMQ's
    cert = zcert_new ();
    snprintf (path, sizeof path, "%s/czmq.key", s_dir);
    zcert_set_meta (cert, "name", "a worker");
    assert_int_equal (zcert_save (cert, path), 0);
    chmod (path, 0644);
    snprintf (path, sizeof path, "%s/czmq.key_secret", s_dir);
    chmod (path, 0600);
    assert_int_equal (fg_security_load_pair (s_dir, "czmq.key", &loaded, &err), 0);
    assert_string_equal (loaded.public_txt, zcert_public_txt (cert));
    assert_string_equal (loaded.secret_txt, zcert_secret_txt (cert));
    zcert_destroy (&cert);
    //  never overwrites
    assert_int_equal (fg_security_keygen (s_dir, "a.key", &made, &err), FG_EEXIST);
    assert_non_null (strstr (err.msg, "a.key"));
}

static void
test_ensure_pair_is_stable (void **state)
{
    (void) state;
    fg_keypair_t first, again;
    bool created = false;
    fg_error_t err;
    assert_int_equal (fg_security_ensure_pair (s_dir, "worker.key", &first, &created, &err), 0);
    assert_true (created);
    assert_int_equal (fg_security_ensure_pair (s_dir, "worker.key", &again, &created, &err), 0);
    assert_false (created);
    assert_memory_equal (&first, &again, sizeof first);
    //  a public file without its secret is never silently replaced
    char path [256];
    snprintf (path, sizeof path, "%s/worker.key_secret", s_dir);
    assert_int_equal (unlink (path), 0);
    assert_int_equal (fg_security_ensure_pair (s_dir, "worker.key", &again, &created, &err),
                      FG_ENOENT);
    assert_non_null (strstr (err.msg, "worker.key_secret"));
}

static void
test_secret_permissions_refused (void **state)
{
    (void) state;
    fg_keypair_t keys;
    fg_error_t err;
    assert_int_equal (fg_security_keygen (s_dir, "c.key", &keys, &err), 0);
    char path [256];
    snprintf (path, sizeof path, "%s/c.key_secret", s_dir);
    int modes [] = { 0644, 0640, 0604, 0660, 0602 };
    for (size_t i = 0; i < sizeof modes / sizeof modes [0]; i++) {
        assert_int_equal (chmod (path, (mode_t) modes [i]), 0);
        assert_int_equal (fg_security_load_pair (s_dir, "c.key", &keys, &err), FG_EINVAL);
        assert_non_null (strstr (err.msg, path));
        assert_non_null (strstr (err.msg, "chmod 600"));
        assert_int_equal (keys.secret_txt [0], 0);
    }
    assert_int_equal (chmod (path, 0400), 0);
    assert_int_equal (fg_security_load_pair (s_dir, "c.key", &keys, &err), 0);
    //  missing pair
    assert_int_equal (fg_security_load_pair (s_dir, "none.key", &keys, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "none.key_secret"));
}

#define S_PUB  "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define S_SEC  "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

static void
test_parse_cert_rejections (void **state)
{
    (void) state;
    fg_keypair_t keys;
    fg_error_t err;
    //  a valid pair (the ZeroMQ RFC 26 test vectors' server keys)
    char pub [64], sec [64];
    assert_int_equal (zmq_curve_public (pub, S_SEC), 0);
    strcpy (sec, S_SEC);
    char good [512];
    snprintf (good, sizeof good, "# c\nmetadata\n    name = \"x\"\ncurve\n    public-key = \"%s\"\n"
              "    secret-key = \"%s\"\n", pub, sec);
    assert_int_equal (fg_security_parse_cert (good, strlen (good), "g", &keys, &err), 0);
    assert_string_equal (keys.public_txt, pub);
    assert_string_equal (keys.secret_txt, sec);
    //  CRLF line ends are fine
    const char *crlf = "curve\r\n    public-key = \"" S_PUB "\"\r\n";
    assert_int_equal (fg_security_parse_cert (crlf, strlen (crlf), "crlf", &keys, &err), 0);
    assert_string_equal (keys.public_txt, S_PUB);

    struct { const char *text; int code; const char *needle; } cases [] = {
        { "", FG_EFORMAT, "no `public-key`" },
        { "hello world\n", FG_EFORMAT, "bad.key:1: expected a section name" },
        { "metadata\ncurve\n", FG_EFORMAT, "no `public-key`" },
        { "metadata\n    public-key = \"" S_PUB "\"\n", FG_EFORMAT, "no `public-key`" },
        { "curve\n    public-key = \"short\"\n", FG_EFORMAT, "bad.key:2: public-key must be 40" },
        { "curve\n    public-key = \"" S_PUB "x\"\n", FG_EFORMAT, "41 characters" },
        { "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf \"\n", FG_EFORMAT,
          "40 Z85 characters" },
        { "curve\n    public-key = \"" S_PUB "\n", FG_EFORMAT, "bad.key:2: expected `name" },
        { "curve\n    public-key = \"" S_PUB "\"\n    public-key = \"" S_PUB "\"\n",
          FG_EFORMAT, "bad.key:3: public-key given twice" },
        { "curve\n    public-key = \"" S_PUB "\"\n    secret-key = \"" S_PUB "\"\n",
          FG_EMISMATCH, "not the one its secret-key gives" },
        { "curve\n    public-key == \"x\n", FG_EFORMAT, "bad.key:2" },
        { "curve\n    !!!\n", FG_EFORMAT, "bad.key:2: expected `name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        memset (&keys, 'x', sizeof keys);
        int rc = fg_security_parse_cert (cases [i].text, strlen (cases [i].text), "bad.key",
                                         &keys, &err);
        if (rc != cases [i].code || !strstr (err.msg, cases [i].needle))
            fail_msg ("case %zu: rc %d, message '%s'", i, rc, err.msg);
        assert_int_equal (keys.public_txt [0], 0);      //  nothing half-filled
    }
    //  a NUL byte
    char nul [] = "curve\n\0    public-key = \"" S_PUB "\"\n";
    assert_int_equal (fg_security_parse_cert (nul, sizeof nul - 1, "nul.key", &keys, &err),
                      FG_EFORMAT);
    assert_non_null (strstr (err.msg, "NUL"));
}

static void
test_malformed_files_named (void **state)
{
    (void) state;
    fg_keypair_t keys;
    fg_error_t err;
    s_write ("m.key_secret", "curve\n    public-key = \"nope\"\n", 0600);
    assert_int_equal (fg_security_load_pair (s_dir, "m.key", &keys, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "m.key_secret:2"));
    //  a secret file without a secret key
    s_write ("p.key_secret", "curve\n    public-key = \"" S_PUB "\"\n", 0600);
    assert_int_equal (fg_security_load_pair (s_dir, "p.key", &keys, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "p.key_secret: no `secret-key`"));
    //  public and secret files of two different pairs
    fg_keypair_t a, b;
    assert_int_equal (fg_security_keygen (s_dir, "a.key", &a, &err), 0);
    assert_int_equal (fg_security_keygen (s_dir, "b.key", &b, &err), 0);
    char from [256], to [256];
    snprintf (from, sizeof from, "%s/b.key", s_dir);
    snprintf (to, sizeof to, "%s/a.key", s_dir);
    assert_int_equal (rename (from, to), 0);
    assert_int_equal (fg_security_load_pair (s_dir, "a.key", &keys, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, to));
    //  too large
    char *big = malloc (FG_SECURITY_FILE_MAX + 10);
    memset (big, '#', FG_SECURITY_FILE_MAX + 9);
    big [FG_SECURITY_FILE_MAX + 9] = '\0';
    s_write ("big.key_secret", big, 0600);
    free (big);
    assert_int_equal (fg_security_load_pair (s_dir, "big.key", &keys, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "big.key_secret"));
}

static void
test_read_public (void **state)
{
    (void) state;
    char out [FG_SECURITY_KEY_TEXT];
    fg_error_t err;
    assert_int_equal (fg_security_read_public (S_PUB, out, &err), 0);
    assert_string_equal (out, S_PUB);
    fg_keypair_t keys;
    assert_int_equal (fg_security_keygen (s_dir, "s.key", &keys, &err), 0);
    char path [256];
    snprintf (path, sizeof path, "%s/s.key", s_dir);
    assert_int_equal (fg_security_read_public (path, out, &err), 0);
    assert_string_equal (out, keys.public_txt);
    snprintf (path, sizeof path, "%s/s.key_secret", s_dir);
    assert_int_equal (fg_security_read_public (path, out, &err), 0);
    assert_string_equal (out, keys.public_txt);
    assert_int_equal (fg_security_read_public ("not-a-key", out, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "not-a-key: neither a file nor"));
    s_write ("junk", "junk\n", 0644);
    snprintf (path, sizeof path, "%s/junk", s_dir);
    assert_int_equal (fg_security_read_public (path, out, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, path));
    assert_string_equal (out, "");
}

static void
test_allow_check (void **state)
{
    (void) state;
    char allow [128];
    snprintf (allow, sizeof allow, "%s/allow", s_dir);
    fg_error_t err;
    size_t count = 99;
    assert_int_equal (fg_security_allow_check (allow, &count, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, allow));
    fg_keypair_t a, b;
    assert_int_equal (fg_security_keygen (allow, "a.key", &a, &err), 0);
    assert_int_equal (fg_security_keygen (allow, "b.key", &b, &err), 0);
    //  secret files, dot files, backups and subfolders are skipped
    s_write ("allow/.hidden", "junk", 0644);
    s_write ("allow/a.key~", "junk", 0644);
    char sub [160];
    snprintf (sub, sizeof sub, "%s/sub", allow);
    assert_int_equal (mkdir (sub, 0755), 0);
    assert_int_equal (fg_security_allow_check (allow, &count, &err), 0);
    assert_int_equal (count, 2);
    //  a malformed file is named
    s_write ("allow/broken.key", "curve\n    public-key = \"abc\"\n", 0644);
    assert_int_equal (fg_security_allow_check (allow, &count, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "grid.allow_keys"));
    assert_non_null (strstr (err.msg, "broken.key:2"));
    char path [256];
    snprintf (path, sizeof path, "%s/broken.key", allow);
    unlink (path);
    //  the same key in two files: both named
    char *text = NULL;
    size_t size;
    snprintf (path, sizeof path, "%s/a.key", allow);
    assert_int_equal (fg_file_read (path, 4096, &text, &size, NULL), 0);
    s_write ("allow/copy.key", text, 0644);
    free (text);
    assert_int_equal (fg_security_allow_check (allow, &count, &err), FG_EEXIST);
    assert_non_null (strstr (err.msg, "a.key"));
    assert_non_null (strstr (err.msg, "copy.key"));
}

static void
test_parse_ips (void **state)
{
    (void) state;
    char out [256];
    fg_error_t err;
    assert_int_equal (fg_security_parse_ips ("", out, sizeof out, &err), 0);
    assert_string_equal (out, "");
    assert_int_equal (fg_security_parse_ips (" 10.0.0.5, 10.0.0.6 ::1,,", out, sizeof out,
                                             &err), 0);
    assert_string_equal (out, "10.0.0.5\n10.0.0.6\n::1\n");
    assert_int_equal (fg_security_parse_ips ("0:0:0:0:0:0:0:1", out, sizeof out, &err), 0);
    assert_string_equal (out, "::1\n");
    const char *bad [] = { "10.0.0.0/8", "host.example", "10.0.0.256", "1.2.3", "*" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (fg_security_parse_ips (bad [i], out, sizeof out, &err), FG_EINVAL);
        assert_non_null (strstr (err.msg, "grid.allow_ip"));
        assert_non_null (strstr (err.msg, bad [i]));
    }
    assert_int_equal (fg_security_parse_ips ("10.0.0.1 10.0.0.2", out, 12, &err), FG_ERANGE);
}

//  ---- the guard over tcp ----------------------------------------------------

//  A client with `pair` (NULL: plain) sends one frame; true when the
//  server's ROUTER receives it within wait_ms.
static bool
s_reaches (zsock_t *router, int port, const char *server_public, const fg_keypair_t *pair,
           int wait_ms, const char **problem)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_non_null (dealer);
    if (pair) {
        zsock_set_curve_serverkey (dealer, server_public);
        zsock_set_curve_publickey (dealer, pair->public_txt);
        zsock_set_curve_secretkey (dealer, pair->secret_txt);
    }
    fg_handshake_t *handshake = fg_handshake_new (dealer);
    assert_non_null (handshake);
    assert_int_equal (zsock_connect (dealer, "tcp://127.0.0.1:%d", port), 0);
    zstr_send (dealer, "hello");
    zpoller_t *poller = zpoller_new (router, NULL);
    bool reached = false;
    int64_t end = zclock_mono () + wait_ms;
    while (!reached && zclock_mono () < end) {
        if (zpoller_wait (poller, 50) == router) {
            zmsg_t *msg = zmsg_recv (router);
            reached = msg && zmsg_size (msg) == 2;
            zmsg_destroy (&msg);
        }
    }
    zpoller_destroy (&poller);
    static char line [400];
    const char *said = fg_handshake_problem (handshake);
    snprintf (line, sizeof line, "%s", said? said: "");
    if (problem)
        *problem = line;
    zsock_destroy (&dealer);
    fg_handshake_destroy (&handshake);
    return reached;
}

static zsock_t *
s_router (void)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    zsock_set_linger (router, 0);
    return router;
}

static void
test_guard_curve_allow_list (void **state)
{
    (void) state;
    fg_log_set_sink (s_sink, NULL);
    s_log [0] = '\0';
    fg_error_t err;
    char allow [128], workers [128];
    snprintf (allow, sizeof allow, "%s/allow", s_dir);
    snprintf (workers, sizeof workers, "%s/workers", s_dir);
    fg_keypair_t allowed, other, late;
    assert_int_equal (fg_security_keygen (allow, "allowed.key", &allowed, &err), 0);
    assert_int_equal (fg_security_keygen (workers, "other.key", &other, &err), 0);
    assert_int_equal (fg_security_keygen (workers, "late.key", &late, &err), 0);
    //  the guard takes its own folder's pair: allowed only in allow/
    fg_config_t cfg;
    fg_config_defaults (&cfg);
    snprintf (cfg.base_dir, sizeof cfg.base_dir, "%s", s_dir);
    snprintf (cfg.grid.allow_keys, sizeof cfg.grid.allow_keys, "allow");  //  relative
    assert_true (cfg.grid.curve);
    zsock_t *router = s_router ();
    fg_guard_t *guard = NULL;
    fg_keypair_t server;
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     &server, &err), 0);
    assert_non_null (guard);
    assert_int_equal (strlen (server.secret_txt), 40);
    //  one guard per process
    fg_guard_t *second = NULL;
    zsock_t *router2 = s_router ();
    assert_int_equal (fg_guard_open (&second, router2, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     NULL, &err), FG_ESTATE);
    assert_null (second);
    zsock_destroy (&router2);
    assert_int_equal (zsock_bind (router, "inproc://fg-test-security"), 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);

    const char *problem;
    //  the allowed worker passes; the coordinator's own pair too
    assert_true (s_reaches (router, port, server.public_txt, &allowed, 3000, &problem));
    assert_true (s_reaches (router, port, server.public_txt, &server, 3000, &problem));
    //  inproc peers need no keys
    zsock_t *local = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (local, "inproc://fg-test-security"), 0);
    zstr_send (local, "hello");
    zmsg_t *msg = zmsg_recv (router);
    assert_int_equal (zmsg_size (msg), 2);
    zmsg_destroy (&msg);
    zsock_destroy (&local);
    //  a key not in the list: refused, and both sides say why
    assert_false (s_reaches (router, port, server.public_txt, &other, 4000, &problem));
    assert_non_null (strstr (problem, "not in the coordinator's grid.allow_keys"));
    //  a wrong server key: the handshake fails
    assert_false (s_reaches (router, port, other.public_txt, &allowed, 4000, &problem));
    assert_non_null (strstr (problem, "--server-key"));
    //  no CURVE at all
    assert_false (s_reaches (router, port, NULL, NULL, 4000, &problem));
    assert_non_null (strstr (problem, "another security mechanism"));
    uint64_t denied, failed;
    fg_guard_counts (guard, &denied, &failed);
    assert_true (denied >= 1);
    assert_true (failed >= 2);
    assert_true (s_logged ("refused a worker"));
    assert_true (s_logged ("not in grid.allow_keys"));
    assert_true (s_logged ("does not hold this coordinator's public key"));
    assert_true (s_logged ("connected without CURVE"));

    //  a key added while running is admitted within a rescan
    char path [256];
    snprintf (path, sizeof path, "%s/late.key", workers);
    char *text;
    size_t size;
    assert_int_equal (fg_file_read (path, 4096, &text, &size, NULL), 0);
    snprintf (path, sizeof path, "%s/late.key", allow);
    assert_int_equal (fg_file_write_atomic (path, text, size, 0644, 1, NULL), 0);
    //  (a refused client does not retry by itself: a trainer makes a new
    //  socket after its liveness period; here, a new client every 500 ms)
    bool admitted = false;
    for (int i = 0; i < 10 && !admitted; i++)
        admitted = s_reaches (router, port, server.public_txt, &late, 500, &problem);
    if (!admitted)
        fail_msg ("late key not admitted; log:\n%s", s_log);
    //  a duplicate added while running is reported, the old list kept
    snprintf (path, sizeof path, "%s/late-copy.key", allow);
    assert_int_equal (fg_file_write_atomic (path, text, size, 0644, 1, NULL), 0);
    free (text);
    zclock_sleep (2600);
    assert_true (s_logged ("keeping the previous allow list"));
    assert_true (s_reaches (router, port, server.public_txt, &late, 3000, &problem));
    assert_false (s_reaches (router, port, server.public_txt, &other, 4000, &problem));

    zsock_destroy (&router);
    fg_guard_destroy (&guard);
    assert_null (guard);
    fg_guard_destroy (&guard);                  //  NULL-safe
    //  a restart refuses the duplicate, naming both files
    router = s_router ();
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     NULL, &err), FG_EEXIST);
    assert_non_null (strstr (err.msg, "late-copy.key"));
    assert_null (guard);
    assert_int_equal (unlink (path), 0);
    //  the next guard may start, with the coordinator's pair kept
    fg_keypair_t again;
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     &again, &err), 0);
    assert_memory_equal (&again, &server, sizeof again);
    zsock_destroy (&router);
    fg_guard_destroy (&guard);
    fg_log_set_sink (NULL, NULL);
}

static void
test_guard_any_key_and_ip_list (void **state)
{
    (void) state;
    fg_error_t err;
    fg_config_t cfg;
    fg_config_defaults (&cfg);
    fg_keypair_t worker;
    assert_int_equal (fg_security_keygen (s_dir, "w.key", &worker, &err), 0);
    //  no allow_keys: any client holding the server key; allow_ip admits
    //  127.0.0.1 only
    snprintf (cfg.grid.allow_ip, sizeof cfg.grid.allow_ip, "127.0.0.1");
    zsock_t *router = s_router ();
    fg_guard_t *guard = NULL;
    fg_keypair_t server;
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     &server, &err), 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (s_reaches (router, port, server.public_txt, &worker, 3000, NULL));
    zsock_destroy (&router);
    fg_guard_destroy (&guard);
    //  an address list without 127.0.0.1 refuses the same worker
    snprintf (cfg.grid.allow_ip, sizeof cfg.grid.allow_ip, "10.1.2.3");
    router = s_router ();
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     &server, &err), 0);
    port = zsock_bind (router, "tcp://127.0.0.1:*");
    const char *problem;
    assert_false (s_reaches (router, port, server.public_txt, &worker, 4000, &problem));
    assert_non_null (strstr (problem, "refused this worker"));
    zsock_destroy (&router);
    fg_guard_destroy (&guard);
    //  bad settings are refused before anything starts, naming the key
    snprintf (cfg.grid.allow_ip, sizeof cfg.grid.allow_ip, "10.0.0.0/8");
    router = s_router ();
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     NULL, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "grid.allow_ip"));
    cfg.grid.allow_ip [0] = '\0';
    snprintf (cfg.grid.allow_keys, sizeof cfg.grid.allow_keys, "%s/missing", s_dir);
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     NULL, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "missing"));
    cfg.grid.allow_keys [0] = '\0';
    //  the coordinator's secret key with loose permissions
    char path [256];
    snprintf (path, sizeof path, "%s/coordinator.key_secret", s_dir);
    assert_int_equal (chmod (path, 0644), 0);
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://127.0.0.1:*",
                                     NULL, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, path));
    assert_null (guard);
    //  nothing to do: inproc only, or curve off without an address list
    assert_int_equal (chmod (path, 0600), 0);
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "", NULL, &err), 0);
    assert_null (guard);
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "inproc://x", NULL, &err), 0);
    assert_null (guard);
    cfg.grid.curve = false;
    assert_int_equal (fg_guard_open (&guard, router, &cfg, s_dir, "tcp://*:1", NULL, &err), 0);
    assert_null (guard);
    zsock_destroy (&router);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    if (!zsys_has_curve ()) {
        printf ("1..0 # SKIP libzmq without CURVE\n");
        return 0;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_keygen_load_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ensure_pair_is_stable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_secret_permissions_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_parse_cert_rejections, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_files_named, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_read_public, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_allow_check, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_parse_ips, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_guard_curve_allow_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_guard_any_key_and_ip_list, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
