/*  chaos_sched.c — the chaos proxy's per-connection event schedule: the
    random events (--stall-every, --reset-every, --half-close-every,
    --drop-every) drawn from fg_rng keyed by (seed, FG_RNG_CHAOS,
    connection, kind), merged with the listed ones (--event, --schedule).
    A connection's schedule depends on nothing but the seed, its number
    and the options, so a scenario replays event for event.              */

#include "chaos_proxy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *s_kind_names [CHAOS_KINDS] = { "stall", "reset", "half-close", "drop" };

const char *
chaos_kind_name (chaos_kind_t kind)
{
    return kind < CHAOS_KINDS? s_kind_names [kind]: "?";
}

const char *
chaos_dirs_name (int dirs)
{
    return dirs == CHAOS_DIR_UP? "up": dirs == CHAOS_DIR_DOWN? "down": "both";
}

int
chaos_parse_number (const char *text, double min, double max, double *value)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (v) || v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

//  Seconds in [min, CHAOS_MAX_S] as nanoseconds. Returns 0 or -1.
static int
s_parse_seconds (const char *text, double min, int64_t *ns)
{
    double v;
    if (chaos_parse_number (text, min, CHAOS_MAX_S, &v))
        return -1;
    *ns = (int64_t) llround (v * (double) CHAOS_NS);
    return 0;
}

static int
s_parse_dirs (const char *text, bool either_ok, int *dirs)
{
    if (!strcmp (text, "up"))
        *dirs = CHAOS_DIR_UP;
    else
    if (!strcmp (text, "down"))
        *dirs = CHAOS_DIR_DOWN;
    else
    if (!strcmp (text, either_ok? "either": "both"))
        *dirs = CHAOS_DIR_BOTH;
    else
        return -1;
    return 0;
}

//  The arguments after KIND.
static int
s_parse_args (chaos_event_t *ev, char **arg, int n, char *why, size_t size)
{
    int max_args = ev->kind == CHAOS_STALL? 2: ev->kind == CHAOS_HALF_CLOSE? 1: 0;
    if (n > max_args) {
        snprintf (why, size, "%s takes %s", chaos_kind_name (ev->kind),
                  max_args == 2? "FOR [up|down|both]": max_args? "[up|down|either]": "no argument");
        return -1;
    }
    if (ev->kind == CHAOS_STALL) {
        if (n < 1 || s_parse_seconds (arg [0], 0.001, &ev->for_ns)) {
            snprintf (why, size, "stall takes FOR, seconds in [0.001, %.0f]", CHAOS_MAX_S);
            return -1;
        }
        if (n == 2 && s_parse_dirs (arg [1], false, &ev->dirs)) {
            snprintf (why, size, "stall direction '%s': up, down or both", arg [1]);
            return -1;
        }
    }
    if (ev->kind == CHAOS_HALF_CLOSE && n == 1 && s_parse_dirs (arg [0], true, &ev->dirs)) {
        snprintf (why, size, "half-close direction '%s': up, down or either", arg [0]);
        return -1;
    }
    return 0;
}

int
chaos_event_parse (const char *text, chaos_event_t *ev, char *why, size_t size)
{
    char copy [1024];
    if (strlen (text) >= sizeof copy) {
        snprintf (why, size, "longer than %zu characters", sizeof copy - 1);
        return -1;
    }
    strcpy (copy, text);
    char *word [8], *save = NULL;
    int n = 0;
    for (char *w = strtok_r (copy, " \t\r\n", &save); w; w = strtok_r (NULL, " \t\r\n", &save)) {
        if (n == 8) {
            snprintf (why, size, "too many words");
            return -1;
        }
        word [n++] = w;
    }
    *ev = (chaos_event_t) { .conn = -1, .dirs = CHAOS_DIR_BOTH };
    if (n < 3) {
        snprintf (why, size, "want CONN AT KIND [ARGS] (e.g. '* 2.5 stall 1')");
        return -1;
    }
    if (strcmp (word [0], "*")) {
        char *end;
        errno = 0;
        unsigned long long c = strtoull (word [0], &end, 10);
        if (errno || end == word [0] || *end || word [0][0] == '-' || c > UINT32_MAX) {
            snprintf (why, size, "connection '%s': a number in [0, %u] or *", word [0], UINT32_MAX);
            return -1;
        }
        ev->conn = (int64_t) c;
    }
    if (s_parse_seconds (word [1], 0, &ev->at_ns)) {
        snprintf (why, size, "offset '%s': seconds in [0, %.0f]", word [1], CHAOS_MAX_S);
        return -1;
    }
    int k = 0;
    while (k < CHAOS_KINDS && strcmp (word [2], s_kind_names [k]))
        k++;
    if (k == CHAOS_KINDS) {
        snprintf (why, size, "unknown event '%s' (stall, reset, half-close, drop)", word [2]);
        return -1;
    }
    ev->kind = (chaos_kind_t) k;
    return s_parse_args (ev, word + 3, n - 3, why, size);
}

