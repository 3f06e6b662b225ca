/*  fg_report_charts.c — which charts a report has, the global curves of
    every experiment overlaid (rounds.csv) and the local training loss of
    each shard (clients.csv), and the experiments' labels: the
    configuration keys in which they differ.                              */

#include "fg_report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Labels

//  The canonical text's lines "key = value" under their "[section]", as
//  "section.key = value" (NULL-terminated array of strings; the caller
//  frees both), or NULL when out of memory.
static char **
s_keys (const char *config, size_t *count)
{
    size_t cap = 8, n = 0;
    char **keys = malloc (cap * sizeof *keys);
    char section [128] = "";
    for (const char *p = config; keys && p && *p; ) {
        const char *nl = strchr (p, '\n');
        size_t len = nl? (size_t) (nl - p): strlen (p);
        if (len > 2 && p [0] == '[' && p [len - 1] == ']' && len - 2 < sizeof section) {
            memcpy (section, p + 1, len - 2);
            section [len - 2] = 0;
        }
        else
        if (len && p [0] != '#' && memchr (p, '=', len)) {
            char **more = n + 2 > cap? realloc (keys, (cap *= 2) * sizeof *keys): keys;
            char *key = more? malloc (strlen (section) + len + 2): NULL;
            if (!key) {
                for (size_t i = 0; i < n; i++)
                    free ((more? more: keys) [i]);
                free (more? more: keys);
                return NULL;
            }
            keys = more;
            sprintf (key, "%s%s%.*s", section, section [0]? ".": "", (int) len, p);
            keys [n++] = key;
        }
        p = nl? nl + 1: NULL;
    }
    *count = n;
    return keys;
}

static bool
s_has (char *const *keys, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (keys [i], key) == 0)
            return true;
    return false;
}

//  The label of experiment e: its lines that some other experiment does
//  not have (at most 4 of them, then "..."), or its name.
static char *
s_label (const fg_report_exp_t *exps, size_t n, size_t e, char ***keys, const size_t *nkeys)
{
    fg_rbuf_t b = { 0 };
    int shown = 0;
    for (size_t k = 0; keys [e] && k < nkeys [e]; k++) {
        bool differs = false;
        for (size_t o = 0; o < n && !differs; o++)
            differs = o != e && (!keys [o] || !s_has (keys [o], nkeys [o], keys [e] [k]));
        if (differs && shown++ < 4)
            fg_rbuf_printf (&b, "%s%s", b.size? ", ": "", keys [e] [k]);
    }
    if (shown > 4)
        fg_rbuf_add (&b, ", ...");
    if (!shown)
        fg_rbuf_add (&b, exps [e].name);
    if (b.failed)
        fg_rbuf_free (&b);
    return b.data;
}

