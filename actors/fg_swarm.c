/*  fg_swarm.c — many node identities in one process: N trainer
    connections (fg_trn_t, the trainer's own protocol code, each its own
    DEALER and node id "<prefix>-<i>") driven by one loop, their units
    trained by a small pool of threads.

    Why not N trainer actors: an actor is a thread, a pipe pair and a
    poller; ten thousand of them would measure the host, not the
    coordinator. Why not a lighter client: the coordinator checks every
    RESULT's size, sample count and hash, and compares replicated copies
    bit for bit, so an identity must send the real update of its unit;
    reusing fg_trn_t (fg_trainer.c, fg_trainer_fetch.c) sends exactly what a
    trainer sends (HELLO, READY, heartbeats, weights fetch, RESULT and its
    update chunks, REJECT handling), and only the scheduling differs:

    - The loop owns every fg_trn_t and DEALER and does no computation. An
      identity entering TRAINING is handed to the pool, which builds its
      unit, runs it to the end and encodes the update (fg_trn_build_unit,
      fg_unit_step, fg_trn_encode_unit: the same nn/ code and seed a
      trainer runs, one BLIS thread per unit, and thread counts never
      change results); the loop then sends the RESULT (fg_trn_send_unit).
    - While its unit is in the pool the identity still beats, but its
      DEALER is not read: the coordinator's messages wait in ZeroMQ until
      the unit is done (a trainer reads them during its batches, which
      its compute thread runs, and defers what would touch the unit).
      Nothing else can touch the unit meanwhile.
    - An idle identity holds no weights (they are fetched per unit), so an
      idle identity costs its fg_trn_t, a socket and a heartbeat.
    - Identities need the dataset locally (args->trainer.train): a sample
      cache per identity is a disk LMDB each, not a light identity.    */

#include "fg_trainer_internal.h"
#include "fg_log.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <string.h>
#include <unistd.h>

#define S_DRAIN_MAX     64          //  messages read from one identity per turn
#define S_TICK_MS       50          //  timers' period during a long turn

//  The pool: a queue of identity numbers to train, a list of those done;
//  a byte on `wake` tells the loop something is done.
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t  work;
    uint32_t *todo;                 //  ring of identity numbers
    uint32_t  todo_head, todo_count;
    uint32_t *done;                 //  identity numbers, in any order
    int      *done_rc;
    fg_error_t *done_err;
    uint32_t  done_count;
    uint32_t  cap;                  //  identities: todo and done hold at most that
    atomic_bool stopping;           //  a control flag, never arithmetic
    int       wake [2];             //  pipe: pool writes, loop reads
    fg_trn_t **trn;                 //  the units: trn [i]->unit, owned by
                                    //  the pool while queued or running
} s_pool_t;

typedef struct {
    zsock_t  *pipe;
    fg_trn_t **trn;
    bool     *in_pool;
    uint32_t  count;
    uint64_t  units;                //  trained and sent
    int64_t   tick_due;             //  timers run again by then, even mid-turn
    s_pool_t  pool;
    pthread_t *threads;
    int       nthreads;
    zmq_pollitem_t *items;          //  [0] pipe, [1] wake, then DEALERs
    uint32_t *item_of;              //  items [k + 2] is identity item_of [k]
} s_swarm_t;

typedef struct {
    const fg_swarm_args_t *args;
    int status;
    fg_error_t err;
} s_start_t;

