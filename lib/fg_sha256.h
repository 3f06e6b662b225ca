/*  fg_sha256.h — SHA-256 (FIPS 180-4), for configuration hashes, dataset
    content hashes and the fingerprint of committed weights. A thin layer
    on libsodium's crypto_hash_sha256 streaming API (Debian's
    libsodium-dev): this header does not include sodium.h, so a program
    built against fedgrid needs no libsodium headers.                     */

#ifndef FG_SHA256_H_INCLUDED
#define FG_SHA256_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FG_SHA256_SIZE 32
#define FG_SHA256_HEX_SIZE 65           //  64 hex digits + NUL

//  A hash in progress: storage for libsodium's crypto_hash_sha256_state
//  (104 bytes, 8-byte aligned in libsodium 1.0.18; fg_sha256.c checks at
//  compile time that it fits). 112 bytes and 8-byte alignment, as the
//  hand-written state this replaced, so the size of every struct or stack
//  frame that holds one is unchanged. Copyable by value (the state has no
//  pointers): a copy continues the hash independently.
typedef union {
    uint64_t align;
    uint8_t  opaque [112];
} fg_sha256_t;

void fg_sha256_init (fg_sha256_t *ctx);
void fg_sha256_update (fg_sha256_t *ctx, const void *data, size_t size);
void fg_sha256_final (fg_sha256_t *ctx, uint8_t digest [FG_SHA256_SIZE]);

//  One-shot digest of data.
void fg_sha256 (const void *data, size_t size, uint8_t digest [FG_SHA256_SIZE]);

//  Lower-case hex of a digest into hex (FG_SHA256_HEX_SIZE bytes).
void fg_sha256_hex (const uint8_t digest [FG_SHA256_SIZE], char hex [FG_SHA256_HEX_SIZE]);

#ifdef __cplusplus
}
#endif

#endif
