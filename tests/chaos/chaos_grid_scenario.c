/*  chaos_grid_scenario.c — the scenario file of chaos-grid.

    One directive per line, words separated by blanks, # to the end of the
    line a comment (the format is in docs/chaos.md):
        coordinator ARG...          more arguments of `fedctl start DIR`
        workers ARG...              arguments every `fedctl worker` gets
        worker NAME [KEY=VALUE...]  a worker and its profile
        proxy NAME ARG...           NAME's link goes through a chaos-proxy
    Profile keys: count=N (NAME-1 .. NAME-N alike), slowdown=F,
    fault=SPEC (FEDGRID_FAULT), start=S, crash=EVERY:DOWN,
    freeze=EVERY:FOR, trace=FILE (relative to the scenario's folder),
    trace_scale=X (the trace's times are multiplied by X).            */

#include "chaos_grid.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_fail (char *why, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (why, size, format, args);
    va_end (args);
    return -1;
}

//  Appends words [0, n) to args (copies). Returns 0 or -1 when full.
static int
s_args_add (cg_args_t *args, char **words, int n)
{
    for (int i = 0; i < n; i++) {
        if (args->count >= CG_ARGS_MAX - 1)
            return -1;
        args->word [args->count] = strdup (words [i]);
        if (!args->word [args->count])
            return -1;
        args->count++;
    }
    return 0;
}

static void
s_args_free (cg_args_t *args)
{
    for (int i = 0; i < args->count; i++)
        free (args->word [i]);
    args->count = 0;
}

//  A number >= low, or NaN.
static double
s_number (const char *text, double low)
{
    char *end;
    errno = 0;
    double value = strtod (text, &end);
    return *text && !*end && !errno && isfinite (value) && value >= low? value: NAN;
}

//  "A:B" into two numbers > 0; false when malformed.
static bool
s_pair (const char *text, double *a, double *b)
{
    char copy [64];
    snprintf (copy, sizeof copy, "%s", text);
    char *colon = strchr (copy, ':');
    if (!colon)
        return false;
    *colon = '\0';
    *a = s_number (copy, 0);
    *b = s_number (colon + 1, 0);
    return *a > 0 && *b > 0;
}

//  Reads an availability trace: lines "SECONDS up|down", times rising,
//  multiplied by scale. Returns 0 or -1 (why filled).
static int
s_trace_load (cg_worker_t *w, const char *path, double scale, char *why, size_t size)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return s_fail (why, size, "%s: %s", path, strerror (errno));
    w->trace = calloc (CG_TRACE_MAX, sizeof *w->trace);
    if (!w->trace) {
        fclose (file);
        return s_fail (why, size, "out of memory");
    }
    char line [256], state [16];
    int number = 0, rc = 0;
    while (rc == 0 && fgets (line, sizeof line, file)) {
        number++;
        line [strcspn (line, "#\n")] = '\0';
        double at;
        char extra;
        if (sscanf (line, " %s", state) != 1)
            continue;               //  blank or comment
        if (sscanf (line, " %lf %15s %c", &at, state, &extra) != 2 || !isfinite (at) || at < 0
        ||  (strcmp (state, "up") && strcmp (state, "down")))
            rc = s_fail (why, size, "%s:%d: expected 'SECONDS up|down'", path, number);
        else
        if (w->ntrace == CG_TRACE_MAX)
            rc = s_fail (why, size, "%s: more than %d steps", path, CG_TRACE_MAX);
        else
        if (w->ntrace && at * scale < w->trace [w->ntrace - 1].at)
            rc = s_fail (why, size, "%s:%d: times must not go back", path, number);
        else {
            w->trace [w->ntrace].at = at * scale;
            w->trace [w->ntrace].up = strcmp (state, "up") == 0;
            w->ntrace++;
        }
    }
    fclose (file);
    return rc;
}

//  One KEY=VALUE of a worker line into w (count and trace are the
//  caller's). Returns 0 or -1 (why filled).
static int
s_profile_key (cg_worker_t *w, const char *key, const char *value, char *why, size_t size)
{
    if (strcmp (key, "slowdown") == 0) {
        w->slowdown = s_number (value, 1);
        if (!(w->slowdown <= 1000))
            return s_fail (why, size, "slowdown=%s: expected 1..1000", value);
    }
    else
    if (strcmp (key, "fault") == 0) {
        if (strlen (value) >= sizeof w->fault)
            return s_fail (why, size, "fault=: too long");
        snprintf (w->fault, sizeof w->fault, "%s", value);
    }
    else
    if (strcmp (key, "start") == 0) {
        w->start_s = s_number (value, 0);
        if (isnan (w->start_s))
            return s_fail (why, size, "start=%s: expected seconds", value);
    }
    else
    if (strcmp (key, "crash") == 0) {
        if (!s_pair (value, &w->crash_every, &w->crash_down))
            return s_fail (why, size, "crash=%s: expected EVERY:DOWN (seconds > 0)", value);
    }
    else
    if (strcmp (key, "freeze") == 0) {
        if (!s_pair (value, &w->freeze_every, &w->freeze_for))
            return s_fail (why, size, "freeze=%s: expected EVERY:FOR (seconds > 0)", value);
    }
    else
        return s_fail (why, size, "unknown profile key '%s'", key);
    return 0;
}

