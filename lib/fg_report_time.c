/*  fg_report_time.c — where an experiment's time went: a timeline per
    worker (each copy of a unit it held, from clients.csv: outcome, kind,
    held_seconds, ended_unix_s; the rounds' commits from rounds.csv) and
    the time of each round split into its phases (rounds.csv's
    units_seconds .. commit_seconds; the units phase split into training
    and transfers by clients.csv's seconds against held_seconds).         */

#include "fg_report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LANES_MAX 60                  //  workers drawn; the rest are counted

//  --------------------------------------------------------------------------
//  Timeline per worker

typedef struct {
    const char *outcome;
    const char *colour;
    const char *meaning;
} s_outcome_t;

static const s_outcome_t s_outcomes [] = {
    { "accepted",  "#009E73", "accepted" },
    { "agreed",    "#56B4E9", "agreed (replicas)" },
    { "duplicate", "#999999", "duplicate" },
    { "stopped",   "#bbbbbb", "stopped (stale)" },
    { "outvoted",  "#D55E00", "outvoted" },
    { "invalid",   "#CC79A7", "invalid" },
    { "rejected",  "#E69F00", "rejected" },
    { "failed",    "#000000", "failed" },
    { "lost",      "#cc0000", "lost (disconnect)" },
};
#define S_NOUTCOMES (sizeof s_outcomes / sizeof s_outcomes [0])

static const char *
s_outcome_colour (const char *outcome)
{
    for (size_t i = 0; i < S_NOUTCOMES; i++)
        if (strcmp (s_outcomes [i].outcome, outcome) == 0)
            return s_outcomes [i].colour;
    return "#666666";
}

//  The stroke that tells a copy's kind: none for first copies.
static const char *
s_kind_stroke (const char *kind)
{
    if (strcmp (kind, "backup") == 0)
        return " stroke=\"#000\" stroke-width=\"1.2\" stroke-dasharray=\"3,2\"";
    if (strcmp (kind, "reissue") == 0)
        return " stroke=\"#000\" stroke-width=\"1.8\"";
    if (strcmp (kind, "replica") == 0)
        return " stroke=\"#555\" stroke-width=\"0.8\" stroke-dasharray=\"1,1\"";
    return "";
}

static int
s_strcmp (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  The workers' names, sorted, each once (pointers into exp's copies).
static const char **
s_workers (const fg_report_exp_t *exp, size_t *count)
{
    const char **names = malloc ((exp->ncopies + exp->nevents + 1) * sizeof *names);
    size_t n = 0;
    for (size_t i = 0; names && i < exp->ncopies; i++)
        names [n++] = exp->copies [i].node;
    for (size_t i = 0; names && i < exp->nevents; i++)
        names [n++] = exp->events [i].node;
    if (names)
        qsort (names, n, sizeof *names, s_strcmp);
    size_t kept = 0;
    for (size_t i = 0; names && i < n; i++)
        if (!kept || strcmp (names [kept - 1], names [i]))
            names [kept++] = names [i];
    *count = kept;
    return names;
}

//  Whether every copy has its times (clients.csv with ended_unix_s), and
//  then the earliest start, Unix seconds.
static bool
s_timed (const fg_report_exp_t *exp, double *t0)
{
    *t0 = INFINITY;
    for (size_t i = 0; i < exp->ncopies; i++) {
        const fg_report_copy_t *c = &exp->copies [i];
        if (!isfinite (c->ended_unix) || !isfinite (c->held_s))
            return false;
        *t0 = fmin (*t0, c->ended_unix - c->held_s);
    }
    for (size_t i = 0; i < exp->nevents; i++)
        *t0 = fmin (*t0, exp->events [i].unix_s);
    return exp->ncopies > 0;
}

