/*  fg_log.c — leveled logging (see fg_log.h).                            */

#include "fg_log.h"
#include "fg_error.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  -1: not yet read from FEDGRID_LOG. Atomics because actors log from
//  several threads; the sink pair is set by the owner before actors start.
static atomic_int s_level = -1;
static atomic_int s_color = -1;         //  -1: decide from the terminal
static fg_log_sink_fn *s_sink = NULL;
static void *s_sink_arg = NULL;

static const char *s_level_names [] = { "error", "warn", "info", "debug", "trace" };
static const char *s_level_colors [] = { "\033[31m", "\033[33m", "", "\033[2m", "\033[2m" };

int
fg_log_level_parse (const char *name, fg_log_level_t *level)
{
    for (int i = 0; name && i <= FG_LOG_TRACE; i++)
        if (strcmp (name, s_level_names [i]) == 0) {
            *level = (fg_log_level_t) i;
            return 0;
        }
    return FG_EINVAL;
}

fg_log_level_t
fg_log_level (void)
{
    int level = atomic_load (&s_level);
    if (level < 0) {
        fg_log_level_t parsed = FG_LOG_INFO;
        const char *env = getenv ("FEDGRID_LOG");
        if (env && *env && fg_log_level_parse (env, &parsed))
            fprintf (stderr, "fedgrid: warn: FEDGRID_LOG=%s is not one of "
                     "error|warn|info|debug|trace; using info\n", env);
        level = (int) parsed;
        atomic_store (&s_level, level);
    }
    return (fg_log_level_t) level;
}

void
fg_log_set_level (fg_log_level_t level)
{
    atomic_store (&s_level, (int) level);
}

void
fg_log_set_sink (fg_log_sink_fn *sink, void *arg)
{
    s_sink = sink;
    s_sink_arg = arg;
}

void
fg_log_set_color (bool on)
{
    atomic_store (&s_color, on? 1: 0);
}

bool
fg_log_color_allowed (int fd)
{
    const char *no_color = getenv ("NO_COLOR");
    if (no_color && *no_color)
        return false;
    return isatty (fd) == 1;
}

void
fg_log (fg_log_level_t level, const char *fmt, ...)
{
    if ((int) level > (int) fg_log_level () || (int) level < 0)
        return;
    char text [1024];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    if (n < 0)
        return;
    if ((size_t) n >= sizeof text)
        memcpy (text + sizeof text - 4, "...", 4);
    if (s_sink) {
        s_sink (level, text, s_sink_arg);
        return;
    }
    int color = atomic_load (&s_color);
    if (color < 0) {
        color = fg_log_color_allowed (STDERR_FILENO)? 1: 0;
        atomic_store (&s_color, color);
    }
    char line [1200];
    int len = color
        ? snprintf (line, sizeof line, "%sfedgrid: %s: %s\033[0m\n",
                    s_level_colors [level], s_level_names [level], text)
        : snprintf (line, sizeof line, "fedgrid: %s: %s\n", s_level_names [level], text);
    if (len > 0)
        fwrite (line, 1, (size_t) len < sizeof line? (size_t) len: sizeof line - 1, stderr);
}
