/*  fg_log.h — leveled logging to stderr (results go to stdout, never here).

    One line per call, written with a single fwrite so lines of different
    threads never interleave. Colour only when stderr is a terminal and the
    NO_COLOR environment variable is unset or empty (no-color.org). The
    level comes from fg_log_set_level () or, at first use, from the
    FEDGRID_LOG environment variable (error|warn|info|debug|trace).       */

#ifndef FG_LOG_H_INCLUDED
#define FG_LOG_H_INCLUDED

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FG_LOG_ERROR = 0,
    FG_LOG_WARN  = 1,
    FG_LOG_INFO  = 2,
    FG_LOG_DEBUG = 3,
    FG_LOG_TRACE = 4
} fg_log_level_t;

//  A sink receives every line at or above the level (without newline).
typedef void (fg_log_sink_fn) (fg_log_level_t level, const char *line, void *arg);

void
    fg_log_set_level (fg_log_level_t level);
fg_log_level_t
    fg_log_level (void);

//  Parses "error", "warn", "info", "debug", "trace". Returns 0, or
//  FG_EINVAL for anything else (level unchanged).
int
    fg_log_level_parse (const char *name, fg_log_level_t *level);

//  Replaces the stderr writer with sink (NULL restores stderr). For tests
//  and for programs that embed libfedgrid.
void
    fg_log_set_sink (fg_log_sink_fn *sink, void *arg);

//  Forces colour on or off, overriding the terminal/NO_COLOR rule.
void
    fg_log_set_color (bool on);

void
    fg_log (fg_log_level_t level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#define fg_error_log(...) fg_log (FG_LOG_ERROR, __VA_ARGS__)
#define fg_warn(...)      fg_log (FG_LOG_WARN,  __VA_ARGS__)
#define fg_info(...)      fg_log (FG_LOG_INFO,  __VA_ARGS__)
#define fg_debug(...)     fg_log (FG_LOG_DEBUG, __VA_ARGS__)
#define fg_trace(...)     fg_log (FG_LOG_TRACE, __VA_ARGS__)

//  Like fg_log, but at most once per interval_ms for one key (a peer and
//  a kind of event: "trainer w1: no answer"): the lines in between are
//  counted, and the next line let through ends with "(N similar lines
//  suppressed)". Keys are remembered in a small table (the least
//  recently used is forgotten). Thread-safe.
void
    fg_log_every (fg_log_level_t level, const char *key, long interval_ms,
                  const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  The live status line of a terminal program ("round 3/10: 4/10 units
//  done, ..."): drawn at once on stdout when stdout is a terminal (else
//  ignored), and cleared and drawn again around every log line, so that a
//  log line never runs into it. NULL or "" clears it. Call from one
//  thread (the program's owner loop); log lines may come from any.
void
    fg_log_live (const char *text);

//  For tests: draw the live line on stream (NULL: stdout, only when it is
//  a terminal) and write log lines there too, in order.
void
    fg_log_set_live_stream (void *stream);

//  True when colour may be used on stream fd (isatty and NO_COLOR unset).
bool
    fg_log_color_allowed (int fd);

#ifdef __cplusplus
}
#endif

#endif