static void
s_timeline_legend (fg_rbuf_t *b, const fg_plot_t *p)
{
    double y = p->height - 58;
    for (size_t i = 0; i < S_NOUTCOMES; i++) {
        double x = 10 + (double) (i % 5) * 140;
        double row = y + (double) (i / 5) * 14;
        fg_rbuf_add (b, "<rect x=\"");
        fg_rbuf_num (b, x, 0);
        fg_rbuf_add (b, "\" y=\"");
        fg_rbuf_num (b, row - 8, 0);
        fg_rbuf_printf (b, "\" width=\"12\" height=\"8\" fill=\"%s\"/><text x=\"", s_outcomes [i].colour);
        fg_rbuf_num (b, x + 16, 0);
        fg_rbuf_add (b, "\" y=\"");
        fg_rbuf_num (b, row, 0);
        fg_rbuf_printf (b, "\">%s</text>\n", s_outcomes [i].meaning);
    }
    fg_rbuf_add (b, "<text x=\"10\" y=\"");
    fg_rbuf_num (b, y + 30, 0);
    fg_rbuf_add (b, "\">outline: thick reissue, dashed backup, dotted replica; x: a copy lost"
                    "</text>\n<text x=\"10\" y=\"");
    fg_rbuf_num (b, y + 44, 0);
    fg_rbuf_add (b, "\">journal: triangle joined, red bar removed (disconnect), orange dot strike, "
                    "black square quarantined</text>\n");
}

//  One copy: a bar over the time it was held in its worker's lane.
static void
s_copy_bar (fg_rbuf_t *b, const fg_plot_t *p, const fg_report_copy_t *c, double x0, double x1,
            double lane)
{
    double left = fg_plot_x (p, x0), right = fmax (fg_plot_x (p, x1), left + 1.5);
    double top = fg_plot_y (p, lane + 0.8), bottom = fg_plot_y (p, lane + 0.2);
    fg_rbuf_add (b, "<rect class=\"copy\" x=\"");
    fg_rbuf_num (b, left, 1);
    fg_rbuf_add (b, "\" y=\"");
    fg_rbuf_num (b, top, 1);
    fg_rbuf_add (b, "\" width=\"");
    fg_rbuf_num (b, right - left, 1);
    fg_rbuf_add (b, "\" height=\"");
    fg_rbuf_num (b, bottom - top, 1);
    fg_rbuf_printf (b, "\" fill=\"%s\"%s><title>", s_outcome_colour (c->outcome),
                    s_kind_stroke (c->kind));
    fg_rbuf_escape (b, c->node);
    fg_rbuf_printf (b, ": round %u shard %u attempt %u, %s, %s</title></rect>\n", c->round,
                    c->shard, c->attempt, c->kind [0]? c->kind: "kind not recorded", c->outcome);
    if (strcmp (c->outcome, "lost") == 0) {
        fg_rbuf_add (b, "<path stroke=\"#c00\" stroke-width=\"2\" d=\"M");
        fg_rbuf_num (b, right - 4, 1);
        fg_rbuf_add (b, ",");
        fg_rbuf_num (b, top, 1);
        fg_rbuf_add (b, " l8,");
        fg_rbuf_num (b, bottom - top, 1);
        fg_rbuf_add (b, " m0,-");
        fg_rbuf_num (b, bottom - top, 1);
        fg_rbuf_add (b, " l-8,");
        fg_rbuf_num (b, bottom - top, 1);
        fg_rbuf_add (b, "\"/>\n");
    }
}

