/*  fg_texture.c — the texture set's geometry and pixel work (see
    fg_texture.h): fragment counts and places, the round-robin layout of
    fragments across images, the split by whole image, the area resize,
    contrast normalisation and rotation. Integer arithmetic throughout, so
    a fragment is the same bytes on every machine.                        */

#include "fg_texture.h"
#include "fg_rng.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Geometry of one image

int
fg_texture_check (const fg_texture_geometry_t *g, fg_error_t *err)
{
    if (g->fragment < 1 || g->fragment > FG_TEXTURE_FRAGMENT_MAX)
        return fg_error_set (err, FG_EINVAL, "data.texture_fragment = %u is outside 1 .. %u",
                             g->fragment, FG_TEXTURE_FRAGMENT_MAX);
    if (g->stride < 1)
        return fg_error_set (err, FG_EINVAL, "data.texture_stride must be at least 1");
    if (g->rotations != 1 && g->rotations != 2 && g->rotations != 4)
        return fg_error_set (err, FG_EINVAL, "data.texture_rotations = %u: must be 1, 2 or 4",
                             g->rotations);
    if (g->side < 1 || g->side > FG_TEXTURE_SIDE_MAX)
        return fg_error_set (err, FG_EINVAL, "data.image_size = %u is outside 1 .. %u",
                             g->side, FG_TEXTURE_SIDE_MAX);
    if (((uint64_t) g->stride * g->side) % g->fragment)
        return fg_error_set (err, FG_EINVAL, "data.texture_stride = %u: stride x data.image_size "
                             "(%u) must be a multiple of data.texture_fragment (%u), so that "
                             "fragments start on a pixel of the scaled image", g->stride,
                             g->side, g->fragment);
    if (g->contrast_q8 > FG_TEXTURE_CONTRAST_MAX)
        return fg_error_set (err, FG_EINVAL, "data.texture_contrast = %g is above %d",
                             g->contrast_q8 / 256.0, FG_TEXTURE_CONTRAST_MAX / 256);
    return 0;
}

static uint32_t
s_positions (const fg_texture_geometry_t *g, uint32_t length)
{
    return length < g->fragment? 0: (length - g->fragment) / g->stride + 1;
}

uint64_t
fg_texture_count (const fg_texture_geometry_t *g, uint32_t height, uint32_t width)
{
    return (uint64_t) s_positions (g, height) * s_positions (g, width) * g->rotations;
}

void
fg_texture_place (const fg_texture_geometry_t *g, uint32_t height, uint32_t width,
                  uint64_t j, fg_texture_place_t *place)
{
    assert (j < fg_texture_count (g, height, width));
    uint64_t nx = s_positions (g, width);
    place->rotation = (uint32_t) (j % g->rotations);
    uint64_t cell = j / g->rotations;
    place->x = (uint32_t) (cell % nx) * g->stride;
    place->y = (uint32_t) (cell / nx) * g->stride;
}

uint64_t
fg_texture_place_index (const fg_texture_geometry_t *g, uint32_t height, uint32_t width,
                        const fg_texture_place_t *place)
{
    (void) height;
    uint64_t nx = s_positions (g, width);
    return ((uint64_t) (place->y / g->stride) * nx + place->x / g->stride) * g->rotations
           + place->rotation;
}

//  --------------------------------------------------------------------------
//  Layout: the round-robin order of fragments across images

//  Band b: rounds [k0 [b], k0 [b + 1]) visit the first active [b] images of
//  visit order; its first sample is start [b]. Bands are in round order.
struct _fg_texture_layout_t {
    uint32_t  n;
    uint32_t *order;                //  visit position -> image
    uint32_t *rank;                 //  image -> visit position
    uint64_t *counts;               //  per image
    size_t    bands;
    uint64_t *k0;                   //  bands + 1
    uint32_t *active;               //  bands
    uint64_t *start;                //  bands + 1 (start [bands] = total)
};

typedef struct { uint64_t count; uint32_t index; } s_pair_t;

//  Count descending, then index ascending: a total order, so qsort's
//  result is unique.
static int
s_by_count (const void *a, const void *b)
{
    const s_pair_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count? -1: 1;
    return x->index < y->index? -1: x->index > y->index;
}

