/*  fg_coord_start.c — the coordinator's start-up, resume and tear-down.

    fg_coord_new takes these steps, each of which may fail (and then the
    coordinator does not start, its owner gets the reason):
      1. settings: the configuration, the datasets, wire limits, the
         optimiser's schedule (checked);
      2. the journal: created, or opened to resume (its configuration must
         be this one), its last committed round, the node numbers it
         knows, rounds.csv rebuilt from it;
      3. the child actors: the partitioner, and the aggregator (with, for
         a resumed FedAvgM run, the journaled momentum buffer);
      4. the ROUTER: CURVE and allow-lists before any bind, then inproc://
         and tcp:// endpoints;
      5. clients.csv and the poller;
      6. the round to run: none when every round is committed; else round
         last + 1 on the weights of round last (the journal's blob, checked
         against the model's layout) or, for a new experiment, the model
         initialised from the seed.                                         */

#include "fg_coordinator_internal.h"
#include "fg_blob.h"
#include "fg_log.h"
#include "fg_unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

//  Messages queued per peer, each way (ZMQ high-water marks). An honest
//  trainer has one request outstanding at a time: at most 256 data chunks
//  (one per range, 16 chunks' worth of bytes) or 8 weights chunks to it,
//  8 update chunks from it, and a few control messages. The bytes a node
//  can make the coordinator queue in a round are bounded by what it is
//  served (fg_coord_serve.c); the send queue bounds them across rounds:
//  when a peer that does not read fills it, a send to it fails at once
//  (FG_ETIMEOUT: send timeout 0, never a wait of the one coordinator
//  thread on one peer).
//  docs/actors.md gives the memory this bounds per node.
#define S_PEER_SNDHWM   300
#define S_PEER_RCVHWM   16

//  1. Settings from the arguments.
static int
s_settings (fg_coord_t *self, zsock_t *pipe, const fg_coordinator_args_t *a, fg_error_t *err)
{
    self->pipe = pipe;
    self->cfg = *a->cfg;
    self->train = a->train;
    self->test = a->test;
    snprintf (self->dir, sizeof self->dir, "%s", a->dir);
    fg_dataset_hash (a->train, self->dataset_hash);
    fg_unit_model_spec (self->cfg.model.name, a->train, &self->model);
    fg_optim_config_from (&self->optim, &self->cfg, (double) self->cfg.experiment.rounds);
    self->limits.max_frame = (size_t) self->cfg.grid.max_frame;
    self->limits.max_chunk = (size_t) self->cfg.grid.chunk_size;
    self->last_accuracy = NAN;
    int rc = fg_wire_limits_check (&self->limits, err);
    if (rc == 0)
        rc = fg_optim_config_check (&self->optim, err);
    return rc;
}

//  2. The journal: create or resume; *last is its last committed round
//  (0: none).
static int
s_open_journal (fg_coord_t *self, uint32_t *last, fg_error_t *err)
{
    char hash [FG_SHA256_HEX_SIZE];
    fg_config_hash (&self->cfg, hash);
    //  the wire's experiment id: the configuration hash's first 64 bits
    char id [17];
    memcpy (id, hash, 16);
    id [16] = 0;
    self->experiment = strtoull (id, NULL, 16);
    char *canonical = fg_config_canonical (&self->cfg, false);
    if (!canonical)
        return fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    int rc = fg_journal_open (self->dir, canonical, hash, true, &self->journal, err);
    free (canonical);
    if (rc == 0)
        rc = fg_journal_set_retention (self->journal, self->cfg.journal.keep_last,
                                       self->cfg.journal.keep_every, err);
    if (rc == 0)
        rc = fg_journal_set_update_retention (self->journal, self->cfg.journal.keep_updates,
                                              err);
    *last = 0;
    if (rc == 0) {
        rc = fg_journal_last_round (self->journal, last, err);
        if (rc == FG_ENOENT) {
            rc = 0;
            *last = 0;
        }
    }
    if (rc == 0)
        fg_coord_nodes_resume (self);
    if (rc == 0)
        rc = fg_coord_rounds_csv_rebuild (self, *last, err);
    return rc;
}

