/*  fg_actors.h — the four CZMQ actors of fedgrid and their owners' API.

    coordinator  owns the experiment: round state machine, journal (the
                 only writer), node registry, liveness, deadlines; binds a
                 ROUTER that trainers reach over inproc:// or tcp://.
    partitioner  the coordinator's child: shards of a round, on its pipe.
    aggregator   the coordinator's child: folds accepted updates in shard
                 order, evaluates the new weights on the test set.
    trainer      a DEALER to the coordinator: runs work units (nn/fg_unit)
                 in mini-batch slices, heartbeats, reconnects with back-off.

    Peers (coordinator <-> trainer) speak only fg_wire messages. Parent
    and child actors (coordinator <-> partitioner / aggregator) use their
    pipe with CZMQ picture messages that pass pointers: they share one
    process by construction, and a pointer hand-off transfers ownership.
    Every owner object wraps a zactor_t like zyre_t: methods are pipe
    commands, so tests and fedctl drive the actors the same way.          */

#ifndef FG_ACTORS_H_INCLUDED
#define FG_ACTORS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "fg_config.h"
#include "fg_dataset.h"
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

//  ---- coordinator -----------------------------------------------------------

typedef struct _fg_coordinator_t fg_coordinator_t;

typedef struct {
    const char *dir;                //  experiment directory (journal, csv, status)
    const fg_config_t *cfg;         //  copied
    const fg_dataset_t *train;      //  shared read-only (labels for shards)
    const fg_dataset_t *test;       //  shared read-only (evaluation)
    const char *inproc;             //  inproc endpoint name for local trainers
    const char *listen;             //  tcp endpoint or NULL / ""
    int eval_threads;               //  BLIS threads of the aggregator's evaluation
} fg_coordinator_args_t;

//  Starts the coordinator: opens or creates the journal (resuming after
//  the last committed round), binds its endpoints, and begins round one
//  as soon as a trainer is ready. Caller owns it: fg_coordinator_destroy.
//  Returns NULL and fills err: FG_EMISMATCH (journal of another
//  configuration), FG_ECHECKSUM / FG_EFORMAT (corrupt journal), FG_EIO,
//  FG_EINVAL (cannot bind), FG_EUNSUPPORTED, FG_ENOMEM.
fg_coordinator_t *
    fg_coordinator_new (const fg_coordinator_args_t *args, fg_error_t *err);

//  Stops the actor (finishing no transaction half-way); NULL-safe.
void
    fg_coordinator_destroy (fg_coordinator_t **self_p);

//  The coordinator's pipe end for the owner's poller: the actor sends
//  "ROUND" <round> <line> after each commit, "DONE" when every round is
//  committed, "FAILED" <message> when it cannot go on.
void *
    fg_coordinator_actor (fg_coordinator_t *self);

//  The tcp port bound for `listen` (0 when none).
int
    fg_coordinator_port (fg_coordinator_t *self);

//  Receives one event from the pipe (blocking): *kind "ROUND", "DONE" or
//  "FAILED"; *text the line or message. Caller frees both (free () or zstr_free).
//  Returns 0 or FG_EINTR.
int
    fg_coordinator_event (fg_coordinator_t *self, char **kind, char **text);

//  ---- trainer ---------------------------------------------------------------

typedef struct _fg_trainer_t fg_trainer_t;

typedef struct {
    const char *endpoint;           //  coordinator: inproc://... or tcp://host:port
    const char *node_id;            //  1..64 printable bytes, unique on the grid
    const fg_dataset_t *train;      //  the training set this node holds (shared)
    const char *cache_dir;          //  unit checkpoints; NULL: none
    int threads;                    //  BLIS threads (never changes results)
    int heartbeat_ms;
    int liveness;                   //  silent beats before reconnecting
    size_t max_frame;               //  ZMQ_MAXMSGSIZE and wire limits
    size_t chunk_size;
    //  CURVE (docs/actors.md, Security): the coordinator's public key and
    //  this trainer's pair, as 40-character Z85 text; NULL: no CURVE
    const char *server_key;
    const char *public_key;
    const char *secret_key;
    //  a slow PC, simulated: each mini-batch takes slowdown times its
    //  measured time (its compute thread idles (slowdown - 1) times as long
    //  after it; the trainer keeps serving heartbeats and messages, and
    //  $TERM cuts the idle short); 0 or 1: full speed. Never changes results.
    double slowdown;
} fg_trainer_args_t;

//  Starts a trainer that connects, announces itself and takes units.
//  Returns NULL and fills err (FG_EINVAL bad arguments, a CURVE key that
//  is not 40 characters, a slowdown outside 0..1000, FG_ENOMEM).
fg_trainer_t *
    fg_trainer_new (const fg_trainer_args_t *args, fg_error_t *err);

//  Stops it (checkpointing a unit in progress at its last epoch
//  boundary); NULL-safe.
void
    fg_trainer_destroy (fg_trainer_t **self_p);

//  ---- swarm: many trainer identities in one process ------------------------

typedef struct _fg_swarm_t fg_swarm_t;

#define FG_SWARM_MAX    100000      //  identities in one swarm

typedef struct {
    //  as for one trainer; node_id is the identities' prefix (each is
    //  "<prefix>-<i>", the prefix at most FG_WIRE_NAME_MAX - 8 bytes);
    //  train is required, cache_dir and threads are not used
    fg_trainer_args_t trainer;
    int identities;                 //  1..FG_SWARM_MAX connections
    int pool;                       //  threads that train the units, 1..256
} fg_swarm_args_t;

//  Starts `identities` trainer identities, each its own DEALER to the
//  coordinator speaking the trainer's protocol, their units trained by a
//  pool of `pool` threads (actors/fg_swarm.c). The process needs about two
//  file descriptors and one ZeroMQ socket per identity (zsys_set_max_sockets).
//  Returns NULL and fills err (FG_EINVAL bad arguments, FG_ENOMEM).
fg_swarm_t *
    fg_swarm_new (const fg_swarm_args_t *args, fg_error_t *err);

//  Stops every identity (BYE) and the pool; NULL-safe.
void
    fg_swarm_destroy (fg_swarm_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