//  A node's event from the journal at x in its lane: joined a green
//  triangle, removed (a disconnect) a red bar across the lane, a strike
//  an orange circle, quarantined a black square.
static void
s_event_mark (fg_rbuf_t *b, const fg_plot_t *p, const fg_report_event_t *e, double x,
              double lane)
{
    double cx = fg_plot_x (p, x), top = fg_plot_y (p, lane + 0.95);
    double bottom = fg_plot_y (p, lane + 0.05), mid = (top + bottom) / 2;
    fg_rbuf_add (b, "<g class=\"event\"><title>");
    fg_rbuf_escape (b, e->node);
    fg_rbuf_printf (b, ": %s%s", e->what, e->why [0]? ": ": "");
    fg_rbuf_escape (b, e->why);
    fg_rbuf_add (b, "</title>");
    if (strcmp (e->what, "joined") == 0) {
        fg_rbuf_add (b, "<path fill=\"#009E73\" d=\"M");
        fg_rbuf_num (b, cx, 1);
        fg_rbuf_add (b, ",");
        fg_rbuf_num (b, top, 1);
        fg_rbuf_add (b, " l4,");
        fg_rbuf_num (b, bottom - top, 1);
        fg_rbuf_add (b, " h-8 Z\"/>");
    }
    else
    if (strcmp (e->what, "removed") == 0) {
        fg_rbuf_add (b, "<rect fill=\"#cc0000\" width=\"3\" x=\"");
        fg_rbuf_num (b, cx - 1.5, 1);
        fg_rbuf_add (b, "\" y=\"");
        fg_rbuf_num (b, top, 1);
        fg_rbuf_add (b, "\" height=\"");
        fg_rbuf_num (b, bottom - top, 1);
        fg_rbuf_add (b, "\"/>");
    }
    else {
        bool strike = strcmp (e->what, "strike") == 0;
        fg_rbuf_printf (b, "<rect fill=\"%s\" width=\"7\" height=\"7\" rx=\"%s\" x=\"",
                        strike? "#E69F00": "#000", strike? "3.5": "0");
        fg_rbuf_num (b, cx - 3.5, 1);
        fg_rbuf_add (b, "\" y=\"");
        fg_rbuf_num (b, mid - 3.5, 1);
        fg_rbuf_add (b, "\"/>");
    }
    fg_rbuf_add (b, "</g>\n");
}

//  The lanes' names and the rounds' commits (timed: at their wall time).
static void
s_timeline_marks (fg_rbuf_t *b, const fg_plot_t *p, const fg_report_exp_t *exp,
                  const char **names, size_t lanes, bool timed, double t0)
{
    for (size_t l = 0; l < lanes; l++) {
        char shown [24];
        snprintf (shown, sizeof shown, "%s", names [l]);
        fg_rbuf_add (b, "<text x=\"");
        fg_rbuf_num (b, p->left - 4, 1);
        fg_rbuf_add (b, "\" y=\"");
        fg_rbuf_num (b, fg_plot_y (p, (double) (lanes - 1 - l) + 0.5) + 4, 1);
        fg_rbuf_add (b, "\" text-anchor=\"end\">");
        fg_rbuf_escape (b, shown);
        fg_rbuf_add (b, "</text>\n");
    }
    for (size_t i = 0; i < exp->nrounds; i++) {
        const fg_report_round_t *r = &exp->rounds [i];
        double x = timed? r->committed_unix - t0: r->round;
        if (!isfinite (x) || x < p->x0 || x > p->x1)
            continue;
        fg_rbuf_add (b, "<line class=\"commit\" stroke=\"#444\" stroke-dasharray=\"2,3\" x1=\"");
        fg_rbuf_num (b, fg_plot_x (p, x), 1);
        fg_rbuf_add (b, "\" x2=\"");
        fg_rbuf_num (b, fg_plot_x (p, x), 1);
        fg_rbuf_add (b, "\" y1=\"");
        fg_rbuf_num (b, p->top, 1);
        fg_rbuf_add (b, "\" y2=\"");
        fg_rbuf_num (b, p->height - p->bottom, 1);
        fg_rbuf_printf (b, "\"><title>round %u committed</title></line>\n", r->round);
    }
}