//  FedAvgM: the momentum buffer journaled with round `last`, for the
//  aggregator to continue exactly where the uninterrupted run would be.
static int
s_load_momentum (fg_coord_t *self, uint32_t last, fg_state_t **buffer, fg_error_t *err)
{
    void *blob = NULL;
    size_t size = 0;
    int rc = fg_journal_get_optimizer (self->journal, last, &blob, &size, err);
    if (rc == 0)
        rc = fg_blob_decode (blob, size, NULL, buffer, err);
    free (blob);
    if (rc)
        fg_error_prefix (err, "cannot resume the server momentum (aggregation.server_momentum "
                         "= %g) from round %u of the journal in %s",
                         self->cfg.aggregation.server_momentum, last, self->dir);
    return rc;
}

//  3. The partitioner and the aggregator.
static int
s_start_children (fg_coord_t *self, const fg_coordinator_args_t *a, uint32_t last,
                  fg_error_t *err)
{
    fg_partitioner_args_t pargs;
    memset (&pargs, 0, sizeof pargs);
    pargs.train = a->train;
    int rc = fg_partition_params_from_config (&pargs.params, &self->cfg, err);
    if (rc)
        return rc;
    self->partitioner = fg_actor_new (fg_partitioner_actor, &pargs);
    if (!self->partitioner || pargs.status)
        return pargs.status? (*err = pargs.err, pargs.status)
                           : fg_error_set (err, FG_ENOMEM, "partitioner: cannot start");
    fg_state_t *momentum = NULL;        //  FedAvgM: the buffer of round `last`
    if (last && self->cfg.aggregation.server_momentum > 0)
        rc = s_load_momentum (self, last, &momentum, err);
    if (rc)
        return rc;
    fg_aggregator_args_t aargs;
    memset (&aargs, 0, sizeof aargs);
    fg_aggregate_params_from_config (&aargs.params, &self->cfg);
    aargs.momentum = momentum;
    aargs.test = a->test;
    aargs.test_count = 0;
    aargs.model = self->model;
    aargs.eval_batch = (uint32_t) self->cfg.training.test_batch_size;
    aargs.threads = a->eval_threads > 0? a->eval_threads: 1;
    self->aggregator = fg_actor_new (fg_aggregator_actor, &aargs);
    fg_state_destroy (&momentum);       //  the aggregator keeps its own copy
    if (!self->aggregator || aargs.status)
        return aargs.status? (*err = aargs.err, aargs.status)
                           : fg_error_set (err, FG_ENOMEM, "aggregator: cannot start");
    return 0;
}

//  4. The ROUTER trainers connect to; *port is the tcp port bound.
static int
s_open_router (fg_coord_t *self, const fg_coordinator_args_t *a, int *port, fg_error_t *err)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router)
        return fg_error_set (err, FG_ENOMEM, "coordinator: cannot create a socket");
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_router_handover (self->router, 1);
    zsock_set_maxmsgsize (self->router, (int) self->limits.max_frame);
    zsock_set_handshake_ivl (self->router, 10000);
    zsock_set_linger (self->router, 0);
    zsock_set_sndhwm (self->router, S_PEER_SNDHWM);
    zsock_set_rcvhwm (self->router, S_PEER_RCVHWM);
    zsock_set_sndtimeo (self->router, 0);   //  never wait for one peer
    //  before any bind: CURVE server and zauth (inproc peers skip both)
    int rc = fg_guard_open (&self->guard, self->router, &self->cfg, self->dir, a->listen,
                            NULL, err);
    if (rc)
        return rc;
    if (a->inproc && *a->inproc && zsock_bind (self->router, "inproc://%s", a->inproc) != 0)
        return fg_error_set (err, FG_EINVAL, "cannot bind inproc://%s", a->inproc);
    if (a->listen && *a->listen) {
        int bound = zsock_bind (self->router, "%s", a->listen);
        if (bound < 0)
            return fg_error_set (err, FG_EINVAL, "cannot listen on %s (address in use or "
                                 "malformed)", a->listen);
        self->port = *port = bound;
    }
    return 0;
}

//  5. clients.csv and the poller over the owner's pipe and the ROUTER.
static int
s_open_poller (fg_coord_t *self, fg_error_t *err)
{
    fg_coord_clients_csv_open (self);
    self->poller = zpoller_new (self->pipe, self->router, NULL);
    if (!self->poller)
        return fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    zpoller_set_nonstop (self->poller, true);
    return 0;
}

