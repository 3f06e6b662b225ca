/*  fg_report_svg.c — the report's drawing primitives: a growing text,
    numbers without the locale, XML escaping, nice ticks, a plot's frame,
    axes, legend and lines. Every chart is plain SVG 1.1 (no script, no
    external font: the generic family "sans-serif").                     */

#include "fg_report_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  The growing text

static bool
s_reserve (fg_rbuf_t *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->size + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap? b->cap: 4096;
    while (cap < b->size + more + 1)
        cap *= 2;
    char *data = realloc (b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

void
fg_rbuf_add (fg_rbuf_t *b, const char *text)
{
    size_t len = strlen (text);
    if (!s_reserve (b, len))
        return;
    memcpy (b->data + b->size, text, len + 1);
    b->size += len;
}

void
fg_rbuf_printf (fg_rbuf_t *b, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (NULL, 0, fmt, args);
    va_end (args);
    if (n < 0 || !s_reserve (b, (size_t) n))
        return;
    va_start (args, fmt);
    vsnprintf (b->data + b->size, (size_t) n + 1, fmt, args);
    va_end (args);
    b->size += (size_t) n;
}

//  Formats with printf's %.*f and then puts '.' for whatever the locale
//  made the decimal point: the bytes never depend on LC_NUMERIC.
void
fg_rbuf_num (fg_rbuf_t *b, double x, int decimals)
{
    char text [64];
    if (!isfinite (x) || fabs (x) > 1e15)
        x = 0;
    snprintf (text, sizeof text, "%.*f", decimals, x);
    for (char *p = text; *p; p++)
        if (*p != '-' && (*p < '0' || *p > '9'))
            *p = '.';
    bool zero = strspn (text, "-0.") == strlen (text);
    fg_rbuf_add (b, zero && text [0] == '-'? text + 1: text);
}

//  Length of the well-formed UTF-8 sequence at p (1..4), or 0.
static size_t
s_utf8 (const unsigned char *p)
{
    size_t len = p [0] >= 0xf0 && p [0] <= 0xf4? 4: p [0] >= 0xe0? 3: p [0] >= 0xc2? 2: 0;
    if (p [0] >= 0xf5)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p [i] & 0xc0) != 0x80)
            return 0;
    if ((len == 3 && p [0] == 0xe0 && p [1] < 0xa0) || (len == 3 && p [0] == 0xed && p [1] >= 0xa0)
    ||  (len == 4 && p [0] == 0xf0 && p [1] < 0x90) || (len == 4 && p [0] == 0xf4 && p [1] >= 0x90))
        return 0;                       //  overlong, surrogate, above U+10FFFF
    return len;
}

void
fg_rbuf_escape (fg_rbuf_t *b, const char *text)
{
    const unsigned char *p = (const unsigned char *) text;
    while (*p) {
        char one [2] = { (char) *p, 0 };
        const char *out = one;
        size_t len = 1;
        switch (*p) {
            case '&': out = "&amp;"; break;
            case '<': out = "&lt;"; break;
            case '>': out = "&gt;"; break;
            case '"': out = "&quot;"; break;
            case '\'': out = "&#39;"; break;
            case '\n': case '\t': break;
            default:
                if (*p < 0x20 || *p == 0x7f)
                    one [0] = '?';
                else
                if (*p >= 0x80) {
                    len = s_utf8 (p);
                    if (len == 0)
                        one [0] = '?', len = 1;
                    else {
                        char seq [5] = { 0 };
                        memcpy (seq, p, len);
                        fg_rbuf_add (b, seq);
                        p += len;
                        continue;
                    }
                }
        }
        fg_rbuf_add (b, out);
        p += len;
    }
}

void
fg_rbuf_free (fg_rbuf_t *b)
{
    free (b->data);
    memset (b, 0, sizeof *b);
}

//  --------------------------------------------------------------------------
//  Ticks

//  The nice step nearest range / target: 1, 2 or 5 times a power of ten.
static double
s_nice_step (double range, int target)
{
    double raw = range / (target > 0? target: 1);
    double power = pow (10, floor (log10 (raw)));
    double f = raw / power;
    return (f < 1.5? 1: f < 3.5? 2: f < 7.5? 5: 10) * power;
}

double
fg_report_ticks (double *lo, double *hi, int target, double *first, int *count)
{
    if (!isfinite (*lo) || !isfinite (*hi)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi < *lo) {
        double t = *lo;
        *lo = *hi;
        *hi = t;
    }
    if (*hi - *lo < 1e-12 * fmax (1, fabs (*hi))) {
        double pad = *lo == 0? 1: fabs (*lo) * 0.1;
        *lo -= pad;
        *hi += pad;
    }
    double step = s_nice_step (*hi - *lo, target);
    //  widen to whole steps, so the axis starts and ends on a tick
    *lo = floor (*lo / step + 1e-9) * step;
    *hi = ceil (*hi / step - 1e-9) * step;
    *first = *lo;
    *count = (int) floor ((*hi - *lo) / step + 0.5) + 1;
    return step;
}

