/*  fedctl report — an experiment's files drawn: one self-contained HTML
    page (inline SVG charts, no script, no network) of one or more
    experiment folders, and with --svg each chart as its own SVG file.
    The drawing is lib/fg_report; what each chart shows: docs/report.md.  */

#include "fedctl.h"
#include "fg_file.h"
#include "fg_report.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void
s_report_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl report DIR [DIR...] [-o FILE.html] [--svg OUTDIR]\n"
        "\n"
        "Draws the experiments in the folders (their fedgrid.toml, rounds.csv and\n"
        "clients.csv) into one self-contained HTML page: global test accuracy and\n"
        "loss per round (the experiments overlaid, labelled by the configuration\n"
        "keys in which they differ), the local training loss of each shard, a\n"
        "timeline per worker, the time per round by phase, and each experiment's\n"
        "configuration and hash. A running experiment shows what is committed so\n"
        "far. Up to %d folders.\n"
        "\n"
        "  -o, --output FILE   the page (default: DIR/report.html of the first DIR)\n"
        "      --svg OUTDIR    also write each chart as OUTDIR/<chart>.svg\n",
        FG_REPORT_EXP_MAX);
}

//  Writes each chart into outdir (created when missing).
static int
s_write_svgs (const char *outdir, const fg_report_chart_t *charts, size_t count)
{
    fg_error_t err;
    if (fg_file_mkdirs (outdir, &err)) {
        fedctl_fail ("%s", err.msg);
        return EX_CANTCREAT;
    }
    for (size_t i = 0; i < count; i++) {
        char path [4200];
        if ((size_t) snprintf (path, sizeof path, "%s/%s", outdir, charts [i].file)
            >= sizeof path) {
            fedctl_fail ("%s: path too long", outdir);
            return EX_USAGE;
        }
        if (fg_file_write_atomic (path, charts [i].svg, charts [i].size, 0644, 0, &err)) {
            fedctl_fail ("%s", err.msg);
            return EX_CANTCREAT;
        }
        printf ("%s\n", path);
    }
    return EX_OK;
}

//  The page and, with outdir, the SVG files of the loaded experiments.
static int
s_render (const fg_report_exp_t *exps, size_t n, const char *output, const char *outdir)
{
    fg_error_t err;
    char *html = NULL;
    size_t size = 0;
    if (fg_report_html (exps, n, &html, &size, &err)) {
        fedctl_fail ("%s", err.msg);
        return EX_SOFTWARE;
    }
    int rc = EX_OK;
    if (fg_file_write_atomic (output, html, size, 0644, 0, &err)) {
        fedctl_fail ("%s", err.msg);
        rc = EX_CANTCREAT;
    }
    else
        printf ("%s\n", output);
    free (html);
    fg_report_chart_t *charts = NULL;
    size_t count = 0;
    if (rc == EX_OK && outdir) {
        if (fg_report_charts (exps, n, &charts, &count, &err)) {
            fedctl_fail ("%s", err.msg);
            return EX_SOFTWARE;
        }
        rc = s_write_svgs (outdir, charts, count);
        fg_report_charts_free (&charts, count);
    }
    return rc;
}

int
fedctl_cmd_report (int argc, char **argv)
{
    static const struct option options [] = {
        { "output", required_argument, NULL, 'o' },
        { "svg",    required_argument, NULL, 'S' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *output = NULL, *outdir = NULL;
    int c;
    while ((c = getopt_long (argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
            case 'o': output = optarg; break;
            case 'S': outdir = optarg; break;
            case 'h': s_report_usage (stdout); return EX_OK;
            default:  s_report_usage (stderr); return EX_USAGE;
        }
    }
    size_t n = (size_t) (argc - optind);
    if (n == 0 || n > FG_REPORT_EXP_MAX) {
        fedctl_fail (n? "at most %d folders": "expected DIR (an experiment folder)",
                     FG_REPORT_EXP_MAX);
        s_report_usage (stderr);
        return EX_USAGE;
    }
    fg_report_exp_t exps [FG_REPORT_EXP_MAX];
    int rc = EX_OK;
    size_t loaded = 0;
    for (; loaded < n && rc == EX_OK; loaded++) {
        fg_error_t err;
        int code = fg_report_load (argv [optind + (int) loaded], &exps [loaded], &err);
        if (code) {
            fedctl_fail ("%s", err.msg);
            rc = fedctl_exit_code (code);
            break;
        }
    }
    char fallback [4200];
    if (rc == EX_OK && !output) {
        snprintf (fallback, sizeof fallback, "%s/report.html", argv [optind]);
        output = fallback;
    }
    if (rc == EX_OK)
        rc = s_render (exps, n, output, outdir);
    for (size_t i = 0; i < loaded; i++)
        fg_report_exp_release (&exps [i]);
    return rc;
}
