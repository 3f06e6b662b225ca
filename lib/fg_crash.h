/*  fg_crash.h — named crash points for crash-injection tests.

    A crash point is a place where a real process may die: before or after
    a journal write, at a message hand-off. With FEDGRID_CRASH=point:n in
    the environment (several as "a:n,b:m"), the process kills itself with
    SIGKILL — no atexit, no flush, like kill -9 — on the n-th pass of that
    point (n >= 1). Without it, a point costs one relaxed atomic load.

    Every point is listed in one table (fg_crash.c) with a description, so
    `fedctl debug crashpoints` shows them all and the test driver can sweep
    them; passing an unlisted name is a programmer error.                  */

#ifndef FG_CRASH_H_INCLUDED
#define FG_CRASH_H_INCLUDED

#include <stddef.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Counts a pass of point name and dies there when FEDGRID_CRASH says so.
void
    fg_crash_point (const char *name);

//  Name and description of point i, or NULL past the last one.
const char *
    fg_crash_point_name (size_t i, const char **description);

//  Parses a FEDGRID_CRASH value ("point:n[,point:n...]"), checking every
//  name against the table. Returns 0, or FG_EINVAL naming the bad part.
//  fg_crash_point uses it on first call; a bad value is reported on stderr
//  once and then ignored (never crash on a typo).
int
    fg_crash_parse (const char *spec, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
