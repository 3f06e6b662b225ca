/*  fg_coord_nodes.c — the coordinator's node registry.

    A peer becomes a node by HELLO: it must speak this protocol version and
    compute the same GEMM arithmetic (else a unit's result would depend on
    where it ran). A node keeps its journal number across reconnections
    and restarts (looked up by its id), and its accepted/rejected counts
    with it. A node silent for liveness x heartbeat is removed and its
    unit goes back to pending; a node that said HELLO again replaces its
    earlier self.

    Identity: one node id per connection (a HELLO naming another id on a
    connection that is already a node is a lie: REJECT and a strike; an id
    live on another connection is refused), and
    with CURVE at most S_NODES_PER_KEY nodes (or grid.local_trainers, when
    larger) per public key at a time: `fedctl worker` runs one trainer per
    process, each connection its own, and several workers of one PC may
    share a key; local tcp trainers share the coordinator's key.

    A node enters the journal (its record and its "joined" event) when it
    is issued its first unit or struck, not at HELLO: HELLOs alone, however
    many, do not grow the registry. What is logged and journaled about one
    peer is rate-limited (fg_coord_quota_take): a burst, then one a
    second, with "N similar suppressed".                                  */

#include "fg_coordinator_internal.h"
#include "fg_clock.h"
#include "fg_log.h"
#include "fg_ops.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define S_WAIT_LOG_MS   10000       //  "waiting for trainers" reminder
#define S_QUOTA_BURST   5           //  things said about one node at once
#define S_STRANGERS_BURST 20        //  about peers not (yet) journaled, together
#define S_QUOTA_MS      1000        //  then one per this many ms
#define S_NODES_PER_KEY 64          //  nodes one CURVE key may hold at a time

//  --------------------------------------------------------------------------
//  Sending

int
fg_coord_send (fg_coord_t *self, fg_coord_node_t *node, fg_wire_msg_t *msg)
{
    msg->experiment = self->experiment;
    fg_error_t err;
    int rc = fg_wire_send (self->router, node->routing, msg, &self->limits, &err);
    if (rc && rc != FG_ENOENT)
        fg_coord_node_warn (self, node, "%s to %s: %s%s", fg_wire_type_name (msg->type),
                            node->id, err.msg, rc == FG_ETIMEOUT? " (it does not read what it "
                            "asked for: its queue is full)": "");
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

//  The index of nodes by ROUTER identity: every message looks its sender
//  up, and a scan of the nodes made each message cost O(nodes) (a heartbeat
//  at 1,000 nodes 5x one at 100; docs/benchmarks.md). Keys are the nodes'
//  own routing frames (not copied); a node leaves the index before it is
//  freed.
static size_t
s_routing_hash (const void *key)
{
    zframe_t *frame = (zframe_t *) key;
    const uint8_t *p = zframe_data (frame);
    size_t size = zframe_size (frame), h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ p [i]) * 16777619u;            //  FNV-1a: identities are short
    return h;
}

static int
s_routing_compare (const void *a, const void *b)
{
    zframe_t *x = (zframe_t *) a, *y = (zframe_t *) b;
    if (zframe_size (x) != zframe_size (y))
        return zframe_size (x) < zframe_size (y)? -1: 1;
    return memcmp (zframe_data (x), zframe_data (y), zframe_size (x));
}

//  Adds node (already in nodes) to the index; the index is made from all
//  the nodes when there is none. On failure (no memory) there is none, and
//  lookups scan the nodes until the next node is added.
static void
s_index_add (fg_coord_t *self, fg_coord_node_t *node)
{
    if (self->by_routing) {
        if (zhashx_insert (self->by_routing, node->routing, node) != 0)
            zhashx_destroy (&self->by_routing);
        return;
    }
    if (!(self->by_routing = zhashx_new ()))
        return;
    zhashx_set_key_hasher (self->by_routing, s_routing_hash);
    zhashx_set_key_comparator (self->by_routing, s_routing_compare);
    zhashx_set_key_duplicator (self->by_routing, NULL);
    zhashx_set_key_destructor (self->by_routing, NULL);
    for (size_t i = 0; i < self->nnodes && self->by_routing; i++)
        if (zhashx_insert (self->by_routing, self->nodes [i]->routing, self->nodes [i]) != 0)
            zhashx_destroy (&self->by_routing);
}

