/*  fg_report_journal.c — the nodes' events of an experiment's journal for
    the report's timeline: joined, removed (why: silent, said BYE,
    quarantined, announced itself again — a disconnect), strikes and
    quarantine, at the journal's wall time. The journal is opened
    read-only (LMDB readers never block the running coordinator). Event
    texts are the coordinator's (actors/fg_coord_nodes.c, fg_coord_trust.c);
    they are outside input all the same: a text that does not read as a
    node event is skipped, a node name is bounded, and everything is
    escaped when drawn.                                                   */

#include "fg_report_internal.h"
#include "fg_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Copies [from, to) into out (size bytes); false when empty or too long.
static bool
s_copy (const char *from, const char *to, char *out, size_t size)
{
    size_t len = (size_t) (to - from);
    if (len == 0 || len >= size)
        return false;
    memcpy (out, from, len);
    out [len] = 0;
    return true;
}

bool
fg_report_event_parse (const char *text, double unix_s, uint32_t round,
                       fg_report_event_t *event)
{
    memset (event, 0, sizeof *event);
    event->unix_s = unix_s;
    event->round = round;
    const char *at, *end = text + strlen (text);
    if (strncmp (text, "node ", 5) == 0 && (at = strstr (text + 5, " joined ("))) {
        strcpy (event->what, "joined");
        return s_copy (text + 5, at, event->node, sizeof event->node);
    }
    if (strncmp (text, "node ", 5) == 0 && (at = strstr (text + 5, " removed: "))) {
        strcpy (event->what, "removed");
        const char *why = at + 10;
        snprintf (event->why, sizeof event->why, "%s", why);
        return s_copy (text + 5, at, event->node, sizeof event->node) && why < end;
    }
    if (strncmp (text, "node ", 5) == 0 && (at = strstr (text + 5, " quarantined"))) {
        strcpy (event->what, "quarantined");
        return s_copy (text + 5, at, event->node, sizeof event->node);
    }
    if (strncmp (text, "strike ", 7) == 0 && (at = strstr (text, " against node "))) {
        const char *name = at + 14, *colon = strstr (name, ": ");
        strcpy (event->what, "strike");
        if (!colon)
            return false;
        snprintf (event->why, sizeof event->why, "%s", colon + 2);
        return s_copy (name, colon, event->node, sizeof event->node);
    }
    return false;
}

typedef struct {
    fg_report_exp_t *exp;
    size_t cap;
    size_t dropped;
    int rc;
} s_walk_t;

static int
s_event (const fg_journal_event_t *event, void *arg)
{
    s_walk_t *walk = arg;
    fg_report_event_t e;
    if (!event->text || !fg_report_event_parse (event->text, (double) event->time_ns / 1e9,
                                                  event->round, &e))
        return 0;
    for (const char *p = e.node; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            return 0;                   //  not a name the coordinator admits
    fg_report_exp_t *exp = walk->exp;
    if (exp->nevents == FG_REPORT_EVENTS_MAX) {
        walk->dropped++;
        return 0;
    }
    if (exp->nevents == walk->cap) {
        size_t cap = walk->cap? 2 * walk->cap: 256;
        fg_report_event_t *more = realloc (exp->events, cap * sizeof *more);
        if (!more) {
            walk->rc = FG_ENOMEM;
            return 1;
        }
        exp->events = more;
        walk->cap = cap;
    }
    exp->events [exp->nevents++] = e;
    return 0;
}

int
fg_report_load_events (const char *dir, fg_report_exp_t *exp, fg_error_t *err)
{
    if (!fg_journal_exists (dir)) {
        fg_report_note (exp, "%s: no journal: no node events on the timeline", dir);
        return 0;
    }
    fg_journal_t *journal = NULL;
    int rc = fg_journal_open_readonly (dir, &journal, err);
    s_walk_t walk = { .exp = exp };
    if (rc == 0)
        rc = fg_journal_events_foreach (journal, 1, s_event, &walk, err);
    fg_journal_close (&journal);
    if (walk.rc)
        rc = fg_error_set (err, walk.rc, "%s: journal events: out of memory", dir);
    if (walk.dropped)
        fg_report_note (exp, "%s: %zu node events beyond the first %u not drawn", dir,
                        walk.dropped, FG_REPORT_EVENTS_MAX);
    return rc;
}