static void *
s_pool_thread (void *arg)
{
    s_pool_t *pool = (s_pool_t *) arg;
    //  the lowest priority: on a loaded host the loop's heartbeats and
    //  messages (and the coordinator, when it runs here) go first, as a
    //  trainer's network traffic does not wait for its own computation
    if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 19))
        fg_debug ("swarm: pool thread keeps its priority: %s", strerror (errno));
    pthread_mutex_lock (&pool->lock);
    while (true) {
        while (!pool->stopping && pool->todo_count == 0)
            pthread_cond_wait (&pool->work, &pool->lock);
        if (pool->stopping)
            break;
        uint32_t i = pool->todo [pool->todo_head];
        pool->todo_head = (pool->todo_head + 1) % pool->cap;
        pool->todo_count--;
        pthread_mutex_unlock (&pool->lock);
        fg_trn_t *t = pool->trn [i];
        fg_error_t err;
        fg_error_clear (&err);
        int rc = t->unit? 0: fg_trn_build_unit (t, &err);
        while (rc == 0 && !fg_unit_done (t->unit) && !atomic_load (&pool->stopping)) {
            bool epoch_done;
            rc = fg_unit_step (t->unit, &epoch_done, &err);
        }
        if (rc == 0 && fg_unit_done (t->unit))
            rc = fg_trn_encode_unit (t, &err);
        else
        if (rc == 0)
            rc = fg_error_set (&err, FG_EINTR, "swarm: stopped");
        pthread_mutex_lock (&pool->lock);
        pool->done [pool->done_count] = i;
        pool->done_rc [pool->done_count] = rc;
        pool->done_err [pool->done_count] = err;
        pool->done_count++;
        ssize_t w = write (pool->wake [1], "", 1);     //  full pipe: already woken
        (void) w;
    }
    pthread_mutex_unlock (&pool->lock);
    return NULL;
}

//  Hands identity i's unit to the pool.
static void
s_pool_push (s_pool_t *pool, uint32_t i)
{
    pthread_mutex_lock (&pool->lock);
    pool->todo [(pool->todo_head + pool->todo_count) % pool->cap] = i;
    pool->todo_count++;
    pthread_cond_signal (&pool->work);
    pthread_mutex_unlock (&pool->lock);
}

//  The units the pool finished: their RESULTs (or ERRORs) go out, and the
//  identities' DEALERs are read again.
static void
s_pool_collect (s_swarm_t *self)
{
    char drain [256];
    while (read (self->pool.wake [0], drain, sizeof drain) > 0)
        ;
    s_pool_t *pool = &self->pool;
    pthread_mutex_lock (&pool->lock);
    uint32_t n = pool->done_count;
    uint32_t *done = malloc ((n? n: 1) * sizeof *done);
    int *rcs = malloc ((n? n: 1) * sizeof *rcs);
    fg_error_t *errs = malloc ((n? n: 1) * sizeof *errs);
    if (done && rcs && errs) {
        memcpy (done, pool->done, n * sizeof *done);
        memcpy (rcs, pool->done_rc, n * sizeof *rcs);
        memcpy (errs, pool->done_err, n * sizeof *errs);
        pool->done_count = 0;
    }
    else
        n = 0;                          //  out of memory: collect next turn
    pthread_mutex_unlock (&pool->lock);
    int64_t now = zclock_mono ();
    for (uint32_t k = 0; k < n; k++) {
        fg_trn_t *t = self->trn [done [k]];
        self->in_pool [done [k]] = false;
        //  its coordinator was not read meanwhile: messages are waiting
        t->expires_at = now + (int64_t) t->heartbeat_ms * t->liveness;
        if (rcs [k])
            fg_trn_unit_error (t, rcs [k], &errs [k]);
        else {
            fg_trn_send_unit (t);
            self->units++;
        }
    }
    free (done);
    free (rcs);
    free (errs);
}

static void
s_pool_stop (s_swarm_t *self)
{
    s_pool_t *pool = &self->pool;
    pthread_mutex_lock (&pool->lock);
    atomic_store (&pool->stopping, true);
    pthread_cond_broadcast (&pool->work);
    pthread_mutex_unlock (&pool->lock);
    for (int k = 0; k < self->nthreads; k++)
        pthread_join (self->threads [k], NULL);
    self->nthreads = 0;
}

static void
s_swarm_destroy (s_swarm_t **self_p)
{
    s_swarm_t *self = *self_p;
    if (!self)
        return;
    s_pool_stop (self);
    for (uint32_t i = 0; self->trn && i < self->count; i++)
        fg_trn_destroy (&self->trn [i]);
    free (self->trn);
    free (self->in_pool);
    free (self->items);
    free (self->item_of);
    free (self->threads);
    s_pool_t *pool = &self->pool;
    free (pool->todo);
    free (pool->done);
    free (pool->done_rc);
    free (pool->done_err);
    if (pool->wake [0] >= 0) {
        close (pool->wake [0]);
        close (pool->wake [1]);
    }
    pthread_mutex_destroy (&pool->lock);
    pthread_cond_destroy (&pool->work);
    free (self);
    *self_p = NULL;
}