fg_coord_node_t *
fg_coord_node_find (fg_coord_t *self, zframe_t *routing)
{
    if (self->by_routing)
        return (fg_coord_node_t *) zhashx_lookup (self->by_routing, routing);
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

//  The node's record, as it stands, to the journal.
static void
s_node_record (fg_coord_t *self, const fg_coord_node_t *node)
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
    record.speed = node->speed;         //  its measured speed outlives the connection
    record.last_seen_ns = fg_clock_wall_ns ();
    record.first_seen_ns = record.last_seen_ns;
    fg_journal_node_put (self->journal, &record, NULL);
}

//  The node enters the journal: its "joined" event, then its record.
static void
s_node_enter (fg_coord_t *self, fg_coord_node_t *node)
{
    node->journaled = true;
    fg_journal_event_append (self->journal, self->round, node->joined, NULL, NULL);
    s_node_record (self, node);
}

void
fg_coord_node_save (fg_coord_t *self, fg_coord_node_t *node)
{
    if (node->journaled)
        s_node_record (self, node);
    else
    if (node->strikes || node->accepted)
        s_node_enter (self, node);
}

void
fg_coord_node_issued (fg_coord_t *self, fg_coord_node_t *node)
{
    if (!node->journaled)
        s_node_enter (self, node);
}

//  --------------------------------------------------------------------------
//  Saying things about peers, within a quota

bool
fg_coord_quota_take (fg_coord_quota_t *quota, int64_t now, uint32_t burst,
                     uint64_t *suppressed)
{
    if (!quota->primed) {
        quota->primed = true;
        quota->tokens = burst;
        quota->refill_at = now + S_QUOTA_MS;
    }
    while (now >= quota->refill_at && quota->tokens < burst) {
        quota->tokens++;
        quota->refill_at += S_QUOTA_MS;
    }
    if (quota->tokens >= burst)
        quota->refill_at = now + S_QUOTA_MS;    //  full: the clock starts again
    *suppressed = 0;
    if (quota->tokens == 0) {
        quota->suppressed++;
        return false;
    }
    quota->tokens--;
    *suppressed = quota->suppressed;
    quota->suppressed = 0;
    return true;
}

//  Formats what may be said about node now into text (with the count of
//  what was suppressed before it); false when over its quota.
static bool
s_may_say (fg_coord_t *self, fg_coord_node_t *node, char *text, size_t size,
           const char *fmt, va_list args)
{
    //  a node not journaled yet (it only said HELLO) speaks from the
    //  strangers' quota: many connections cannot flood the log either
    uint64_t suppressed;
    bool known = node && node->journaled;
    if (!fg_coord_quota_take (known? &node->quota: &self->strangers, zclock_mono (),
                              known? S_QUOTA_BURST: S_STRANGERS_BURST, &suppressed))
        return false;
    int n = vsnprintf (text, size, fmt, args);
    if (suppressed && n >= 0 && (size_t) n < size)
        snprintf (text + n, size - (size_t) n, " (%llu similar suppressed)",
                  (unsigned long long) suppressed);
    return true;
}

void
fg_coord_node_say (fg_coord_t *self, fg_coord_node_t *node, int how, const char *fmt, ...)
{
    char text [512];
    va_list args;
    va_start (args, fmt);
    bool say = s_may_say (self, node, text, sizeof text, fmt, args);
    va_end (args);
    if (!say)
        return;
    if (how == FG_COORD_SAY_EVENT)
        fg_coord_event (self, "%s", text);
    else
        fg_log (how == FG_COORD_SAY_WARN? FG_LOG_WARN: FG_LOG_INFO, "coordinator: %s", text);
}

