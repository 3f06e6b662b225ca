/*  fg_security.h — CURVE keys, allow-lists and the authentication guard
    of the coordinator's tcp endpoint (docs/actors.md, "Security").

    Keys are CZMQ certificates (zcert_save format): a public file NAME and
    a secret file NAME_secret that holds both keys and must be readable by
    its owner only. fedgrid reads and writes them with its own strict code
    (every defect is reported with the file and line) instead of CZMQ's
    lenient loader, so a damaged key never turns into an all-zero key.

      DIR/coordinator.key[_secret]   the coordinator's pair (fedctl keygen
                                     DIR, or made by the first fedctl start)
      CACHE/worker.key[_secret]      a worker's pair, made once by fedctl
                                     worker in its --cache folder

    The guard runs CZMQ's zauth actor (one per process: ZeroMQ has one
    authentication handler per context) and turns the ROUTER into a CURVE
    server. The allow-list folder (grid.allow_keys) is checked at start;
    zauth is given a private snapshot of it (one metadata-free public
    certificate per distinct key) that the guard rebuilds when the folder
    changes, so a duplicate or damaged file added while running is
    reported and skipped instead of reaching zauth (CZMQ 4.2.1's
    certificate store asserts on a duplicate key). A peer that fails the
    handshake never reaches the coordinator: ZeroMQ drops it, and the
    guard logs one line per kind of failure (at most every 10 s, with a
    count) from the ROUTER's monitor events.                              */

#ifndef FG_SECURITY_H_INCLUDED
#define FG_SECURITY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_config.h"
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_SECURITY_SERVER_NAME "coordinator.key"
//  The message property (zframe_meta) that names the sender's CURVE public
//  key when grid.allow_keys lists the keys (none when any key is allowed)
#define FG_SECURITY_KEY_PROPERTY "Fedgrid-Key"
#define FG_SECURITY_WORKER_NAME "worker.key"
#define FG_SECURITY_KEY_TEXT    41          //  Z85 of 32 bytes, with NUL
#define FG_SECURITY_FILE_MAX    65536       //  largest certificate file read

//  A CURVE key pair as Z85 text; secret_txt is "" when only the public
//  key is known.
typedef struct {
    char public_txt [FG_SECURITY_KEY_TEXT];
    char secret_txt [FG_SECURITY_KEY_TEXT];
} fg_keypair_t;

//  Parses certificate text (zcert_save format: a `curve` section with
//  `public-key = "Z85"` and, in a secret file, `secret-key = "Z85"`). name
//  is used in messages ("DIR/worker.key:7: ..."). When both keys are
//  present the public key must be the one the secret key gives.
//  Returns 0, FG_EFORMAT (syntax, key length or alphabet, missing key,
//  NUL byte) or FG_EMISMATCH (public key does not match the secret).
int
    fg_security_parse_cert (const char *text, size_t size, const char *name,
                            fg_keypair_t *keys, fg_error_t *err);

//  Writes a new key pair: dir/name (public certificate, mode 0644) and
//  dir/name_secret (both keys, mode 0600), creating dir. Never
//  overwrites. Returns 0, FG_EEXIST (either file exists), FG_EIO,
//  FG_EUNSUPPORTED (libzmq without CURVE).
int
    fg_security_keygen (const char *dir, const char *name, fg_keypair_t *keys,
                        fg_error_t *err);

//  Reads the pair dir/name_secret (and dir/name when present: it must
//  hold the same public key). The secret file must be a regular file
//  without any group or other permission bits. Returns 0, FG_ENOENT (no
//  secret file), FG_EINVAL (permissions: the message names the file and
//  says chmod 600), FG_EFORMAT, FG_EMISMATCH, FG_EIO.
int
    fg_security_load_pair (const char *dir, const char *name, fg_keypair_t *keys,
                           fg_error_t *err);

