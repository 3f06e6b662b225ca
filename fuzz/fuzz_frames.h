/*  fuzz_frames.h — wire frames from fuzz bytes, for the harnesses that feed
    raw frames to fg_wire_decode (fuzz_wire.c, fuzz_coordinator.c).

    Layout: every frame but the last is a u16 little-endian length (cut to
    what is left) and its bytes; the last frame is the rest. Every frame is
    copied into its own exact-size heap block, so ASan catches a read past
    any frame's end. fuzz_frames_fix makes the header's payload length and
    checksum right, so the fuzzer reaches the body parsers.
    fuzz_frames_write writes encoded frames as a seed in this layout
    (tests/test_wire --corpus, tests/test_wire_samples --corpus).        */

#ifndef FUZZ_FRAMES_H_INCLUDED
#define FUZZ_FRAMES_H_INCLUDED

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fg_wire.h"

//  Splits size bytes into count frames (copy [i] owns frame i's bytes; the
//  caller frees copy [0 .. count)). Returns 0, or -1 when out of memory.
static inline int
fuzz_frames_split (const uint8_t *data, size_t size, size_t count, uint8_t **copy,
                   fg_wire_frame_t *frames)
{
    for (size_t i = 0; i < count; i++) {
        size_t len = size;
        if (i + 1 < count) {
            len = size >= 2? (size_t) (data [0] | data [1] << 8): 0;
            size_t skip = size >= 2? 2: size;
            data += skip;
            size -= skip;
            if (len > size)
                len = size;
        }
        copy [i] = (uint8_t *) malloc (len? len: 1);
        if (!copy [i])
            return -1;
        if (len)
            memcpy (copy [i], data, len);
        frames [i] = (fg_wire_frame_t) { copy [i], len };
        data += len;
        size -= len;
    }
    return 0;
}

static inline void
fuzz_frames_put (uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p [i] = (uint8_t) (v >> (8 * i));
}

//  The header frame's payload length and CRC-32 as the frames say (header
//  is frames [0]'s bytes, at least FG_WIRE_HEADER_SIZE of them).
static inline void
fuzz_frames_fix (uint8_t *header, const fg_wire_frame_t *frames, size_t count)
{
    uint64_t payload = 0;
    for (size_t i = 1; i < count; i++)
        payload += frames [i].size;
    fuzz_frames_put (header + 28, payload, 8);
    uLong crc = crc32_z (0L, header, 36);
    for (size_t i = 1; i < count; i++)
        crc = crc32_z (crc, frames [i].data, frames [i].size);
    fuzz_frames_put (header + 36, (uint32_t) crc, 4);
}

//  Writes frames f to the file path as a seed: byte 0 = frame count |
//  flags (0x80: the harness recomputes payload length and checksum), then
//  the layout above. Returns 0, or -1 (a frame but the last over 65,535
//  bytes, or an I/O error: errno says which).
static inline int
fuzz_frames_write (const char *path, const fg_wire_frames_t *f, uint8_t flags)
{
    FILE *file = fopen (path, "wb");
    if (!file)
        return -1;
    fputc ((int) (f->count | flags), file);
    for (size_t i = 0; i < f->count; i++) {
        if (i + 1 < f->count) {
            if (f->frame [i].size > 0xffff) {
                fclose (file);
                return -1;
            }
            fputc ((int) (f->frame [i].size & 0xff), file);
            fputc ((int) (f->frame [i].size >> 8), file);
        }
        if (f->frame [i].size)
            fwrite (f->frame [i].data, 1, f->frame [i].size, file);
    }
    return fclose (file);
}

#endif