void
fg_coord_node_lie (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *about,
                   int reason, const char *fmt, ...)
{
    char why [FG_WIRE_TEXT_MAX + 1];
    va_list args;
    va_start (args, fmt);
    vsnprintf (why, sizeof why, fmt, args);
    va_end (args);
    fg_coord_send_reject (self, node->routing, about, reason, why);
    node->rejected++;
    uint64_t suppressed;
    if (fg_coord_quota_take (&node->quota, zclock_mono (), S_QUOTA_BURST, &suppressed)) {
        char text [FG_WIRE_TEXT_MAX + 64];
        if (suppressed)
            snprintf (text, sizeof text, "%s (%llu similar not struck)", why,
                      (unsigned long long) suppressed);
        else
            snprintf (text, sizeof text, "%s", why);
        fg_coord_strike (self, node, text);
    }
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

//  A connection stays the node id it first was after that node is removed
//  (BYE, silence, a failed send): it cannot come back as another node and
//  grow the registry one id at a time. At most S_DEPARTED_MAX connections
//  are remembered (about 100 bytes each); past that, new ones are not.
#define S_DEPARTED_MAX  65536

static void
s_departed_add (fg_coord_t *self, const fg_coord_node_t *node)
{
    if (!self->departed) {
        self->departed = zhash_new ();
        if (!self->departed)
            return;
        zhash_autofree (self->departed);
    }
    if (zhash_size (self->departed) >= S_DEPARTED_MAX)
        return;
    char *key = zframe_strhex (node->routing);
    if (key)
        zhash_update (self->departed, key, (void *) node->id);
    free (key);
}

//  The node id the connection behind routing was before, or NULL.
static const char *
s_departed_id (fg_coord_t *self, zframe_t *routing)
{
    if (!self->departed)
        return NULL;
    char *key = zframe_strhex (routing);
    const char *id = key? (const char *) zhash_lookup (self->departed, key): NULL;
    free (key);
    return id;
}

void
fg_coord_node_remove (fg_coord_t *self, fg_coord_node_t *node, const char *why)
{
    if (node->journaled)
        fg_coord_node_event (self, node, "node %s removed: %s", node->id, why);
    else
        fg_coord_node_info (self, node, "node %s removed: %s", node->id, why);
    fg_coord_copy_lost (self, node, "lost");        //  its time held is waste
    fg_coord_node_save (self, node);
    s_departed_add (self, node);
    if (self->by_routing)
        zhashx_delete (self->by_routing, node->routing);
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
        if (record->speed > 0 && record->speed < 1e12)
            node->speed = record->speed;
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
    free (self->holders);               //  fg_coord_backup_begin's table of them
    self->holders = NULL;
    zhashx_destroy (&self->by_routing);
    zhash_destroy (&self->departed);
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
        return FG_WIRE_REASON_NOT_ALLOWED;
    }
    return 0;
}

//  With CURVE, how many nodes one public key may hold at a time.
static size_t
s_per_key (const fg_coord_t *self)
{
    return self->cfg.grid.local_trainers > S_NODES_PER_KEY
         ? (size_t) self->cfg.grid.local_trainers: S_NODES_PER_KEY;
}

//  Nodes of this key other than `except`.
static size_t
s_key_count (const fg_coord_t *self, const char *key, const fg_coord_node_t *except)
{
    size_t count = 0;
    for (size_t i = 0; i < self->nnodes; i++)
        if (self->nodes [i] != except && strcmp (self->nodes [i]->key, key) == 0)
            count++;
    return count;
}

//  The live node of this id, or NULL.
static fg_coord_node_t *
s_node_named (fg_coord_t *self, const char *id)
{
    for (size_t i = 0; i < self->nnodes; i++)
        if (strcmp (self->nodes [i]->id, id) == 0)
            return self->nodes [i];
    return NULL;
}

//  A new node for a HELLO (NULL when out of memory): its journal number
//  (kept across reconnections), and the quota of the node it replaces.
static fg_coord_node_t *
s_node_new (fg_coord_t *self, zframe_t *routing, const fg_wire_hello_t *h,
            const fg_coord_quota_t *quota)
{
    fg_coord_node_t *node = calloc (1, sizeof *node);
    fg_coord_node_t **nodes = realloc (self->nodes, (self->nnodes + 1) * sizeof *nodes);
    if (nodes)
        self->nodes = nodes;
    if (!node || !nodes || !(node->routing = zframe_dup (routing))) {
        free (node);
        return NULL;
    }
    snprintf (node->id, sizeof node->id, "%s", h->node_id);
    snprintf (node->key, sizeof node->key, "%s", self->peer_key);
    if (quota)
        node->quota = *quota;
    node->last_seen = zclock_mono ();
    for (uint32_t i = 0; i < h->dataset_count; i++)
        if (memcmp (h->datasets [i], self->dataset_hash, FG_SHA256_SIZE) == 0)
            node->has_dataset = true;
    node->number = UINT32_MAX;
    fg_journal_nodes_foreach (self->journal, s_number_of, node, NULL);
    node->journaled = node->number != UINT32_MAX;
    self->sweep_due |= node->quarantined;
    if (node->number == UINT32_MAX)
        node->number = self->next_number++;
    snprintf (node->joined, sizeof node->joined, "node %s joined (%u cores, kernel %.64s)%s",
              node->id, h->cores, h->kernel,
              node->has_dataset? "": "; it lacks the dataset and fetches samples");
    self->nodes [self->nnodes++] = node;
    s_index_add (self, node);
    return node;
}

