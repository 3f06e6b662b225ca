/*  test_report.c — lib/fg_report: the experiment files read (every layout,
    partial last lines, bad fields named by file:line), axes and ticks,
    escaping, shard lines and bands, overlays and their labels, the page
    self-contained and deterministic, and an experiment folder loaded.   */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_file.h"
#include "fg_report.h"
#include "fg_report_internal.h"
#include "fg_test_util.h"

#define S_ROUNDS_HEAD "round,test_accuracy,test_loss,train_loss,updates,samples,seconds," \
                      "wasted_seconds,wasted_copies,units_seconds,aggregate_seconds," \
                      "eval_seconds,commit_seconds,committed_unix_s\n"
#define S_CLIENTS_HEAD "round,shard,node,attempt,samples,local_losses,seconds,update_bytes," \
                       "outcome,fetched_bytes,kind,held_seconds,wasted_seconds,ended_unix_s\n"

static int
s_rounds (fg_report_exp_t *exp, const char *text, fg_error_t *err)
{
    return fg_report_rounds_parse (exp, text, strlen (text), "x/rounds.csv", err);
}

static int
s_clients (fg_report_exp_t *exp, const char *text, fg_error_t *err)
{
    return fg_report_clients_parse (exp, text, strlen (text), "x/clients.csv", err);
}

static size_t
s_count (const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr (p, needle)); p += strlen (needle))
        n++;
    return n;
}

//  ---- parsing ---------------------------------------------------------------

static void
test_rounds_layouts (void **state)
{
    (void) state;
    fg_report_exp_t exp = { .name = "x" };
    fg_error_t err;
    assert_int_equal (s_rounds (&exp, S_ROUNDS_HEAD
        "1,0.500000,1.2,1.9,4,800,1.316,0.000,0,1.240,0.002,0.067,0.032,1796661057.909\n"
        "2,0.750000,nan,1.0,4,800,1.5,,,,,,,\n", &err), 0);
    assert_int_equal (exp.nrounds, 2);
    assert_int_equal (exp.rounds [0].round, 1);
    assert_true (fabs (exp.rounds [0].units_s - 1.24) < 1e-12);
    assert_true (fabs (exp.rounds [0].commit_s - 0.032) < 1e-12);
    assert_true (isnan (exp.rounds [1].test_loss));     //  not measured
    assert_true (isnan (exp.rounds [1].units_s));       //  rebuilt row: not recorded
    fg_report_exp_release (&exp);
    //  the first layout: no waste, no split; read by name
    assert_int_equal (s_rounds (&exp, "round,test_accuracy,test_loss,train_loss,updates,"
                                "samples,seconds\n3,0.9,0.3,0.4,2,100,2.0\n", &err), 0);
    assert_int_equal (exp.nrounds, 1);
    assert_true (isnan (exp.rounds [0].eval_s));
    assert_true (fabs (exp.rounds [0].seconds - 2.0) < 1e-12);
    fg_report_exp_release (&exp);
}

