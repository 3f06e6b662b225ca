/*  fg_security_internal.h — what the files of fg_security share (see
    fg_security.h). Internal to actors/.

    fg_security.c            key and certificate files: parsing, keygen,
                             loading and making pairs, public keys
    fg_security_allow.c      allow-lists: the key folder (grid.allow_keys)
                             and addresses (grid.allow_ip)
    fg_security_guard.c      the coordinator's guard: zauth, the allow-list
                             snapshot, the ROUTER's monitor, preflight
    fg_security_handshake.c  the worker side: what a client socket's failed
                             handshakes point at                          */

#ifndef FG_SECURITY_INTERNAL_H_INCLUDED
#define FG_SECURITY_INTERNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include "fg_security.h"

#define FG_SEC_IPS_MAX  256         //  addresses in grid.allow_ip

//  One key of an allow-list folder and the file that holds it.
typedef struct {
    char key [FG_SECURITY_KEY_TEXT];
    char *file;
} fg_sec_allowed_t;

//  ---- fg_security.c: key and certificate files -----------------------------

//  Writes keys as a certificate file (the secret one, mode 0600, when
//  secret). Returns 0, FG_ENOMEM or FG_EIO.
int
    fg_sec_write_cert (const char *path, const fg_keypair_t *keys, bool secret,
                       fg_error_t *err);

//  Reads and parses one certificate file. Returns 0, FG_EFORMAT (not a
//  certificate, or too large) or fg_file_read's code.
int
    fg_sec_read_cert (const char *path, fg_keypair_t *keys, fg_error_t *err);

//  ---- fg_security_allow.c: allow-lists --------------------------------------

//  Every key of the folder, sorted, duplicates refused (*list_p freed with
//  fg_sec_allowed_free). Returns 0 or an FG_E code (err filled).
int
    fg_sec_allow_load (const char *dir, fg_sec_allowed_t **list_p, size_t *count_p,
                       fg_error_t *err);

void
    fg_sec_allowed_free (fg_sec_allowed_t *list, size_t count);

//  True for a name the allow-list folder skips (hidden, backup, secret).
bool
    fg_sec_skipped_name (const char *name);

#endif