//  The identities (not yet connected) and the pool's threads.
static s_swarm_t *
s_swarm_new (zsock_t *pipe, const fg_swarm_args_t *a, fg_error_t *err)
{
    if (a->identities < 1 || a->identities > FG_SWARM_MAX || a->pool < 1 || a->pool > 256
    ||  !a->trainer.train || !a->trainer.node_id
    ||  strlen (a->trainer.node_id) + 8 > FG_WIRE_NAME_MAX) {
        fg_error_set (err, FG_EINVAL, "swarm: bad arguments (1..%d identities, a pool of "
                      "1..256 threads, a local dataset, a node id prefix of at most %d bytes)",
                      FG_SWARM_MAX, FG_WIRE_NAME_MAX - 8);
        return NULL;
    }
    s_swarm_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "swarm: out of memory");
        return NULL;
    }
    uint32_t n = (uint32_t) a->identities;
    s_pool_t *pool = &self->pool;
    pthread_mutex_init (&pool->lock, NULL);
    pthread_cond_init (&pool->work, NULL);
    atomic_init (&pool->stopping, false);
    pool->wake [0] = pool->wake [1] = -1;
    pool->cap = n;
    self->pipe = pipe;
    self->count = n;
    self->trn = calloc (n, sizeof *self->trn);
    self->in_pool = calloc (n, sizeof *self->in_pool);
    self->items = calloc (n + 2, sizeof *self->items);
    self->item_of = calloc (n, sizeof *self->item_of);
    self->threads = calloc ((size_t) a->pool, sizeof *self->threads);
    pool->todo = calloc (n, sizeof *pool->todo);
    pool->done = calloc (n, sizeof *pool->done);
    pool->done_rc = calloc (n, sizeof *pool->done_rc);
    pool->done_err = calloc (n, sizeof *pool->done_err);
    pool->trn = self->trn;
    if (!self->trn || !self->in_pool || !self->items || !self->item_of || !self->threads
    ||  !pool->todo || !pool->done || !pool->done_rc || !pool->done_err || pipe2 (pool->wake, O_NONBLOCK)) {
        fg_error_set (err, FG_ENOMEM, "swarm: out of memory (or no pipe: %s)", strerror (errno));
        s_swarm_destroy (&self);
        return NULL;
    }
    fg_trainer_args_t targs = a->trainer;
    targs.cache_dir = NULL;             //  no journal, no sample cache
    targs.threads = 1;                  //  the pool runs one unit per thread
    for (uint32_t i = 0; i < n; i++) {
        char id [FG_WIRE_NAME_MAX + 1];
        snprintf (id, sizeof id, "%s-%u", a->trainer.node_id, i);
        targs.node_id = id;
        if (!(self->trn [i] = fg_trn_new (&targs, err))) {
            s_swarm_destroy (&self);
            return NULL;
        }
        self->trn [i]->defer_unit = true;
    }
    for (int k = 0; k < a->pool; k++) {
        if (pthread_create (&self->threads [k], NULL, s_pool_thread, pool)) {
            fg_error_set (err, FG_ENOMEM, "swarm: cannot start pool thread %d", k);
            s_swarm_destroy (&self);
            return NULL;
        }
        self->nthreads++;
    }
    return self;
}

//  Timers of every identity (heartbeats go on while a unit is in the
//  pool); returns the earliest next wake-up.
static int64_t
s_swarm_ticks (s_swarm_t *self, int64_t now)
{
    int64_t next = now + 1000;
    self->tick_due = now + S_TICK_MS;
    for (uint32_t i = 0; i < self->count; i++) {
        fg_trn_t *t = self->trn [i];
        if (self->in_pool [i])
            t->expires_at = now + (int64_t) t->heartbeat_ms * t->liveness;
        if (now >= fg_trn_wake_at (t))
            fg_trn_tick (t, now);
        int64_t at = fg_trn_wake_at (t);
        if (at < next)
            next = at;
    }
    return next;
}

