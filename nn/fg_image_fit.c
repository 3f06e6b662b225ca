/*  fg_image_fit.c — the resize rule of file-backed datasets (fg_image.h,
    docs/datasets.md "Image files"): shorter side to `side`, centre crop
    side x side, in integer arithmetic only.

    The filter (one axis, n input samples to m output samples): output x
    sits at (x + 1/2) n / m in input coordinates; input i at i + 1/2. The
    weight of input i is the triangle max (0, 1 - |distance| / s) with
    support s = max (n / m, 1): widened by the scale when shrinking (each
    output averages everything it covers: antialiased), plain bilinear when
    enlarging. Multiplying through by 2 m s, the weight is proportional to
        a_i = max (0, 2 max (n, m) - |(2i + 1) m - (2x + 1) n|)
    an integer. Weights outside the image are left out and the rest
    normalised: k_i = round (a_i 2^22 / sum a), again integers. A pass is
    out = min (255, (sum k_i p_i + 2^21) >> 22). Rows first (horizontal
    pass into uint8), then columns — the two-pass order and 22-bit
    precision of PIL's BILINEAR resample, whose weights come from the same
    triangle in floating point (so PIL's output differs from this by at
    most a rare 1 where its rounding of a weight differs).               */

#include "fg_image.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_BITS 22

//  The weights of `count` consecutive outputs from `first` on, of one
//  axis resized n -> m: output j reads inputs start [j] .. start [j] +
//  len [j] - 1 with weights coef [j * span ..].
typedef struct {
    uint32_t *start, *len;
    int32_t *coef;
    uint32_t span;                      //  coefficients stored per output
} s_axis_t;

static void
s_axis_free (s_axis_t *axis)
{
    free (axis->start);
    free (axis->len);
    free (axis->coef);
}

//  Inputs that can have a non-zero weight for output x: |(2i+1) m - c| < F.
static void
s_window (uint64_t n, uint64_t m, uint64_t x, int64_t *lo, int64_t *hi)
{
    int64_t f = (int64_t) (2 * (n > m? n: m));
    int64_t c = (int64_t) ((2 * x + 1) * n);
    int64_t den = (int64_t) (2 * m);
    //  (2i+1) m > c - F  <=>  i > (c - F - m) / 2m; and < (c + F - m) / 2m
    int64_t a = c - f - (int64_t) m, b = c + f - (int64_t) m;
    *lo = a < 0? 0: a / den + 1;
    *hi = b <= 0? -1: (b - 1) / den;    //  largest i with (2i+1) m < c + F
    if (*hi > (int64_t) n - 1)
        *hi = (int64_t) n - 1;
}

static int
s_axis_new (uint32_t n, uint32_t m, uint32_t first, uint32_t count, s_axis_t *axis)
{
    memset (axis, 0, sizeof *axis);
    //  the widest window: 2 max (n/m, 1) + 2 inputs
    axis->span = (uint32_t) (2 * ((uint64_t) n / m + 1) + 2);
    axis->start = malloc (count * sizeof (uint32_t));
    axis->len = malloc (count * sizeof (uint32_t));
    axis->coef = malloc ((size_t) count * axis->span * sizeof (int32_t));
    if (!axis->start || !axis->len || !axis->coef) {
        s_axis_free (axis);
        return FG_ENOMEM;
    }
    int64_t f = 2 * (int64_t) (n > m? n: m);
    for (uint32_t j = 0; j < count; j++) {
        uint64_t x = (uint64_t) first + j;
        int64_t lo, hi;
        s_window (n, m, x, &lo, &hi);
        int64_t c = (int64_t) ((2 * x + 1) * n);
        int32_t *k = axis->coef + (size_t) j * axis->span;
        int64_t sum = 0;
        for (int64_t i = lo; i <= hi; i++) {
            int64_t d = (2 * i + 1) * (int64_t) m - c;
            int64_t a = f - (d < 0? -d: d);
            k [i - lo] = (int32_t) (a > 0? a: 0);
            sum += k [i - lo];
        }
        //  sum > 0: the input nearest to the output's centre is always inside
        for (int64_t i = lo; i <= hi; i++)
            k [i - lo] = (int32_t) ((((int64_t) k [i - lo] << S_BITS) + sum / 2) / sum);
        axis->start [j] = (uint32_t) lo;
        axis->len [j] = (uint32_t) (hi - lo + 1);
    }
    return 0;
}

static inline uint8_t
s_clip (int64_t acc)
{
    acc = (acc + ((int64_t) 1 << (S_BITS - 1))) >> S_BITS;
    return (uint8_t) (acc < 0? 0: acc > 255? 255: acc);
}

