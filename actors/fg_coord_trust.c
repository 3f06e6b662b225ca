/*  fg_coord_trust.c — what a node's word is worth.

    Authentication says who a node is, not that it is honest or well.
    Everything a node sends is checked against what the coordinator
    issued and computed; a node caught sending what was not its to send,
    or a result shown wrong, gets a strike.                               */

#include "fg_coordinator_internal.h"
#include "fg_log.h"

void
fg_coord_strike (fg_coord_t *self, fg_coord_node_t *node, const char *why)
{
    node->strikes++;
    fg_coord_event (self, "strike %u against node %s: %s", node->strikes, node->id, why);
    fg_coord_node_save (self, node);
}