int
chaos_events_add (chaos_opts_t *opts, const char *text, const char *where,
                  char *why, size_t size)
{
    chaos_event_t ev;
    char reason [256];
    if (chaos_event_parse (text, &ev, reason, sizeof reason)) {
        snprintf (why, size, "%s: '%s': %s", where, text, reason);
        return -1;
    }
    if (opts->n_events == CHAOS_MAX_EVENTS) {
        snprintf (why, size, "%s: more than %d events", where, CHAOS_MAX_EVENTS);
        return -1;
    }
    if (opts->n_events == opts->cap_events) {
        size_t cap = opts->cap_events? opts->cap_events * 2: 16;
        chaos_event_t *grown = realloc (opts->events, cap * sizeof *grown);
        if (!grown) {
            snprintf (why, size, "%s: out of memory", where);
            return -1;
        }
        opts->events = grown;
        opts->cap_events = cap;
    }
    opts->events [opts->n_events++] = ev;
    return 0;
}

int
chaos_events_load (chaos_opts_t *opts, const char *path, char *why, size_t size)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (why, size, "--schedule: cannot open %s: %s", path, strerror (errno));
        return -1;
    }
    char line [1024 + 2], where [512];
    int rc = 0;
    for (unsigned n = 1; rc == 0 && fgets (line, sizeof line, file); n++) {
        snprintf (where, sizeof where, "%s:%u", path, n);
        size_t len = strlen (line);
        if (len == sizeof line - 1 && line [len - 1] != '\n') {
            snprintf (why, size, "%s: line longer than %zu characters", where, sizeof line - 3);
            rc = -1;
            break;
        }
        char *hash = strchr (line, '#');
        if (hash)
            *hash = 0;
        line [strcspn (line, "\r\n")] = 0;
        if (line [strspn (line, " \t")])
            rc = chaos_events_add (opts, line, where, why, size);
    }
    if (rc == 0 && ferror (file)) {
        snprintf (why, size, "--schedule: cannot read %s", path);
        rc = -1;
    }
    fclose (file);
    return rc;
}

void
chaos_events_sort (chaos_opts_t *opts)
{
    //  insertion sort: stable, and the lists are short
    for (size_t i = 1; i < opts->n_events; i++) {
        chaos_event_t ev = opts->events [i];
        size_t j = i;
        while (j > 0 && opts->events [j - 1].at_ns > ev.at_ns) {
            opts->events [j] = opts->events [j - 1];
            j--;
        }
        opts->events [j] = ev;
    }
}

//  A period around every: uniform in every * [1 - spread, 1 + spread],
//  at least a millisecond.
static int64_t
s_gap (fg_rng_t *rng, double every, double spread)
{
    double u = fg_rng_uniform_double (rng);
    double s = every * (1.0 - spread + 2.0 * spread * u);
    int64_t ns = (int64_t) llround (s * (double) CHAOS_NS);
    return ns < CHAOS_NS / 1000? CHAOS_NS / 1000: ns;
}

void
chaos_sched_init (chaos_sched_t *self, const chaos_opts_t *opts, uint32_t conn)
{
    memset (self, 0, sizeof *self);
    for (int k = 0; k < CHAOS_KINDS; k++) {
        fg_rng_init (&self->rng [k], opts->seed, FG_RNG_CHAOS, conn, (uint32_t) k, 0, 0);
        self->next [k] = opts->every [k] > 0? s_gap (&self->rng [k], opts->every [k], opts->spread)
                                            : INT64_MAX;
    }
    self->half_dirs = opts->half_close_dirs;
    if (self->half_dirs == CHAOS_DIR_BOTH)
        self->half_dirs = fg_rng_below (&self->rng [CHAOS_HALF_CLOSE], 2)? CHAOS_DIR_DOWN: CHAOS_DIR_UP;
}

//  Which event comes next: CHAOS_KINDS for the listed one at self->listed,
//  a kind for a random one, -1 for none.
static int
s_choose (chaos_sched_t *self, const chaos_opts_t *opts, uint32_t conn)
{
    while (self->listed < opts->n_events && opts->events [self->listed].conn >= 0
        && opts->events [self->listed].conn != conn)
        self->listed++;
    int best = -1;
    for (int k = 0; k < CHAOS_KINDS; k++)
        if (self->next [k] != INT64_MAX && (best < 0 || self->next [k] < self->next [best]))
            best = k;
    if (self->listed < opts->n_events
        && (best < 0 || opts->events [self->listed].at_ns <= self->next [best]))
        return CHAOS_KINDS;
    return best;
}

bool
chaos_sched_peek (chaos_sched_t *self, const chaos_opts_t *opts, uint32_t conn,
                  chaos_event_t *ev)
{
    int k = s_choose (self, opts, conn);
    if (k < 0)
        return false;
    if (k == CHAOS_KINDS) {
        *ev = opts->events [self->listed];
        return true;
    }
    *ev = (chaos_event_t) { .conn = conn, .at_ns = self->next [k], .kind = (chaos_kind_t) k,
                            .dirs = k == CHAOS_HALF_CLOSE? self->half_dirs: CHAOS_DIR_BOTH,
                            .for_ns = k == CHAOS_STALL? opts->stall_for_ns: 0 };
    return true;
}

void
chaos_sched_pop (chaos_sched_t *self, const chaos_opts_t *opts, uint32_t conn)
{
    int k = s_choose (self, opts, conn);
    if (k == CHAOS_KINDS)
        self->listed++;
    else
    //  a random stall recurs after it ends; a reset, a drop or a
    //  half-close happens once per connection (a client that reconnects
    //  gets a new connection and a new schedule)
    if (k == CHAOS_STALL)
        self->next [k] += opts->stall_for_ns
                        + s_gap (&self->rng [k], opts->every [k], opts->spread);
    else
    if (k >= 0)
        self->next [k] = INT64_MAX;
}
