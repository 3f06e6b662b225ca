/*  fg_sha256.h — SHA-256 (FIPS 180-4), for configuration hashes, dataset
    content hashes and the fingerprint of committed weights.              */

#ifndef FG_SHA256_H_INCLUDED
#define FG_SHA256_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FG_SHA256_SIZE 32
#define FG_SHA256_HEX_SIZE 65           //  64 hex digits + NUL

typedef struct {
    uint32_t state [8];
    uint64_t length;                    //  bytes hashed so far
    uint8_t  buffer [64];
    size_t   used;                      //  bytes waiting in buffer
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
