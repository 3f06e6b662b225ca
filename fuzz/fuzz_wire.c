/*  fuzz_wire.c — libFuzzer harness of the wire decoder (lib/fg_wire.c).

    Input: byte 0 = frame count (low 3 bits, 0..7) | 0x80 "recompute the
    header's payload length and checksum" (so the fuzzer reaches the body
    parsers instead of stopping at the checksum); then the frames as
    fuzz_frames.h lays them out (each in its own exact-size heap block, so
    ASan catches a read past any frame's end).

    Oracle: whatever the input, decode must not crash or leak; when it
    succeeds, re-encoding the message must succeed and give exactly the
    input frames, and a DATA-CHUNK's samples must have raw_size bytes; of
    variable records (record_size 0), exactly `count` records that
    fg_wire_sample_next reads to the last byte.
    tests/test_wire --corpus DIR writes the seed corpus.                   */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_wire.h"
#include "fuzz_frames.h"

#define S_FRAMES_MAX 7

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t count = data [0] & 0x07;
    int fix = (data [0] & 0x80) != 0;
    data++;
    size--;

    uint8_t *copy [S_FRAMES_MAX] = { NULL };
    fg_wire_frame_t frames [S_FRAMES_MAX];
    if (fuzz_frames_split (data, size, count, copy, frames))
        goto done;
    if (fix && count >= 1 && frames [0].size >= FG_WIRE_HEADER_SIZE)
        fuzz_frames_fix (copy [0], frames, count);

    //  small limits keep every allocation small
    fg_wire_limits_t limits = { 1 << 20, 1 << 16 };
    fg_wire_msg_t msg;
    fg_error_t err;
    int rc = fg_wire_decode (frames, count, &limits, &msg, &err);
    if (rc == 0) {
        if (msg.type == FG_WIRE_DATA_CHUNK) {
            //  touch every decompressed byte (ASan checks the bound)
            volatile uint8_t sum = 0;
            for (uint64_t i = 0; i < msg.data_chunk.raw_size; i++)
                sum ^= msg.data_chunk.samples [i];
            (void) sum;
            if (msg.data_chunk.record_size == 0) {
                size_t at = 0;
                fg_wire_sample_t sample;
                for (uint32_t i = 0; i < msg.data_chunk.count; i++)
                    if (fg_wire_sample_next (msg.data_chunk.samples,
                                             (size_t) msg.data_chunk.raw_size, &at, &sample,
                                             &err))
                        __builtin_trap ();      //  decoded, yet not its records
                if (at != msg.data_chunk.raw_size)
                    __builtin_trap ();
            }
        }
        fg_wire_frames_t again;
        if (fg_wire_encode (&msg, &limits, &again, &err) != 0)
            __builtin_trap ();          //  decoded but does not re-encode
        if (again.count != count)
            __builtin_trap ();
        for (size_t i = 0; i < count; i++)
            if (again.frame [i].size != frames [i].size
            || (frames [i].size
                && memcmp (again.frame [i].data, frames [i].data, frames [i].size)))
                __builtin_trap ();      //  not the same bytes
        fg_wire_frames_clear (&again);
        fg_wire_msg_clear (&msg);
    }
    else
    if (err.code != rc || err.msg [0] == 0)
        __builtin_trap ();              //  an error without its message
done:
    for (size_t i = 0; i < S_FRAMES_MAX; i++)
        free (copy [i]);
    return 0;
}