int
fg_report_labels (const fg_report_exp_t *exps, size_t n, char **labels)
{
    char **keys [FG_REPORT_EXP_MAX] = { NULL };
    size_t nkeys [FG_REPORT_EXP_MAX] = { 0 };
    int rc = n > FG_REPORT_EXP_MAX? FG_EINVAL: 0;
    for (size_t e = 0; rc == 0 && e < n; e++)
        if (exps [e].config && !(keys [e] = s_keys (exps [e].config, &nkeys [e])))
            rc = FG_ENOMEM;
    for (size_t e = 0; rc == 0 && e < n; e++)
        if (!(labels [e] = s_label (exps, n, e, keys, nkeys)))
            rc = FG_ENOMEM;
    for (size_t e = 0; e < n && e < FG_REPORT_EXP_MAX; e++) {
        for (size_t k = 0; keys [e] && k < nkeys [e]; k++)
            free (keys [e] [k]);
        free (keys [e]);
        if (rc) {
            free (labels [e]);
            labels [e] = NULL;
        }
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Accuracy and test loss, every experiment overlaid

static void
s_chart_global (fg_rbuf_t *b, const fg_report_exp_t *exps, size_t n, char **labels,
                bool accuracy)
{
    fg_plot_t p = { .width = 720, .height = 360, .left = 64, .right = 16, .top = 28,
                    .bottom = 40, .x0 = 0.5, .x1 = 1.5, .rounds_x = true, .y0 = NAN, .y1 = NAN };
    for (size_t e = 0; e < n; e++)
        for (size_t i = 0; i < exps [e].nrounds; i++) {
            const fg_report_round_t *r = &exps [e].rounds [i];
            double y = accuracy? 100 * r->test_accuracy: r->test_loss;
            p.x1 = fmax (p.x1, r->round + 0.5);
            if (isfinite (y)) {
                p.y0 = isfinite (p.y0)? fmin (p.y0, y): y;
                p.y1 = isfinite (p.y1)? fmax (p.y1, y): y;
            }
        }
    fg_plot_begin (b, &p, accuracy? "Global test accuracy per round": "Global test loss per round",
                   "round", accuracy? "test accuracy (%)": "test loss");
    const char *colour [FG_REPORT_EXP_MAX];
    for (size_t e = 0; e < n; e++) {
        const fg_report_exp_t *x = &exps [e];
        double *xs = malloc ((x->nrounds + 1) * sizeof *xs);
        double *ys = malloc ((x->nrounds + 1) * sizeof *ys);
        for (size_t i = 0; xs && ys && i < x->nrounds; i++) {
            xs [i] = x->rounds [i].round;
            ys [i] = accuracy? 100 * x->rounds [i].test_accuracy: x->rounds [i].test_loss;
        }
        colour [e] = fg_plot_colour (e);
        if (xs && ys)
            fg_plot_line (b, &p, xs, ys, x->nrounds, colour [e], e >= 7? "6,3": NULL);
        else
            b->failed = true;
        free (xs);
        free (ys);
    }
    fg_plot_legend (b, &p, colour, (const char *const *) labels, n);
    fg_plot_end (b);
}

//  --------------------------------------------------------------------------
//  Local training loss per shard

typedef struct {
    uint32_t round, shard;
    double loss;
} s_point_t;

static int
s_by_shard (const void *a_, const void *b_)
{
    const s_point_t *a = a_, *b = b_;
    if (a->shard != b->shard)
        return a->shard < b->shard? -1: 1;
    return a->round < b->round? -1: a->round > b->round;
}

static int
s_by_round (const void *a_, const void *b_)
{
    const s_point_t *a = a_, *b = b_;
    if (a->round != b->round)
        return a->round < b->round? -1: 1;
    return a->loss < b->loss? -1: a->loss > b->loss;
}

double
fg_report_median (const double *sorted, size_t n)
{
    return n % 2? sorted [n / 2]: (sorted [n / 2 - 1] + sorted [n / 2]) / 2;
}

//  The loss of each (round, shard) whose result went into the weights
//  (accepted, or agreed: the first such row), sorted by shard then round.
static s_point_t *
s_points (const fg_report_exp_t *exp, size_t *count, size_t *nshards)
{
    s_point_t *pts = malloc ((exp->ncopies + 1) * sizeof *pts);
    size_t n = 0;
    for (size_t i = 0; pts && i < exp->ncopies; i++) {
        const fg_report_copy_t *c = &exp->copies [i];
        if (isfinite (c->loss)
        &&  (strcmp (c->outcome, "accepted") == 0 || strcmp (c->outcome, "agreed") == 0))
            pts [n++] = (s_point_t) { c->round, c->shard, c->loss };
    }
    if (pts)
        qsort (pts, n, sizeof *pts, s_by_shard);
    size_t kept = 0, shards = 0;
    for (size_t i = 0; pts && i < n; i++) {
        if (kept && pts [kept - 1].shard == pts [i].shard && pts [kept - 1].round == pts [i].round)
            continue;                   //  agreed copies of one unit: one point
        shards += !kept || pts [kept - 1].shard != pts [i].shard;
        pts [kept++] = pts [i];
    }
    *count = kept;
    *nshards = shards;
    return pts;
}

//  One line per shard (pts sorted by shard).
static void
s_shard_lines (fg_rbuf_t *b, const fg_plot_t *p, const s_point_t *pts, size_t n)
{
    double *xs = malloc ((n + 1) * sizeof *xs), *ys = malloc ((n + 1) * sizeof *ys);
    const char *colour [FG_REPORT_SHARD_LINES];
    char names [FG_REPORT_SHARD_LINES] [32];
    const char *text [FG_REPORT_SHARD_LINES];
    size_t lines = 0;
    for (size_t i = 0, j; xs && ys && i < n; i = j) {
        for (j = i; j < n && pts [j].shard == pts [i].shard; j++) {
            xs [j - i] = pts [j].round;
            ys [j - i] = pts [j].loss;
        }
        colour [lines] = fg_plot_colour (lines);
        snprintf (names [lines], sizeof names [lines], "shard %u", pts [i].shard);
        text [lines] = names [lines];
        fg_plot_line (b, p, xs, ys, j - i, colour [lines], lines >= 7? "6,3": NULL);
        lines++;
    }
    if (!xs || !ys)
        b->failed = true;
    fg_plot_legend (b, p, colour, text, lines);
    free (xs);
    free (ys);
}

//  Many shards: the band min..max and the median per round (pts sorted
//  by round, then loss).
static void
s_shard_band (fg_rbuf_t *b, const fg_plot_t *p, const s_point_t *pts, size_t n)
{
    double *xs = malloc ((n + 1) * sizeof *xs), *lo = malloc ((n + 1) * sizeof *lo);
    double *hi = malloc ((n + 1) * sizeof *hi), *mid = malloc ((n + 1) * sizeof *mid);
    double *vals = malloc ((n + 1) * sizeof *vals);
    size_t rounds = 0;
    for (size_t i = 0, j; xs && lo && hi && mid && vals && i < n; i = j) {
        for (j = i; j < n && pts [j].round == pts [i].round; j++)
            vals [j - i] = pts [j].loss;
        xs [rounds] = pts [i].round;
        lo [rounds] = vals [0];
        hi [rounds] = vals [j - i - 1];
        mid [rounds++] = fg_report_median (vals, j - i);
    }
    if (xs && lo && hi && mid && vals && rounds) {
        fg_rbuf_add (b, "<path class=\"band\" fill=\"#0072B2\" fill-opacity=\"0.2\" stroke=\"none\" d=\"M");
        for (size_t k = 0; k < 2 * rounds; k++) {
            size_t i = k < rounds? k: 2 * rounds - 1 - k;
            fg_rbuf_add (b, k? " L": "");
            fg_rbuf_num (b, fg_plot_x (p, xs [i]), 1);
            fg_rbuf_add (b, ",");
            fg_rbuf_num (b, fg_plot_y (p, k < rounds? hi [i]: lo [i]), 1);
        }
        fg_rbuf_add (b, " Z\"/>\n");
        fg_plot_line (b, p, xs, mid, rounds, "#0072B2", NULL);
        const char *colour [] = { "#0072B2", "#9cc3e0" };
        const char *text [] = { "median of the shards", "min .. max of the shards" };
        fg_plot_legend (b, p, colour, text, 2);
    }
    else
    if (rounds || !(xs && lo && hi && mid && vals))
        b->failed = true;
    free (xs); free (lo); free (hi); free (mid); free (vals);
}

int
fg_report_chart_shards (fg_rbuf_t *b, const fg_report_exp_t *exp, const char *label)
{
    size_t n = 0, shards = 0;
    s_point_t *pts = s_points (exp, &n, &shards);
    if (!pts)
        return FG_ENOMEM;
    fg_plot_t p = { .width = 720, .height = 360, .left = 64, .right = 16, .top = 28,
                    .bottom = 40, .x0 = 0.5, .x1 = 1.5, .rounds_x = true, .y0 = NAN, .y1 = NAN };
    for (size_t i = 0; i < n; i++) {
        p.x1 = fmax (p.x1, pts [i].round + 0.5);
        p.y0 = i? fmin (p.y0, pts [i].loss): pts [i].loss;
        p.y1 = i? fmax (p.y1, pts [i].loss): pts [i].loss;
    }
    char title [512];
    snprintf (title, sizeof title, "Local training loss per shard (last local epoch): %s",
              label);
    fg_plot_begin (b, &p, title, "round", "local training loss");
    if (shards > FG_REPORT_SHARD_LINES) {
        qsort (pts, n, sizeof *pts, s_by_round);
        s_shard_band (b, &p, pts, n);
    }
    else
        s_shard_lines (b, &p, pts, n);
    if (n == 0)
        fg_rbuf_add (b, "<text x=\"360\" y=\"180\" text-anchor=\"middle\">no accepted results "
                        "in clients.csv yet</text>\n");
    fg_plot_end (b);
    free (pts);
    return b->failed? FG_ENOMEM: 0;
}

//  --------------------------------------------------------------------------
//  The charts of a report

static int
s_chart (fg_report_chart_t *chart, fg_rbuf_t *b, const char *fmt, size_t e)
{
    snprintf (chart->file, sizeof chart->file, fmt, e + 1);
    if (b->failed) {
        fg_rbuf_free (b);
        return FG_ENOMEM;
    }
    chart->svg = b->data;
    chart->size = b->size;
    return 0;
}

int
fg_report_charts (const fg_report_exp_t *exps, size_t n, fg_report_chart_t **charts,
                  size_t *count, fg_error_t *err)
{
    *charts = NULL;
    *count = 0;
    if (n == 0 || n > FG_REPORT_EXP_MAX)
        return fg_error_set (err, FG_EINVAL, "report: 1 to %d experiments, not %zu",
                             FG_REPORT_EXP_MAX, n);
    char *labels [FG_REPORT_EXP_MAX] = { NULL };
    fg_report_chart_t *out = calloc (2 + 3 * n, sizeof *out);
    int rc = out? fg_report_labels (exps, n, labels): FG_ENOMEM;
    size_t k = 0;
    for (int g = 0; rc == 0 && g < 2; g++) {
        fg_rbuf_t b = { 0 };
        s_chart_global (&b, exps, n, labels, g == 0);
        rc = s_chart (&out [k++], &b, g == 0? "accuracy.svg": "test-loss.svg", 0);
    }
    for (size_t e = 0; rc == 0 && e < n; e++) {
        fg_rbuf_t b = { 0 };
        rc = fg_report_chart_shards (&b, &exps [e], labels [e]);
        rc = rc? (fg_rbuf_free (&b), rc): s_chart (&out [k++], &b, "local-loss-%zu.svg", e);
        fg_rbuf_t t = { 0 };
        if (rc == 0)
            rc = fg_report_chart_timeline (&t, &exps [e], labels [e]);
        rc = rc? (fg_rbuf_free (&t), rc): s_chart (&out [k++], &t, "timeline-%zu.svg", e);
        fg_rbuf_t s = { 0 };
        if (rc == 0)
            rc = fg_report_chart_time (&s, &exps [e], labels [e]);
        rc = rc? (fg_rbuf_free (&s), rc): s_chart (&out [k++], &s, "round-time-%zu.svg", e);
    }
    for (size_t e = 0; e < n; e++)
        free (labels [e]);
    if (rc) {
        fg_report_charts_free (&out, k);
        return fg_error_set (err, rc, "report: out of memory");
    }
    *charts = out;
    *count = k;
    return 0;
}

void
fg_report_charts_free (fg_report_chart_t **charts, size_t count)
{
    if (!charts || !*charts)
        return;
    for (size_t i = 0; i < count; i++)
        free ((*charts) [i].svg);
    free (*charts);
    *charts = NULL;
}
