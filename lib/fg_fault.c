/*  fg_fault.c — wrong results on purpose (see fg_fault.h).               */

#include "fg_fault.h"
#include "fg_rng.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int kind;
    char arg;                           //  0: none, 'f': a number, 'n': a count
} s_kind_t;

static const s_kind_t s_kinds [] = {
    { "zero-delta",   FG_FAULT_ZERO_DELTA,  0 },
    { "scale",        FG_FAULT_SCALE,       'f' },
    { "add",          FG_FAULT_ADD,         'f' },
    { "flip-weight",  FG_FAULT_FLIP_WEIGHT, 'n' },
    { "flip-blob",    FG_FAULT_FLIP_BLOB,   'n' },
    { "other-unit",   FG_FAULT_OTHER_UNIT,  0 },
    { "samples",      FG_FAULT_SAMPLES,     'n' },
    { "hello-flood",  FG_FAULT_HELLO_FLOOD, 'n' },
};
#define S_NKINDS (sizeof s_kinds / sizeof s_kinds [0])

const char *
fg_fault_name (int kind)
{
    for (size_t i = 0; i < S_NKINDS; i++)
        if (s_kinds [i].kind == kind)
            return s_kinds [i].name;
    return "?";
}

//  A whole number of text [0, len) into *out within [min, max].
static bool
s_count (const char *text, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20 || text [0] < '0' || text [0] > '9')
        return false;
    char buf [24];
    memcpy (buf, text, len);
    buf [len] = 0;
    char *stop;
    unsigned long long v = strtoull (buf, &stop, 10);
    if (*stop || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool
s_number (const char *text, size_t len, double *out)
{
    if (len == 0 || len > 30)
        return false;
    char buf [32];
    memcpy (buf, text, len);
    buf [len] = 0;
    char *stop;
    double v = strtod (buf, &stop);
    if (*stop || !isfinite (v))
        return false;
    *out = v;
    return true;
}

//  One selector "name=value" of text [0, len) into fault.
static int
s_selector (const char *text, size_t len, fg_fault_t *fault, unsigned *seen, fg_error_t *err)
{
    const char *eq = memchr (text, '=', len);
    size_t nlen = eq? (size_t) (eq - text): len;
    const char *v = eq? eq + 1: text + len;
    size_t vlen = eq? len - nlen - 1: 0;
    uint64_t n = 0;
    unsigned bit;
    bool ok;
    if (nlen == 5 && strncmp (text, "round", 5) == 0) {
        bit = 1;
        ok = eq && s_count (v, vlen, 1, UINT32_MAX, &n);
        fault->round = (int64_t) n;
    }
    else
    if (nlen == 5 && strncmp (text, "shard", 5) == 0) {
        bit = 2;
        ok = eq && s_count (v, vlen, 0, UINT32_MAX - 1, &n);
        fault->shard = (int64_t) n;
    }
    else
    if (nlen == 1 && text [0] == 'p') {
        bit = 4;
        ok = eq && s_number (v, vlen, &fault->p) && fault->p >= 0 && fault->p <= 1;
    }
    else
        return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: unknown selector '@%.*s' "
                             "(round=R, shard=S, p=F)", (int) len, text);
    if (!ok)
        return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: selector '@%.*s' needs a value "
                             "(round >= 1, shard >= 0, p in 0..1)", (int) len, text);
    if (*seen & bit)
        return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: selector '@%.*s' given twice",
                             (int) nlen, text);
    *seen |= bit;
    return 0;
}

//  The kind and its argument: text [0, len) before the first '@'.
static int
s_kind (const char *text, size_t len, fg_fault_t *fault, fg_error_t *err)
{
    const char *colon = memchr (text, ':', len);
    size_t nlen = colon? (size_t) (colon - text): len;
    const char *a = colon? colon + 1: text + len;
    size_t alen = colon? len - nlen - 1: 0;
    const s_kind_t *k = NULL;
    for (size_t i = 0; i < S_NKINDS && !k; i++)
        if (strlen (s_kinds [i].name) == nlen && strncmp (s_kinds [i].name, text, nlen) == 0)
            k = &s_kinds [i];
    if (!k)
        return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: unknown fault '%.*s' (zero-delta, "
                             "scale:K, add:X, flip-weight:N, flip-blob:N, other-unit, samples:N, "
                             "hello-flood:N)", (int) nlen, text);
    fault->kind = k->kind;
    if (!k->arg && colon)
        return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: '%s' takes no value", k->name);
    bool ok = true;
    if (k->arg == 'f')
        ok = colon && s_number (a, alen, &fault->value)
          && !(k->kind == FG_FAULT_SCALE && (fault->value == 0 || fault->value == 1));
    if (k->arg == 'n')
        ok = colon && s_count (a, alen, k->kind == FG_FAULT_FLIP_WEIGHT
                                      || k->kind == FG_FAULT_FLIP_BLOB? 0: 1,
                               k->kind == FG_FAULT_HELLO_FLOOD? 1000000: UINT64_MAX / 2,
                               &fault->count);
    if (!ok)
        return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: '%.*s' needs %s", (int) len, text,
                             k->kind == FG_FAULT_SCALE? "a factor K other than 0 and 1 (scale:K)":
                             k->arg == 'f'? "a finite number (add:X)":
                             k->kind == FG_FAULT_HELLO_FLOOD? "a count 1..10^6 (hello-flood:N)":
                             "a whole number (kind:N)");
    return 0;
}

