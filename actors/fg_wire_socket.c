/*  fg_wire_socket.c — the wire codec over ZeroMQ sockets (see
    fg_wire_socket.h): frames into a zmsg_t and back, and a blob as
    WEIGHTS-CHUNKs. The codec itself (lib/fg_wire.c) knows no sockets.   */

#include "fg_wire_socket.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <string.h>

static int
s_zmq_error (int errnum, const char *op, fg_error_t *err)
{
    int code = errnum == EHOSTUNREACH? FG_ENOENT
             : errnum == EAGAIN? FG_ETIMEOUT
             : errnum == EINTR || errnum == ETERM? FG_EINTR
             : FG_EIO;
    //  errno, not zmq_errno (): libfedgrid links CZMQ, not libzmq itself
    return fg_error_set (err, code, "wire %s: %s", op,
                         errnum == ETERM? "context terminated": strerror (errnum));
}

int
fg_wire_send (void *sock, zframe_t *routing_id, const fg_wire_msg_t *msg,
              const fg_wire_limits_t *limits, fg_error_t *err)
{
    assert (sock);
    assert (msg);
    fg_wire_frames_t frames;
    int rc = fg_wire_encode (msg, limits, &frames, err);
    if (rc)
        return rc;
    zmsg_t *zmsg = zmsg_new ();
    if (!zmsg)
        rc = FG_ENOMEM;
    if (!rc && routing_id
    &&  zmsg_addmem (zmsg, zframe_data (routing_id), zframe_size (routing_id)))
        rc = FG_ENOMEM;
    for (size_t i = 0; !rc && i < frames.count; i++)
        if (zmsg_addmem (zmsg, frames.frame [i].data, frames.frame [i].size))
            rc = FG_ENOMEM;
    fg_wire_frames_clear (&frames);
    if (rc) {
        zmsg_destroy (&zmsg);
        return fg_error_set (err, rc, "wire send %s: out of memory",
                             fg_wire_type_name (msg->type));
    }
    //  zmsg_send destroys the message whether it succeeds or not
    if (zmsg_send (&zmsg, sock)) {
        int errnum = errno;
        zmsg_destroy (&zmsg);
        return s_zmq_error (errnum, "send", err);
    }
    return 0;
}

int
fg_wire_decode_zmsg (zmsg_t *zmsg, const fg_wire_limits_t *limits,
                     fg_wire_msg_t *msg, fg_error_t *err)
{
    assert (zmsg);
    assert (msg);
    fg_wire_frame_t frames [FG_WIRE_FRAMES_MAX + 1];
    size_t count = 0;
    //  one frame beyond the largest message is enough to say "too many"
    for (zframe_t *f = zmsg_first (zmsg); f && count < FG_WIRE_FRAMES_MAX + 1;
         f = zmsg_next (zmsg)) {
        frames [count].data = zframe_data (f);
        frames [count].size = zframe_size (f);
        count++;
    }
    return fg_wire_decode (frames, count, limits, msg, err);
}

int
fg_wire_recv (void *sock, zframe_t **routing_id_p, const fg_wire_limits_t *limits,
              fg_wire_msg_t *msg, fg_error_t *err)
{
    assert (sock);
    assert (msg);
    memset (msg, 0, sizeof *msg);
    if (routing_id_p)
        *routing_id_p = NULL;
    zmsg_t *zmsg = zmsg_recv (sock);
    if (!zmsg)
        return s_zmq_error (errno, "recv", err);
    if (routing_id_p) {
        *routing_id_p = zmsg_pop (zmsg);
        if (!*routing_id_p) {
            zmsg_destroy (&zmsg);
            return fg_error_set (err, FG_EFORMAT, "wire recv: no identity frame");
        }
    }
    int rc = fg_wire_decode_zmsg (zmsg, limits, msg, err);
    zmsg_destroy (&zmsg);
    return rc;
}

int
fg_wire_send_chunks (void *sock, struct _zframe_t *routing_id,
                     const fg_wire_msg_t *header, uint8_t blob_kind, uint64_t version,
                     const uint8_t *blob, uint64_t size,
                     const uint8_t hash [FG_WIRE_HASH_SIZE], uint64_t offset,
                     uint32_t credit, size_t chunk, const fg_wire_limits_t *limits,
                     fg_error_t *err)
{
    fg_wire_limits_t defaults;
    if (!limits) {
        fg_wire_limits_default (&defaults);
        limits = &defaults;
    }
    if (chunk == 0 || chunk > limits->max_chunk)
        chunk = limits->max_chunk;
    for (uint32_t i = 0; i < credit && offset < size; i++) {
        fg_wire_msg_t msg;
        fg_wire_msg_reply (&msg, FG_WIRE_WEIGHTS_CHUNK, header);
        msg.weights_chunk.blob = blob_kind;
        msg.weights_chunk.version = version;
        msg.weights_chunk.offset = offset;
        msg.weights_chunk.total = size;
        memcpy (msg.weights_chunk.hash, hash, FG_WIRE_HASH_SIZE);
        msg.weights_chunk.size = size - offset < chunk? (size_t) (size - offset): chunk;
        msg.weights_chunk.data = blob + offset;
        int rc = fg_wire_send (sock, routing_id, &msg, limits, err);
        if (rc)
            return rc;
        offset += msg.weights_chunk.size;
    }
    return 0;
}
