/*  test_sha256.c — FIPS 180-4 example vectors and incremental hashing.   */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fg_sha256.h"

static void
s_check (const char *text, size_t len, const char *want)
{
    uint8_t digest [32];
    char hex [65];
    fg_sha256 (text, len, digest);
    fg_sha256_hex (digest, hex);
    assert_string_equal (hex, want);
}

static void
test_known_answers (void **state)
{
    s_check ("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    s_check ("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    s_check (two_blocks, strlen (two_blocks),
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_million_a_incrementally (void **state)
{
    //  FIPS 180-2 appendix B.3: one million 'a', fed in odd-sized pieces
    char chunk [997];
    memset (chunk, 'a', sizeof chunk);
    fg_sha256_t ctx;
    fg_sha256_init (&ctx);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof chunk? left: sizeof chunk;
        fg_sha256_update (&ctx, chunk, n);
        left -= n;
    }
    uint8_t digest [32];
    char hex [65];
    fg_sha256_final (&ctx, digest);
    fg_sha256_hex (digest, hex);
    assert_string_equal (hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void
test_padding_boundaries (void **state)
{
    //  lengths around the 55/56/64-byte padding edges: one-shot == byte by byte
    char text [130];
    for (size_t i = 0; i < sizeof text; i++)
        text [i] = (char) ('a' + i % 26);
    for (size_t len = 50; len <= 130; len++) {
        uint8_t one [32], many [32];
        fg_sha256 (text, len, one);
        fg_sha256_t ctx;
        fg_sha256_init (&ctx);
        for (size_t i = 0; i < len; i++)
            fg_sha256_update (&ctx, text + i, 1);
        fg_sha256_final (&ctx, many);
        assert_memory_equal (one, many, 32);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_known_answers),
        cmocka_unit_test (test_million_a_incrementally),
        cmocka_unit_test (test_padding_boundaries),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
