/*  fg_wire_socket.h — the wire codec over ZeroMQ sockets (CZMQ).

    lib/fg_wire.h is the codec and knows no sockets; this module wraps its
    frames into a zmsg_t and back, and sends a blob as WEIGHTS-CHUNKs.
    Sockets are passed as void * (a zsock_t *, or anything zmsg_send
    accepts) and identity frames as struct _zframe_t *, so this header
    does not need <czmq.h>.                                              */

#ifndef FG_WIRE_SOCKET_H_INCLUDED
#define FG_WIRE_SOCKET_H_INCLUDED

#include "fg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

struct _zframe_t;
struct _zmsg_t;

//  Encodes msg and sends it. routing_id: for a ROUTER socket, the peer's
//  identity frame, sent first (not consumed); NULL for DEALER / PAIR.
//  Returns 0, an fg_wire_encode code, FG_ENOMEM, FG_ENOENT
//  (ROUTER-mandatory: peer unknown or gone), FG_ETIMEOUT (would block
//  past the send timeout), FG_EINTR or FG_EIO.
int
    fg_wire_send (void *sock, struct _zframe_t *routing_id,
                  const fg_wire_msg_t *msg, const fg_wire_limits_t *limits,
                  fg_error_t *err);

//  Answers a WEIGHTS-REQUEST: sends up to `credit` WEIGHTS-CHUNK messages
//  carrying blob [offset, size) in chunks of at most `chunk` bytes (capped
//  at limits->max_chunk), with the experiment, round, shard and attempt of
//  `header` and the blob's kind, version and SHA-256. Stops at the end of
//  the blob. Returns 0 or an fg_wire_send code.
int
    fg_wire_send_chunks (void *sock, struct _zframe_t *routing_id,
                         const fg_wire_msg_t *header, uint8_t blob_kind, uint64_t version,
                         const uint8_t *blob, uint64_t size,
                         const uint8_t hash [FG_WIRE_HASH_SIZE], uint64_t offset,
                         uint32_t credit, size_t chunk, const fg_wire_limits_t *limits,
                         fg_error_t *err);

//  Receives one message (blocks as the socket's receive timeout says).
//  routing_id_p: for a ROUTER socket, receives the sender's identity
//  frame, which the caller owns (zframe_destroy) — also when decoding
//  fails, so the peer can be told; NULL for DEALER / PAIR. msg as in
//  fg_wire_decode. Returns 0, an fg_wire_decode code, FG_EFORMAT (no
//  identity frame), FG_ETIMEOUT (receive timeout), FG_EINTR (interrupted)
//  or FG_EIO.
int
    fg_wire_recv (void *sock, struct _zframe_t **routing_id_p,
                  const fg_wire_limits_t *limits, fg_wire_msg_t *msg,
                  fg_error_t *err);

//  Decodes the frames of a zmsg_t received by the caller (for instance in
//  a zloop reader), after any identity frame the caller popped. zmsg is
//  not modified. Returns as fg_wire_decode.
int
    fg_wire_decode_zmsg (struct _zmsg_t *zmsg, const fg_wire_limits_t *limits,
                         fg_wire_msg_t *msg, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
