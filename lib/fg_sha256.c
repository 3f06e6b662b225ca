/*  fg_sha256.c — SHA-256 through libsodium's crypto_hash_sha256 streaming
    API (crypto_hash_sha256_init/update/final); fg_sha256_t is storage for
    its state. The hex form through sodium_bin2hex.                       */

#include "fg_sha256.h"

#include <assert.h>
#include <pthread.h>
#include <sodium.h>
#include <stdalign.h>

_Static_assert (sizeof (crypto_hash_sha256_state) <= sizeof (fg_sha256_t),
                "fg_sha256_t is too small for libsodium's crypto_hash_sha256_state");
_Static_assert (alignof (crypto_hash_sha256_state) <= alignof (fg_sha256_t),
                "fg_sha256_t is less aligned than libsodium's crypto_hash_sha256_state");
_Static_assert (crypto_hash_sha256_BYTES == FG_SHA256_SIZE, "SHA-256 digest size");

static pthread_once_t s_sodium_once = PTHREAD_ONCE_INIT;
static int s_sodium_status;             //  sodium_init's result, kept for a debugger

//  libsodium asks for sodium_init () before any other call. Its SHA-256 is
//  plain C with no CPU dispatch and no randomness, so hashing does not
//  depend on the result (-1 only when the system's random source cannot be
//  opened, which CURVE, not hashing, would notice).
static void
s_sodium_init (void)
{
    s_sodium_status = sodium_init ();
}

static crypto_hash_sha256_state *
s_state (fg_sha256_t *ctx)
{
    return (crypto_hash_sha256_state *) (void *) ctx->opaque;
}

void
fg_sha256_init (fg_sha256_t *ctx)
{
    assert (ctx);
    pthread_once (&s_sodium_once, s_sodium_init);
    crypto_hash_sha256_init (s_state (ctx));
}

void
fg_sha256_update (fg_sha256_t *ctx, const void *data, size_t size)
{
    assert (ctx && (data || size == 0));
    if (size)
        crypto_hash_sha256_update (s_state (ctx), (const unsigned char *) data,
                                   (unsigned long long) size);
}

void
fg_sha256_final (fg_sha256_t *ctx, uint8_t digest [FG_SHA256_SIZE])
{
    assert (ctx && digest);
    crypto_hash_sha256_final (s_state (ctx), digest);
}

void
fg_sha256 (const void *data, size_t size, uint8_t digest [FG_SHA256_SIZE])
{
    fg_sha256_t ctx;
    fg_sha256_init (&ctx);
    fg_sha256_update (&ctx, data, size);
    fg_sha256_final (&ctx, digest);
}

void
fg_sha256_hex (const uint8_t digest [FG_SHA256_SIZE], char hex [FG_SHA256_HEX_SIZE])
{
    sodium_bin2hex (hex, FG_SHA256_HEX_SIZE, digest, FG_SHA256_SIZE);
}