//  Decimals that show a tick step exactly (step 0.05: 2).
static int
s_decimals (double step)
{
    int d = 0;
    while (d < 8 && fabs (step * pow (10, d) - round (step * pow (10, d))) > 1e-6)
        d++;
    return d;
}

//  --------------------------------------------------------------------------
//  The frame

double
fg_plot_x (const fg_plot_t *p, double x)
{
    double w = p->width - p->left - p->right;
    return p->left + (p->x1 > p->x0? (x - p->x0) / (p->x1 - p->x0): 0.5) * w;
}

double
fg_plot_y (const fg_plot_t *p, double y)
{
    double h = p->height - p->top - p->bottom;
    return p->top + h - (p->y1 > p->y0? (y - p->y0) / (p->y1 - p->y0): 0.5) * h;
}

static void
s_text (fg_rbuf_t *b, double x, double y, const char *anchor, const char *extra,
        const char *text)
{
    fg_rbuf_add (b, "<text x=\"");
    fg_rbuf_num (b, x, 1);
    fg_rbuf_add (b, "\" y=\"");
    fg_rbuf_num (b, y, 1);
    fg_rbuf_printf (b, "\" text-anchor=\"%s\"%s>", anchor, extra);
    fg_rbuf_escape (b, text);
    fg_rbuf_add (b, "</text>\n");
}

//  Ticks, grid lines and numbers of one axis (vertical: the y axis).
static void
s_axis (fg_rbuf_t *b, const fg_plot_t *p, bool vertical)
{
    double lo = vertical? p->y0: p->x0, hi = vertical? p->y1: p->x1, first;
    int count;
    double step = fg_report_ticks (&lo, &hi, vertical? 5: 8, &first, &count);
    if (!vertical && p->rounds_x) {
        //  rounds: whole numbers inside the range as given
        step = fmax (1, step);
        first = ceil (p->x0 / step - 1e-9) * step;
        if (first < 1)
            first = step > 1? step: 1;
        count = p->x1 >= first? (int) floor ((p->x1 - first) / step + 1e-9) + 1: 0;
    }
    int decimals = s_decimals (step);
    for (int i = 0; i < count && i < 64; i++) {
        double v = first + i * step;
        char label [64];
        fg_rbuf_t t = { 0 };
        fg_rbuf_num (&t, v, decimals);
        snprintf (label, sizeof label, "%s", t.failed || !t.data? "": t.data);
        fg_rbuf_free (&t);
        double at = vertical? fg_plot_y (p, v): fg_plot_x (p, v);
        fg_rbuf_add (b, "<line class=\"grid\" x1=\"");
        fg_rbuf_num (b, vertical? p->left: at, 1);
        fg_rbuf_add (b, "\" y1=\"");
        fg_rbuf_num (b, vertical? at: p->top, 1);
        fg_rbuf_add (b, "\" x2=\"");
        fg_rbuf_num (b, vertical? p->width - p->right: at, 1);
        fg_rbuf_add (b, "\" y2=\"");
        fg_rbuf_num (b, vertical? at: p->height - p->bottom, 1);
        fg_rbuf_add (b, "\" stroke=\"#ddd\"/>\n");
        if (vertical)
            s_text (b, p->left - 6, at + 4, "end", "", label);
        else
            s_text (b, at, p->height - p->bottom + 16, "middle", "", label);
    }
}

