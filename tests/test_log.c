/*  test_log.c — levels, sink, NO_COLOR.                                  */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_error.h"
#include "fg_log.h"

typedef struct { int calls; fg_log_level_t level; char line [256]; } s_capture_t;

static void
s_sink (fg_log_level_t level, const char *line, void *arg)
{
    s_capture_t *capture = (s_capture_t *) arg;
    capture->calls++;
    capture->level = level;
    snprintf (capture->line, sizeof capture->line, "%s", line);
}

static void
test_level_filters (void **state)
{
    s_capture_t capture = { 0 };
    fg_log_set_sink (s_sink, &capture);
    fg_log_set_level (FG_LOG_WARN);
    fg_info ("hidden %d", 1);
    assert_int_equal (capture.calls, 0);
    fg_warn ("shown %d", 2);
    assert_int_equal (capture.calls, 1);
    assert_int_equal (capture.level, FG_LOG_WARN);
    assert_string_equal (capture.line, "shown 2");
    fg_log_set_level (FG_LOG_TRACE);
    fg_trace ("deep");
    assert_int_equal (capture.calls, 2);
    fg_log_set_sink (NULL, NULL);
}

static void
test_level_parse (void **state)
{
    fg_log_level_t level = FG_LOG_INFO;
    assert_int_equal (fg_log_level_parse ("debug", &level), 0);
    assert_int_equal (level, FG_LOG_DEBUG);
    assert_int_equal (fg_log_level_parse ("loud", &level), FG_EINVAL);
    assert_int_equal (level, FG_LOG_DEBUG);
    assert_int_equal (fg_log_level_parse (NULL, &level), FG_EINVAL);
}

static void
test_no_color_is_respected (void **state)
{
    setenv ("NO_COLOR", "1", 1);
    assert_false (fg_log_color_allowed (0));
    assert_false (fg_log_color_allowed (2));
    unsetenv ("NO_COLOR");
    //  not a terminal under make check: still no colour
    int fd = fileno (tmpfile ());
    assert_false (fg_log_color_allowed (fd));
}

//  A key's lines go out at most once per interval; the next one says how
//  many were held back; other keys are not affected.
static void
test_every_limits_per_key (void **state)
{
    (void) state;
    s_capture_t capture = { 0 };
    fg_log_set_sink (s_sink, &capture);
    fg_log_set_level (FG_LOG_INFO);
    for (int i = 0; i < 5; i++)
        fg_log_every (FG_LOG_WARN, "peer a: silent", 3600 * 1000L, "a is silent (%d)", i);
    assert_int_equal (capture.calls, 1);
    assert_string_equal (capture.line, "a is silent (0)");
    fg_log_every (FG_LOG_WARN, "peer b: silent", 3600 * 1000L, "b is silent");
    assert_int_equal (capture.calls, 2);
    //  an interval of 0 lets every line through, with the count held back
    fg_log_every (FG_LOG_WARN, "peer a: silent", 0, "a again");
    assert_int_equal (capture.calls, 3);
    assert_string_equal (capture.line, "a again (4 similar lines suppressed)");
    fg_log_every (FG_LOG_WARN, "peer a: silent", 0, "a once more");
    assert_string_equal (capture.line, "a once more");
    //  below the level nothing is counted
    fg_log_every (FG_LOG_DEBUG, "peer c", 0, "hidden");
    assert_int_equal (capture.calls, 4);
    //  more keys than the table holds: the oldest is forgotten, none is lost
    for (int i = 0; i < 100; i++) {
        char key [32];
        snprintf (key, sizeof key, "peer %d", i);
        fg_log_every (FG_LOG_WARN, key, 3600 * 1000L, "new key %d", i);
    }
    assert_int_equal (capture.calls, 104);
    fg_log_set_sink (NULL, NULL);
}

//  A log line written while a live line is shown clears it first and
//  draws it again after, so the two never share a line.
static void
test_live_line_is_redrawn_around_log_lines (void **state)
{
    (void) state;
    FILE *out = tmpfile ();
    assert_non_null (out);
    fg_log_set_live_stream (out);
    fg_log_set_color (false);
    fg_log_set_level (FG_LOG_INFO);
    fg_log_live ("round 1/3: 2 nodes");
    fg_info ("node w1 joined");
    fg_log_live (NULL);
    fg_info ("after");
    fg_log_set_live_stream (NULL);
    char text [512] = "";
    rewind (out);
    size_t n = fread (text, 1, sizeof text - 1, out);
    text [n] = '\0';
    fclose (out);
    assert_string_equal (text,
        "\r\033[Kround 1/3: 2 nodes"
        "\r\033[Kfedgrid: info: node w1 joined\nround 1/3: 2 nodes"
        "\r\033[K"
        "fedgrid: info: after\n");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_level_filters),
        cmocka_unit_test (test_level_parse),
        cmocka_unit_test (test_no_color_is_respected),
        cmocka_unit_test (test_every_limits_per_key),
        cmocka_unit_test (test_live_line_is_redrawn_around_log_lines),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