void
fg_texture_layout_destroy (fg_texture_layout_t **self_p)
{
    if (self_p && *self_p) {
        fg_texture_layout_t *self = *self_p;
        free (self->order);
        free (self->rank);
        free (self->counts);
        free (self->k0);
        free (self->active);
        free (self->start);
        free (self);
        *self_p = NULL;
    }
}

int
fg_texture_layout_new (const uint64_t *counts, size_t n, fg_texture_layout_t **out,
                       fg_error_t *err)
{
    *out = NULL;
    if (n == 0 || n > UINT32_MAX)
        return fg_error_set (err, FG_EINVAL, "texture layout: %zu images is outside 1 .. %u",
                             n, UINT32_MAX);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (counts [i] == 0)
            return fg_error_set (err, FG_EINVAL, "texture layout: image %zu has no fragment", i);
        if (counts [i] > ((uint64_t) 1 << 62) - total)
            return fg_error_set (err, FG_EINVAL, "texture layout: more than 2^62 fragments");
        total += counts [i];
    }
    fg_texture_layout_t *self = calloc (1, sizeof *self);
    if (self) {
        self->n = (uint32_t) n;
        self->order = malloc (n * sizeof (uint32_t));
        self->rank = malloc (n * sizeof (uint32_t));
        self->counts = malloc (n * sizeof (uint64_t));
        self->k0 = malloc ((n + 1) * sizeof (uint64_t));
        self->active = malloc (n * sizeof (uint32_t));
        self->start = malloc ((n + 1) * sizeof (uint64_t));
    }
    if (!self || !self->order || !self->rank || !self->counts || !self->k0 || !self->active
    ||  !self->start) {
        fg_texture_layout_destroy (&self);
        return fg_error_set (err, FG_ENOMEM, "texture layout: out of memory for %zu images", n);
    }
    memcpy (self->counts, counts, n * sizeof (uint64_t));
    s_pair_t *pairs = malloc (n * sizeof (s_pair_t));
    if (!pairs) {
        fg_texture_layout_destroy (&self);
        return fg_error_set (err, FG_ENOMEM, "texture layout: out of memory for %zu images", n);
    }
    for (size_t i = 0; i < n; i++)
        pairs [i] = (s_pair_t) { counts [i], (uint32_t) i };
    qsort (pairs, n, sizeof pairs [0], s_by_count);
    for (size_t v = 0; v < n; v++)
        self->order [v] = pairs [v].index;
    free (pairs);
    for (uint32_t v = 0; v < n; v++)
        self->rank [self->order [v]] = v;
    //  Walk visit order from its end (fewest fragments): rounds below the
    //  count of visit position m - 1 see m active images
    uint64_t k = 0, sample = 0;
    size_t b = 0;
    for (uint32_t m = (uint32_t) n; m >= 1; m--) {
        uint64_t until = counts [self->order [m - 1]];
        if (until > k) {
            self->k0 [b] = k;
            self->active [b] = m;
            self->start [b] = sample;
            sample += (until - k) * m;
            k = until;
            b++;
        }
    }
    self->bands = b;
    self->k0 [b] = k;
    self->start [b] = sample;
    assert (sample == total);
    *out = self;
    return 0;
}

uint64_t
fg_texture_layout_total (const fg_texture_layout_t *self)
{
    return self->start [self->bands];
}

void
fg_texture_layout_locate (const fg_texture_layout_t *self, uint64_t g, uint32_t *image,
                          uint64_t *j)
{
    assert (g < fg_texture_layout_total (self));
    size_t lo = 0, hi = self->bands;        //  start [lo] <= g < start [hi]
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->start [mid] <= g)
            lo = mid;
        else
            hi = mid;
    }
    uint64_t offset = g - self->start [lo];
    *j = self->k0 [lo] + offset / self->active [lo];
    *image = self->order [offset % self->active [lo]];
}

uint64_t
fg_texture_layout_index (const fg_texture_layout_t *self, uint32_t image, uint64_t j)
{
    assert (image < self->n && j < self->counts [image]);
    size_t lo = 0, hi = self->bands;        //  k0 [lo] <= j < k0 [hi]
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->k0 [mid] <= j)
            lo = mid;
        else
            hi = mid;
    }
    return self->start [lo] + (j - self->k0 [lo]) * self->active [lo] + self->rank [image];
}

