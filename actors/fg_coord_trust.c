/*  fg_coord_trust.c — what a node's word is worth.

    Authentication says who a node is, not that it is honest or well.
    Everything a node sends is checked against what the coordinator
    issued and computed; a node caught sending what was not its to send,
    or a result shown wrong, gets a strike. A node with more strikes than
    grid.max_strikes is quarantined for the experiment: the strike, the
    quarantine and its counters are in its journal record (so a restarted
    coordinator remembers), it is removed, and its HELLO is refused with
    the reason from then on.

    A node is trusted (fg_coord_trusted: its units are spot-checked only
    at the rate grid.spot_check) once FG_COORD_TRUST_AFTER of its results
    were confirmed by another node's identical result and it never had a
    strike.                                                               */

#include "fg_coordinator_internal.h"
#include "fg_log.h"

#include <string.h>

//  The live node with number, or NULL.
static fg_coord_node_t *
s_live (fg_coord_t *self, uint32_t number)
{
    for (size_t i = 0; i < self->nnodes; i++)
        if (self->nodes [i]->number == number)
            return self->nodes [i];
    return NULL;
}

//  Other connections of the same node share its counters and its fate.
static void
s_share (fg_coord_t *self, const fg_coord_node_t *node)
{
    for (size_t i = 0; i < self->nnodes; i++) {
        fg_coord_node_t *other = self->nodes [i];
        if (other != node && other->number == node->number) {
            other->strikes = node->strikes;
            other->quarantined = node->quarantined;
            other->agreed = node->agreed;
        }
    }
}

//  Counts a strike in *strikes; true when it is the one past max_strikes.
static bool
s_count (fg_coord_t *self, const char *id, uint32_t *strikes, bool *quarantined, const char *why)
{
    if (*strikes < UINT32_MAX)
        (*strikes)++;
    fg_coord_event (self, "strike %u against node %s: %s", *strikes, id, why);
    if (*quarantined || *strikes <= (uint64_t) self->cfg.grid.max_strikes)
        return false;
    *quarantined = true;
    fg_coord_event (self, "node %s quarantined for this experiment: %u strikes, over "
                    "grid.max_strikes = %lld", id, *strikes,
                    (long long) self->cfg.grid.max_strikes);
    return true;
}

void
fg_coord_strike (fg_coord_t *self, fg_coord_node_t *node, const char *why)
{
    s_count (self, node->id, &node->strikes, &node->quarantined, why);
    self->sweep_due |= node->quarantined;
    s_share (self, node);
    fg_coord_node_save (self, node);
}

void
fg_coord_strike_number (fg_coord_t *self, uint32_t number, const char *id, const char *why)
{
    fg_coord_node_t *live = s_live (self, number);
    if (live) {
        fg_coord_strike (self, live, why);
        return;
    }
    fg_journal_node_t record;
    fg_error_t err;
    if (fg_journal_node_get (self->journal, number, &record, &err)) {
        fg_error_log ("coordinator: strike against node %s: %s", id, err.msg);
        return;
    }
    s_count (self, record.identity, &record.strikes, &record.quarantined, why);
    if (fg_journal_node_put (self->journal, &record, &err))
        fg_error_log ("coordinator: strike against node %s: %s", id, err.msg);
}

void
fg_coord_credit_number (fg_coord_t *self, uint32_t number, bool agreed)
{
    fg_coord_node_t *live = s_live (self, number);
    if (live) {
        live->accepted++;
        live->agreed += agreed;
        s_share (self, live);
        fg_coord_node_save (self, live);   //  trust survives a restart
        return;
    }
    fg_journal_node_t record;
    fg_error_t err;
    if (fg_journal_node_get (self->journal, number, &record, &err) == 0) {
        record.accepted++;
        record.agreed += agreed;
        fg_journal_node_put (self->journal, &record, &err);
    }
}

//  Why a quarantined node is refused.
static void
s_why (const fg_coord_t *self, const char *id, uint32_t strikes, char *text, size_t size)
{
    snprintf (text, size, "node %.64s is quarantined for this experiment: %u strikes, over "
              "grid.max_strikes = %lld", id, strikes, (long long) self->cfg.grid.max_strikes);
}

bool
fg_coord_trusted (const fg_coord_node_t *node)
{
    return !node->quarantined && node->strikes == 0 && node->agreed >= FG_COORD_TRUST_AFTER;
}

void
fg_coord_quarantine_sweep (fg_coord_t *self)
{
    //  it runs after every message: a scan of the nodes only when a strike
    //  may have quarantined one (O(nodes) per heartbeat otherwise)
    if (!self->sweep_due)
        return;
    self->sweep_due = false;
    for (size_t i = 0; i < self->nnodes; ) {
        fg_coord_node_t *node = self->nodes [i];
        if (!node->quarantined) {
            i++;
            continue;
        }
        char text [FG_WIRE_TEXT_MAX + 1];
        s_why (self, node->id, node->strikes, text, sizeof text);
        fg_coord_send_reject (self, node->routing, NULL, FG_WIRE_REASON_NOT_ALLOWED, text);
        fg_coord_node_remove (self, node, "quarantined");
    }
}

typedef struct {
    const char *id;
    bool quarantined;
    uint32_t strikes;
} s_lookup_t;

static int
s_lookup (const fg_journal_node_t *record, void *arg)
{
    s_lookup_t *lookup = (s_lookup_t *) arg;
    if (strcmp (record->identity, lookup->id))
        return 0;
    lookup->quarantined = record->quarantined;
    lookup->strikes = record->strikes;
    return 1;
}

bool
fg_coord_quarantined (fg_coord_t *self, const char *id, char *text, size_t size)
{
    s_lookup_t lookup = { id, false, 0 };
    fg_journal_nodes_foreach (self->journal, s_lookup, &lookup, NULL);
    if (lookup.quarantined)
        s_why (self, id, lookup.strikes, text, size);
    return lookup.quarantined;
}
