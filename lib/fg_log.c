/*  fg_log.c — leveled logging (see fg_log.h).                            */

#include "fg_log.h"
#include "fg_error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  -1: not yet read from FEDGRID_LOG. Atomics because actors log from
//  several threads; the sink pair is set by the owner before actors start.
static atomic_int s_level = -1;
static atomic_int s_color = -1;         //  -1: decide from the terminal
static fg_log_sink_fn *s_sink = NULL;
static void *s_sink_arg = NULL;

//  Writing: the live line and log lines share one lock, so a log line is
//  never written between the live line's clear and its redraw.
static pthread_mutex_t s_write_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_live [256];               //  "" : none shown
static FILE *s_live_stream = NULL;      //  where it is drawn (tests), NULL: stdout

//  fg_log_every's memory of keys (under s_write_lock)
#define S_EVERY_KEYS 64
typedef struct {
    uint64_t hash;                      //  of the key, 0: free
    int64_t  last_ms;                   //  when a line last went through
    uint64_t suppressed;                //  lines held back since
} s_every_t;
static s_every_t s_every [S_EVERY_KEYS];

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

//  The stream the live line is drawn on, or NULL when there is none.
static FILE *
s_live_out (void)
{
    if (s_live_stream)
        return s_live_stream;
    return isatty (STDOUT_FILENO) == 1? stdout: NULL;
}

//  One formatted line to the sink or stderr, around the live line.
static void
s_emit (fg_log_level_t level, const char *text)
{
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
    if (len <= 0)
        return;
    size_t size = (size_t) len < sizeof line? (size_t) len: sizeof line - 1;
    pthread_mutex_lock (&s_write_lock);
    FILE *live = s_live [0]? s_live_out (): NULL;
    FILE *out = s_live_stream? s_live_stream: stderr;
    if (live) {
        fputs ("\r\033[K", live);
        fflush (live);
    }
    fwrite (line, 1, size, out);
    fflush (out);
    if (live) {
        fputs (s_live, live);
        fflush (live);
    }
    pthread_mutex_unlock (&s_write_lock);
}

static void
s_vlog (fg_log_level_t level, const char *suffix, const char *fmt, va_list args)
{
    char text [1024];
    int n = vsnprintf (text, sizeof text, fmt, args);
    if (n < 0)
        return;
    if ((size_t) n >= sizeof text)
        memcpy (text + sizeof text - 4, "...", 4);
    else
    if (suffix && *suffix)
        snprintf (text + n, sizeof text - (size_t) n, "%s", suffix);
    s_emit (level, text);
}

void
fg_log (fg_log_level_t level, const char *fmt, ...)
{
    if ((int) level > (int) fg_log_level () || (int) level < 0)
        return;
    va_list args;
    va_start (args, fmt);
    s_vlog (level, NULL, fmt, args);
    va_end (args);
}

//  FNV-1a of key, never 0 (0 marks a free slot).
static uint64_t
s_key_hash (const char *key)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *) key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h? h: 1;
}

//  Whether a line of key may go out now; *suppressed gets how many were
//  held back since the last one that did.
static bool
s_every_pass (const char *key, long interval_ms, uint64_t *suppressed)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    uint64_t hash = s_key_hash (key);
    pthread_mutex_lock (&s_write_lock);
    s_every_t *slot = NULL, *spare = NULL;  //  spare: free, else least recently used
    for (size_t i = 0; i < S_EVERY_KEYS && !slot; i++) {
        s_every_t *e = &s_every [i];
        if (e->hash == hash)
            slot = e;
        else
        if (!spare || (spare->hash && (!e->hash || e->last_ms < spare->last_ms)))
            spare = e;
    }
    bool pass = !slot || now - slot->last_ms >= interval_ms;
    if (!slot) {
        slot = spare;
        slot->hash = hash;
        slot->suppressed = 0;
    }
    *suppressed = slot->suppressed;
    if (pass) {
        slot->last_ms = now;
        slot->suppressed = 0;
    }
    else
        slot->suppressed++;
    pthread_mutex_unlock (&s_write_lock);
    return pass;
}

void
fg_log_every (fg_log_level_t level, const char *key, long interval_ms, const char *fmt, ...)
{
    if ((int) level > (int) fg_log_level () || (int) level < 0)
        return;
    uint64_t suppressed;
    if (!s_every_pass (key, interval_ms, &suppressed))
        return;
    char suffix [64] = "";
    if (suppressed)
        snprintf (suffix, sizeof suffix, " (%llu similar line%s suppressed)",
                  (unsigned long long) suppressed, suppressed == 1? "": "s");
    va_list args;
    va_start (args, fmt);
    s_vlog (level, suffix, fmt, args);
    va_end (args);
}

void
fg_log_live (const char *text)
{
    pthread_mutex_lock (&s_write_lock);
    FILE *live = s_live_out ();
    snprintf (s_live, sizeof s_live, "%s", text? text: "");
    if (live) {
        fputs ("\r\033[K", live);
        fputs (s_live, live);
        fflush (live);
    }
    pthread_mutex_unlock (&s_write_lock);
}

void
fg_log_set_live_stream (void *stream)
{
    pthread_mutex_lock (&s_write_lock);
    s_live_stream = (FILE *) stream;
    pthread_mutex_unlock (&s_write_lock);
}