int
fg_report_chart_timeline (fg_rbuf_t *b, const fg_report_exp_t *exp, const char *label)
{
    size_t nworkers = 0;
    const char **names = s_workers (exp, &nworkers);
    if (!names)
        return FG_ENOMEM;
    size_t lanes = nworkers < S_LANES_MAX? nworkers: S_LANES_MAX;
    double t0 = 0;
    bool timed = s_timed (exp, &t0);
    fg_plot_t p = { .width = 720, .left = 130, .right = 16, .top = 28, .bottom = 110,
                    .x0 = 0, .x1 = 1, .y0 = 0, .y1 = lanes? (double) lanes: 1, .rounds_x = !timed,
                    .no_yticks = true };
    p.height = p.top + p.bottom + 18 * (double) (lanes? lanes: 1);
    for (size_t i = 0; i < exp->ncopies; i++)
        p.x1 = fmax (p.x1, timed? exp->copies [i].ended_unix - t0: exp->copies [i].round);
    for (size_t i = 0; timed && i < exp->nevents; i++)
        p.x1 = fmax (p.x1, exp->events [i].unix_s - t0);
    for (size_t i = 0; timed && i < exp->nrounds; i++)
        if (isfinite (exp->rounds [i].committed_unix))
            p.x1 = fmax (p.x1, exp->rounds [i].committed_unix - t0);
    char title [512];
    snprintf (title, sizeof title, "Timeline per worker: %s", label);
    fg_plot_begin (b, &p, title, timed? "seconds since the first unit was issued"
                                      : "round (clients.csv holds no times: copies by round)",
                   NULL);
    for (size_t i = 0; i < exp->ncopies; i++) {
        const fg_report_copy_t *c = &exp->copies [i];
        const char *const *at = bsearch (&(const char *) { c->node }, names, lanes,
                                         sizeof *names, s_strcmp);
        if (!at)
            continue;                   //  beyond S_LANES_MAX lanes
        double x1 = timed? c->ended_unix - t0: c->round - 0.05;
        double x0 = timed? x1 - c->held_s: c->round - 0.95;
        s_copy_bar (b, &p, c, x0, x1, (double) (lanes - 1 - (size_t) (at - names)));
    }
    for (size_t i = 0; i < exp->nevents; i++) {
        const fg_report_event_t *e = &exp->events [i];
        const char *const *at = bsearch (&(const char *) { e->node }, names, lanes,
                                         sizeof *names, s_strcmp);
        if (at)
            s_event_mark (b, &p, e, timed? e->unix_s - t0: e->round - 0.5,
                          (double) (lanes - 1 - (size_t) (at - names)));
    }
    s_timeline_marks (b, &p, exp, names, lanes, timed, t0);
    s_timeline_legend (b, &p);
    if (nworkers > lanes)
        fg_rbuf_printf (b, "<text x=\"710\" y=\"24\" text-anchor=\"end\">%zu more workers not "
                        "shown</text>\n", nworkers - lanes);
    if (nworkers == 0)
        fg_rbuf_add (b, "<text x=\"360\" y=\"50\" text-anchor=\"middle\">no rows in clients.csv "
                        "yet</text>\n");
    fg_plot_end (b);
    free (names);
    return b->failed? FG_ENOMEM: 0;
}

//  --------------------------------------------------------------------------
//  Time per round

//  The phases, bottom up; the last is a round whose split is not recorded.
static const char *const s_phase_colour [] = {
    "#0072B2", "#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#bbbbbb"
};
static const char *const s_phase_name [] = {
    "training (units phase x trainers' share)", "transfers and waiting (the rest of it)",
    "aggregation (fold)", "evaluation (test set)", "commit (journal)",
    "not split: not recorded (seconds only)"
};
#define S_PHASES 6

//  Per round i of exp: the trainers' share of the time they held the
//  units that went into the weights (seconds / held_seconds), NaN when
//  not known. share has exp->nrounds entries.
static void
s_training_share (const fg_report_exp_t *exp, double *share, double *held)
{
    for (size_t i = 0; i < exp->nrounds; i++)
        share [i] = held [i] = 0;
    for (size_t k = 0; k < exp->ncopies; k++) {
        const fg_report_copy_t *c = &exp->copies [k];
        if (!isfinite (c->held_s) || !isfinite (c->seconds)
        ||  (strcmp (c->outcome, "accepted") && strcmp (c->outcome, "agreed")))
            continue;
        size_t lo = 0, hi = exp->nrounds;   //  rounds are sorted: find c's
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (exp->rounds [mid].round < c->round)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < exp->nrounds && exp->rounds [lo].round == c->round) {
            share [lo] += fmin (c->seconds, c->held_s);
            held [lo] += c->held_s;
        }
    }
    for (size_t i = 0; i < exp->nrounds; i++)
        share [i] = held [i] > 0? share [i] / held [i]: NAN;
}