//  Reads what the coordinator sent to the identities polled readable;
//  an identity whose unit starts goes to the pool.
static void
s_swarm_read (s_swarm_t *self, int nitems)
{
    for (int k = 2; k < nitems; k++) {
        if (!(self->items [k].revents & ZMQ_POLLIN))
            continue;
        uint32_t i = self->item_of [k - 2];
        fg_trn_t *t = self->trn [i];
        for (int m = 0; m < S_DRAIN_MAX && t->dealer
                     && (zsock_events (t->dealer) & ZMQ_POLLIN); m++) {
            fg_trn_on_peer (t);
            if (t->state == FG_TRN_TRAINING)
                break;
        }
        if (t->state == FG_TRN_TRAINING && !self->in_pool [i]) {
            self->in_pool [i] = true;
            s_pool_push (&self->pool, i);
        }
        else
        if (t->state == FG_TRN_IDLE && t->weights)
            fg_state_destroy (&t->weights);     //  fetched again for its next unit
        //  many identities' weights decoded in one turn take a while:
        //  the others' heartbeats must not wait for the whole turn
        if (zclock_mono () >= self->tick_due)
            s_swarm_ticks (self, zclock_mono ());
    }
}

static void
s_swarm_actor (zsock_t *pipe, void *arg)
{
    s_start_t *start = (s_start_t *) arg;
    s_swarm_t *self = s_swarm_new (pipe, start->args, &start->err);
    start->status = self? 0: start->err.code;
    zsock_signal (pipe, 0);             //  start is not touched after this
    if (!self)
        return;
    for (uint32_t i = 0; i < self->count; i++)
        fg_trn_connect (self->trn [i]);
    bool terminated = false;
    while (!terminated) {
        int64_t now = zclock_mono ();
        int64_t next = s_swarm_ticks (self, now);
        self->items [0] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        self->items [1] = (zmq_pollitem_t) { NULL, self->pool.wake [0], ZMQ_POLLIN, 0 };
        int nitems = 2;
        for (uint32_t i = 0; i < self->count; i++)
            if (self->trn [i]->dealer && !self->in_pool [i]) {
                self->item_of [nitems - 2] = i;
                self->items [nitems++] = (zmq_pollitem_t) {
                    zsock_resolve (self->trn [i]->dealer), 0, ZMQ_POLLIN, 0 };
            }
        now = zclock_mono ();
        long timeout = next <= now? 0: (long) (next - now);
        if (zmq_poll (self->items, nitems, timeout) < 0) {
            if (errno == EINTR)
                continue;
            fg_warn ("swarm: poll: %s", zmq_strerror (errno));
            break;
        }
        if (self->items [0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            if (!command || strcmp (command, "$TERM") == 0)
                terminated = true;
            zstr_free (&command);
            continue;
        }
        if (self->items [1].revents & ZMQ_POLLIN)
            s_pool_collect (self);
        s_swarm_read (self, nitems);
    }
    fg_info ("swarm: %u identities stop after %llu units", self->count,
             (unsigned long long) self->units);
    s_swarm_destroy (&self);
}

struct _fg_swarm_t {
    zactor_t *actor;
};

fg_swarm_t *
fg_swarm_new (const fg_swarm_args_t *args, fg_error_t *err)
{
    s_start_t start = { args, 0, { 0, "" } };
    fg_swarm_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "swarm: out of memory");
        return NULL;
    }
    self->actor = zactor_new (s_swarm_actor, &start);
    if (!self->actor || start.status) {
        if (err)
            *err = start.err;
        if (!self->actor)
            fg_error_set (err, FG_ENOMEM, "swarm: cannot start the actor");
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    return self;
}

void
fg_swarm_destroy (fg_swarm_t **self_p)
{
    if (self_p && *self_p) {
        zactor_destroy (&(*self_p)->actor);
        free (*self_p);
        *self_p = NULL;
    }
}
