/*  fg_actors_internal.h — the coordinator's child actors (partitioner,
    aggregator): their arguments and pipe commands. Internal to actors/.

    Pipe commands are CZMQ picture messages on the actor's own pipe (never
    on a peer socket): the parent and child share a process, so pointers
    travel and ownership moves with them.

    partitioner:  "SHARDS" u32 round   -> i rc, p fg_shards_t* (ownership to
                                          the caller; NULL on error), s message
    aggregator:   "BEGIN" u32 nshards, p const fg_state_t* global (borrowed
                          until the FINISH reply)
                                       -> i rc, s message
                  "ADD" u32 shard, u64 samples, p fg_state_t* update (owned
                        by the aggregator from now on, whatever the outcome)
                                       -> i rc, s message
                  "FINISH"             -> p fg_aggregator_result_t* (owned
                                          by the caller: new weights, and
                                          with server momentum a copy of
                                          the buffer to journal with them)
    A resumed momentum run passes the journaled buffer in the aggregator's
    start arguments (fg_aggregator_args_t.momentum).                       */

#ifndef FG_ACTORS_INTERNAL_H_INCLUDED
#define FG_ACTORS_INTERNAL_H_INCLUDED

#include <czmq.h>
#include "fg_aggregate.h"
#include "fg_dataset.h"
#include "fg_model.h"
#include "fg_partition.h"
#include "fg_train.h"

typedef struct {
    const fg_dataset_t *train;          //  labels of the training set
    fg_partition_params_t params;
    int status;                         //  out: 0 or an FG_E* code
    fg_error_t err;                     //  out: why it failed
} fg_partitioner_args_t;

void
    fg_partitioner_actor (zsock_t *pipe, void *args);

typedef struct {
    fg_aggregate_params_t params;
    const fg_dataset_t *test;           //  evaluation set
    size_t test_count;                  //  0: all of it
    fg_model_spec_t model;
    uint32_t eval_batch;
    int threads;
    const fg_state_t *momentum;         //  resume: momentum buffer of the last committed
                                        //  round (copied at start), or NULL
    int status;                         //  out
    fg_error_t err;                     //  out
} fg_aggregator_args_t;

typedef struct {
    int rc;                             //  0 or an FG_E* code
    fg_error_t err;
    fg_state_t *weights;                //  the new global state (owned)
    fg_state_t *momentum;               //  the momentum buffer after this round (owned;
                                        //  NULL without server momentum): journal it
    fg_train_result_t eval;             //  test loss and accuracy
    double fold_seconds;                //  time to fold (audit)
    double eval_seconds;                //  time to evaluate (audit)
} fg_aggregator_result_t;

void
    fg_aggregator_actor (zsock_t *pipe, void *args);

void
    fg_aggregator_result_destroy (fg_aggregator_result_t **self_p);

//  zactor_new with the process's asynchronous signals (SIGINT, SIGTERM,
//  SIGALRM, ...) blocked in the caller while it waits for the actor's
//  start, and so in the actor's thread for good (fg_actor.c says why).
//  Every actor of fedgrid is started with it. Returns NULL as zactor_new.
zactor_t *
    fg_actor_new (zactor_fn *actor, void *args);

#endif
