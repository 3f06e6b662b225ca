/*  fg_crash.c — named crash points (see fg_crash.h).                     */

#include "fg_crash.h"
#include "fg_log.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    const char *description;
} s_point_t;

//  Every crash point of fedgrid. Append; names are used by test scripts.
static const s_point_t s_points [] = {
    { "test.alpha",                 "tests only" },
    { "test.beta",                  "tests only" },
    { "journal.update.before",      "coordinator, before the write txn storing an accepted update" },
    { "journal.update.after",       "coordinator, after that txn committed" },
    { "journal.round.before",       "coordinator, before the write txn committing a round" },
    { "journal.round.after",        "coordinator, after the round's txn committed, before anyone is told" },
    { "coordinator.task.sent",      "coordinator, right after handing a TASK to a trainer" },
    { "coordinator.result.received","coordinator, on receiving a RESULT, before validating it" },
    { "trainer.task.received",      "trainer, on receiving a TASK, before starting it" },
    { "trainer.epoch.checkpoint",   "trainer, after writing its local epoch checkpoint" },
    { "trainer.result.sent",        "trainer, right after sending a RESULT, before its ACK" },
    { "partitioner.shards",         "partitioner, on a request for a round's shards" },
    { "aggregator.fold",            "aggregator, before folding a round's updates" },
    { "trainer.data.stored",        "trainer without the dataset, after storing a chunk of fetched samples in its cache" },
    { "journal.mark.before",        "coordinator, after a round's txn committed, before DIR/journal.mark is written" },
};
#define S_NPOINTS (sizeof s_points / sizeof s_points [0])
#define S_ARMED_MAX 8

typedef struct {
    size_t   point;             //  index into s_points
    unsigned pass;              //  die on this pass (>= 1)
} s_armed_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static s_armed_t s_armed [S_ARMED_MAX];
static size_t s_narmed;
static atomic_uint s_passes [S_NPOINTS];

static int
s_find (const char *name, size_t len)
{
    for (size_t i = 0; i < S_NPOINTS; i++)
        if (strlen (s_points [i].name) == len && strncmp (s_points [i].name, name, len) == 0)
            return (int) i;
    return -1;
}

//  Parses spec into armed/narmed; returns 0 or FG_EINVAL.
static int
s_parse (const char *spec, s_armed_t *armed, size_t *narmed, fg_error_t *err)
{
    *narmed = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr (p, ',');
        size_t len = end? (size_t) (end - p): strlen (p);
        const char *colon = memchr (p, ':', len);
        if (!colon)
            return fg_error_set (err, FG_EINVAL, "FEDGRID_CRASH: '%.*s' is not point:n", (int) len, p);
        int point = s_find (p, (size_t) (colon - p));
        if (point < 0)
            return fg_error_set (err, FG_EINVAL, "FEDGRID_CRASH: unknown crash point '%.*s' "
                                 "(fedctl debug crashpoints lists them)", (int) (colon - p), p);
        char *stop;
        unsigned long pass = strtoul (colon + 1, &stop, 10);
        if (stop != p + len || pass < 1 || pass > 1000000000)
            return fg_error_set (err, FG_EINVAL, "FEDGRID_CRASH: pass count in '%.*s' must be 1..10^9",
                                 (int) len, p);
        if (*narmed == S_ARMED_MAX)
            return fg_error_set (err, FG_EINVAL, "FEDGRID_CRASH: more than %d points", S_ARMED_MAX);
        armed [*narmed].point = (size_t) point;
        armed [*narmed].pass = (unsigned) pass;
        (*narmed)++;
        p = end? end + 1: p + len;
    }
    return 0;
}

int
fg_crash_parse (const char *spec, fg_error_t *err)
{
    s_armed_t armed [S_ARMED_MAX];
    size_t narmed;
    return s_parse (spec, armed, &narmed, err);
}

static void
s_load (void)
{
    const char *spec = getenv ("FEDGRID_CRASH");
    if (!spec || !*spec)
        return;
    fg_error_t err;
    if (s_parse (spec, s_armed, &s_narmed, &err)) {
        s_narmed = 0;
        fg_warn ("%s; no crash point armed", err.msg);
    }
}

void
fg_crash_point (const char *name)
{
    pthread_once (&s_once, s_load);
    int point = s_find (name, strlen (name));
    assert (point >= 0);                //  every point is in the table
    if (point < 0 || s_narmed == 0)
        return;
    unsigned pass = atomic_fetch_add (&s_passes [point], 1) + 1;
    for (size_t i = 0; i < s_narmed; i++)
        if (s_armed [i].point == (size_t) point && s_armed [i].pass == pass) {
            //  like kill -9: no atexit handlers, no stdio flush, no cleanup
            static const char msg [] = "fedgrid: crash point reached, killing this process\n";
            ssize_t rc = write (STDERR_FILENO, msg, sizeof msg - 1);
            (void) rc;
            raise (SIGKILL);
        }
}

const char *
fg_crash_point_name (size_t i, const char **description)
{
    if (i >= S_NPOINTS)
        return NULL;
    if (description)
        *description = s_points [i].description;
    return s_points [i].name;
}