//  The phases' seconds of round r (share: the trainers' share, or NaN).
static void
s_phases (const fg_report_round_t *r, double share, double *part)
{
    for (int k = 0; k < S_PHASES; k++)
        part [k] = 0;
    if (!isfinite (r->units_s) || !isfinite (r->aggregate_s) || !isfinite (r->eval_s)
    ||  !isfinite (r->commit_s)) {
        part [5] = isfinite (r->seconds)? r->seconds: 0;
        return;
    }
    double s = isfinite (share)? share: 0;
    part [0] = r->units_s * s;
    part [1] = r->units_s - part [0];
    part [2] = r->aggregate_s;
    part [3] = r->eval_s;
    part [4] = r->commit_s;
}

static void
s_bar (fg_rbuf_t *b, const fg_plot_t *p, double x, double width, double y0, double y1,
       const char *colour, uint32_t round, const char *what, double seconds)
{
    fg_rbuf_add (b, "<rect class=\"phase\" x=\"");
    fg_rbuf_num (b, fg_plot_x (p, x - width / 2), 1);
    fg_rbuf_add (b, "\" y=\"");
    fg_rbuf_num (b, fg_plot_y (p, y1), 1);
    fg_rbuf_add (b, "\" width=\"");
    fg_rbuf_num (b, fmax (1, fg_plot_x (p, x + width / 2) - fg_plot_x (p, x - width / 2)), 1);
    fg_rbuf_add (b, "\" height=\"");
    fg_rbuf_num (b, fg_plot_y (p, y0) - fg_plot_y (p, y1), 1);
    fg_rbuf_printf (b, "\" fill=\"%s\"><title>round %u: %s ", colour, round, what);
    fg_rbuf_num (b, seconds, 3);
    fg_rbuf_add (b, " s</title></rect>\n");
}

int
fg_report_chart_time (fg_rbuf_t *b, const fg_report_exp_t *exp, const char *label)
{
    double *share = malloc ((exp->nrounds + 1) * sizeof *share);
    double *held = malloc ((exp->nrounds + 1) * sizeof *held);
    if (!share || !held) {
        free (share);
        free (held);
        return FG_ENOMEM;
    }
    s_training_share (exp, share, held);
    fg_plot_t p = { .width = 900, .height = 380, .left = 64, .right = 250, .top = 28,
                    .bottom = 40, .x0 = 0.5, .x1 = 1.5, .y0 = 0, .y1 = 0, .rounds_x = true, .legend_x = 660 };
    for (size_t i = 0; i < exp->nrounds; i++) {
        double part [S_PHASES], sum = 0;
        s_phases (&exp->rounds [i], share [i], part);
        for (int k = 0; k < S_PHASES; k++)
            sum += part [k];
        p.x1 = fmax (p.x1, exp->rounds [i].round + 0.5);
        p.y1 = fmax (p.y1, sum);
    }
    char title [512];
    snprintf (title, sizeof title, "Time per round: %s", label);
    fg_plot_begin (b, &p, title, "round", "seconds");
    for (size_t i = 0; i < exp->nrounds; i++) {
        double part [S_PHASES], y = 0;
        s_phases (&exp->rounds [i], share [i], part);
        //  every phase of a split round (one may be 0 s), or the whole
        for (int k = 0; k < S_PHASES; k++) {
            if ((k < S_PHASES - 1) != (part [S_PHASES - 1] <= 0))
                continue;
            s_bar (b, &p, exp->rounds [i].round, 0.7, y, y + part [k], s_phase_colour [k],
                   exp->rounds [i].round, s_phase_name [k], part [k]);
            y += part [k];
        }
    }
    fg_plot_legend (b, &p, s_phase_colour, s_phase_name, S_PHASES);
    if (exp->nrounds == 0)
        fg_rbuf_add (b, "<text x=\"360\" y=\"190\" text-anchor=\"middle\">no round committed "
                        "yet</text>\n");
    fg_plot_end (b);
    free (share);
    free (held);
    return b->failed? FG_ENOMEM: 0;
}
