/*  fg_act.c — element-wise activations, PyTorch's definitions and its
    derivatives at the kinks (see fg_ops.h).
    Every loop computes its arithmetic unconditionally and then selects:
    gcc may not speculate a conditional (possibly trapping) FP operation or
    load, so the select form is what lets it vectorise; the per-element
    operations, hence the bits, are the same.                              */

#include "fg_ops_internal.h"

const char *
fg_act_name (fg_act_t act)
{
    switch (act) {
        case FG_ACT_IDENTITY:    return "identity";
        case FG_ACT_RELU:        return "relu";
        case FG_ACT_RELU6:       return "relu6";
        case FG_ACT_HARDSIGMOID: return "hardsigmoid";
        case FG_ACT_HARDSWISH:   return "hardswish";
    }
    return "unknown";
}

FG_OPS_WIDE int
fg_act_forward (fg_act_t act, size_t n, const float *x, float *y,
                fg_error_t *err)
{
    if (n > 0 && (!x || !y))
        return fg_error_set (err, FG_EINVAL, "activation %s: forward: NULL "
                             "input or output", fg_act_name (act));
    switch (act) {
        case FG_ACT_IDENTITY:
            if (y != x)
                for (size_t i = 0; i < n; i++)
                    y [i] = x [i];
            return 0;
        case FG_ACT_RELU:
            //  NaN passes through (as in PyTorch), so a diverged network
            //  reaches the loss as NaN instead of being silently cut to 0
            for (size_t i = 0; i < n; i++)
                y [i] = x [i] <= 0.0f? 0.0f: x [i];
            return 0;
        case FG_ACT_RELU6:
            for (size_t i = 0; i < n; i++) {
                float v = x [i];
                y [i] = v <= 0.0f? 0.0f: v >= 6.0f? 6.0f: v;
            }
            return 0;
        case FG_ACT_HARDSIGMOID:
            //  PyTorch's min (max (x + 3, 0), 6) / 6, clamped after the
            //  division (the same values: division by 6 is monotonic and
            //  maps 0 and 6 to 0 and 1 exactly; NaN stays NaN)
            for (size_t i = 0; i < n; i++) {
                float t = (x [i] + 3.0f) / 6.0f;
                t = t < 0.0f? 0.0f: t;
                y [i] = 1.0f < t? 1.0f: t;
            }
            return 0;
        case FG_ACT_HARDSWISH:
            //  PyTorch's x * min (max (x + 3, 0), 6) / 6
            for (size_t i = 0; i < n; i++) {
                float v = x [i], t = v + 3.0f;
                t = t < 0.0f? 0.0f: t;
                t = 6.0f < t? 6.0f: t;
                y [i] = v * t / 6.0f;
            }
            return 0;
    }
    return fg_error_set (err, FG_EINVAL, "activation: unknown kind %d", (int) act);
}

FG_OPS_WIDE int
fg_act_backward (fg_act_t act, size_t n, const float *x, const float *dy,
                 float *dx, fg_error_t *err)
{
    if (n > 0 && (!x || !dy || !dx))
        return fg_error_set (err, FG_EINVAL, "activation %s: backward: NULL "
                             "argument", fg_act_name (act));
    switch (act) {
        case FG_ACT_IDENTITY:
            if (dx != dy)
                for (size_t i = 0; i < n; i++)
                    dx [i] = dy [i];
            return 0;
        case FG_ACT_RELU:
            for (size_t i = 0; i < n; i++) {
                float g = dy [i];
                dx [i] = x [i] > 0.0f? g: 0.0f;
            }
            return 0;
        case FG_ACT_RELU6:
            for (size_t i = 0; i < n; i++) {
                float v = x [i], g = dy [i];
                dx [i] = v > 0.0f && v < 6.0f? g: 0.0f;
            }
            return 0;
        case FG_ACT_HARDSIGMOID:
            //  PyTorch multiplies by 1/6 here
            for (size_t i = 0; i < n; i++) {
                float v = x [i], mid = dy [i] * (1.0f / 6.0f);
                dx [i] = v > -3.0f && v < 3.0f? mid: 0.0f;
            }
            return 0;
        case FG_ACT_HARDSWISH:
            for (size_t i = 0; i < n; i++) {
                float v = x [i], g = dy [i], mid = g * (v / 3.0f + 0.5f);
                dx [i] = v < -3.0f? 0.0f: v <= 3.0f? mid: g;
            }
            return 0;
    }
    return fg_error_set (err, FG_EINVAL, "activation: unknown kind %d", (int) act);
}

//  ---------------------------------------------------------------------------
//  Context forms: blocks of elements over threads, each the plain loop

int
fg_act_forward_ctx (fg_ops_ctx_t *ctx, fg_act_t act, size_t n, const float *x,
                    float *y, fg_error_t *err)
{
    int threads = fg_ops_par_threads (ctx, n, n / 16);
    int rc = fg_act_forward (act, threads > 1? 0: n, x, y, err);
    if (rc || threads < 2)
        return rc;          //  (n = 0 above: only the kind is checked)
    if (!x || !y)
        return fg_act_forward (act, n, x, y, err);
    FG_PARALLEL_FOR (threads)
    for (long t = 0; t < threads; t++) {
        size_t b, e;
        fg_ops_part (n, (size_t) threads, (size_t) t, &b, &e);
        fg_act_forward (act, e - b, x + b, y + b, NULL);
    }
    return 0;
}

int
fg_act_backward_ctx (fg_ops_ctx_t *ctx, fg_act_t act, size_t n, const float *x,
                     const float *dy, float *dx, fg_error_t *err)
{
    int threads = fg_ops_par_threads (ctx, n, n / 16);
    int rc = fg_act_backward (act, threads > 1? 0: n, x, dy, dx, err);
    if (rc || threads < 2)
        return rc;
    if (!x || !dy || !dx)
        return fg_act_backward (act, n, x, dy, dx, err);
    FG_PARALLEL_FOR (threads)
    for (long t = 0; t < threads; t++) {
        size_t b, e;
        fg_ops_part (n, (size_t) threads, (size_t) t, &b, &e);
        fg_act_backward (act, e - b, x + b, dy + b, dx + b, NULL);
    }
    return 0;
}
