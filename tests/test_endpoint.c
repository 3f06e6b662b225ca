/*  test_endpoint.c — fg_endpoint_check: what a user may type, what is
    refused before a socket retries it for ever, and what the message says. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fg_endpoint.h"

static void
test_accepted (void **state)
{
    (void) state;
    static const char *connect [] = {
        "tcp://127.0.0.1:7799", "tcp://192.168.1.10:1", "tcp://pc-17.lab.example.org:65535",
        "tcp://localhost:7700", "tcp://[::1]:7700", "tcp://[fe80::1:2]:80",
        "tcp://10.0.0.2;10.0.0.1:7700", "ipc:///tmp/fedgrid.sock", "inproc://coordinator",
    };
    static const char *bind [] = {
        "tcp://*:7700", "tcp://*:*", "tcp://0.0.0.0:0", "tcp://eth0:7700", "tcp://[::]:7700",
    };
    fg_error_t err;
    for (size_t i = 0; i < sizeof connect / sizeof connect [0]; i++)
        if (fg_endpoint_check (connect [i], false, &err))
            fail_msg ("%s refused: %s", connect [i], err.msg);
    for (size_t i = 0; i < sizeof bind / sizeof bind [0]; i++)
        if (fg_endpoint_check (bind [i], true, &err))
            fail_msg ("bind %s refused: %s", bind [i], err.msg);
}

static void
test_refused_with_the_reason (void **state)
{
    (void) state;
    static const struct { const char *endpoint; bool bind; const char *expect; } cases [] = {
        { "127.0.0.1:7799", false, "endpoint '127.0.0.1:7799' has no scheme: did you mean 'tcp://127.0.0.1:7799'?" },
        { "tcp://300.1.1.1:x", false, "the host is not an IPv4 address" },
        { "tcp://10.0.0.1:x", false, "the port is not a number 1..65535" },
        { "tcp://10.0.0.1:65536", false, "the port is not a number" },
        { "tcp://10.0.0.1:0", false, "port 0 can only be bound" },
        { "tcp://10.0.0.1", false, "no :PORT after the host" },
        { "tcp://:7700", false, "the host is empty" },
        { "tcp://*:7700", false, "the host holds a character" },
        { "tcp://*:*", false, "the host holds a character" },
        { "tcp://1.2.3:7700", false, "not an IPv4 address" },
        { "tcp://a..b:7700", false, "empty label" },
        { "tcp://host.:7700", false, "ends with '.'" },
        { "tcp://[::1:7700", false, "[ADDRESS]" },
        { "tcp://[::g]:7700", false, "hex digits" },
        { "tcp://pc 1:7700", false, "a character other than" },
        { "udp://10.0.0.1:7700", false, "does not start with tcp://, ipc:// or inproc://" },
        { "ipc://", false, "the name is empty" },
        { "", false, "does not start with tcp://" },
        { "ipc://a\x1b[31mb", false, "endpoint 'ipc://a?[31mb': holds a control character" },
        { "tcp://*:99999", true, "the port is not a number" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        fg_error_t err;
        int rc = fg_endpoint_check (cases [i].endpoint, cases [i].bind, &err);
        assert_int_equal (rc, FG_EINVAL);
        if (!strstr (err.msg, cases [i].expect))
            fail_msg ("%s: '%s' lacks '%s'", cases [i].endpoint, err.msg, cases [i].expect);
    }
}

//  A long endpoint is quoted cut, never overflowing the message.
static void
test_long_endpoint_is_quoted_cut (void **state)
{
    (void) state;
    char endpoint [400] = "tcp://";
    memset (endpoint + 6, 'a', 300);
    strcpy (endpoint + 306, ":1");
    fg_error_t err;
    assert_int_equal (fg_endpoint_check (endpoint, false, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "aaa...': the host name is longer than 253"));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_accepted),
        cmocka_unit_test (test_refused_with_the_reason),
        cmocka_unit_test (test_long_endpoint_is_quoted_cut),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