//  As fg_security_load_pair, making the pair first when neither file
//  exists (*created tells; may be NULL). A public file without its
//  secret is FG_ENOENT (never silently replaced).
int
    fg_security_ensure_pair (const char *dir, const char *name, fg_keypair_t *keys,
                             bool *created, fg_error_t *err);

//  A server's public key given as 40 Z85 characters or as a file (a
//  public or a secret certificate). Returns 0, FG_ENOENT, FG_EFORMAT,
//  FG_EMISMATCH, FG_EIO.
int
    fg_security_read_public (const char *file_or_z85, char out [FG_SECURITY_KEY_TEXT],
                             fg_error_t *err);

//  Checks an allow-list folder: every regular file not ending in _secret
//  (subfolders and dot files are skipped) must be a certificate, and no
//  public key may appear twice. *count (may be NULL) gets the number of
//  keys. Returns 0, FG_ENOENT (no folder), FG_EFORMAT (a file: named),
//  FG_EEXIST (a key in two files: both named), FG_EIO.
int
    fg_security_allow_check (const char *dir, size_t *count, fg_error_t *err);

//  Checks grid.allow_ip: exact IPv4 or IPv6 addresses separated by
//  commas or spaces (no ranges). Writes the canonical addresses, one
//  per line, to out (may be NULL). Returns 0, FG_EINVAL (names the item)
//  or FG_ERANGE (out too small, or more than 256 addresses).
int
    fg_security_parse_ips (const char *list, char *out, size_t size, fg_error_t *err);

//  ---- the guard (coordinator side) -----------------------------------------

typedef struct _fg_guard_t fg_guard_t;

//  Secures `router` as the configuration asks, before the caller binds
//  `listen`: nothing (*guard_p NULL, returns 0) when listen is empty or
//  inproc, or when grid.curve is false and grid.allow_ip is empty.
//  Otherwise starts the process's zauth with grid.allow_ip and (curve)
//  grid.allow_keys (relative to cfg->base_dir; "" = any key), and with
//  curve loads (or makes) dir/coordinator.key and makes router a CURVE
//  server; keys (may be NULL) gets the coordinator's pair. Its own
//  public key is always allowed, so trainers in the coordinator's
//  process may connect over tcp with the coordinator's pair.
//  Returns 0, FG_ESTATE (another guard runs in this process), and the
//  codes of fg_security_ensure_pair, fg_security_allow_check and
//  fg_security_parse_ips (messages name the key or file), FG_ENOMEM.
int
    fg_guard_open (fg_guard_t **guard_p, void *router, const fg_config_t *cfg,
                   const char *dir, const char *listen, fg_keypair_t *keys,
                   fg_error_t *err);

//  The checks of fg_guard_open without starting anything: the settings,
//  the allow-list folder, and the coordinator's pair (made when missing;
//  keys may be NULL). A program calls it before it creates anything else
//  (fedctl start: before the journal). Same return codes.
int
    fg_security_preflight (const fg_config_t *cfg, const char *dir, const char *listen,
                           fg_keypair_t *keys, fg_error_t *err);

//  Handshakes refused so far: by the allow-lists (ZAP), by a failed
//  CURVE handshake (wrong server key, or a peer without CURVE).
void
    fg_guard_counts (fg_guard_t *self, uint64_t *denied, uint64_t *failed);

//  Stops the guard (after the router is closed); NULL-safe.
void
    fg_guard_destroy (fg_guard_t **self_p);

//  ---- the worker side -------------------------------------------------------

typedef struct _fg_handshake_t fg_handshake_t;

//  Watches the handshakes of a client socket (a trainer's DEALER) through
//  its monitor; the caller's thread drains it (no thread of its own).
//  Returns NULL when the monitor cannot be set up (nothing watched).
fg_handshake_t *
    fg_handshake_new (void *socket);

//  What the failures seen since the last call point at, or NULL: a line
//  saying what to check (allow list, server key). Non-blocking.
const char *
    fg_handshake_problem (fg_handshake_t *self);

//  NULL-safe; call before or after closing the socket.
void
    fg_handshake_destroy (fg_handshake_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
