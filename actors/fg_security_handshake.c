/*  fg_security_handshake.c — the worker side: what a client socket's
    failed CURVE handshakes point at, from its monitor (see
    fg_security.h).                                                       */

#include "fg_security_internal.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _fg_handshake_t {
    zsock_t *monitor;
    uint16_t event;                 //  last failure seen, 0: none
    uint32_t value;
    char     line [400];
};

fg_handshake_t *
fg_handshake_new (void *socket)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned counter = 0;
    pthread_mutex_lock (&lock);
    unsigned number = ++counter;
    pthread_mutex_unlock (&lock);
    fg_handshake_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char endpoint [80];
    snprintf (endpoint, sizeof endpoint, "inproc://fedgrid-handshake-%p-%u", (void *) self,
              number);
    if (zmq_socket_monitor (zsock_resolve (socket), endpoint,
                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                          | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                          | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                          | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0
    ||  !(self->monitor = zsock_new (ZMQ_PAIR))
    ||  zsock_connect (self->monitor, "%s", endpoint) != 0) {
        zsock_destroy (&self->monitor);
        free (self);
        return NULL;
    }
    return self;
}

const char *
fg_handshake_problem (fg_handshake_t *self)
{
    if (!self)
        return NULL;
    while (zsock_events (self->monitor) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->monitor);
        zframe_t *frame = msg? zmsg_first (msg): NULL;
        if (frame && zframe_size (frame) == 6) {
            uint16_t event;
            memcpy (&event, zframe_data (frame), 2);
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                self->event = 0;
            else {
                self->event = event;
                memcpy (&self->value, zframe_data (frame) + 2, 4);
            }
        }
        if (!msg)
            break;
        zmsg_destroy (&msg);
    }
    if (self->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf (self->line, sizeof self->line, "the coordinator refused this worker "
                  "(status %u): its public key (" FG_SECURITY_WORKER_NAME " in the --cache "
                  "folder) is not in the coordinator's grid.allow_keys folder, or its address "
                  "is not in grid.allow_ip", (unsigned) self->value);
    else
    if (self->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    &&  self->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf (self->line, sizeof self->line, "the coordinator uses another security "
                  "mechanism: give --server-key when its grid.curve is true, none when false");
    else
    if (self->event)
        snprintf (self->line, sizeof self->line, "the handshake fails: check that --server-key "
                  "is the coordinator's public key (DIR/" FG_SECURITY_SERVER_NAME " of the "
                  "experiment)");
    else
        return NULL;
    self->event = 0;
    return self->line;
}

void
fg_handshake_destroy (fg_handshake_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->monitor);
    free (*self_p);
    *self_p = NULL;
}
