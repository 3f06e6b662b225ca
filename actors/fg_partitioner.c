/*  fg_partitioner.c — the partitioner actor: a pure function behind a pipe.
    Given a round it returns the shards of every work unit of that round
    (lib/fg_partition). It keeps its own copy of the last round's shards,
    which the hybrid strategy builds on; after a restart (a round that does
    not follow the last one) fg_partition rebuilds them from round 0.     */

#include "fg_actors_internal.h"
#include "fg_crash.h"

#include <stdlib.h>
#include <string.h>

static fg_shards_t *
s_shards_dup (const fg_shards_t *shards)
{
    fg_shards_t *copy = calloc (1, sizeof *copy);
    size_t total = shards->offset [shards->nshards];
    if (copy) {
        copy->nshards = shards->nshards;
        copy->offset = malloc ((shards->nshards + 1) * sizeof (size_t));
        copy->index = malloc ((total? total: 1) * sizeof (uint32_t));
        if (!copy->offset || !copy->index) {
            fg_shards_destroy (&copy);
            return NULL;
        }
        memcpy (copy->offset, shards->offset, (shards->nshards + 1) * sizeof (size_t));
        memcpy (copy->index, shards->index, total * sizeof (uint32_t));
    }
    return copy;
}

void
fg_partitioner_actor (zsock_t *pipe, void *args)
{
    fg_partitioner_args_t *a = (fg_partitioner_args_t *) args;
    fg_partition_t *partition = fg_partition_new (
        fg_dataset_labels (a->train), fg_dataset_count (a->train),
        fg_dataset_classes (a->train), &a->params, &a->err);
    a->status = partition? 0: (a->err.code? a->err.code: FG_ENOMEM);
    zsock_signal (pipe, 0);             //  releases zactor_new, which reads status
    fg_shards_t *last = NULL;           //  shards of last_round
    uint32_t last_round = 0;
    while (partition) {
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;                      //  interrupted
        char *command = zmsg_popstr (msg);
        bool term = command && strcmp (command, "$TERM") == 0;
        if (command && strcmp (command, "SHARDS") == 0) {
            char *text = zmsg_popstr (msg);
            uint32_t round = text? (uint32_t) strtoul (text, NULL, 10): 0;
            zstr_free (&text);
            fg_crash_point ("partitioner.shards");
            fg_error_t err;
            fg_error_clear (&err);
            fg_shards_t *shards = NULL;
            const fg_shards_t *prev = last && last_round + 1 == round? last: NULL;
            int rc = fg_partition_round (partition, round, prev, &shards, &err);
            fg_shards_t *copy = rc == 0? s_shards_dup (shards): NULL;
            if (rc == 0 && !copy) {
                rc = fg_error_set (&err, FG_ENOMEM, "partitioner: out of memory");
                fg_shards_destroy (&shards);
            }
            if (rc == 0) {
                fg_shards_destroy (&last);
                last = copy;
                last_round = round;
            }
            zsock_send (pipe, "ips", rc, shards, rc? err.msg: "");
        }
        zstr_free (&command);
        zmsg_destroy (&msg);
        if (term)
            break;
    }
    fg_shards_destroy (&last);
    fg_partition_destroy (&partition);
}