//  --------------------------------------------------------------------------
//  Split by whole image

int
fg_texture_split (uint32_t klass, uint32_t n, double share, bool *test, fg_error_t *err)
{
    for (uint32_t i = 0; i < n; i++)
        test [i] = false;
    if (n < 2 || !(share > 0))
        return 0;
    double want = floor (share * n + 0.5);
    uint32_t held = want >= n? n - 1: (uint32_t) want;
    uint32_t *perm = malloc ((size_t) n * sizeof (uint32_t));
    if (!perm)
        return fg_error_set (err, FG_ENOMEM, "texture split: out of memory for %u images", n);
    fg_rng_t rng;
    fg_rng_init (&rng, FG_TEXTURE_SPLIT_SEED, FG_RNG_TEXTURE, 0, klass, 0, 0);
    //  Partial Fisher–Yates: the first `held` of a uniform permutation
    for (uint32_t i = 0; i < n; i++)
        perm [i] = i;
    for (uint32_t i = 0; i < held; i++) {
        uint32_t pick = i + fg_rng_below (&rng, n - i);
        uint32_t t = perm [i];
        perm [i] = perm [pick];
        perm [pick] = t;
        test [perm [i]] = true;
    }
    free (perm);
    return 0;
}

//  --------------------------------------------------------------------------
//  Pixels

