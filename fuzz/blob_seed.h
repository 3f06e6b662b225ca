/*  blob_seed.h — the states behind the blob fuzz corpus. The harness
    (fuzz_blob.c) decodes every input against s_seed_base (), and the
    corpus generator (gen_blob_corpus.c) encodes its delta seeds against
    the same state, so mutated deltas reach the data-decoding code instead
    of stopping at the base check. Change one, regenerate the corpus.      */

#ifndef BLOB_SEED_H_INCLUDED
#define BLOB_SEED_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fg_rng.h"
#include "fg_state.h"

//  A tiny conv + BN + linear model: 4*2*3*3 + 4 + 4 + 4 + 3*16 + 3 floats,
//  normal(0, 0.1) draws from the test RNG stream keyed by stream.
static inline fg_state_t *
s_seed_state (uint32_t stream)
{
    fg_state_t *s = fg_state_new ();
    uint64_t conv [4] = { 4, 2, 3, 3 }, c [1] = { 4 }, fc [2] = { 3, 16 }, o [1] = { 3 };
    if (!s
    ||  fg_state_add (s, "features.0.weight", FG_TENSOR_PARAM, 4, conv, NULL)
    ||  fg_state_add (s, "features.0.bias", FG_TENSOR_PARAM, 1, c, NULL)
    ||  fg_state_add (s, "features.1.running_mean", FG_TENSOR_BUFFER, 1, c, NULL)
    ||  fg_state_add (s, "features.1.running_var", FG_TENSOR_BUFFER, 1, c, NULL)
    ||  fg_state_add (s, "classifier.weight", FG_TENSOR_PARAM, 2, fc, NULL)
    ||  fg_state_add (s, "classifier.bias", FG_TENSOR_PARAM, 1, o, NULL)) {
        fg_state_destroy (&s);
        return NULL;
    }
    fg_rng_t rng;
    fg_rng_init (&rng, 1, FG_RNG_TEST, stream, 0, 0, 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = (float) (0.1 * fg_rng_normal (&rng));
    return s;
}

//  The base every delta seed is encoded against.
static inline fg_state_t *
s_seed_base (void)
{
    return s_seed_state (0);
}

//  The base after one SGD-like step: w -= 0.01 * w on every other float.
static inline fg_state_t *
s_seed_next (const fg_state_t *base)
{
    fg_state_t *s = fg_state_dup (base);
    for (size_t i = 0; s && i < s->size; i += 2)
        s->data [i] -= 0.01f * s->data [i];
    return s;
}

#endif
