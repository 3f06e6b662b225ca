/*  fg_security_guard.c — the coordinator's guard of its tcp endpoint: an
    actor that runs zauth, keeps its snapshot of the allow-list folder and
    reports failed handshakes from the ROUTER's monitor; and the preflight
    check of the settings (see fg_security.h).                            */

#include "fg_security_internal.h"
#include "fg_file.h"
#include "fg_log.h"

#include <arpa/inet.h>
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

#define S_RESCAN_MS     2000        //  allow-list folder checked this often
#define S_REPORT_MS     10000       //  one log line per kind this often at most

static pthread_mutex_t s_guard_lock = PTHREAD_MUTEX_INITIALIZER;
static bool s_guard_running = false;

typedef struct {
    bool curve;
    char allow_keys [4200];         //  resolved folder, "" = any key
    char allow_ip [FG_CONFIG_STR_MAX];
    char ips [FG_SEC_IPS_MAX * (INET6_ADDRSTRLEN + 1) + 1];
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
        if (fg_sec_skipped_name (entry->d_name))
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
    fg_sec_allowed_t *list = NULL;
    size_t count = 0;
    int rc = fg_sec_allow_load (self->a->allow_keys, &list, &count, err);
    if (rc)
        return rc;
    const char *tmp = getenv ("TMPDIR");
    char *snapshot = zsys_sprintf ("%s/fedgrid-allow-XXXXXX", tmp && *tmp? tmp: "/tmp");
    if (!snapshot || !mkdtemp (snapshot)) {
        rc = fg_error_set (err, FG_EIO, "grid.allow_keys: cannot make a folder under %s: %s",
                           tmp && *tmp? tmp: "/tmp", strerror (errno));
        zstr_free (&snapshot);
        fg_sec_allowed_free (list, count);
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
        rc = fg_sec_write_cert (path, &keys, false, err);
    }
    fg_sec_allowed_free (list, count);
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
