/*  fg_error.h — the one error convention of libfedgrid.

    Every function that can fail returns 0 on success or a negative FG_E*
    code, and, when the caller passes a non-NULL fg_error_t, fills it with
    that code and a message saying what failed and where (file and line of
    a configuration value, key of a journal record, peer of a message).
    fg_strerror () names a code without context.

    The library never exits and never aborts on input: asserts are for
    programmer errors only.                                               */

#ifndef FG_ERROR_H_INCLUDED
#define FG_ERROR_H_INCLUDED

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FG_OK          =   0,
    FG_EINVAL      =  -1,   //  bad argument or value (a config key out of range)
    FG_ENOMEM      =  -2,   //  allocation failed
    FG_EIO         =  -3,   //  read/write/fsync failed (errno in message)
    FG_ENOENT      =  -4,   //  file, key or item does not exist
    FG_EFORMAT     =  -5,   //  malformed bytes: truncated, bad magic, bad length
    FG_ECHECKSUM   =  -6,   //  content does not match its checksum
    FG_EVERSION    =  -7,   //  unsupported format or protocol version
    FG_EMISMATCH   =  -8,   //  consistent but not ours (other config, shape)
    FG_ERANGE      =  -9,   //  a number outside its allowed range
    FG_EFULL       = -10,   //  disk or map full
    FG_ESTATE      = -11,   //  operation not valid in the current state
    FG_EEXIST      = -12,   //  would overwrite something that exists
    FG_EUNSUPPORTED= -13,   //  known but not implemented/available here
    FG_ETIMEOUT    = -14,   //  deadline passed
    FG_EINTR       = -15,   //  interrupted (signal, $TERM)
    FG_EPEER       = -16,   //  a peer broke the protocol
    FG_ENUMERIC    = -17,   //  NaN or Inf where a finite number is required
    FG_ECODE_MIN   = -17
} fg_code_t;

#define FG_ERROR_MSG_MAX 512

typedef struct {
    int  code;                          //  FG_OK or a negative FG_E* code
    char msg [FG_ERROR_MSG_MAX];        //  "what failed: where: why"
} fg_error_t;

//  Short fixed name of a code ("invalid value", "checksum mismatch"...).
//  Never returns NULL; unknown codes give "unknown error".
const char *
    fg_strerror (int code);

//  Fills err (if not NULL) with code and a printf-style message, truncating
//  an over-long message with "...". Returns code, so a caller can write
//  `return fg_error_set (err, FG_EINVAL, "%s:%d: ...", file, line);`.
int
    fg_error_set (fg_error_t *err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  As fg_error_set, with a va_list.
int
    fg_error_vset (fg_error_t *err, int code, const char *fmt, va_list args);

//  Prefixes err's message with "prefix: " (keeps its code); NULL-safe.
//  Use it to add context while an error travels up.
void
    fg_error_prefix (fg_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Resets err to FG_OK with an empty message; NULL-safe.
void
    fg_error_clear (fg_error_t *err);

//  "Can't happen but must survive" (SQLite's NEVER): asserts in debug
//  builds, evaluates to true in release builds so the caller returns an
//  error instead of crashing.
#ifdef NDEBUG
#   define FG_NEVER(cond) (cond)
#else
#   define FG_NEVER(cond) ((cond)? (fg_never_failed (#cond, __FILE__, __LINE__), 1): 0)
#endif
void
    fg_never_failed (const char *cond, const char *file, int line);

#ifdef __cplusplus
}
#endif

#endif
