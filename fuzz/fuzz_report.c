/*  fuzz_report.c — libFuzzer harness for the report's readers of
    rounds.csv and clients.csv (lib/fg_report_csv.c), and the drawing of
    what they accept. The first byte picks the file (even: rounds.csv,
    odd: clients.csv); the rest is its text.
    Oracles: a refused file has an error naming it; an accepted one draws
    a page in which no input became markup (no "<script", no "<img"), and
    the same page twice (deterministic).                                  */

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_report.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    //  the same bytes as a journal event's text
    char *event = malloc (size + 1);
    if (event) {
        memcpy (event, data, size);
        event [size] = 0;
        fg_report_event_t e;
        if (fg_report_event_parse (event, 1.0, 1, &e))
            assert (e.node [0] && strlen (e.node) < FG_REPORT_NODE_MAX);
        free (event);
    }
    fg_report_exp_t exp;
    memset (&exp, 0, sizeof exp);
    strcpy (exp.name, "fuzz");
    fg_error_t err;
    bool rounds = (data [0] & 1) == 0;
    const char *text = (const char *) data + 1;
    int rc = rounds? fg_report_rounds_parse (&exp, text, size - 1, "fuzz.csv", &err)
                   : fg_report_clients_parse (&exp, text, size - 1, "fuzz.csv", &err);
    if (rc) {
        assert (err.code < 0 && strstr (err.msg, "fuzz.csv"));
        fg_report_exp_release (&exp);
        return 0;
    }
    char *html = NULL, *again = NULL;
    size_t n = 0, m = 0;
    if (fg_report_html (&exp, 1, &html, &n, &err) == 0
    &&  fg_report_html (&exp, 1, &again, &m, &err) == 0) {
        assert (n == m && memcmp (html, again, n) == 0);
        assert (!strstr (html, "<script") && !strstr (html, "<img"));
    }
    free (html);
    free (again);
    fg_report_exp_release (&exp);
    return 0;
}