//  The weights of round `last` from the journal, checked against the
//  model's layout (a full blob decodes to whatever layout it describes).
//  *blob is the journal's blob: the bytes trainers will fetch.
static int
s_resumed_weights (fg_coord_t *self, fg_model_t *model, uint32_t last, fg_state_t **weights,
                   uint8_t **blob, size_t *size, fg_error_t *err)
{
    void *bytes = NULL;
    int rc = fg_journal_get_weights (self->journal, last, false, NULL, &bytes, size, err);
    if (rc == 0)
        rc = fg_blob_decode (bytes, *size, NULL, weights, err);
    if (rc == 0 && !fg_state_same_layout (fg_model_state (model), *weights, err))
        rc = FG_EMISMATCH;
    if (rc) {
        fg_state_destroy (weights);
        free (bytes);
        bytes = NULL;
        fg_error_prefix (err, "cannot resume from round %u of the journal in %s", last,
                         self->dir);
    }
    *blob = bytes;
    return rc;
}

//  The weights of a new experiment: the model initialised from the seed.
static int
s_initial_weights (fg_coord_t *self, fg_model_t *model, fg_state_t **weights, uint8_t **blob,
                   size_t *size, fg_error_t *err)
{
    fg_model_init (model, (uint64_t) self->cfg.experiment.seed);
    *weights = fg_state_dup (fg_model_state (model));
    if (!*weights)
        return fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    int rc = fg_blob_encode (*weights, NULL, blob, size, err);
    if (rc)
        fg_state_destroy (weights);
    return rc;
}

//  6. The round to run after round `last`.
static int
s_first_round (fg_coord_t *self, uint32_t last, fg_error_t *err)
{
    if (last >= (uint32_t) self->cfg.experiment.rounds) {
        self->finished = true;
        self->round = last;
        return 0;
    }
    fg_model_t *model = fg_model_new (&self->model, err);
    if (!model)
        return err->code;
    fg_state_t *weights = NULL;
    uint8_t *blob = NULL;
    size_t size = 0;
    int rc = last? s_resumed_weights (self, model, last, &weights, &blob, &size, err)
                 : s_initial_weights (self, model, &weights, &blob, &size, err);
    fg_model_destroy (&model);
    self->round = last + 1;
    if (rc == 0) {
        fg_coord_set_base (self, weights, blob, size, NULL);
        rc = fg_coord_begin_round (self, err);
    }
    if (rc == 0 && last)
        fg_info ("coordinator: resuming %s after round %u", self->dir, last);
    return rc;
}

fg_coord_t *
fg_coord_new (zsock_t *pipe, const fg_coordinator_args_t *args, int *port, fg_error_t *err)
{
    fg_coord_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
        return NULL;
    }
    uint32_t last = 0;
    int rc = s_settings (self, pipe, args, err);
    if (rc == 0)
        rc = s_open_journal (self, &last, err);
    if (rc == 0)
        rc = s_start_children (self, args, last, err);
    if (rc == 0)
        rc = s_open_router (self, args, port, err);
    if (rc == 0)
        rc = s_open_poller (self, err);
    if (rc == 0)
        rc = s_first_round (self, last, err);
    if (rc) {
        fg_coord_destroy (&self);
        return NULL;
    }
    self->beat_at = zclock_mono () + self->cfg.grid.heartbeat_ms;
    fg_coord_write_status (self);
    return self;
}

void
fg_coord_destroy (fg_coord_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_coord_t *self = *self_p;
    fg_coord_nodes_destroy (self);
    if (self->folding) {
        //  the aggregator answers FINISH before it reads $TERM
        fg_aggregator_result_t *result = NULL;
        zsock_recv (self->aggregator, "p", &result);
        fg_aggregator_result_destroy (&result);
    }
    zactor_destroy (&self->partitioner);
    zactor_destroy (&self->aggregator);
    fg_coord_free_round (self);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->router);
    fg_guard_destroy (&self->guard);
    if (self->clients_csv)
        fclose (self->clients_csv);
    free (self->rounds_csv);
    free (self->fetched);
    fg_journal_close (&self->journal);
    free (self);
    *self_p = NULL;
}
