/*  test_actor.c — actors start with the asynchronous signals held off
    (actors/fg_actor.c).

    Every thread an actor runs on blocks SIGINT, SIGTERM and SIGALRM (read
    from /proc/self/task/TID/status), while the thread that started them
    still takes them; and actors started and stopped while a timer fires
    SIGALRM every 100 µs at the starting thread all start with their
    arguments intact (the timer's handler runs meanwhile; under the
    sanitizers a start that outlived its caller's stack is reported).      */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "fg_actors.h"
#include "fg_dataset.h"
#include "fg_test_util.h"

static fg_dataset_t *s_train;           //  synthetic, 64 samples

static int
s_setup (void **state)
{
    (void) state;
    zsys_init ();
    zsys_set_logstream (NULL);
    return fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN, 64, &s_train, NULL);
}

static int
s_teardown (void **state)
{
    (void) state;
    fg_dataset_destroy (&s_train);
    return 0;
}

static fg_trainer_t *
s_trainer (const char *id, fg_error_t *err)
{
    fg_trainer_args_t args;
    memset (&args, 0, sizeof args);
    args.endpoint = "inproc://test-actor-nobody";
    args.node_id = id;
    args.train = s_train;
    args.threads = 1;
    args.heartbeat_ms = 1000;
    args.liveness = 5;
    return fg_trainer_new (&args, err);
}

//  The blocked-signal mask of thread tid (SigBlk of its status), or 0.
static uint64_t
s_blocked (const char *tid)
{
    char path [320], line [256];
    snprintf (path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *file = fopen (path, "r");
    uint64_t mask = 0;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "SigBlk:", 7) == 0)
            mask = strtoull (line + 7, NULL, 16);
    if (file)
        fclose (file);
    return mask;
}

static void
test_actor_threads_block_async_signals (void **state)
{
    (void) state;
    fg_error_t err;
    fg_trainer_t *trainer = s_trainer ("blocker", &err);
    assert_non_null (trainer);
    uint64_t want = (1ULL << (SIGINT - 1)) | (1ULL << (SIGTERM - 1)) | (1ULL << (SIGALRM - 1));
    char self [32];
    snprintf (self, sizeof self, "%ld", (long) getpid ());
    DIR *dir = opendir ("/proc/self/task");
    assert_non_null (dir);
    int others = 0;
    for (struct dirent *entry = readdir (dir); entry; entry = readdir (dir)) {
        if (entry->d_name [0] == '.')
            continue;
        uint64_t mask = s_blocked (entry->d_name);
        if (strcmp (entry->d_name, self) == 0)
            assert_int_equal (mask & want, 0);      //  the caller's mask is back
        else {
            assert_int_equal (mask & want, want);
            others++;
        }
    }
    closedir (dir);
    assert_true (others >= 1);                      //  at least the trainer's thread
    fg_trainer_destroy (&trainer);
}

static volatile sig_atomic_t s_alarms;

static void
s_on_alarm (int sig)
{
    (void) sig;
    s_alarms++;
}

static void
test_actor_start_under_a_signal_storm (void **state)
{
    (void) state;
    struct sigaction action, saved;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_alarm;             //  no SA_RESTART: waits are cut short
    sigemptyset (&action.sa_mask);
    assert_int_equal (sigaction (SIGALRM, &action, &saved), 0);
    struct itimerval every = { { 0, 100 }, { 0, 100 } }, off = { { 0, 0 }, { 0, 0 } };
    assert_int_equal (setitimer (ITIMER_REAL, &every, NULL), 0);
    s_alarms = 0;
    for (int i = 0; i < 100; i++) {
        char id [32];
        snprintf (id, sizeof id, "storm-%d", i);
        fg_error_t err;
        fg_trainer_t *trainer = s_trainer (id, &err);
        assert_non_null (trainer);
        fg_trainer_destroy (&trainer);
    }
    setitimer (ITIMER_REAL, &off, NULL);
    sigaction (SIGALRM, &saved, NULL);
    assert_true (s_alarms > 0);                 //  the storm did reach the starting thread
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_actor_threads_block_async_signals),
        cmocka_unit_test (test_actor_start_under_a_signal_storm),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