void
fg_coord_on_hello (fg_coord_t *self, zframe_t *routing, fg_wire_msg_t *msg)
{
    const fg_wire_hello_t *h = &msg->hello;
    char text [FG_WIRE_TEXT_MAX + 1];
    fg_coord_node_t *node = fg_coord_node_find (self, routing);
    if (node && strcmp (node->id, h->node_id)) {
        node->last_seen = zclock_mono ();
        fg_coord_node_lie (self, node, msg, FG_WIRE_REASON_NOT_ALLOWED,
                           "this connection is node %s: one node id per connection, "
                           "%.64s refused", node->id, h->node_id);
        return;
    }
    int reason = s_refusal (h, text, sizeof text);
    const char *was = node? NULL: s_departed_id (self, routing);
    if (!reason && was && strcmp (was, h->node_id)) {
        snprintf (text, sizeof text, "this connection was node %.64s: one node id per "
                  "connection, %.64s refused", was, h->node_id);
        reason = FG_WIRE_REASON_NOT_ALLOWED;
    }
    if (!reason && fg_coord_quarantined (self, h->node_id, text, sizeof text))
        reason = FG_WIRE_REASON_NOT_ALLOWED;
    if (!reason && !node && s_node_named (self, h->node_id)) {
        //  a trainer's ZMQ identity is its node id, so its reconnection
        //  comes back on the same routing id: this is another peer
        //  claiming a live node's id (and with it that node's units)
        snprintf (text, sizeof text, "node id %.64s is live on another connection",
                  h->node_id);
        reason = FG_WIRE_REASON_NOT_ALLOWED;
    }
    if (!reason && self->peer_key [0] && s_key_count (self, self->peer_key, node) >= s_per_key (self)) {
        snprintf (text, sizeof text, "its public key already holds %zu nodes, the most one "
                  "key may", s_per_key (self));
        reason = FG_WIRE_REASON_NOT_ALLOWED;
    }
    if (reason) {
        fg_coord_node_warn (self, node, "refused node %s: %s", h->node_id, text);
        fg_coord_send_reject (self, routing, msg, reason, text);
        return;
    }
    //  the same id again on its connection replaces its earlier self and
    //  keeps its quota and budget
    fg_coord_quota_t quota;
    uint32_t weights_round = 0;
    uint64_t weights_served = 0;
    double speed = 0;
    bool again = node != NULL;
    if (node) {
        quota = node->quota;
        weights_round = node->weights_round;
        weights_served = node->weights_served;
        speed = node->speed;
        //  it keeps its unit: its result, when it comes, counts its compute
        fg_coord_unit_copy_ends (self, node);
        fg_coord_node_remove (self, node, "announced itself again");
    }
    node = s_node_new (self, routing, h, again? &quota: NULL);
    if (node) {                         //  (what it was served, and its speed, too)
        node->weights_round = weights_round;
        node->weights_served = weights_served;
        node->speed = speed;
    }
    if (!node) {
        fg_coord_send_reject (self, routing, msg, FG_WIRE_REASON_BUSY, "out of memory");
        return;
    }
    if (node->journaled) {
        fg_coord_node_save (self, node);
        fg_coord_node_event (self, node, "%s", node->joined);
    }
    else
        fg_coord_node_info (self, node, "%s", node->joined);
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

//  --------------------------------------------------------------------------
//  Assigning (the coordinator's s_assign runs after every message and
//  timer tick)

bool
fg_coord_units_pending (const fg_coord_t *self)
{
    for (uint32_t s = 0; self->units && s < self->nshards; s++)
        if (self->units [s].state == FG_COORD_UNIT_PENDING)
            return true;
    return false;
}

bool
fg_coord_units_open (const fg_coord_t *self)
{
    for (uint32_t s = 0; self->units && s < self->nshards; s++) {
        const fg_coord_unit_t *unit = &self->units [s];
        if (unit->state == FG_COORD_UNIT_PENDING
        ||  (unit->state == FG_COORD_UNIT_RUNNING && unit->copies == 1))
            return true;
    }
    return false;
}
