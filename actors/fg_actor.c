/*  fg_actor.c — starting an actor thread with asynchronous signals held off.

    zactor_new waits for the new actor's zsock_signal; a signal delivered
    to the waiting thread (Ctrl-C, a timer's SIGALRM) interrupts that wait,
    and zactor_new returns before the actor has read its start arguments,
    which live on the caller's stack: the actor then reads freed stack and
    the caller reads a status not yet written. So the caller blocks the
    asynchronous signals around zactor_new. A new thread inherits its
    creator's signal mask, so every actor thread (and the threads it
    starts) keeps them blocked for its whole life: the process's signals
    are taken by the threads that never block them (fedctl's main thread,
    whose CZMQ handler sets zsys_interrupted), and the owner stops an actor
    with $TERM. Synchronous faults (SIGSEGV, SIGBUS, SIGFPE) and SIGKILL /
    SIGSTOP cannot be held off and are not.                               */

#include "fg_actors_internal.h"

#include <pthread.h>
#include <signal.h>

//  The signals an actor thread never takes.
static void
s_async_signals (sigset_t *set)
{
    sigemptyset (set);
    sigaddset (set, SIGINT);
    sigaddset (set, SIGTERM);
    sigaddset (set, SIGHUP);
    sigaddset (set, SIGQUIT);
    sigaddset (set, SIGALRM);
    sigaddset (set, SIGVTALRM);
    sigaddset (set, SIGPROF);
    sigaddset (set, SIGUSR1);
    sigaddset (set, SIGUSR2);
    sigaddset (set, SIGCHLD);
    sigaddset (set, SIGPIPE);
    sigaddset (set, SIGWINCH);
    sigaddset (set, SIGCONT);
}

zactor_t *
fg_actor_new (zactor_fn *actor, void *args)
{
    sigset_t block, saved;
    s_async_signals (&block);
    pthread_sigmask (SIG_BLOCK, &block, &saved);
    zactor_t *self = zactor_new (actor, args);
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    return self;
}