//  "worker NAME KEY=VALUE...": one worker, or count=N alike ones.
static int
s_worker_line (cg_scenario_t *scn, char **words, int n, const char *folder,
               char *why, size_t size)
{
    cg_worker_t proto;
    memset (&proto, 0, sizeof proto);
    if (n < 2 || strlen (words [1]) > CG_NAME_MAX - 8 || strchr (words [1], '/'))
        return s_fail (why, size, "worker needs a NAME (1..%d characters, no '/')", CG_NAME_MAX - 8);
    long count = 0;
    double scale = 1;
    const char *trace = NULL;
    for (int i = 2; i < n; i++) {
        char *eq = strchr (words [i], '=');
        if (!eq)
            return s_fail (why, size, "'%s': expected KEY=VALUE", words [i]);
        *eq = '\0';
        const char *key = words [i], *value = eq + 1;
        int rc = 0;
        if (strcmp (key, "count") == 0)
            count = strtol (value, NULL, 10);
        else
        if (strcmp (key, "trace") == 0)
            trace = value;
        else
        if (strcmp (key, "trace_scale") == 0)
            scale = s_number (value, 0);
        else
            rc = s_profile_key (&proto, key, value, why, size);
        if (rc)
            return rc;
    }
    if (!(scale > 0))
        return s_fail (why, size, "trace_scale: expected a factor > 0");
    int copies = count? (int) count: 1;
    if (count < 0 || copies > CG_WORKERS_MAX || scn->nworkers + (size_t) copies > CG_WORKERS_MAX)
        return s_fail (why, size, "more than %d workers", CG_WORKERS_MAX);
    for (int c = 0; c < copies; c++) {
        cg_worker_t *w = &scn->workers [scn->nworkers];
        *w = proto;
        if (count)
            snprintf (w->name, sizeof w->name, "%s-%d", words [1], c + 1);
        else
            snprintf (w->name, sizeof w->name, "%s", words [1]);
        for (size_t i = 0; i < scn->nworkers; i++)
            if (strcmp (scn->workers [i].name, w->name) == 0)
                return s_fail (why, size, "worker %s named twice", w->name);
        scn->nworkers++;
        if (trace) {
            char path [4200];
            snprintf (path, sizeof path, "%s%s%s", trace [0] == '/'? "": folder,
                      trace [0] == '/'? "": "/", trace);
            if (s_trace_load (w, path, scale, why, size))
                return -1;
        }
    }
    return 0;
}

//  One directive (words [0] is its name).
static int
s_directive (cg_scenario_t *scn, char **words, int n, const char *folder, char *why,
             size_t size)
{
    if (strcmp (words [0], "coordinator") == 0)
        return s_args_add (&scn->coordinator, words + 1, n - 1)
             ? s_fail (why, size, "too many coordinator arguments"): 0;
    if (strcmp (words [0], "workers") == 0)
        return s_args_add (&scn->common, words + 1, n - 1)
             ? s_fail (why, size, "too many workers arguments"): 0;
    if (strcmp (words [0], "worker") == 0)
        return s_worker_line (scn, words, n, folder, why, size);
    if (strcmp (words [0], "proxy") == 0) {
        if (n < 2)
            return s_fail (why, size, "proxy needs the NAME of a worker");
        for (size_t i = 0; i < scn->nworkers; i++)
            if (strcmp (scn->workers [i].name, words [1]) == 0)
                return s_args_add (&scn->workers [i].proxy, words + 2, n - 2)
                     ? s_fail (why, size, "too many proxy arguments"): 0;
        return s_fail (why, size, "proxy %s: no such worker (name it on a worker line first)",
                       words [1]);
    }
    return s_fail (why, size, "unknown directive '%s'", words [0]);
}

int
cg_scenario_load (const char *path, cg_scenario_t *scn, char *why, size_t why_size)
{
    memset (scn, 0, sizeof *scn);
    FILE *file = fopen (path, "r");
    if (!file)
        return s_fail (why, why_size, "%s: %s", path, strerror (errno));
    char copy [4096];
    snprintf (copy, sizeof copy, "%s", path);
    const char *folder = dirname (copy);
    char line [4096], message [512];
    int number = 0, rc = 0;
    while (rc == 0 && fgets (line, sizeof line, file)) {
        number++;
        line [strcspn (line, "#\n")] = '\0';
        char *words [CG_ARGS_MAX], *save = NULL;
        int n = 0;
        for (char *w = strtok_r (line, " \t\r", &save); w && n < CG_ARGS_MAX;
             w = strtok_r (NULL, " \t\r", &save))
            words [n++] = w;
        if (n > 0 && (rc = s_directive (scn, words, n, folder, message, sizeof message)))
            s_fail (why, why_size, "%s:%d: %s", path, number, message);
    }
    fclose (file);
    if (rc == 0 && scn->nworkers == 0)
        rc = s_fail (why, why_size, "%s: no worker", path);
    if (rc)
        cg_scenario_free (scn);
    return rc;
}

void
cg_scenario_free (cg_scenario_t *scn)
{
    s_args_free (&scn->coordinator);
    s_args_free (&scn->common);
    for (size_t i = 0; i < scn->nworkers; i++) {
        free (scn->workers [i].trace);
        scn->workers [i].trace = NULL;
        s_args_free (&scn->workers [i].proxy);
    }
    scn->nworkers = 0;
}
