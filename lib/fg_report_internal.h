/*  fg_report_internal.h — what the report's files share: a growing text
    buffer, locale-free numbers, escaping, the plot frame.                */

#ifndef FG_REPORT_INTERNAL_H_INCLUDED
#define FG_REPORT_INTERNAL_H_INCLUDED

#include "fg_report.h"
#include <stdbool.h>

//  Adds a line to exp->notes (what is missing or cut short); full notes
//  drop what does not fit.
void fg_report_note (fg_report_exp_t *exp, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  A growing text; `failed` once an allocation failed (later adds do
//  nothing), so writers check once at the end.
typedef struct {
    char  *data;
    size_t size;
    size_t cap;
    bool   failed;
} fg_rbuf_t;

void fg_rbuf_add (fg_rbuf_t *b, const char *text);
void fg_rbuf_printf (fg_rbuf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
//  x with `decimals` digits after the point, '.' whatever the locale,
//  no "-0"; NaN or infinity as "0" (callers leave those out first).
void fg_rbuf_num (fg_rbuf_t *b, double x, int decimals);
//  text escaped for XML/HTML (& < > " '), control bytes and malformed
//  UTF-8 replaced by '?'
void fg_rbuf_escape (fg_rbuf_t *b, const char *text);
void fg_rbuf_free (fg_rbuf_t *b);

//  A plot: the SVG's size, the data area inside it, the data ranges.
typedef struct {
    double width, height;           //  whole SVG, px
    double left, right, top, bottom;    //  margins, px
    double x0, x1, y0, y1;          //  data ranges (after the ticks widened them)
    bool   no_yticks;               //  the y axis is lanes, not numbers
    bool   rounds_x;                //  the x axis is rounds: whole ticks, range kept
    double legend_x;                //  the legend's left edge; 0: inside, top left
} fg_plot_t;

double fg_plot_x (const fg_plot_t *p, double x);
double fg_plot_y (const fg_plot_t *p, double y);
//  The SVG's opening tag, title and axes with ticks and labels; the
//  ranges of p are widened to whole ticks. ylabel/xlabel/title escaped.
void fg_plot_begin (fg_rbuf_t *b, fg_plot_t *p, const char *title, const char *xlabel,
                    const char *ylabel);
void fg_plot_end (fg_rbuf_t *b);
//  The legend: n entries of colour and text, top right inside the plot.
void fg_plot_legend (fg_rbuf_t *b, const fg_plot_t *p, const char *const *colour,
                     const char *const *text, size_t n);
//  The i-th colour of the series palette (colour-blind safe, cycles).
const char *fg_plot_colour (size_t i);
//  A polyline of the points with finite x and y (a gap breaks it).
void fg_plot_line (fg_rbuf_t *b, const fg_plot_t *p, const double *x, const double *y,
                   size_t n, const char *colour, const char *dash);

//  The local-loss chart of one experiment (fg_report_shards.c) and its
//  median of sorted values (n > 0).
double fg_report_median (const double *sorted, size_t n);
int fg_report_chart_shards (fg_rbuf_t *b, const fg_report_exp_t *exp, const char *label);
//  The timeline per worker and the time per round (fg_report_time.c).
int fg_report_chart_timeline (fg_rbuf_t *b, const fg_report_exp_t *exp, const char *label);
int fg_report_chart_time (fg_rbuf_t *b, const fg_report_exp_t *exp, const char *label);

//  Shards drawn one line each up to this many; median and min..max above.
#define FG_REPORT_SHARD_LINES 12

#endif