void
fg_plot_begin (fg_rbuf_t *b, fg_plot_t *p, const char *title, const char *xlabel,
               const char *ylabel)
{
    double first;
    int count;
    if (!p->rounds_x)
        fg_report_ticks (&p->x0, &p->x1, 8, &first, &count);
    else
    if (p->x1 <= p->x0)
        p->x1 = p->x0 + 1;
    if (!p->no_yticks)
        fg_report_ticks (&p->y0, &p->y1, 5, &first, &count);
    fg_rbuf_add (b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"");
    fg_rbuf_num (b, p->width, 0);
    fg_rbuf_add (b, "\" height=\"");
    fg_rbuf_num (b, p->height, 0);
    fg_rbuf_add (b, "\" viewBox=\"0 0 ");
    fg_rbuf_num (b, p->width, 0);
    fg_rbuf_add (b, " ");
    fg_rbuf_num (b, p->height, 0);
    fg_rbuf_add (b, "\" font-family=\"sans-serif\" font-size=\"11\">\n<title>");
    fg_rbuf_escape (b, title);
    fg_rbuf_add (b, "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    s_text (b, p->width / 2, 16, "middle", " font-size=\"13\" font-weight=\"bold\"", title);
    if (!p->no_yticks)
        s_axis (b, p, true);
    s_axis (b, p, false);
    fg_rbuf_add (b, "<rect class=\"frame\" x=\"");
    fg_rbuf_num (b, p->left, 1);
    fg_rbuf_add (b, "\" y=\"");
    fg_rbuf_num (b, p->top, 1);
    fg_rbuf_add (b, "\" width=\"");
    fg_rbuf_num (b, p->width - p->left - p->right, 1);
    fg_rbuf_add (b, "\" height=\"");
    fg_rbuf_num (b, p->height - p->top - p->bottom, 1);
    fg_rbuf_add (b, "\" fill=\"none\" stroke=\"#888\"/>\n");
    s_text (b, p->left + (p->width - p->left - p->right) / 2, p->height - p->bottom + 32,
            "middle", "", xlabel);
    if (!ylabel)
        return;
    char rotate [128];
    snprintf (rotate, sizeof rotate, " transform=\"rotate(-90 14 %d)\"",
              (int) (p->top + (p->height - p->top - p->bottom) / 2));
    s_text (b, 14, (int) (p->top + (p->height - p->top - p->bottom) / 2), "middle", rotate,
            ylabel);
}

void
fg_plot_end (fg_rbuf_t *b)
{
    fg_rbuf_add (b, "</svg>\n");
}

void
fg_plot_legend (fg_rbuf_t *b, const fg_plot_t *p, const char *const *colour,
                const char *const *text, size_t n)
{
    double x = p->legend_x > 0? p->legend_x: p->left + 8, y = p->top + 14;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        longest = strlen (text [i]) > longest? strlen (text [i]): longest;
    if (n) {                            //  a backing, so lines under it do not cross the text
        fg_rbuf_add (b, "<rect class=\"legend-box\" fill=\"#fff\" fill-opacity=\"0.85\" x=\"");
        fg_rbuf_num (b, x - 4, 1);
        fg_rbuf_add (b, "\" y=\"");
        fg_rbuf_num (b, y - 12, 1);
        fg_rbuf_add (b, "\" width=\"");
        fg_rbuf_num (b, 24 + 6.2 * (double) (longest < 90? longest: 90), 1);
        fg_rbuf_add (b, "\" height=\"");
        fg_rbuf_num (b, 15 * (double) n + 2, 1);
        fg_rbuf_add (b, "\"/>\n");
    }
    for (size_t i = 0; i < n; i++, y += 15) {
        fg_rbuf_add (b, "<rect x=\"");
        fg_rbuf_num (b, x, 1);
        fg_rbuf_add (b, "\" y=\"");
        fg_rbuf_num (b, y - 8, 1);
        fg_rbuf_printf (b, "\" width=\"12\" height=\"8\" fill=\"%s\"/>\n", colour [i]);
        s_text (b, x + 16, y, "start", " class=\"legend\"", text [i]);
    }
}

const char *
fg_plot_colour (size_t i)
{
    //  Okabe and Ito's palette, without its yellow (too light on white)
    static const char *const palette [] = {
        "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000"
    };
    return palette [i % (sizeof palette / sizeof palette [0])];
}

void
fg_plot_line (fg_rbuf_t *b, const fg_plot_t *p, const double *x, const double *y, size_t n,
              const char *colour, const char *dash)
{
    bool open = false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite (x [i]) || !isfinite (y [i])) {
            if (open)
                fg_rbuf_add (b, "\"/>\n");
            open = false;
            continue;
        }
        if (!open) {
            fg_rbuf_printf (b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s%s%s "
                            "d=\"M", colour, dash? " stroke-dasharray=\"": "", dash? dash: "",
                            dash? "\"": "");
            open = true;
        }
        else
            fg_rbuf_add (b, " L");
        fg_rbuf_num (b, fg_plot_x (p, x [i]), 1);
        fg_rbuf_add (b, ",");
        fg_rbuf_num (b, fg_plot_y (p, y [i]), 1);
    }
    if (open)
        fg_rbuf_add (b, "\"/>\n");
    //  points too, while they are few: a series of one round shows
    for (size_t i = 0; n <= 40 && i < n; i++) {
        if (!isfinite (x [i]) || !isfinite (y [i]))
            continue;
        fg_rbuf_add (b, "<circle cx=\"");
        fg_rbuf_num (b, fg_plot_x (p, x [i]), 1);
        fg_rbuf_add (b, "\" cy=\"");
        fg_rbuf_num (b, fg_plot_y (p, y [i]), 1);
        fg_rbuf_printf (b, "\" r=\"2.5\" fill=\"%s\"/>\n", colour);
    }
}
