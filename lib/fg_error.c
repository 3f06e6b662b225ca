/*  fg_error.c — error codes and messages (see fg_error.h).               */

#ifdef HAVE_CONFIG_H
#   include "config.h"
#endif
#include "fg_error.h"
#include "fg_version.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char *s_names [] = {
    "success",
    "invalid value",
    "out of memory",
    "input/output error",
    "not found",
    "malformed data",
    "checksum mismatch",
    "unsupported version",
    "mismatch",
    "out of range",
    "disk or map full",
    "invalid state",
    "already exists",
    "unsupported",
    "timed out",
    "interrupted",
    "protocol violation by peer",
    "not a finite number",
};

const char *
fg_strerror (int code)
{
    if (code > 0 || code < FG_ECODE_MIN)
        return "unknown error";
    return s_names [-code];
}

int
fg_error_vset (fg_error_t *err, int code, const char *fmt, va_list args)
{
    if (err) {
        err->code = code;
        int n = vsnprintf (err->msg, sizeof err->msg, fmt, args);
        if (n < 0)
            snprintf (err->msg, sizeof err->msg, "%s", fg_strerror (code));
        else
        if ((size_t) n >= sizeof err->msg)
            memcpy (err->msg + sizeof err->msg - 4, "...", 4);
    }
    return code;
}

int
fg_error_set (fg_error_t *err, int code, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fg_error_vset (err, code, fmt, args);
    va_end (args);
    return code;
}

void
fg_error_prefix (fg_error_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix [FG_ERROR_MSG_MAX];
    va_list args;
    va_start (args, fmt);
    vsnprintf (prefix, sizeof prefix, fmt, args);
    va_end (args);
    char joined [FG_ERROR_MSG_MAX];
    int n = snprintf (joined, sizeof joined, "%s: %s", prefix, err->msg);
    if (n >= 0 && (size_t) n >= sizeof joined)
        memcpy (joined + sizeof joined - 4, "...", 4);
    memcpy (err->msg, joined, sizeof joined);
}

void
fg_error_clear (fg_error_t *err)
{
    if (err) {
        err->code = FG_OK;
        err->msg [0] = '\0';
    }
}

void
fg_never_failed (const char *cond, const char *file, int line)
{
    fprintf (stderr, "fedgrid: internal error: %s at %s:%d\n", cond, file, line);
    assert (!"FG_NEVER condition held");
}

const char *
fg_version (void)
{
    return PACKAGE_VERSION;
}