//  rows x in_w x c -> rows x count x c through the horizontal weights.
static void
s_pass_h (const uint8_t *src, uint32_t rows, uint32_t in_w, uint32_t c, const s_axis_t *axis,
          uint32_t count, uint8_t *dst)
{
    for (uint32_t y = 0; y < rows; y++) {
        const uint8_t *line = src + (size_t) y * in_w * c;
        uint8_t *o = dst + (size_t) y * count * c;
        for (uint32_t x = 0; x < count; x++) {
            const int32_t *k = axis->coef + (size_t) x * axis->span;
            const uint8_t *p = line + (size_t) axis->start [x] * c;
            for (uint32_t ch = 0; ch < c; ch++) {
                int64_t acc = 0;
                for (uint32_t i = 0; i < axis->len [x]; i++)
                    acc += (int64_t) k [i] * p [(size_t) i * c + ch];
                o [(size_t) x * c + ch] = s_clip (acc);
            }
        }
    }
}

//  (rows from row0) x w x c -> count x w x c through the vertical weights.
static void
s_pass_v (const uint8_t *src, uint32_t row0, uint32_t w, uint32_t c, const s_axis_t *axis,
          uint32_t count, uint8_t *dst)
{
    size_t stride = (size_t) w * c;
    for (uint32_t y = 0; y < count; y++) {
        const int32_t *k = axis->coef + (size_t) y * axis->span;
        const uint8_t *p = src + (size_t) (axis->start [y] - row0) * stride;
        uint8_t *o = dst + (size_t) y * stride;
        for (size_t e = 0; e < stride; e++) {
            int64_t acc = 0;
            for (uint32_t i = 0; i < axis->len [y]; i++)
                acc += (int64_t) k [i] * p [(size_t) i * stride + e];
            o [e] = s_clip (acc);
        }
    }
}

//  torchvision's CenterCrop offset: int (round (d / 2.0)), Python's round
//  (half to even): d = 2k gives k; d = 2k + 1 gives k if k is even, else k + 1.
static uint32_t
s_centre (uint32_t d)
{
    uint32_t k = d / 2;
    return (d % 2 == 1 && k % 2 == 1)? k + 1: k;
}

//  Crop-only copy (an axis already at its resized length).
static void
s_copy (const fg_image_t *src, uint32_t top, uint32_t left, uint32_t side, uint8_t *out)
{
    size_t row = (size_t) side * src->channels;
    for (uint32_t y = 0; y < side; y++)
        memcpy (out + y * row,
                src->pixels + (((size_t) top + y) * src->width + left) * src->channels, row);
}

int
fg_image_fit (const fg_image_t *src, uint32_t side, uint8_t *out, fg_error_t *err)
{
    if (!src || !src->pixels || src->height == 0 || src->width == 0 || src->channels == 0
    ||  src->channels > 4 || src->height > FG_IMAGE_SIDE_MAX || src->width > FG_IMAGE_SIDE_MAX
    ||  (size_t) src->height * src->width > FG_IMAGE_PIXELS_MAX)
        return fg_error_set (err, FG_EINVAL, "image fit: not an image within the bounds");
    if (side == 0 || side > FG_IMAGE_SIDE_MAX)
        return fg_error_set (err, FG_EINVAL, "image fit: side %u outside 1..%u", side,
                             FG_IMAGE_SIDE_MAX);
    uint32_t h = src->height, w = src->width, c = src->channels;
    //  torchvision's Resize (side): int (side * long / short), i.e. the floor
    //  (the exact quotient is never within a rounding of an integer it is not)
    uint32_t nh, nw;
    if (w <= h) {
        nw = side;
        nh = (uint32_t) ((uint64_t) side * h / w);
    }
    else {
        nh = side;
        nw = (uint32_t) ((uint64_t) side * w / h);
    }
    uint32_t top = s_centre (nh - side), left = s_centre (nw - side);
    if (nh == h && nw == w) {
        s_copy (src, top, left, side, out);
        return 0;
    }
    s_axis_t ax = { 0 }, ay = { 0 };
    int rc = 0;
    uint8_t *mid = NULL;
    if (s_axis_new (w, nw, left, side, &ax) || s_axis_new (h, nh, top, side, &ay)) {
        rc = fg_error_set (err, FG_ENOMEM, "image fit: no memory for %u x %u -> %u", h, w, side);
        goto done;
    }
    //  the input rows the vertical pass reads
    uint32_t row0 = ay.start [0];
    uint32_t rows = ay.start [side - 1] + ay.len [side - 1] - row0;
    mid = malloc ((size_t) rows * side * c);
    if (!mid) {
        rc = fg_error_set (err, FG_ENOMEM, "image fit: no memory for %u x %u -> %u", h, w, side);
        goto done;
    }
    s_pass_h (src->pixels + (size_t) row0 * w * c, rows, w, c, &ax, side, mid);
    s_pass_v (mid, row0, side, c, &ay, side, out);
done:
    free (mid);
    s_axis_free (&ax);
    s_axis_free (&ay);
    return rc;
}
