/*  fg_test_node.h — a node built on the codec, for programs that play one
    against a real coordinator over ZeroMQ (tests/test_trust,
    bench/bench_trust), and what a stopped coordinator's journal holds.
    Linked with fg_test_util into tests/libfgtest.la.                      */

#ifndef FG_TEST_NODE_H_INCLUDED
#define FG_TEST_NODE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include "fg_wire.h"

//  A DEALER connected to endpoint (linger 0; rcvhwm unless 0). NULL when
//  the socket cannot be made or connected.
zsock_t *
    fg_test_node_connect (const char *endpoint, int rcvhwm);

//  Sends msg stamped with experiment. Returns fg_wire_send's code.
int
    fg_test_node_send (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment);

//  The next message that is not a HEARTBEAT into msg (the caller clears
//  it), or msg zeroed (type 0) when none came within ms or it could not
//  be decoded.
void
    fg_test_node_recv (zsock_t *dealer, fg_wire_msg_t *msg, int ms);

//  HELLO as node id with this build's GEMM kernel string, one core, and
//  the dataset hash (32 bytes) or none (NULL). Returns as fg_test_node_send.
int
    fg_test_node_hello (zsock_t *dealer, const char *id, const uint8_t *dataset);

//  What the journal in dir holds.
typedef struct {
    size_t nodes;                   //  node records
    size_t events;
    size_t strikes;                 //  events that record a strike
} fg_test_journal_counts_t;

//  Counts the journal of dir (opened read-only). Returns 0, or the
//  journal's code.
int
    fg_test_journal_counts (const char *dir, fg_test_journal_counts_t *counts);

#endif
