/*  test_waste.c — the backup-copy policy and the waste accounting
    (actors/fg_coord_waste.c).

      - the policy's decision (fg_coord_backup_helps) on constructed cases:
        no backup while the holder is on time against its measured speed,
        one when it is late and the idle node is expected to finish before
        the holder's deadline, none when the idle node is slower; one when
        a slow holder on time would finish well after a fast idle node; an
        unknown speed against the slowest measured; always and never;
      - a real coordinator (synthetic-tiny, tcp) with a hand-made node
        that takes a unit and never finishes it, and a real trainer: once
        the holder is late against the trainer's measured speed, the
        trainer gets a backup copy, wins, and the holder's copy is stopped
        (REJECT stale); clients.csv lists it as "stopped" with its time
        held as wasted seconds, rounds.csv and status.json count the same;
      - two real trainers on one unit per round: under grid.backup = late
        (the holder on time) no backup copy and no waste; under "always"
        a backup copy is thrown away, its compute counted; the final
        weights are the same under both.                                 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fg_actors.h"
#include "fg_coordinator_internal.h"
#include "fg_file.h"
#include "fg_log.h"
#include "fg_test_node.h"
#include "fg_test_util.h"

static char s_tmp [256];
static int s_seq;

static int
s_setup (void **state)
{
    (void) state;
    zsys_init ();
    zsys_set_logstream (NULL);
    fg_log_set_level (getenv ("TEST_WASTE_LOG")? FG_LOG_INFO: FG_LOG_ERROR);
    return fg_test_tmpdir ("fg-test-waste", s_tmp, sizeof s_tmp);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

//  ---- the decision ---------------------------------------------------------

static void
test_policy_cases (void **state)
{
    (void) state;
    //  a holder expected to take 1 s, with 1.5 s left before its deadline
    fg_coord_backup_case_t c = {
        .mode = FG_BACKUP_LATE, .after = 1.5, .held_ms = 1000, .holder_ms = 1000,
        .bound_ms = 1000, .left_ms = 2000, .idle_ms = 1000
    };
    assert_false (fg_coord_backup_helps (&c));      //  on time
    c.held_ms = 0;
    assert_false (fg_coord_backup_helps (&c));      //  an equal idle node is no faster
    c.held_ms = 1500;
    assert_false (fg_coord_backup_helps (&c));      //  at the bound: not late yet
    c.held_ms = 1600;
    c.left_ms = 1400;
    assert_true (fg_coord_backup_helps (&c));       //  late; the idle node is done first
    c.idle_ms = 1500;
    assert_false (fg_coord_backup_helps (&c));      //  the idle node would come after the deadline
    c.idle_ms = 0;                                  //  idle unknown: the slowest measured
    assert_true (fg_coord_backup_helps (&c));
    c.bound_ms = 0;
    assert_false (fg_coord_backup_helps (&c));      //  nothing to expect the idle node from
    //  a slow holder on time, a fast idle node: first by a margin
    fg_coord_backup_case_t slow = {
        .mode = FG_BACKUP_LATE, .after = 1.5, .held_ms = 500, .holder_ms = 4000,
        .bound_ms = 4000, .left_ms = 11500, .idle_ms = 1000
    };
    assert_true (fg_coord_backup_helps (&slow));    //  1.5 x 1 s < 3.5 s still to go
    slow.held_ms = 2600;
    assert_false (fg_coord_backup_helps (&slow));   //  1.5 s > 1.4 s: no margin
    slow.idle_ms = 2500;
    slow.held_ms = 500;
    assert_false (fg_coord_backup_helps (&slow));   //  1.5 x 2.5 s > 3.5 s: not fast enough
    //  a holder of unknown speed, against the slowest speed measured
    fg_coord_backup_case_t u = {
        .mode = FG_BACKUP_LATE, .after = 1.5, .held_ms = 1400, .holder_ms = 0,
        .bound_ms = 1000, .left_ms = 58000, .idle_ms = 500
    };
    assert_false (fg_coord_backup_helps (&u));
    u.held_ms = 1600;
    assert_true (fg_coord_backup_helps (&u));
    u.bound_ms = 0;                                 //  no speed measured at all
    assert_false (fg_coord_backup_helps (&u));
    //  the comparison modes
    fg_coord_backup_case_t on_time = c;
    on_time.held_ms = 10;
    on_time.mode = FG_BACKUP_ALWAYS;
    assert_true (fg_coord_backup_helps (&on_time));
    fg_coord_backup_case_t late = u;
    late.bound_ms = 1000;
    late.mode = FG_BACKUP_NEVER;
    assert_false (fg_coord_backup_helps (&late));
}

//  ---- a grid ----------------------------------------------------------------

typedef struct {
    fg_config_t cfg;
    fg_dataset_t *train, *test;
    uint8_t hash [FG_SHA256_SIZE];
    char dir [300];
    char endpoint [64];
    fg_coordinator_t *coordinator;
    fg_trainer_t *trainers [2];
    uint64_t experiment;
} s_grid_t;

static void
s_grid_start (s_grid_t *g, const char *backup, double after, int shards, int rounds)
{
    memset (g, 0, sizeof *g);
    fg_error_t err;
    assert_int_equal (fg_config_preset (&g->cfg, "synthetic-tiny", &err), 0);
    char set [64];
    snprintf (set, sizeof set, "grid.backup=%s", backup);
    assert_int_equal (fg_config_set (&g->cfg, set, "test", &err), 0);
    g->cfg.grid.backup_after = after;
    g->cfg.grid.nodes = shards;
    g->cfg.experiment.rounds = rounds;
    g->cfg.grid.heartbeat_ms = 200;
    g->cfg.grid.liveness = 100;         //  nobody dropped as silent on a loaded machine
    g->cfg.grid.deadline_floor_s = 3600;    //  backups, never deadline re-issues
    g->cfg.grid.local_trainers = 0;
    g->cfg.grid.curve = false;
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN,
                                       (size_t) g->cfg.data.synthetic_train, &g->train, &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TEST,
                                       (size_t) g->cfg.data.synthetic_test, &g->test, &err), 0);
    fg_dataset_hash (g->train, g->hash);
    snprintf (g->dir, sizeof g->dir, "%s/exp-%d", s_tmp, ++s_seq);
    assert_int_equal (mkdir (g->dir, 0755), 0);
    fg_coordinator_args_t args = {
        .dir = g->dir, .cfg = &g->cfg, .train = g->train, .test = g->test,
        .listen = "tcp://127.0.0.1:*", .eval_threads = 1
    };
    g->coordinator = fg_coordinator_new (&args, &err);
    if (!g->coordinator)
        fail_msg ("coordinator: %s", err.msg);
    snprintf (g->endpoint, sizeof g->endpoint, "tcp://127.0.0.1:%d",
              fg_coordinator_port (g->coordinator));
}

static void
s_trainer_start (s_grid_t *g, int i, const char *id)
{
    fg_trainer_args_t args = {
        .endpoint = g->endpoint, .node_id = id, .train = g->train,
        .threads = 1, .heartbeat_ms = 200, .liveness = 100
    };
    fg_error_t err;
    g->trainers [i] = fg_trainer_new (&args, &err);
    if (!g->trainers [i])
        fail_msg ("trainer %s: %s", id, err.msg);
}

//  Waits (at most 10 minutes: a loaded machine) for the coordinator's DONE;
//  *hash receives the final weights' SHA-256 (64 hex digits).
static void
s_await_done (s_grid_t *g, char *hash)
{
    zpoller_t *poller = zpoller_new (fg_coordinator_actor (g->coordinator), NULL);
    bool done = false;
    int64_t until = zclock_mono () + 600000;
    while (!done && zclock_mono () < until) {
        if (!zpoller_wait (poller, 1000))
            continue;
        char *kind = NULL, *text = NULL;
        assert_int_equal (fg_coordinator_event (g->coordinator, &kind, &text), 0);
        if (strcmp (kind, "FAILED") == 0)
            fail_msg ("coordinator failed: %s", text);
        done = strcmp (kind, "DONE") == 0;
        if (done)
            snprintf (hash, 65, "%s", text);
        zstr_free (&kind);
        zstr_free (&text);
    }
    zpoller_destroy (&poller);
    assert_true (done);
}

static void
s_grid_stop (s_grid_t *g)
{
    for (int i = 0; i < 2; i++)
        fg_trainer_destroy (&g->trainers [i]);
    fg_coordinator_destroy (&g->coordinator);
    fg_dataset_destroy (&g->train);
    fg_dataset_destroy (&g->test);
}

//  ---- the experiment's files ------------------------------------------------

//  The file dir/name, NUL-terminated (the caller frees it).
static char *
s_read (const char *dir, const char *name)
{
    char path [400];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    char *text = NULL;
    size_t size = 0;
    if (fg_file_read (path, 1 << 24, &text, &size, NULL))
        fail_msg ("cannot read %s", path);
    return text;
}

//  Field col (0-based) of a CSV line, into out.
static void
s_field (const char *line, int col, char *out, size_t size)
{
    for (int c = 0; c < col && line; c++) {
        line = strchr (line, ',');
        line = line? line + 1: NULL;
    }
    size_t n = line? strcspn (line, ",\n"): 0;
    if (n >= size)
        n = size - 1;
    memcpy (out, line? line: "", n);
    out [n] = 0;
}

//  Sums of clients.csv: wasted seconds and wasted copies; counts of rows
//  whose kind is "backup" and whose outcome is outcome (NULL: any).
typedef struct {
    double wasted;
    int wasted_rows;
    int backups;
    int rows_of_outcome;
} s_clients_t;

static s_clients_t
s_clients (const char *dir, const char *outcome)
{
    s_clients_t sum = { 0, 0, 0, 0 };
    char *text = s_read (dir, "clients.csv");
    assert_non_null (strstr (text, ",outcome,fetched_bytes,kind,held_seconds,wasted_seconds,"
                                   "ended_unix_s\n"));
    for (char *line = strchr (text, '\n'); line && line [1]; line = strchr (line + 1, '\n')) {
        char field [64];
        s_field (line + 1, 12, field, sizeof field);
        double wasted = strtod (field, NULL);
        sum.wasted += wasted;
        sum.wasted_rows += wasted > 0;
        s_field (line + 1, 10, field, sizeof field);
        sum.backups += strcmp (field, "backup") == 0;
        s_field (line + 1, 8, field, sizeof field);
        sum.rows_of_outcome += outcome && strcmp (field, outcome) == 0;
    }
    free (text);
    return sum;
}

//  rounds.csv's waste columns, summed over its rows.
static void
s_rounds_waste (const char *dir, double *seconds, int *copies)
{
    *seconds = 0;
    *copies = 0;
    char *text = s_read (dir, "rounds.csv");
    assert_non_null (strstr (text, ",seconds,wasted_seconds,wasted_copies,units_seconds,"
                                   "aggregate_seconds,eval_seconds,commit_seconds,"
                                   "committed_unix_s\n"));
    for (char *line = strchr (text, '\n'); line && line [1]; line = strchr (line + 1, '\n')) {
        char field [64];
        s_field (line + 1, 7, field, sizeof field);
        *seconds += strtod (field, NULL);
        s_field (line + 1, 8, field, sizeof field);
        *copies += atoi (field);
    }
    free (text);
}

//  ---- a late holder gets a backup ---------------------------------------------

static void
test_late_holder_backup (void **state)
{
    (void) state;
    s_grid_t g;
    s_grid_start (&g, "late", 1.5, 2, 1);
    //  a node takes shard 0 and never finishes it
    zsock_t *holder = fg_test_node_connect (g.endpoint, 0);
    assert_non_null (holder);
    assert_int_equal (fg_test_node_hello (holder, "holder", g.hash), 0);
    fg_wire_msg_t msg;
    fg_test_node_recv (holder, &msg, 30000);
    assert_int_equal (msg.type, FG_WIRE_ACK);
    g.experiment = msg.experiment;
    fg_wire_msg_clear (&msg);
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_READY;
    msg.ready.slots = 1;
    assert_int_equal (fg_test_node_send (holder, &msg, g.experiment), 0);
    fg_test_node_recv (holder, &msg, 30000);
    assert_int_equal (msg.type, FG_WIRE_TASK);
    uint32_t shard = msg.shard;
    assert_int_equal (msg.attempt, 1);
    fg_wire_msg_clear (&msg);
    //  a trainer runs the other shard (its speed is measured), then the
    //  holder is late against it: a backup copy, which wins
    s_trainer_start (&g, 0, "trainer");
    //  the holder beats (it is alive, only slow) until its answer comes
    int64_t until = zclock_mono () + 600000;
    memset (&msg, 0, sizeof msg);
    while (msg.type == 0 && zclock_mono () < until) {
        fg_wire_msg_t beat;
        memset (&beat, 0, sizeof beat);
        beat.type = FG_WIRE_HEARTBEAT;
        assert_int_equal (fg_test_node_send (holder, &beat, g.experiment), 0);
        fg_test_node_recv (holder, &msg, 1000);
    }
    if (msg.type != FG_WIRE_REJECT)
        fail_msg ("%s instead of the REJECT of the holder's TASK", fg_wire_type_name (msg.type));
    assert_int_equal (msg.reject.of_type, FG_WIRE_TASK);
    assert_int_equal (msg.reject.reason, FG_WIRE_REASON_STALE);
    assert_int_equal (msg.shard, shard);
    fg_wire_msg_clear (&msg);
    char hash [65];
    s_await_done (&g, hash);
    zsock_destroy (&holder);
    s_grid_stop (&g);

    //  clients.csv: the holder's copy stopped, its time held wasted; the
    //  backup accepted, nothing wasted
    char *text = s_read (g.dir, "clients.csv");
    char row [256];
    snprintf (row, sizeof row, "\n1,%u,holder,1,0,,0.000,0,stopped,", shard);
    const char *stopped = strstr (text, row);
    if (!stopped)
        fail_msg ("no stopped row of the holder in clients.csv:\n%s", text);
    char kind [32], held [32], wasted [32];
    s_field (stopped + 1, 10, kind, sizeof kind);
    s_field (stopped + 1, 11, held, sizeof held);
    s_field (stopped + 1, 12, wasted, sizeof wasted);
    assert_string_equal (kind, "first");
    assert_true (strtod (wasted, NULL) > 0);
    assert_string_equal (held, wasted);             //  a stopped copy: its time held
    snprintf (row, sizeof row, "\n1,%u,trainer,2,", shard);
    const char *backup = strstr (text, row);
    assert_non_null (backup);
    s_field (backup + 1, 8, kind, sizeof kind);
    assert_string_equal (kind, "accepted");
    s_field (backup + 1, 10, kind, sizeof kind);
    assert_string_equal (kind, "backup");
    s_field (backup + 1, 12, kind, sizeof kind);
    assert_string_equal (kind, "0.000");
    free (text);
    s_clients_t sum = s_clients (g.dir, "stopped");
    assert_int_equal (sum.wasted_rows, 1);
    assert_int_equal (sum.backups, 1);
    //  rounds.csv and status.json count the same waste
    double seconds;
    int copies;
    s_rounds_waste (g.dir, &seconds, &copies);
    assert_int_equal (copies, 1);
    assert_true (seconds > sum.wasted - 0.0015 && seconds < sum.wasted + 0.0015);
    text = s_read (g.dir, "status.json");
    json_t *status = json_loads (text, 0, NULL);
    assert_true (json_is_real (json_object_get (status, "waste_total_s")));
    double status_total = json_real_value (json_object_get (status, "waste_total_s"));
    assert_true (status_total > seconds - 0.0015 && status_total < seconds + 0.0015);
    json_decref (status);
    free (text);
}

//  ---- holders on time: no backup; "always": one thrown away ---------------------

//  Two trainers, one unit per round, 3 rounds under grid.backup = backup:
//  the final weights' hash, and clients.csv's sums.
static s_clients_t
s_two_trainers (const char *backup, char *hash)
{
    s_grid_t g;
    //  late: a holder is late past 10 x its measured time (a loaded
    //  machine's jitter between two equal units stays below that)
    s_grid_start (&g, backup, 10, 1, 3);
    s_trainer_start (&g, 0, "t0");
    s_trainer_start (&g, 1, "t1");
    s_await_done (&g, hash);
    s_grid_stop (&g);
    s_clients_t sum = s_clients (g.dir, NULL);
    double seconds;
    int copies;
    s_rounds_waste (g.dir, &seconds, &copies);
    assert_int_equal (copies, sum.wasted_rows);
    assert_true (seconds > sum.wasted - 0.003 && seconds < sum.wasted + 0.003);
    return sum;
}

static void
test_on_time_no_backup (void **state)
{
    (void) state;
    char late_hash [65], always_hash [65];
    s_clients_t late = s_two_trainers ("late", late_hash);
    assert_int_equal (late.backups, 0);
    assert_int_equal (late.wasted_rows, 0);
    s_clients_t always = s_two_trainers ("always", always_hash);
    assert_true (always.backups >= 1);              //  the idle trainer, at once
    assert_true (always.wasted_rows >= 1);          //  one of each pair thrown away
    assert_true (always.wasted > 0);
    assert_string_equal (late_hash, always_hash);   //  the weights never change
}

//  status.json's eta_s: from the first finished units before any commit,
//  from the committed rounds' average after, 0 once finished.
static void
test_eta (void **state)
{
    (void) state;
    //  nothing finished yet: unknown
    assert_true (fg_coord_eta (false, 10, 0, 5.0, 0, 4) < 0);
    //  1 of 4 units after 5 s: a round ~20 s, 10 rounds left, 5 s of this one gone
    assert_true (fabs (fg_coord_eta (false, 10, 0, 5.0, 1, 4) - 195.0) < 1e-9);
    assert_true (fabs (fg_coord_eta (false, 10, 0, 10.0, 4, 4) - 90.0) < 1e-9);
    //  after a commit: the average
    assert_true (fabs (fg_coord_eta (false, 3, 12.5, 99.0, 1, 4) - 37.5) < 1e-9);
    assert_true (fg_coord_eta (true, 3, 12.5, 1.0, 1, 4) == 0);
    assert_true (fg_coord_eta (false, 1, 0, 50.0, 4, 4) == 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_eta),
        cmocka_unit_test (test_policy_cases),
        cmocka_unit_test (test_late_holder_backup),
        cmocka_unit_test (test_on_time_no_backup),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