static uint32_t
s_gcd (uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void
fg_texture_scaled_shape (const fg_texture_geometry_t *g, uint32_t height, uint32_t width,
                         uint32_t *scaled_height, uint32_t *scaled_width)
{
    *scaled_height = (uint32_t) ((uint64_t) height * g->side / g->fragment);
    *scaled_width = (uint32_t) ((uint64_t) width * g->side / g->fragment);
}

//  Source pixels [*first, *first + taps) feeding output o, and weights
//  (overlaps in units of 1 / p; they sum to q).
static uint32_t
s_taps (uint32_t o, uint32_t p, uint32_t q, uint32_t *first, uint32_t *weights)
{
    uint64_t lo = (uint64_t) o * q, hi = lo + q;
    uint32_t i = (uint32_t) (lo / p), taps = 0;
    *first = i;
    for (; (uint64_t) i * p < hi; i++) {
        uint64_t a = (uint64_t) i * p, b = a + p;
        uint64_t from = a > lo? a: lo, to = b < hi? b: hi;
        weights [taps++] = (uint32_t) (to - from);
    }
    return taps;
}

//  The integer factor 1 / q (p = 1): every output pixel is the plain sum
//  of a q x q box, the same value the weighted form gives (all weights
//  1, total q^2), without the multiplies. acc holds out_w x channels.
static void
s_area_box (const uint8_t *src, size_t row, uint32_t channels, uint32_t out_h, uint32_t out_w,
            uint32_t q, uint32_t *acc, uint8_t *out)
{
    uint32_t total = q * q, half = total / 2;
    size_t n = (size_t) out_w * channels;
    for (uint32_t oy = 0; oy < out_h; oy++) {
        memset (acc, 0, n * sizeof (uint32_t));
        for (uint32_t ty = 0; ty < q; ty++) {
            const uint8_t *px = src + ((size_t) oy * q + ty) * row;
            if (channels == 3)          //  RGB: the inner loop unrolled
                for (uint32_t ox = 0; ox < out_w; ox++) {
                    uint32_t r = 0, g = 0, b = 0;
                    for (uint32_t tx = 0; tx < q; tx++, px += 3) {
                        r += px [0];
                        g += px [1];
                        b += px [2];
                    }
                    acc [3 * ox] += r;
                    acc [3 * ox + 1] += g;
                    acc [3 * ox + 2] += b;
                }
            else
                for (uint32_t ox = 0; ox < out_w; ox++) {
                    uint32_t *a = acc + (size_t) ox * channels;
                    for (uint32_t tx = 0; tx < q; tx++, px += channels)
                        for (uint32_t c = 0; c < channels; c++)
                            a [c] += px [c];
                }
        }
        uint8_t *dst = out + (size_t) oy * n;
        for (size_t v = 0; v < n; v++)
            dst [v] = (uint8_t) ((acc [v] + half) / total);
    }
}

int
fg_texture_area (const uint8_t *src, uint32_t height, uint32_t width, uint32_t channels,
                 uint32_t y0, uint32_t x0, uint32_t out_h, uint32_t out_w,
                 uint32_t p, uint32_t q, uint64_t *scratch, uint8_t *out, fg_error_t *err)
{
    (void) height;
    uint32_t d = s_gcd (p, q);
    p /= d;
    q /= d;
    uint64_t total = (uint64_t) q * q;
    size_t row = (size_t) width * channels;
    if (p == 1 && total * 255 <= UINT32_MAX) {
        s_area_box (src + (size_t) y0 * row + (size_t) x0 * channels, row, channels, out_h,
                    out_w, q, (uint32_t *) scratch, out);
        return 0;
    }
    //  The horizontal taps of every output column, once: first source
    //  column, tap count, weights (at most q / p + 2 taps each)
    size_t most = q / p + 2;
    uint32_t *xfirst = malloc ((size_t) out_w * sizeof (uint32_t));
    uint32_t *xtaps = malloc ((size_t) out_w * sizeof (uint32_t));
    uint32_t *xw = malloc ((size_t) out_w * most * sizeof (uint32_t));
    uint32_t *wy = malloc (most * sizeof (uint32_t));
    if (!xfirst || !xtaps || !xw || !wy) {
        free (xfirst); free (xtaps); free (xw); free (wy);
        return fg_error_set (err, FG_ENOMEM, "texture: out of memory resizing to %ux%u",
                             out_w, out_h);
    }
    for (uint32_t ox = 0; ox < out_w; ox++)
        xtaps [ox] = s_taps (ox, p, q, &xfirst [ox], xw + ox * most);
    for (uint32_t oy = 0; oy < out_h; oy++) {
        uint32_t fy, ny = s_taps (oy, p, q, &fy, wy);
        memset (scratch, 0, (size_t) out_w * channels * sizeof (uint64_t));
        for (uint32_t ty = 0; ty < ny; ty++) {
            if (!wy [ty])
                continue;
            const uint8_t *line = src + (size_t) (y0 + fy + ty) * row + (size_t) x0 * channels;
            if (channels == 3) {        //  RGB: sums of one row in 32 bits (<= q x 255 x q)
                for (uint32_t ox = 0; ox < out_w; ox++) {
                    const uint8_t *px = line + (size_t) xfirst [ox] * 3;
                    const uint32_t *w = xw + ox * most;
                    uint32_t r = 0, g = 0, b = 0;
                    for (uint32_t tx = 0; tx < xtaps [ox]; tx++, px += 3) {
                        r += w [tx] * px [0];
                        g += w [tx] * px [1];
                        b += w [tx] * px [2];
                    }
                    uint64_t *acc = scratch + (size_t) ox * 3;
                    acc [0] += (uint64_t) wy [ty] * r;
                    acc [1] += (uint64_t) wy [ty] * g;
                    acc [2] += (uint64_t) wy [ty] * b;
                }
                continue;
            }
            for (uint32_t ox = 0; ox < out_w; ox++) {
                uint64_t *acc = scratch + (size_t) ox * channels;
                const uint8_t *px = line + (size_t) xfirst [ox] * channels;
                const uint32_t *w = xw + ox * most;
                for (uint32_t tx = 0; tx < xtaps [ox]; tx++, px += channels) {
                    uint64_t weight = (uint64_t) wy [ty] * w [tx];
                    for (uint32_t c = 0; c < channels; c++)
                        acc [c] += weight * px [c];
                }
            }
        }
        uint8_t *dst = out + (size_t) oy * out_w * channels;
        for (size_t v = 0; v < (size_t) out_w * channels; v++)
            dst [v] = (uint8_t) ((scratch [v] + total / 2) / total);
    }
    free (xfirst); free (xtaps); free (xw); free (wy);
    return 0;
}

int
fg_texture_scale (const fg_texture_geometry_t *g, const uint8_t *src, uint32_t height,
                  uint32_t width, uint32_t channels, uint8_t *out, fg_error_t *err)
{
    uint32_t sh, sw;
    fg_texture_scaled_shape (g, height, width, &sh, &sw);
    if (g->side == g->fragment) {
        memcpy (out, src, (size_t) height * width * channels);
        return 0;
    }
    uint64_t *scratch = malloc ((size_t) sw * channels * sizeof (uint64_t) + 1);
    if (!scratch)
        return fg_error_set (err, FG_ENOMEM, "texture: out of memory scaling a %ux%u image",
                             height, width);
    int rc = fg_texture_area (src, height, width, channels, 0, 0, sh, sw, g->side, g->fragment,
                              scratch, out, err);
    free (scratch);
    return rc;
}

static uint64_t
s_isqrt (uint64_t v)
{
    uint64_t r = (uint64_t) sqrt ((double) v);
    while (r > 0 && r * r > v)
        r--;
    while ((r + 1) * (r + 1) <= v)
        r++;
    return r;
}

//  floor (a / b) for b > 0
static int64_t
s_floor_div (int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0)? q - 1: q;
}

