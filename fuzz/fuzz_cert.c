/*  fuzz_cert.c — libFuzzer harness for CURVE key files (fg_security).
    Oracle: a file that parses gives a 40-character Z85 public key (and,
    with a secret key, the public key that secret gives); a refused file
    leaves no half-filled keys and a message.                             */

#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#include "fg_security.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fg_keypair_t keys;
    fg_error_t err;
    int rc = fg_security_parse_cert ((const char *) data, size, "fuzz.key", &keys, &err);
    if (rc) {
        assert (err.code == rc && err.msg [0]);
        assert (keys.public_txt [0] == 0 && keys.secret_txt [0] == 0);
        return 0;
    }
    assert (strlen (keys.public_txt) == 40);
    uint8_t bin [32];
    assert (zmq_z85_decode (bin, keys.public_txt));
    if (keys.secret_txt [0]) {
        char derived [41];
        assert (zmq_curve_public (derived, keys.secret_txt) == 0);
        assert (strcmp (derived, keys.public_txt) == 0);
    }
    return 0;
}
