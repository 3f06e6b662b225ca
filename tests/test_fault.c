/*  test_fault.c — FEDGRID_FAULT: strict parsing, selectors (the @p= choice
    is the same on every call), and what each fault does to a result.    */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fg_fault.h"

static void
test_parses_kinds_and_selectors (void **state)
{
    fg_fault_t f [FG_FAULT_MAX];
    size_t n;
    fg_error_t err;
    assert_int_equal (fg_fault_parse ("", f, FG_FAULT_MAX, &n, &err), 0);
    assert_int_equal (n, 0);
    assert_int_equal (fg_fault_parse ("zero-delta@round=2@shard=0,scale:-3@p=0.25,samples:1000000000000,"
                                      "hello-flood:2000", f, FG_FAULT_MAX, &n, &err), 0);
    assert_int_equal (n, 4);
    assert_int_equal (f [0].kind, FG_FAULT_ZERO_DELTA);
    assert_int_equal (f [0].round, 2);
    assert_int_equal (f [0].shard, 0);
    assert_true (f [0].p == 1);
    assert_int_equal (f [1].kind, FG_FAULT_SCALE);
    assert_true (f [1].value == -3);
    assert_int_equal (f [1].round, -1);
    assert_true (f [1].p == 0.25);
    assert_int_equal (f [2].kind, FG_FAULT_SAMPLES);
    assert_true (f [2].count == 1000000000000ull);
    assert_int_equal (f [3].kind, FG_FAULT_HELLO_FLOOD);
    assert_int_equal (f [3].count, 2000);
    assert_int_equal (fg_fault_parse ("add:1000,flip-weight:0,flip-blob:77,other-unit", f,
                                      FG_FAULT_MAX, &n, &err), 0);
    assert_int_equal (n, 4);
    assert_string_equal (fg_fault_name (f [3].kind), "other-unit");
}

static void
test_bad_specs_are_refused (void **state)
{
    fg_fault_t f [FG_FAULT_MAX];
    size_t n;
    fg_error_t err;
    struct { const char *spec, *says; } bad [] = {
        { "nope",                   "unknown fault 'nope'" },
        { "scale",                  "a factor K" },
        { "scale:0",                "a factor K" },
        { "scale:1",                "a factor K" },
        { "scale:x",                "a factor K" },
        { "add:inf",                "a finite number" },
        { "samples:0",              "a whole number" },
        { "samples:-5",             "a whole number" },
        { "zero-delta:3",           "takes no value" },
        { "hello-flood:0",          "1..10^6" },
        { "hello-flood:5@round=1",  "no selector" },
        { "zero-delta@round=0",     "needs a value" },
        { "zero-delta@p=1.5",       "needs a value" },
        { "zero-delta@when=1",      "unknown selector" },
        { "zero-delta@round=1@round=2", "given twice" },
        { "zero-delta,",            "empty fault" },
        { "a,b,c,d,e,f,g,h,i",      "unknown fault 'a'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (fg_fault_parse (bad [i].spec, f, FG_FAULT_MAX, &n, &err), FG_EINVAL);
        if (!strstr (err.msg, bad [i].says))
            fail_msg ("'%s': '%s' lacks '%s'", bad [i].spec, err.msg, bad [i].says);
        assert_non_null (strstr (err.msg, "FEDGRID_FAULT"));
    }
    assert_int_equal (fg_fault_parse ("other-unit,other-unit,other-unit,other-unit,other-unit,"
                                      "other-unit,other-unit,other-unit,other-unit", f,
                                      FG_FAULT_MAX, &n, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "more than 8"));
}

static fg_state_t *
s_state (float v)
{
    fg_state_t *s = fg_state_new ();
    uint64_t shape [1] = { 4 };
    assert_int_equal (fg_state_add (s, "w", FG_TENSOR_PARAM, 1, shape, NULL), 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = v + (float) i;
    return s;
}

static void
test_faults_change_results (void **state)
{
    fg_fault_t f;
    size_t n;
    fg_state_t *base = s_state (1), *result = s_state (3);    //  delta 2 everywhere
    assert_int_equal (fg_fault_parse ("scale:-3", &f, 1, &n, NULL), 0);
    assert_true (fg_fault_apply_weights (&f, result, base));
    for (size_t i = 0; i < 4; i++)
        assert_true (result->data [i] == base->data [i] - 6);
    assert_int_equal (fg_fault_parse ("add:1000", &f, 1, &n, NULL), 0);
    assert_true (fg_fault_apply_weights (&f, result, base));
    assert_true (result->data [0] == 995);
    assert_int_equal (fg_fault_parse ("flip-weight:33", &f, 1, &n, NULL), 0);
    float before = result->data [1];
    assert_true (fg_fault_apply_weights (&f, result, base));
    uint32_t a, b;
    memcpy (&a, &before, 4);
    memcpy (&b, &result->data [1], 4);
    assert_int_equal (a ^ b, 2);
    assert_int_equal (fg_fault_parse ("zero-delta", &f, 1, &n, NULL), 0);
    assert_true (fg_fault_apply_weights (&f, result, base));
    assert_memory_equal (result->data, base->data, 4 * sizeof (float));
    //  not a weights fault
    assert_int_equal (fg_fault_parse ("samples:7", &f, 1, &n, NULL), 0);
    assert_false (fg_fault_apply_weights (&f, result, base));
    uint8_t blob [4] = { 0 };
    assert_false (fg_fault_apply_blob (&f, blob, 4));
    assert_int_equal (fg_fault_parse ("flip-blob:35", &f, 1, &n, NULL), 0);
    assert_true (fg_fault_apply_blob (&f, blob, 4));            //  35 mod 32 = bit 3
    assert_int_equal (blob [0], 8);
    fg_state_destroy (&base);
    fg_state_destroy (&result);
}

//  FEDGRID_FAULT read from the environment: selectors pick units, @p= the
//  same units on every call; a bad value is an error, never a silent liar.
static void
test_environment (void **state)
{
    setenv ("FEDGRID_FAULT", "zero-delta@round=2@shard=1,scale:2@p=0.5,samples:9,hello-flood:3", 1);
    fg_error_t err;
    assert_int_equal (fg_fault_load (&err), 0);
    assert_true (fg_fault_armed ());
    assert_int_equal (fg_fault_hello_flood (), 3);
    assert_int_equal (fg_fault_for_unit (1, 2, 1, FG_FAULT_WEIGHTS)->kind, FG_FAULT_ZERO_DELTA);
    //  each part of a result has its own fault: weights and sample count both lie
    assert_int_equal (fg_fault_for_unit (1, 2, 1, FG_FAULT_COUNT)->count, 9);
    assert_null (fg_fault_for_unit (1, 2, 1, FG_FAULT_BLOB | FG_FAULT_UNIT));
    unsigned scaled = 0;
    for (uint32_t shard = 0; shard < 1000; shard++) {
        const fg_fault_t *f = fg_fault_for_unit (1, 3, shard, FG_FAULT_WEIGHTS);
        assert_ptr_equal (f, fg_fault_for_unit (1, 3, shard, FG_FAULT_WEIGHTS));
        scaled += f != NULL;
    }
    assert_in_range (scaled, 430, 570);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_parses_kinds_and_selectors),
        cmocka_unit_test (test_bad_specs_are_refused),
        cmocka_unit_test (test_faults_change_results),
        cmocka_unit_test (test_environment),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