int
fg_fault_parse (const char *spec, fg_fault_t *faults, size_t max, size_t *n, fg_error_t *err)
{
    *n = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr (p, ',');
        size_t len = end? (size_t) (end - p): strlen (p);
        if (*n == max)
            return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: more than %zu faults", max);
        fg_fault_t *f = &faults [*n];
        memset (f, 0, sizeof *f);
        f->round = f->shard = -1;
        f->p = 1;
        const char *at = memchr (p, '@', len);
        size_t klen = at? (size_t) (at - p): len;
        int rc = s_kind (p, klen, f, err);
        unsigned seen = 0;
        while (rc == 0 && at) {
            const char *next = memchr (at + 1, '@', (size_t) (p + len - at - 1));
            size_t slen = next? (size_t) (next - at - 1): (size_t) (p + len - at - 1);
            rc = s_selector (at + 1, slen, f, &seen, err);
            at = next;
        }
        if (rc)
            return rc;
        if (f->kind == FG_FAULT_HELLO_FLOOD && seen)
            return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: hello-flood takes no selector");
        (*n)++;
        p = end? end + 1: p + len;
        if (end && !*p)
            return fg_error_set (err, FG_EINVAL, "FEDGRID_FAULT: empty fault after ','");
    }
    return 0;
}

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static fg_fault_t s_faults [FG_FAULT_MAX];
static size_t s_nfaults;
static fg_error_t s_load_err;
static int s_load_rc;

static void
s_load (void)
{
    const char *spec = getenv ("FEDGRID_FAULT");
    fg_error_clear (&s_load_err);
    if (spec && *spec)
        s_load_rc = fg_fault_parse (spec, s_faults, FG_FAULT_MAX, &s_nfaults, &s_load_err);
    if (s_load_rc)
        s_nfaults = 0;
}

int
fg_fault_load (fg_error_t *err)
{
    pthread_once (&s_once, s_load);
    if (s_load_rc && err)
        *err = s_load_err;
    return s_load_rc;
}

const fg_fault_t *
fg_fault_for_unit (uint64_t seed, uint32_t round, uint32_t shard, unsigned kinds)
{
    fg_fault_load (NULL);
    for (size_t i = 0; i < s_nfaults; i++) {
        const fg_fault_t *f = &s_faults [i];
        if (!(kinds & (1u << f->kind))
        ||  (f->round >= 0 && (uint32_t) f->round != round)
        ||  (f->shard >= 0 && (uint32_t) f->shard != shard))
            continue;
        if (f->p < 1) {
            fg_rng_t rng;
            fg_rng_init (&rng, seed, FG_RNG_FAULT, round, shard, 0, 0);
            if (!(fg_rng_uniform_double (&rng) < f->p))
                continue;
        }
        return f;
    }
    return NULL;
}

bool
fg_fault_armed (void)
{
    fg_fault_load (NULL);
    return s_nfaults > 0;
}

uint64_t
fg_fault_hello_flood (void)
{
    fg_fault_load (NULL);
    for (size_t i = 0; i < s_nfaults; i++)
        if (s_faults [i].kind == FG_FAULT_HELLO_FLOOD)
            return s_faults [i].count;
    return 0;
}

bool
fg_fault_apply_weights (const fg_fault_t *fault, fg_state_t *result, const fg_state_t *base)
{
    if (!fault || result->size != base->size || result->size == 0)
        return false;
    float *w = result->data;
    const float *b = base->data;
    switch (fault->kind) {
        case FG_FAULT_ZERO_DELTA:
            memcpy (w, b, result->size * sizeof (float));
            return true;
        case FG_FAULT_SCALE:
            for (size_t i = 0; i < result->size; i++)
                w [i] = b [i] + (float) fault->value * (w [i] - b [i]);
            return true;
        case FG_FAULT_ADD:
            for (size_t i = 0; i < result->size; i++)
                w [i] += (float) fault->value;
            return true;
        case FG_FAULT_FLIP_WEIGHT: {
            uint64_t bit = fault->count % ((uint64_t) result->size * 32);
            uint32_t word;
            memcpy (&word, &w [bit / 32], sizeof word);
            word ^= (uint32_t) 1 << (bit % 32);
            memcpy (&w [bit / 32], &word, sizeof word);
            return true;
        }
        default:
            return false;
    }
}

bool
fg_fault_apply_blob (const fg_fault_t *fault, uint8_t *blob, size_t size)
{
    if (!fault || fault->kind != FG_FAULT_FLIP_BLOB || size == 0)
        return false;
    uint64_t bit = fault->count % ((uint64_t) size * 8);
    blob [bit / 8] ^= (uint8_t) (1u << (bit % 8));
    return true;
}
