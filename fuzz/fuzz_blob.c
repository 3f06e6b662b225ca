/*  fuzz_blob.c — libFuzzer harness for the weights blob decoder.
    Every input is decoded alone (a full blob) and against the seed base
    (a delta blob; see blob_seed.h). Oracles: a refusal leaves no state and
    a message; fg_blob_check agrees with fg_blob_decode; a decoded state
    encodes again and decodes to the same bits (full, and as a delta
    against the base when it has the base's layout).                      */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_blob.h"
#include "blob_seed.h"

static void
s_assert_same (const fg_state_t *a, const fg_state_t *b)
{
    assert (fg_state_same_layout (a, b, NULL));
    assert (a->size == b->size);
    assert (a->size == 0 || memcmp (a->data, b->data, a->size * sizeof (float)) == 0);
}

//  decoded -> blob -> state must give the same bits
static void
s_reencode (const fg_state_t *state, const fg_state_t *base)
{
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    int rc = fg_blob_encode (state, base, &blob, &size, &err);
    if (rc == FG_ENOMEM)
        return;
    assert (rc == 0);
    fg_state_t *again = NULL;
    rc = fg_blob_decode (blob, size, base, &again, &err);
    assert (rc == 0 || rc == FG_ENOMEM);
    if (again)
        s_assert_same (state, again);
    assert (rc == FG_ENOMEM || fg_blob_check (blob, size, NULL, &err) == 0);
    fg_state_destroy (&again);
    free (blob);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static fg_state_t *base;            //  built once, lives as long as the process
    if (!base)
        base = s_seed_base ();
    assert (base);

    fg_error_t err;
    fg_blob_info_t info;
    int check_rc = fg_blob_check (data, size, &info, &err);
    assert (check_rc <= 0 && (check_rc == 0 || (err.code == check_rc && err.msg [0])));

    fg_state_t *out = (fg_state_t *) 1;
    int rc = fg_blob_decode (data, size, NULL, &out, &err);
    if (rc) {
        assert (out == NULL && err.code == rc && err.msg [0]);
        //  a blob check accepts is refused by decode only as a delta
        //  without its base (or when memory runs out)
        assert (check_rc || (info.delta && rc == FG_EINVAL) || rc == FG_ENOMEM);
    }
    else {
        assert (check_rc == 0 && !info.delta && out->size == info.total_floats);
        s_reencode (out, NULL);
        if (fg_state_same_layout (out, base, NULL))
            s_reencode (out, base);
        fg_state_destroy (&out);
    }

    out = (fg_state_t *) 1;
    rc = fg_blob_decode (data, size, base, &out, &err);
    if (rc)
        assert (out == NULL && err.code == rc && err.msg [0]);
    else {
        assert (check_rc == 0);
        if (info.delta)             //  a full blob was done above
            s_reencode (out, base);
        fg_state_destroy (&out);
    }
    return 0;
}
