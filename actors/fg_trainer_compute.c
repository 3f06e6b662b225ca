/*  fg_trainer_compute.c — the trainer actor's compute thread.

    Why: the actor used to run one mini-batch per loop turn on its own
    thread, so it beat only between batches; a batch longer than
    grid.heartbeat_ms x grid.liveness (a vgg16-bn batch on a slow or loaded
    PC) got a busy node dropped as silent, its unit issued again, and in a
    loop, its strikes counted until quarantine.

    Shape: a second actor (a zactor, its pipe an inproc PAIR) that the
    trainer owns and polls beside its own pipe and DEALER. The trainer
    posts one job at a time ("JOB"; which one is in fg_trn_t.job) and the
    thread answers with a signal when it is done:
        BUILD   fg_trn_build_unit: the unit built or resumed from the
                journal's checkpoint (a vgg16-bn's start-up is seconds)
        STEP    one fg_unit_step, and at an epoch's end (not the last)
                the checkpoint's bytes; then, on a simulated slow PC, the
                idle time (slowdown - 1) x the batch's time
        ENCODE  fg_trn_encode_unit: the update encoded and hashed
    Between the post and the signal the unit and everything the job reads
    or writes belongs to the compute thread (fg_trainer_internal.h lists
    it); the actor only beats, reads the coordinator, and defers what
    would touch the unit (fg_trn_become_idle: idle_pending) to the job's
    end. One thread at a time touches the unit, in the same order as
    before, so the bits are the same; the ZeroMQ hand-off (a message each
    way) orders the two threads' memory accesses.

    What the actor does with the outcome keeps the old order: the
    checkpoint is written to the journal (then the crash point
    trainer.epoch.checkpoint) before the next batch is posted; the result
    is kept and the RESULT sent when ENCODE is done. $TERM while a job is
    out waits for its end — the batch's computation cannot be cut, a slow
    PC's idle time is (HURRY) — and handles its outcome, so an epoch's
    checkpoint is never lost to a stop.                                   */

#include "fg_trainer_internal.h"
#include "fg_actors_internal.h"
#include "fg_crash.h"
#include "fg_log.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  A slow PC's idle time after a batch: waits on the pipe until `until`
//  (zclock_usecs); HURRY ends it, $TERM too (*terminated then).
static void
s_idle (zsock_t *pipe, zpoller_t *poller, int64_t until, bool *terminated)
{
    while (true) {
        int64_t left = until - zclock_usecs ();
        if (left <= 0)
            return;
        void *which = zpoller_wait (poller, (int) ((left + 999) / 1000));
        if (which != pipe)
            continue;
        char *command = zstr_recv (pipe);
        bool term = !command || strcmp (command, "$TERM") == 0;
        bool hurry = command && strcmp (command, "HURRY") == 0;
        zstr_free (&command);
        if (term)
            *terminated = true;
        if (term || hurry)
            return;
    }
}

//  One batch, its checkpoint's bytes at an epoch's end, the slow PC's idle.
static void
s_step (fg_trn_t *t, zsock_t *pipe, zpoller_t *poller, bool *terminated)
{
    int64_t step_at = zclock_usecs ();
    t->job_rc = fg_unit_step (t->unit, &t->job_epoch_done, &t->job_err);
    int64_t idle = t->slowdown > 1
                 ? (int64_t) ((t->slowdown - 1) * (double) (zclock_usecs () - step_at)): 0;
    if (t->job_rc == 0 && t->job_epoch_done && t->journal && !fg_unit_done (t->unit)) {
        fg_error_t err;
        if (fg_unit_checkpoint (t->unit, &t->job_ckpt, &t->job_ckpt_size, &err))
            fg_warn ("trainer %s: checkpoint: %s", t->node_id, err.msg);
    }
    if (idle > 0)
        s_idle (pipe, poller, zclock_usecs () + idle, terminated);
}