void
fg_texture_contrast (uint8_t *values, size_t n, uint32_t k256)
{
    assert (n <= ((size_t) 1 << 22));
    if (k256 == 0 || n == 0)
        return;
    uint64_t s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s1 += values [i];
        s2 += (uint64_t) values [i] * values [i];
    }
    uint64_t var = (uint64_t) n * s2 - s1 * s1;     //  >= 0 (Cauchy–Schwarz)
    uint64_t s = s_isqrt (var);
    if (s < n)
        s = n;
    int64_t d = (int64_t) k256 * (int64_t) s;
    for (size_t i = 0; i < n; i++) {
        int64_t t = ((int64_t) values [i] * (int64_t) n - (int64_t) s1) * 32768;
        int64_t v = 128 + s_floor_div (2 * t + d, 2 * d);
        values [i] = (uint8_t) (v < 0? 0: v > 255? 255: v);
    }
}

void
fg_texture_rotate (const uint8_t *in, uint32_t side, uint32_t channels,
                   uint32_t quarter_turns, uint8_t *out)
{
    size_t n = side, c = channels;
    switch (quarter_turns & 3) {
        case 0:
            memcpy (out, in, n * n * c);
            break;
        case 1:         //  in [r][col] -> out [n - 1 - col][r]
            for (size_t r = 0; r < n; r++)
                for (size_t col = 0; col < n; col++)
                    memcpy (out + ((n - 1 - col) * n + r) * c, in + (r * n + col) * c, c);
            break;
        case 2:         //  in [r][col] -> out [n - 1 - r][n - 1 - col]
            for (size_t r = 0; r < n; r++)
                for (size_t col = 0; col < n; col++)
                    memcpy (out + ((n - 1 - r) * n + n - 1 - col) * c, in + (r * n + col) * c, c);
            break;
        default:        //  in [r][col] -> out [col][n - 1 - r]
            for (size_t r = 0; r < n; r++)
                for (size_t col = 0; col < n; col++)
                    memcpy (out + (col * n + n - 1 - r) * c, in + (r * n + col) * c, c);
            break;
    }
}

void
fg_texture_cut (const fg_texture_geometry_t *g, const uint8_t *scaled, uint32_t scaled_h,
                uint32_t scaled_w, uint32_t channels, const fg_texture_place_t *place,
                uint8_t *tmp, uint8_t *out)
{
    (void) scaled_h;
    size_t ys = (size_t) place->y * g->side / g->fragment;
    size_t xs = (size_t) place->x * g->side / g->fragment;
    assert (ys + g->side <= scaled_h && xs + g->side <= scaled_w);
    size_t line = (size_t) g->side * channels;
    for (uint32_t r = 0; r < g->side; r++)
        memcpy (tmp + r * line, scaled + ((ys + r) * scaled_w + xs) * channels, line);
    fg_texture_contrast (tmp, line * g->side, g->contrast_q8);
    fg_texture_rotate (tmp, g->side, channels, place->rotation * (4 / g->rotations), out);
}
