/*  fg_report_html.c — the report page: one self-contained HTML file, the
    charts as inline SVG (no script, no external file, font or network),
    then each experiment's configuration, hash and notes.                 */

#include "fg_report_internal.h"

#include <stdlib.h>
#include <string.h>

static const char s_style [] =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}"
    "h1{font-size:20px}h2{font-size:16px;margin-top:28px}"
    "svg{display:block;margin:12px 0;max-width:100%;height:auto}"
    "pre{background:#f6f6f6;padding:8px;font-size:11px;overflow:auto;max-height:360px}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left}.note{color:#a40}";

//  An SVG chart placed inline: the document as is (it has no XML
//  declaration, so it is valid HTML5 content too).
static void
s_figure (fg_rbuf_t *b, const fg_report_chart_t *chart)
{
    fg_rbuf_add (b, "<figure id=\"");
    fg_rbuf_escape (b, chart->file);
    fg_rbuf_add (b, "\">\n");
    fg_rbuf_add (b, chart->svg);
    fg_rbuf_add (b, "</figure>\n");
}

static void
s_experiments (fg_rbuf_t *b, const fg_report_exp_t *exps, size_t n, char **labels)
{
    fg_rbuf_add (b, "<h2>Experiments</h2>\n<table><tr><th>#</th><th>folder</th>"
                    "<th>label (keys that differ)</th><th>experiment hash</th><th>rounds "
                    "committed</th><th>last test accuracy</th></tr>\n");
    for (size_t e = 0; e < n; e++) {
        const fg_report_exp_t *x = &exps [e];
        fg_rbuf_printf (b, "<tr><td>%zu</td><td>", e + 1);
        fg_rbuf_escape (b, x->name);
        fg_rbuf_add (b, "</td><td>");
        fg_rbuf_escape (b, labels [e]);
        fg_rbuf_add (b, "</td><td><code>");
        fg_rbuf_escape (b, x->hash [0]? x->hash: "not known (no fedgrid.toml)");
        fg_rbuf_printf (b, "</code></td><td>%zu</td><td>", x->nrounds);
        if (x->nrounds)
            fg_rbuf_num (b, 100 * x->rounds [x->nrounds - 1].test_accuracy, 2);
        fg_rbuf_add (b, x->nrounds? " %": "none");
        fg_rbuf_add (b, "</td></tr>\n");
    }
    fg_rbuf_add (b, "</table>\n");
}

static void
s_configs (fg_rbuf_t *b, const fg_report_exp_t *exps, size_t n)
{
    for (size_t e = 0; e < n; e++) {
        const fg_report_exp_t *x = &exps [e];
        fg_rbuf_printf (b, "<h2>Experiment %zu: ", e + 1);
        fg_rbuf_escape (b, x->name);
        fg_rbuf_add (b, "</h2>\n");
        if (x->notes [0]) {
            fg_rbuf_add (b, "<p class=\"note\">");
            fg_rbuf_escape (b, x->notes);
            fg_rbuf_add (b, "</p>\n");
        }
        fg_rbuf_add (b, "<p>experiment hash <code>");
        fg_rbuf_escape (b, x->hash [0]? x->hash: "not known");
        fg_rbuf_add (b, "</code></p>\n<pre class=\"config\">");
        fg_rbuf_escape (b, x->config? x->config: "(no fedgrid.toml)");
        fg_rbuf_add (b, "</pre>\n");
    }
}

int
fg_report_html (const fg_report_exp_t *exps, size_t n, char **html, size_t *size,
                fg_error_t *err)
{
    *html = NULL;
    *size = 0;
    fg_report_chart_t *charts = NULL;
    size_t count = 0;
    int rc = fg_report_charts (exps, n, &charts, &count, err);
    if (rc)
        return rc;
    char *labels [FG_REPORT_EXP_MAX] = { NULL };
    rc = fg_report_labels (exps, n, labels);
    fg_rbuf_t b = { 0 };
    fg_rbuf_printf (&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                    "style-src 'unsafe-inline'\">\n<title>fedgrid report</title>\n"
                    "<style>%s</style>\n</head>\n<body>\n<h1>fedgrid report</h1>\n", s_style);
    if (rc == 0)
        s_experiments (&b, exps, n, labels);
    fg_rbuf_add (&b, "<h2>Global test accuracy and loss</h2>\n");
    for (size_t i = 0; i < count; i++) {
        if (i >= 2 && (i - 2) % 3 == 0) {
            fg_rbuf_printf (&b, "<h2>Experiment %zu: local losses, workers, time</h2>\n",
                            (i - 2) / 3 + 1);
        }
        s_figure (&b, &charts [i]);
    }
    s_configs (&b, exps, n);
    fg_rbuf_add (&b, "</body>\n</html>\n");
    for (size_t e = 0; e < n; e++)
        free (labels [e]);
    fg_report_charts_free (&charts, count);
    if (rc || b.failed) {
        fg_rbuf_free (&b);
        return fg_error_set (err, FG_ENOMEM, "report: out of memory");
    }
    *html = b.data;
    *size = b.size;
    return 0;
}
