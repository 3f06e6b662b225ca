/*  fuzz_safetensors.c — libFuzzer harness for the safetensors reader.
    Every input is decoded alone (any F32 tensors) and against the seed
    model's layout (blob_seed.h's state: the corpus is its exports).
    Oracles: a refusal leaves no state and a message naming the input; an
    accepted state is the expected layout (when one was given), and it
    encodes again to bytes that decode to the same bits.                  */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_safetensors.h"
#include "blob_seed.h"

static void
s_check (const uint8_t *data, size_t size, const fg_state_t *expect)
{
    fg_error_t err;
    fg_state_t *out = (fg_state_t *) 1;
    int rc = fg_safetensors_decode (data, size, "input", expect, &out, &err);
    if (rc) {
        assert (rc < 0 && out == NULL && err.code == rc);
        assert (strncmp (err.msg, "input: ", 7) == 0);
        return;
    }
    assert (out);
    if (expect)
        assert (fg_state_same_layout (out, expect, NULL));
    //  decoded -> safetensors -> state must give the same bits
    uint8_t *again;
    size_t again_size;
    rc = fg_safetensors_encode (out, &again, &again_size, &err);
    assert (rc == 0 || rc == FG_ENOMEM);
    if (rc == 0) {
        fg_state_t *back = NULL;
        rc = fg_safetensors_decode (again, again_size, "again", expect, &back, &err);
        assert (rc == 0 || rc == FG_ENOMEM);
        if (back) {
            assert (back->size == out->size && back->nviews == out->nviews);
            assert (out->size == 0 || memcmp (back->data, out->data, out->size * 4) == 0);
        }
        fg_state_destroy (&back);
        free (again);
    }
    fg_state_destroy (&out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static fg_state_t *model;           //  built once, lives as long as the process
    if (!model)
        model = s_seed_base ();
    assert (model);
    s_check (data, size, NULL);
    s_check (data, size, model);
    return 0;
}