static void
test_partial_last_line (void **state)
{
    (void) state;
    fg_report_exp_t exp = { .name = "x" };
    fg_error_t err;
    //  a row being appended: cut inside its number
    assert_int_equal (s_clients (&exp, S_CLIENTS_HEAD
        "1,0,a,1,200,1.8;1.5,0.6,7,accepted,0,first,0.7,0.000,100.5\n"
        "1,1,b,1,200,1.8;1.", &err), 0);
    assert_int_equal (exp.ncopies, 1);
    assert_true (fabs (exp.copies [0].loss - 1.5) < 1e-12);    //  the last epoch's
    assert_non_null (strstr (exp.notes, "x/clients.csv: line 3 is cut short"));
    fg_report_exp_release (&exp);
    //  only a partial header: no rows, said so
    assert_int_equal (s_clients (&exp, "round,shard,no", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/clients.csv: no header line"));
    fg_report_exp_release (&exp);
}

static void
test_bad_files_named (void **state)
{
    (void) state;
    fg_report_exp_t exp = { .name = "x" };
    fg_error_t err;
    assert_int_equal (s_rounds (&exp, S_ROUNDS_HEAD
        "1,0.5,1.2,1.9,4,800,1.3,0,0,1,0,0,0,1\n2,0.6,1.x,1.9,4,800,1.3,0,0,1,0,0,0,1\n", &err),
        FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/rounds.csv:3: column test_loss: \"1.x\""));
    fg_report_exp_release (&exp);
    assert_int_equal (s_rounds (&exp, S_ROUNDS_HEAD "1,1.5,1,1,4,8,1,0,0,1,0,0,0,1\n", &err),
                      FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/rounds.csv:2: column test_accuracy"));
    assert_int_equal (s_rounds (&exp, S_ROUNDS_HEAD "2,0.5,1,1,4,8,1,0,0,1,0,0,0,1\n"
                                "2,0.5,1,1,4,8,1,0,0,1,0,0,0,1\n", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/rounds.csv:3: column round"));
    fg_report_exp_release (&exp);
    assert_int_equal (s_rounds (&exp, S_ROUNDS_HEAD "1,0.5,1,1\n", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/rounds.csv:2: 4 columns, the header has 14"));
    assert_int_equal (s_rounds (&exp, "a,b\n", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/rounds.csv:1: no column \"round\""));
    assert_int_equal (s_rounds (&exp, S_ROUNDS_HEAD "99999999999,0.5,1,1,4,8,1,0,0,1,0,0,0,1\n",
                                &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "column round"));
    fg_report_exp_release (&exp);
    //  clients.csv: a control byte in a node name, a word that is no outcome
    assert_int_equal (s_clients (&exp, S_CLIENTS_HEAD
        "1,0,a\x01,1,200,1.8,0.6,7,accepted,0,first,0.7,0.000,100.5\n", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/clients.csv:2: column node"));
    assert_int_equal (s_clients (&exp, S_CLIENTS_HEAD
        "1,0,a,1,200,1.8,0.6,7,<b>,0,first,0.7,0.000,100.5\n", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "x/clients.csv:2: column outcome"));
    assert_int_equal (s_clients (&exp, S_CLIENTS_HEAD
        "1,0,a,1,200,1.8;x,0.6,7,accepted,0,first,0.7,0.000,100.5\n", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "column local_losses"));
    assert_int_equal (s_clients (&exp, S_CLIENTS_HEAD
        "1,0,a,1,200,1.8,-1,7,accepted,0,first,0.7,0.000,100.5\n", &err), FG_EFORMAT);
    assert_int_equal (fg_report_clients_parse (&exp, "round\0x\n", 8, "n.csv", &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "n.csv: holds a NUL byte"));
    fg_report_exp_release (&exp);
}

//  ---- drawing primitives ----------------------------------------------------

static void
test_ticks (void **state)
{
    (void) state;
    double lo = 0.013, hi = 0.93, first;
    int count;
    double step = fg_report_ticks (&lo, &hi, 5, &first, &count);
    assert_true (fabs (step - 0.2) < 1e-12);
    assert_true (fabs (lo) < 1e-12 && fabs (hi - 1.0) < 1e-12);
    assert_int_equal (count, 6);
    lo = 72.5, hi = 100;
    step = fg_report_ticks (&lo, &hi, 5, &first, &count);
    assert_true (fabs (step - 5) < 1e-12 && fabs (lo - 70) < 1e-12 && count == 7);
    lo = hi = 3;                        //  one value: widened around it
    step = fg_report_ticks (&lo, &hi, 5, &first, &count);
    assert_true (lo < 3 && hi > 3 && step > 0 && count >= 2);
    lo = NAN, hi = 1;                   //  nothing to draw: 0..1
    fg_report_ticks (&lo, &hi, 5, &first, &count);
    assert_true (lo == 0 && hi == 1);
    lo = -7, hi = -0.5;
    step = fg_report_ticks (&lo, &hi, 5, &first, &count);
    assert_true (fabs (step - 1) < 1e-12 && fabs (lo + 7) < 1e-12 && fabs (hi) < 1e-12);
    assert_int_equal (count, 8);
}

static void
test_escape_and_numbers (void **state)
{
    (void) state;
    fg_rbuf_t b = { 0 };
    fg_rbuf_escape (&b, "<script>alert('x')</script> & \"q\"");
    assert_string_equal (b.data, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
                                 "&quot;q&quot;");
    fg_rbuf_free (&b);
    //  UTF-8 kept; a bad byte, an overlong form, a control byte replaced
    fg_rbuf_escape (&b, "caf\xc3\xa9 \xff \xc0\xaf \x01.");
    assert_string_equal (b.data, "caf\xc3\xa9 ? ?? ?.");
    fg_rbuf_free (&b);
    fg_rbuf_num (&b, -0.0001, 2);
    fg_rbuf_add (&b, " ");
    fg_rbuf_num (&b, 1.5, 2);
    fg_rbuf_add (&b, " ");
    fg_rbuf_num (&b, NAN, 1);
    fg_rbuf_add (&b, " ");
    fg_rbuf_num (&b, -2.25, 1);
    assert_string_equal (b.data, "0.00 1.50 0.0 -2.2");
    fg_rbuf_free (&b);
}

//  ---- charts ----------------------------------------------------------------

//  An experiment of `shards` shards over `rounds` rounds, every unit
//  accepted, with a loss that falls per round and differs per shard.
static void
s_make (fg_report_exp_t *exp, const char *name, uint32_t shards, uint32_t rounds,
        const char *config)
{
    memset (exp, 0, sizeof *exp);
    snprintf (exp->name, sizeof exp->name, "%s", name);
    exp->config = config? strdup (config): NULL;
    exp->rounds = calloc (rounds, sizeof *exp->rounds);
    exp->copies = calloc ((size_t) rounds * shards, sizeof *exp->copies);
    for (uint32_t r = 0; r < rounds; r++) {
        exp->rounds [r] = (fg_report_round_t) { r + 1, shards, 0.5 + 0.1 * r, 1.0 / (r + 1),
            1.0, 2.0, 1.5, 0.1, 0.2, 0.05, 1000.0 + 2 * r };
        for (uint32_t s = 0; s < shards; s++) {
            fg_report_copy_t *c = &exp->copies [exp->ncopies++];
            *c = (fg_report_copy_t) { .round = r + 1, .shard = s, .attempt = 1,
                .loss = 2.0 / (r + 1) + 0.01 * s, .seconds = 1.0, .held_s = 1.4,
                .ended_unix = 999.0 + 2 * r + 0.01 * s };
            snprintf (c->node, sizeof c->node, "node-%u", s % 3);
            strcpy (c->outcome, "accepted");
            strcpy (c->kind, "first");
        }
    }
    exp->nrounds = rounds;
}

static void
test_shard_lines_and_bands (void **state)
{
    (void) state;
    fg_report_exp_t exp;
    s_make (&exp, "few", 4, 5, NULL);
    fg_rbuf_t b = { 0 };
    assert_int_equal (fg_report_chart_shards (&b, &exp, "few"), 0);
    assert_int_equal (s_count (b.data, "<path fill=\"none\""), 4);      //  a line per shard
    assert_null (strstr (b.data, "class=\"band\""));
    assert_non_null (strstr (b.data, ">shard 3</text>"));
    fg_rbuf_free (&b);
    fg_report_exp_release (&exp);
    s_make (&exp, "many", 20, 5, NULL);
    assert_int_equal (fg_report_chart_shards (&b, &exp, "many"), 0);
    assert_int_equal (s_count (b.data, "class=\"band\""), 1);          //  min..max
    assert_int_equal (s_count (b.data, "<path fill=\"none\""), 1);      //  the median
    assert_non_null (strstr (b.data, "median of the shards"));
    fg_rbuf_free (&b);
    fg_report_exp_release (&exp);
    double odd [] = { 1, 2, 9 }, even [] = { 1, 2, 4, 9 };
    assert_true (fg_report_median (odd, 3) == 2 && fg_report_median (even, 4) == 3);
}

static void
test_timeline_and_time (void **state)
{
    (void) state;
    fg_report_exp_t exp;
    s_make (&exp, "t", 3, 2, NULL);
    strcpy (exp.copies [1].outcome, "lost");
    strcpy (exp.copies [2].kind, "backup");
    fg_rbuf_t b = { 0 };
    assert_int_equal (fg_report_chart_timeline (&b, &exp, "t"), 0);
    assert_int_equal (s_count (b.data, "class=\"copy\""), 6);
    assert_int_equal (s_count (b.data, "class=\"commit\""), 2);
    assert_int_equal (s_count (b.data, "stroke-dasharray=\"3,2\""), 1);    //  the backup
    assert_non_null (strstr (b.data, "seconds since the first unit"));
    fg_rbuf_free (&b);
    //  five phases per timed round; a round without its split: one grey bar
    exp.rounds [1].units_s = NAN;
    assert_int_equal (fg_report_chart_time (&b, &exp, "t"), 0);
    assert_int_equal (s_count (b.data, "class=\"phase\""), 5 + 1);
    assert_non_null (strstr (b.data, "round 2: not split"));
    fg_rbuf_free (&b);
    //  clients.csv without times: copies placed by round
    for (size_t i = 0; i < exp.ncopies; i++)
        exp.copies [i].ended_unix = NAN;
    assert_int_equal (fg_report_chart_timeline (&b, &exp, "t"), 0);
    assert_non_null (strstr (b.data, "copies by round"));
    fg_rbuf_free (&b);
    fg_report_exp_release (&exp);
}

static void
test_overlay_labels_page (void **state)
{
    (void) state;
    fg_report_exp_t exps [2];
    s_make (&exps [0], "a", 4, 3, "[data]\nbalance = 1.0\nname = \"<script>x</script>\"\n"
                                  "[training]\nlr = 0.1\n");
    s_make (&exps [1], "b", 4, 3, "[data]\nbalance = 0.8\nname = \"<script>x</script>\"\n"
                                  "[training]\nlr = 0.1\n");
    strcpy (exps [1].copies [0].node, "<img src=x onerror=alert(1)>");
    char *labels [2];
    assert_int_equal (fg_report_labels (exps, 2, labels), 0);
    assert_string_equal (labels [0], "data.balance = 1.0");
    assert_string_equal (labels [1], "data.balance = 0.8");
    free (labels [0]);
    free (labels [1]);
    char *html = NULL, *again = NULL;
    size_t size = 0, size2 = 0;
    fg_error_t err;
    assert_int_equal (fg_report_html (exps, 2, &html, &size, &err), 0);
    //  2 overlays + 3 charts per experiment, every one inline
    assert_int_equal (s_count (html, "<svg xmlns="), 8);
    assert_int_equal (s_count (html, ">data.balance = 0.8</text>"), 2);  //  both overlays' legends
    assert_null (strstr (html, "<script"));
    assert_null (strstr (html, "<img"));
    assert_non_null (strstr (html, "&lt;script&gt;x&lt;/script&gt;"));
    //  nothing fetched: the only URLs are the SVG namespace's name
    assert_int_equal (s_count (html, "http:"), s_count (html, "xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null (strstr (html, "&lt;img src=x onerror=alert(1)&gt;"));
    //  deterministic: the same bytes again
    assert_int_equal (fg_report_html (exps, 2, &again, &size2, &err), 0);
    assert_int_equal (size, size2);
    assert_memory_equal (html, again, size);
    free (html);
    free (again);
    fg_report_chart_t *charts;
    size_t count;
    assert_int_equal (fg_report_charts (exps, 2, &charts, &count, &err), 0);
    assert_int_equal (count, 8);
    assert_string_equal (charts [0].file, "accuracy.svg");
    assert_string_equal (charts [7].file, "round-time-2.svg");
    assert_int_equal (s_count (charts [0].svg, "<path fill=\"none\""), 2);  //  overlaid
    fg_report_charts_free (&charts, count);
    assert_int_equal (fg_report_charts (exps, 0, &charts, &count, &err), FG_EINVAL);
    fg_report_exp_release (&exps [0]);
    fg_report_exp_release (&exps [1]);
}

static void
test_journal_events (void **state)
{
    (void) state;
    fg_report_event_t e;
    assert_true (fg_report_event_parse ("node vm-local-0 joined (1 cores, kernel x)", 5.5, 1, &e));
    assert_string_equal (e.node, "vm-local-0");
    assert_string_equal (e.what, "joined");
    assert_true (e.unix_s == 5.5 && e.round == 1);
    assert_true (fg_report_event_parse ("node w 2 removed: silent", 6, 2, &e));
    assert_string_equal (e.node, "w 2");
    assert_string_equal (e.why, "silent");
    assert_true (fg_report_event_parse ("strike 2 against node liar: outvoted on shard 1", 7, 2,
                                        &e));
    assert_string_equal (e.node, "liar");
    assert_string_equal (e.what, "strike");
    assert_true (fg_report_event_parse ("node liar quarantined for this experiment: 3 strikes",
                                        8, 2, &e));
    assert_string_equal (e.what, "quarantined");
    assert_false (fg_report_event_parse ("round 1 committed: 4 updates", 9, 1, &e));
    assert_false (fg_report_event_parse ("node  removed: silent", 9, 1, &e));  //  no name
    assert_false (fg_report_event_parse ("strike 1 against node x", 9, 1, &e));
    //  drawn in their node's lane, one mark each, the text escaped
    fg_report_exp_t exp;
    s_make (&exp, "ev", 2, 2, NULL);
    exp.events = calloc (3, sizeof *exp.events);
    assert_true (fg_report_event_parse ("node node-0 joined (x)", 998.0, 1, &exp.events [0]));
    assert_true (fg_report_event_parse ("node node-1 removed: <b>silent</b>", 1001.5, 2,
                                        &exp.events [1]));
    assert_true (fg_report_event_parse ("node idle removed: said BYE", 1001.0, 2,
                                        &exp.events [2]));
    exp.nevents = 3;
    fg_rbuf_t b = { 0 };
    assert_int_equal (fg_report_chart_timeline (&b, &exp, "ev"), 0);
    assert_int_equal (s_count (b.data, "class=\"event\""), 3);
    assert_int_equal (s_count (b.data, "<rect fill=\"#cc0000\""), 2);     //  two removals
    assert_non_null (strstr (b.data, ">idle</text>"));    //  a lane for an idle node's disconnect
    assert_non_null (strstr (b.data, "removed: &lt;b&gt;silent&lt;/b&gt;"));
    fg_rbuf_free (&b);
    fg_report_exp_release (&exp);
}

//  ---- a folder ----------------------------------------------------------------

static void
s_write (const char *dir, const char *name, const char *text)
{
    char path [512];
    fg_error_t err;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    assert_int_equal (fg_file_write_atomic (path, text, strlen (text), 0644, 0, &err), 0);
}

static void
test_load_folder (void **state)
{
    (void) state;
    char dir [256];
    assert_int_equal (fg_test_tmpdir ("report", dir, sizeof dir), 0);
    fg_report_exp_t exp;
    fg_error_t err;
    //  nothing yet: every file noted missing, no error
    assert_int_equal (fg_report_load (dir, &exp, &err), 0);
    assert_non_null (strstr (exp.notes, "fedgrid.toml: missing"));
    assert_non_null (strstr (exp.notes, "rounds.csv: missing"));
    assert_non_null (strstr (exp.notes, "no journal"));
    assert_int_equal (exp.nrounds + exp.ncopies, 0);
    fg_report_exp_release (&exp);
    s_write (dir, "fedgrid.toml", "[experiment]\nrounds = 3\n");
    s_write (dir, "rounds.csv", S_ROUNDS_HEAD "1,0.5,1,1,4,8,1,0,0,1,0,0,0,1\n");
    s_write (dir, "clients.csv", S_CLIENTS_HEAD "1,0,a,1,200,1.8,0.6,7,accepted,0,first,0.7,0,5\n");
    assert_int_equal (fg_report_load (dir, &exp, &err), 0);
    assert_int_equal (strlen (exp.hash), 64);
    assert_non_null (exp.config);
    assert_int_equal (exp.nrounds, 1);
    assert_int_equal (exp.ncopies, 1);
    fg_report_exp_release (&exp);
    //  a bad configuration: named with its line
    s_write (dir, "fedgrid.toml", "[experiment]\nrounds = many\n");
    assert_int_not_equal (fg_report_load (dir, &exp, &err), 0);
    assert_non_null (strstr (err.msg, "fedgrid.toml:2"));
    assert_null (exp.config);
    s_write (dir, "fedgrid.toml", "[experiment]\nrounds = 3\n");
    char missing [300];
    snprintf (missing, sizeof missing, "%s/nope", dir);
    assert_int_equal (fg_report_load (missing, &exp, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "nope: no such experiment folder"));
    assert_int_equal (fg_test_rmtree (dir), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_rounds_layouts),
        cmocka_unit_test (test_partial_last_line),
        cmocka_unit_test (test_bad_files_named),
        cmocka_unit_test (test_ticks),
        cmocka_unit_test (test_escape_and_numbers),
        cmocka_unit_test (test_shard_lines_and_bands),
        cmocka_unit_test (test_timeline_and_time),
        cmocka_unit_test (test_overlay_labels_page),
        cmocka_unit_test (test_journal_events),
        cmocka_unit_test (test_load_folder),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
