/*  test_state.c — flat model state with named views.                     */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fg_state.h"

static fg_state_t *
s_small (void)
{
    fg_state_t *s = fg_state_new ();
    uint64_t w [4] = { 8, 3, 3, 3 }, b [1] = { 8 };
    assert_int_equal (fg_state_add (s, "features.0.weight", FG_TENSOR_PARAM, 4, w, NULL), 0);
    assert_int_equal (fg_state_add (s, "features.0.bias", FG_TENSOR_PARAM, 1, b, NULL), 0);
    assert_int_equal (fg_state_add (s, "features.1.running_mean", FG_TENSOR_BUFFER, 1, b, NULL), 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = (float) i * 0.5f;
    return s;
}

static void
test_views_are_laid_out_in_order (void **state)
{
    fg_state_t *s = s_small ();
    assert_int_equal (s->nviews, 3);
    assert_int_equal (s->size, 216 + 8 + 8);
    const fg_tensor_view_t *v = fg_state_find (s, "features.0.bias");
    assert_non_null (v);
    assert_int_equal (v->offset, 216);
    assert_int_equal (v->count, 8);
    assert_int_equal (v->shape [1], 1);
    assert_null (fg_state_find (s, "nope"));
    assert_int_equal ((uintptr_t) s->data % 64, 0);
    //  data survive growth
    assert_true (s->data [215] == 107.5f);
    fg_state_destroy (&s);
    assert_null (s);
    fg_state_destroy (&s);
}

static void
test_bad_views_are_refused (void **state)
{
    fg_state_t *s = s_small ();
    fg_error_t err;
    uint64_t ok [1] = { 2 }, zero [2] = { 2, 0 }, huge [2] = { 1ULL << 33, 1ULL << 33 };
    assert_int_equal (fg_state_add (s, "features.0.bias", FG_TENSOR_PARAM, 1, ok, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "defined twice"));
    assert_int_equal (fg_state_add (s, "", FG_TENSOR_PARAM, 1, ok, &err), FG_EINVAL);
    assert_int_equal (fg_state_add (s, "x", FG_TENSOR_PARAM, 0, ok, &err), FG_EINVAL);
    assert_int_equal (fg_state_add (s, "x", FG_TENSOR_PARAM, 5, ok, &err), FG_EINVAL);
    assert_int_equal (fg_state_add (s, "x", FG_TENSOR_PARAM, 2, zero, &err), FG_EINVAL);
    assert_int_equal (fg_state_add (s, "x", FG_TENSOR_PARAM, 2, huge, &err), FG_EINVAL);
    assert_int_equal (fg_state_add (s, "x", (fg_tensor_kind_t) 7, 1, ok, &err), FG_EINVAL);
    char longname [FG_TENSOR_NAME_MAX + 1];
    memset (longname, 'n', sizeof longname - 1);
    longname [sizeof longname - 1] = '\0';
    assert_int_equal (fg_state_add (s, longname, FG_TENSOR_PARAM, 1, ok, &err), FG_EINVAL);
    assert_int_equal (s->nviews, 3);
    fg_state_destroy (&s);
}

static void
test_dup_layout_copy_and_hash (void **state)
{
    fg_state_t *a = s_small ();
    fg_state_t *b = fg_state_dup (a);
    fg_error_t err;
    assert_true (fg_state_same_layout (a, b, &err));
    assert_memory_equal (a->data, b->data, a->size * sizeof (float));
    char ha [65], hb [65];
    fg_state_hash (a, ha);
    fg_state_hash (b, hb);
    assert_string_equal (ha, hb);
    b->data [3] = -0.0f;                        //  a single bit differs from 1.5
    fg_state_hash (b, hb);
    assert_string_not_equal (ha, hb);
    assert_int_equal (fg_state_copy_data (b, a, &err), 0);
    fg_state_hash (b, hb);
    assert_string_equal (ha, hb);
    //  another layout: refused with the first difference named
    fg_state_t *c = fg_state_new ();
    uint64_t shape [1] = { 232 };
    fg_state_add (c, "flat", FG_TENSOR_PARAM, 1, shape, NULL);
    assert_false (fg_state_same_layout (a, c, &err));
    assert_int_equal (fg_state_copy_data (a, c, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "tensor"));
    fg_state_destroy (&a);
    fg_state_destroy (&b);
    fg_state_destroy (&c);
}

//  A layout built view by view and allocated once is the layout
//  fg_state_add builds, zeroed; zeros_like keeps the views, not the data.
static void
test_layout_then_one_block (void **state)
{
    fg_state_t *a = s_small ();
    fg_state_t *b = fg_state_new ();
    fg_error_t err;
    uint64_t w [4] = { 8, 3, 3, 3 }, bias [1] = { 8 };
    assert_int_equal (fg_state_add_view (b, "features.0.weight", FG_TENSOR_PARAM, 4, w, &err), 0);
    assert_int_equal (fg_state_add_view (b, "features.0.bias", FG_TENSOR_PARAM, 1, bias, &err), 0);
    assert_int_equal (fg_state_add_view (b, "features.0.bias", FG_TENSOR_PARAM, 1, bias, &err),
                      FG_EINVAL);
    assert_int_equal (fg_state_add_view (b, "features.1.running_mean", FG_TENSOR_BUFFER, 1, bias,
                                         &err), 0);
    assert_null (b->data);
    assert_int_equal (fg_state_alloc (b, &err), 0);
    assert_true (fg_state_same_layout (a, b, &err));
    assert_int_equal ((uintptr_t) b->data % 64, 0);
    for (size_t i = 0; i < b->size; i++)
        assert_true (b->data [i] == 0.0f);
    fg_state_t *z = fg_state_zeros_like (a);
    assert_non_null (z);
    assert_true (fg_state_same_layout (a, z, &err));
    assert_true (z->data [215] == 0.0f && a->data [215] == 107.5f);
    fg_state_destroy (&a);
    fg_state_destroy (&b);
    fg_state_destroy (&z);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_views_are_laid_out_in_order),
        cmocka_unit_test (test_bad_views_are_refused),
        cmocka_unit_test (test_dup_layout_copy_and_hash),
        cmocka_unit_test (test_layout_then_one_block),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