static void
s_compute_actor (zsock_t *pipe, void *arg)
{
    fg_trn_t *t = (fg_trn_t *) arg;
    zpoller_t *poller = zpoller_new (pipe, NULL);
    zsock_signal (pipe, 0);
    if (poller)
        zpoller_set_nonstop (poller, true);
    bool terminated = !poller;
    while (!terminated) {
        char *command = zstr_recv (pipe);
        if (!command || strcmp (command, "$TERM") == 0)
            terminated = true;
        else
        if (strcmp (command, "JOB") == 0) {
            fg_error_clear (&t->job_err);
            t->job_epoch_done = false;
            t->job_ckpt = NULL;
            t->job_ckpt_size = 0;
            if (t->job == FG_TRN_JOB_BUILD)
                t->job_rc = fg_trn_build_unit (t, &t->job_err);
            else
            if (t->job == FG_TRN_JOB_STEP)
                s_step (t, pipe, poller, &terminated);
            else
                t->job_rc = fg_trn_encode_unit (t, &t->job_err);
            if (!terminated)
                zsock_signal (pipe, 0);     //  the unit is the actor's again
        }
        zstr_free (&command);               //  a late HURRY: nothing to cut
    }
    zpoller_destroy (&poller);
}

int
fg_trn_compute_start (fg_trn_t *self, fg_error_t *err)
{
    self->compute = fg_actor_new (s_compute_actor, self);
    if (!self->compute)
        return fg_error_set (err, FG_ENOMEM, "trainer %s: cannot start its compute thread",
                             self->node_id);
    return 0;
}

void
fg_trn_compute_next (fg_trn_t *self)
{
    if (!self->compute || self->busy || self->terminated || self->state != FG_TRN_TRAINING)
        return;
    self->job = !self->unit? FG_TRN_JOB_BUILD
              : !fg_unit_done (self->unit)? FG_TRN_JOB_STEP: FG_TRN_JOB_ENCODE;
    if (zstr_send (self->compute, "JOB")) {
        fg_warn ("trainer %s: cannot reach its compute thread", self->node_id);
        return;
    }
    self->busy = true;
}

//  A STEP's checkpoint into the journal, then the crash point: before the
//  next batch is posted, as when the actor ran the batch itself.
static void
s_keep_checkpoint (fg_trn_t *self)
{
    fg_error_t err;
    if (fg_tjournal_put (self->journal, "unit", self->job_ckpt, self->job_ckpt_size, &err))
        fg_warn ("trainer %s: checkpoint: %s", self->node_id, err.msg);
    free (self->job_ckpt);
    self->job_ckpt = NULL;
    fg_crash_point ("trainer.epoch.checkpoint");
}

void
fg_trn_compute_done (fg_trn_t *self)
{
    if (zsock_wait (self->compute) < 0)
        return;                             //  interrupted: still busy
    self->busy = false;
    if (self->idle_pending) {
        //  refused or superseded during the job: its outcome is of no use
        self->idle_pending = false;
        free (self->job_ckpt);
        self->job_ckpt = NULL;
        fg_trn_become_idle (self);
        return;
    }
    if (self->job_rc && self->job == FG_TRN_JOB_ENCODE) {
        fg_warn ("trainer %s: cannot encode the update: %s", self->node_id, self->job_err.msg);
        fg_trn_become_idle (self);
    }
    else
    if (self->job_rc)
        fg_trn_unit_error (self, self->job_rc, &self->job_err);
    else
    if (self->job == FG_TRN_JOB_STEP && self->job_ckpt)
        s_keep_checkpoint (self);
    else
    if (self->job == FG_TRN_JOB_ENCODE)
        fg_trn_send_unit (self);
}

void
fg_trn_compute_hurry (fg_trn_t *self)
{
    if (self->compute && self->busy)
        zstr_send (self->compute, "HURRY");
}

void
fg_trn_compute_stop (fg_trn_t *self)
{
    zactor_destroy (&self->compute);
    free (self->job_ckpt);
    self->job_ckpt = NULL;
}
