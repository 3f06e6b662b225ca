/*  fg_test_node.c — a node built on the codec, and journal counts (see
    fg_test_node.h).                                                       */

#include "fg_test_node.h"
#include "fg_journal.h"
#include "fg_ops.h"
#include "fg_wire_socket.h"

#include <string.h>

zsock_t *
fg_test_node_connect (const char *endpoint, int rcvhwm)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    zsock_set_linger (dealer, 0);
    if (rcvhwm)
        zsock_set_rcvhwm (dealer, rcvhwm);
    if (zsock_connect (dealer, "%s", endpoint))
        zsock_destroy (&dealer);
    return dealer;
}

int
fg_test_node_send (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment)
{
    msg->experiment = experiment;
    return fg_wire_send (dealer, NULL, msg, NULL, NULL);
}

void
fg_test_node_recv (zsock_t *dealer, fg_wire_msg_t *msg, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (true) {
        int64_t left = until - zclock_mono ();
        zsock_set_rcvtimeo (dealer, left > 0? (int) left: 0);
        if (left <= 0 || fg_wire_recv (dealer, NULL, NULL, msg, NULL)) {
            memset (msg, 0, sizeof *msg);
            return;
        }
        if (msg->type != FG_WIRE_HEARTBEAT)
            return;
        fg_wire_msg_clear (msg);
    }
}

int
fg_test_node_hello (zsock_t *dealer, const char *id, const uint8_t *dataset)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_HELLO;
    msg.hello.proto_min = msg.hello.proto_max = FG_WIRE_VERSION;
    msg.hello.cores = 1;
    snprintf (msg.hello.node_id, sizeof msg.hello.node_id, "%s", id);
    fg_ops_blis_info (msg.hello.kernel, sizeof msg.hello.kernel);
    if (dataset) {
        msg.hello.dataset_count = 1;
        memcpy (msg.hello.datasets [0], dataset, FG_WIRE_HASH_SIZE);
    }
    return fg_test_node_send (dealer, &msg, 0);
}

static int
s_count_node (const fg_journal_node_t *node, void *arg)
{
    (void) node;
    ((fg_test_journal_counts_t *) arg)->nodes++;
    return 0;
}

static int
s_count_event (const fg_journal_event_t *event, void *arg)
{
    fg_test_journal_counts_t *counts = (fg_test_journal_counts_t *) arg;
    counts->events++;
    if (strstr (event->text, "strike"))
        counts->strikes++;
    return 0;
}

int
fg_test_journal_counts (const char *dir, fg_test_journal_counts_t *counts)
{
    memset (counts, 0, sizeof *counts);
    fg_journal_t *journal = NULL;
    int rc = fg_journal_open_readonly (dir, &journal, NULL);
    if (rc == 0)
        rc = fg_journal_nodes_foreach (journal, s_count_node, counts, NULL);
    if (rc == 0)
        rc = fg_journal_events_foreach (journal, 0, s_count_event, counts, NULL);
    fg_journal_close (&journal);
    return rc;
}
