/*  bench_hash_rng.c — throughput of the two primitives every run leans on:
    SHA-256 (fg_sha256_*: configuration, dataset and weights hashes) and
    the Philox stream (fg_rng_u32: every random draw). CPU time of this
    process (CLOCK_PROCESS_CPUTIME_ID), so a loaded machine shows the same
    figure as a quiet one, within noise.
        bench/bench_hash_rng [MiB [Mdraws]]     (defaults 256 and 256)
    Built by make check so it keeps compiling, never run by it
    (figures in docs/architecture.md, "Dependencies").                    */

#include "fg_rng.h"
#include "fg_sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
s_cpu_seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

int
main (int argc, char **argv)
{
    long mib = argc > 1? atol (argv [1]): 256;
    long mdraws = argc > 2? atol (argv [2]): 256;
    if (mib <= 0 || mdraws <= 0) {
        fprintf (stderr, "usage: bench_hash_rng [MiB [Mdraws]]\n");
        return 2;
    }
    //  SHA-256 in 1 MiB updates of a seeded buffer (as fg_state_hash feeds
    //  a weights block), the digest printed so the work is not elided
    size_t chunk = (size_t) 1 << 20;
    uint8_t *buffer = malloc (chunk);
    if (!buffer)
        return 1;
    fg_rng_t rng;
    fg_rng_init (&rng, 1, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < chunk; i++)
        buffer [i] = (uint8_t) fg_rng_u32 (&rng);
    fg_sha256_t ctx;
    uint8_t digest [FG_SHA256_SIZE];
    char hex [FG_SHA256_HEX_SIZE];
    double t0 = s_cpu_seconds ();
    fg_sha256_init (&ctx);
    for (long i = 0; i < mib; i++)
        fg_sha256_update (&ctx, buffer, chunk);
    fg_sha256_final (&ctx, digest);
    double sha_s = s_cpu_seconds () - t0;
    fg_sha256_hex (digest, hex);
    printf ("sha256   %ld MiB in %.3f s CPU: %.1f MB/s (digest %.16s...)\n", mib, sha_s,
            (double) mib * (double) chunk / 1e6 / sha_s, hex);
    free (buffer);

    //  RNG: 32-bit draws of one stream (4 draws per Philox block), and
    //  stream derivations (fg_rng_init: two blocks each)
    uint64_t draws = (uint64_t) mdraws << 20, sum = 0;
    t0 = s_cpu_seconds ();
    for (uint64_t i = 0; i < draws; i++)
        sum += fg_rng_u32 (&rng);
    double rng_s = s_cpu_seconds () - t0;
    printf ("rng_u32  %llu draws in %.3f s CPU: %.1f M draws/s (sum %llu)\n",
            (unsigned long long) draws, rng_s, (double) draws / 1e6 / rng_s,
            (unsigned long long) sum);
    uint64_t inits = draws / 16;
    t0 = s_cpu_seconds ();
    for (uint64_t i = 0; i < inits; i++) {
        fg_rng_init (&rng, i, FG_RNG_TEST, (uint32_t) i, 0, 0, 0);
        sum += fg_rng_u32 (&rng);
    }
    double init_s = s_cpu_seconds () - t0;
    printf ("rng_init %llu streams in %.3f s CPU: %.2f M streams/s (sum %llu)\n",
            (unsigned long long) inits, init_s, (double) inits / 1e6 / init_s,
            (unsigned long long) sum);
    return 0;
}
