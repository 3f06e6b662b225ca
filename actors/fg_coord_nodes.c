/*  fg_coord_nodes.c — the coordinator's node registry.

    A peer becomes a node by HELLO: it must speak this protocol version and
    compute the same GEMM arithmetic (else a unit's result would depend on
    where it ran). A node keeps its journal number across reconnections
    and restarts (looked up by its id), and its accepted/rejected counts
    with it. A node silent for liveness x heartbeat is removed and its
    unit goes back to pending; a node that said HELLO again replaces its
    earlier self.                                                         */

#include "fg_coordinator_internal.h"
#include "fg_clock.h"
#include "fg_log.h"
#include "fg_ops.h"

#include <stdlib.h>
#include <string.h>

#define S_WAIT_LOG_MS   10000       //  "waiting for trainers" reminder

//  --------------------------------------------------------------------------
//  Sending

int
fg_coord_send (fg_coord_t *self, fg_coord_node_t *node, fg_wire_msg_t *msg)
{
    msg->experiment = self->experiment;
    fg_error_t err;
    int rc = fg_wire_send (self->router, node->routing, msg, &self->limits, &err);
    if (rc && rc != FG_ENOENT)
        fg_warn ("coordinator: %s to %s: %s", fg_wire_type_name (msg->type), node->id, err.msg);
    return rc;
}

void
fg_coord_send_ack (fg_coord_t *self, fg_coord_node_t *node, int of_type, uint32_t round,
                   uint32_t shard, uint32_t attempt)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_ACK;
    msg.round = round;
    msg.shard = shard;
    msg.attempt = attempt;
    msg.ack.of_type = (uint8_t) of_type;
    fg_coord_send (self, node, &msg);
}

void
fg_coord_send_reject (fg_coord_t *self, zframe_t *routing, const fg_wire_msg_t *about,
                      int reason, const char *text)
{
    fg_wire_msg_t msg;
    fg_wire_msg_reply (&msg, FG_WIRE_REJECT, about);
    msg.experiment = self->experiment;  //  about's may be another experiment's
    msg.reject.of_type = about? (uint8_t) about->type: 0;
    msg.reject.reason = (uint16_t) reason;
    snprintf (msg.reject.text, sizeof msg.reject.text, "%.250s", text);
    fg_wire_send (self->router, routing, &msg, &self->limits, NULL);
}

//  --------------------------------------------------------------------------
//  Records

fg_coord_node_t *
fg_coord_node_find (fg_coord_t *self, zframe_t *routing)
{
    for (size_t i = 0; i < self->nnodes; i++)
        if (zframe_eq (self->nodes [i]->routing, routing))
            return self->nodes [i];
    return NULL;
}

void
fg_coord_node_clear_update (fg_coord_node_t *node)
{
    free (node->update);
    node->update = NULL;
    node->update_size = node->update_have = 0;
    node->outstanding = 0;
    free (node->loss);
    node->loss = NULL;
    node->nloss = 0;
}

void
fg_coord_node_save (fg_coord_t *self, const fg_coord_node_t *node)
{
    fg_journal_node_t record;
    memset (&record, 0, sizeof record);
    record.node = node->number;
    snprintf (record.identity, sizeof record.identity, "%s", node->id);
    record.accepted = node->accepted;
    record.rejected = node->rejected;
    record.strikes = node->strikes;
    record.quarantined = node->quarantined;
    record.agreed = node->agreed;
    record.last_seen_ns = fg_clock_wall_ns ();
    record.first_seen_ns = record.last_seen_ns;
    fg_journal_node_put (self->journal, &record, NULL);
}

static void
s_node_free (fg_coord_node_t **node_p)
{
    fg_coord_node_t *node = *node_p;
    fg_coord_node_clear_update (node);
    zframe_destroy (&node->routing);
    free (node);
    *node_p = NULL;
}

void
fg_coord_node_remove (fg_coord_t *self, fg_coord_node_t *node, const char *why)
{
    fg_coord_event (self, "node %s removed: %s", node->id, why);
    fg_coord_unit_copy_ends (self, node);
    fg_coord_node_save (self, node);
    for (size_t i = 0; i < self->nnodes; i++)
        if (self->nodes [i] == node) {
            memmove (&self->nodes [i], &self->nodes [i + 1],
                     (self->nnodes - i - 1) * sizeof (fg_coord_node_t *));
            self->nnodes--;
            break;
        }
    s_node_free (&node);
}

//  Journal walk: a known node gets back its number and counters.
static int
s_number_of (const fg_journal_node_t *record, void *arg)
{
    fg_coord_node_t *node = (fg_coord_node_t *) arg;
    if (strcmp (record->identity, node->id) == 0) {
        node->number = record->node;
        node->accepted = record->accepted;
        node->rejected = record->rejected;
        node->strikes = record->strikes;
        node->quarantined = record->quarantined;
        node->agreed = record->agreed;
        return 1;
    }
    return 0;
}

static int
s_max_number (const fg_journal_node_t *record, void *arg)
{
    uint32_t *max = (uint32_t *) arg;
    if (record->node >= *max)
        *max = record->node + 1;
    return 0;
}

