/*  fg_le.h — little-endian fixed-width fields of fedgrid's binary formats
    (wire messages, weights blobs, journal records), one definition for all
    of them. Internal; byte by byte, so alignment and host order never
    matter.                                                               */

#ifndef FG_LE_H_INCLUDED
#define FG_LE_H_INCLUDED

#include <stdint.h>
#include <string.h>

static inline uint16_t
fg_le_get16 (const uint8_t *p)
{
    return (uint16_t) (p [0] | (unsigned) p [1] << 8);
}

static inline uint32_t
fg_le_get32 (const uint8_t *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8
         | (uint32_t) p [2] << 16 | (uint32_t) p [3] << 24;
}

static inline uint64_t
fg_le_get64 (const uint8_t *p)
{
    return (uint64_t) fg_le_get32 (p) | (uint64_t) fg_le_get32 (p + 4) << 32;
}

static inline double
fg_le_getf64 (const uint8_t *p)
{
    uint64_t bits = fg_le_get64 (p);
    double value;
    memcpy (&value, &bits, sizeof value);
    return value;
}

static inline void
fg_le_put16 (uint8_t *p, uint16_t v)
{
    p [0] = (uint8_t) v;
    p [1] = (uint8_t) (v >> 8);
}

static inline void
fg_le_put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p [i] = (uint8_t) (v >> (8 * i));
}

static inline void
fg_le_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p [i] = (uint8_t) (v >> (8 * i));
}

static inline void
fg_le_putf64 (uint8_t *p, double value)
{
    uint64_t bits;
    memcpy (&bits, &value, sizeof bits);
    fg_le_put64 (p, bits);
}

#endif