void
fg_coord_nodes_resume (fg_coord_t *self)
{
    fg_journal_nodes_foreach (self->journal, s_max_number, &self->next_number, NULL);
}

void
fg_coord_nodes_destroy (fg_coord_t *self)
{
    while (self->nnodes) {
        fg_coord_node_t *node = self->nodes [--self->nnodes];
        if (self->router) {
            fg_wire_msg_t bye;
            memset (&bye, 0, sizeof bye);
            bye.type = FG_WIRE_BYE;
            fg_coord_send (self, node, &bye);
        }
        s_node_free (&node);
    }
    free (self->nodes);
    self->nodes = NULL;
}

//  --------------------------------------------------------------------------
//  Admission

//  Why a HELLO is refused (a REJECT reason and its text), or 0.
static int
s_refusal (const fg_wire_hello_t *h, char *text, size_t size)
{
    if (h->proto_min > FG_WIRE_VERSION || h->proto_max < FG_WIRE_VERSION) {
        snprintf (text, size, "protocol version not spoken");
        return FG_WIRE_REASON_VERSION;
    }
    //  a node whose GEMM computes other bits would make a unit's result
    //  depend on where it ran: only the arithmetic identity (the first
    //  words of its kernel string) must match, not the SIMD variant
    const char *identity = fg_ops_kernel_identity ();
    size_t idlen = strlen (identity);
    if (strncmp (h->kernel, identity, idlen) || (h->kernel [idlen] && h->kernel [idlen] != ' ')) {
        snprintf (text, size, "its GEMM arithmetic \"%.64s\" is not this grid's \"%s\": "
                  "run the same fedgrid release", h->kernel, identity);
        fg_warn ("coordinator: refused node %s: %s", h->node_id, text);
        return FG_WIRE_REASON_NOT_ALLOWED;
    }
    return 0;
}

void
fg_coord_on_hello (fg_coord_t *self, zframe_t *routing, fg_wire_msg_t *msg)
{
    const fg_wire_hello_t *h = &msg->hello;
    char text [FG_WIRE_TEXT_MAX + 1];
    int reason = s_refusal (h, text, sizeof text);
    if (!reason && fg_coord_quarantined (self, h->node_id, text, sizeof text))
        reason = FG_WIRE_REASON_NOT_ALLOWED;
    if (reason) {
        fg_coord_send_reject (self, routing, msg, reason, text);
        return;
    }
    fg_coord_node_t *node = fg_coord_node_find (self, routing);
    if (node)
        fg_coord_node_remove (self, node, "announced itself again");
    node = calloc (1, sizeof *node);
    fg_coord_node_t **nodes = realloc (self->nodes, (self->nnodes + 1) * sizeof *nodes);
    if (!node || !nodes) {
        free (node);
        if (nodes)
            self->nodes = nodes;
        return;
    }
    self->nodes = nodes;
    snprintf (node->id, sizeof node->id, "%s", h->node_id);
    node->routing = zframe_dup (routing);
    node->last_seen = zclock_mono ();
    for (uint32_t i = 0; i < h->dataset_count; i++)
        if (memcmp (h->datasets [i], self->dataset_hash, FG_SHA256_SIZE) == 0)
            node->has_dataset = true;
    node->number = UINT32_MAX;
    fg_journal_nodes_foreach (self->journal, s_number_of, node, NULL);
    if (node->number == UINT32_MAX)
        node->number = self->next_number++;
    self->nodes [self->nnodes++] = node;
    fg_coord_node_save (self, node);
    fg_coord_event (self, "node %s joined (%u cores, kernel %s)%s", node->id, h->cores,
                    h->kernel, node->has_dataset? "": "; it lacks the dataset and fetches samples");
    fg_coord_send_ack (self, node, FG_WIRE_HELLO, self->round, 0, 0);
}

//  --------------------------------------------------------------------------
//  Heartbeats (silent nodes are removed by the coordinator's timer, in
//  the same pass that expires unit deadlines)

void
fg_coord_nodes_beat (fg_coord_t *self, int64_t now)
{
    if (now >= self->beat_at) {
        for (size_t i = 0; i < self->nnodes; i++) {
            fg_wire_msg_t beat;
            memset (&beat, 0, sizeof beat);
            beat.type = FG_WIRE_HEARTBEAT;
            beat.round = self->round;
            if (fg_coord_send (self, self->nodes [i], &beat) == FG_ENOENT)
                self->nodes [i]->last_seen = 0;     //  gone: removed next turn
        }
        self->beat_at = now + self->cfg.grid.heartbeat_ms;
    }
    if (self->nnodes == 0 && !self->finished && now >= self->waiting_logged_at) {
        if (self->port)
            fg_warn ("coordinator: round %u waits: no live trainer (listening on port %d)",
                     self->round, self->port);
        else
            fg_warn ("coordinator: round %u waits: no live trainer", self->round);
        self->waiting_logged_at = now + S_WAIT_LOG_MS;
    }
}
