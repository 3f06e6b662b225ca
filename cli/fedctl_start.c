/*  fedctl start, fedctl resume — running an experiment.

    start / resume run the coordinator and --local N trainers in this
    process (threads; they reach the coordinator over inproc://, or over
    its tcp endpoint with --local-transport tcp). The owner loop prints one
    line per committed round on stdout, logs go to stderr, and Ctrl-C /
    SIGTERM stop the trainers first (a unit keeps its last epoch
    checkpoint) and then the coordinator, between journal transactions.  */

#include "fedctl.h"
#include "fg_actors.h"
#include "fg_fault.h"
#include "fg_journal.h"
#include "fg_security.h"
#include "fg_wire.h"

#include <czmq.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    fedctl_sets_t sets;
    int  local;                     //  -1: from the configuration
    const char *listen;             //  NULL: from the configuration
    bool local_tcp;                 //  local trainers connect over tcp
    const char *slowdown;           //  "F[,F...]": local trainer i's slowdown; NULL none
} s_run_opts_t;

static void
s_run_usage (FILE *out, const char *command)
{
    fprintf (out,
        "usage: fedctl %s DIR [--local N] [--listen tcp://*:PORT] [--local-transport inproc|tcp]\n"
        "                    [--set section.key=value ...] [--slowdown F[,F...]]\n"
        "\n"
        "%s\n"
        "Runs the coordinator and N in-process trainers (default grid.local_trainers);\n"
        "--listen also accepts remote `fedctl worker`s. One line per committed round\n"
        "goes to stdout; DIR/rounds.csv, DIR/clients.csv and DIR/status.json follow\n"
        "the run. Ctrl-C stops cleanly; `fedctl resume DIR` continues exactly.\n"
        "--slowdown simulates slow PCs: local trainer i takes F_i times as long\n"
        "per mini-batch (the last F for the rest; same results, docs/chaos.md).\n"
        "\n"
        "On tcp the coordinator uses CURVE (grid.curve, default true): its key pair\n"
        "is DIR/coordinator.key[_secret] (made when missing, or by fedctl keygen DIR)\n"
        "and workers need --server-key DIR/coordinator.key; grid.allow_keys = FOLDER\n"
        "admits only the workers whose worker.key is in FOLDER, grid.allow_ip only\n"
        "the listed addresses.\n",
        command, strcmp (command, "start") == 0
        ? "Starts a new experiment in DIR (refused when DIR already holds a journal)."
        : "Continues the experiment in DIR after the last committed round, whatever\n"
          "stopped it (also before the first commit); a finished one is reported.");
}

//  Local trainer i's factor in "F[,F...]" (the last one for the trainers
//  past the list); 0 for NULL; -1 when a factor is not 1..1000.
static double
s_slowdown_of (const char *list, int i)
{
    double factor = 0;
    for (int k = 0; list && *list; k++) {
        char *end;
        double f = strtod (list, &end);
        if (end == list || (*end && *end != ',') || !(f >= 1 && f <= 1000))
            return -1;
        if (k <= i)
            factor = f;
        list = *end? end + 1: end;
    }
    return factor;
}

static int
s_parse_run (int argc, char **argv, s_run_opts_t *opts, const char **dir)
{
    static const struct option options [] = {
        { "set",             required_argument, NULL, 's' },
        { "local",           required_argument, NULL, 'l' },
        { "listen",          required_argument, NULL, 'L' },
        { "local-transport", required_argument, NULL, 't' },
        { "slowdown",        required_argument, NULL, 'S' },
        { "help",            no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    memset (opts, 0, sizeof *opts);
    opts->local = -1;
    int c;
    while ((c = getopt_long (argc, argv, "s:l:L:t:S:h", options, NULL)) != -1) {
        char *end;
        switch (c) {
            case 's':
                if (fedctl_sets_add (&opts->sets, optarg))
                    return EX_USAGE;
                break;
            case 'l':
                opts->local = (int) strtol (optarg, &end, 10);
                if (*end || opts->local < 0 || opts->local > 1024) {
                    fedctl_fail ("--local %s: expected 0..1024", optarg);
                    return EX_USAGE;
                }
                break;
            case 'L': opts->listen = optarg; break;
            case 't':
                if (strcmp (optarg, "tcp") && strcmp (optarg, "inproc")) {
                    fedctl_fail ("--local-transport %s: expected inproc or tcp", optarg);
                    return EX_USAGE;
                }
                opts->local_tcp = strcmp (optarg, "tcp") == 0;
                break;
            case 'S':
                if (s_slowdown_of (optarg, 0) < 0) {
                    fedctl_fail ("--slowdown %s: expected factors 1..1000, comma-separated",
                                 optarg);
                    return EX_USAGE;
                }
                opts->slowdown = optarg;
                break;
            case 'h': s_run_usage (stdout, argv [0]); return -1;
            default:  s_run_usage (stderr, argv [0]); return EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        fedctl_fail ("%s takes exactly one DIR", argv [0]);
        s_run_usage (stderr, argv [0]);
        return EX_USAGE;
    }
    *dir = argv [optind];
    return 0;
}

//  "round 3/10: 4/10 units done, 2 in flight, 2 nodes" from DIR/status.json
static void
s_live_line (const char *dir)
{
    json_t *status = fedctl_status_read (dir);
    if (!status)
        return;
    long round = (long) fedctl_status_number (status, "round", 0);
    long rounds = (long) fedctl_status_number (status, "rounds", 0);
    long done = (long) fedctl_status_number (status, "units_done", 0);
    long shards = (long) fedctl_status_number (status, "shards", 0);
    long flight = (long) fedctl_status_number (status, "units_in_flight", 0);
    long nodes = (long) fedctl_status_number (status, "nodes_alive", 0);
    char line [200];
    snprintf (line, sizeof line, "round %ld/%ld: %ld/%ld units done, %ld in flight, %ld node%s%s",
              round, rounds, done, shards, flight, nodes, nodes == 1? "": "s",
              nodes? "": " (waiting for trainers)");
    fg_log_live (line);                 //  log lines clear and redraw it
    json_decref (status);
}

//  What one run holds, from s_run_open to s_run_close.
typedef struct {
    const char *dir;
    fg_config_t cfg;
    int local;                      //  in-process trainers
    const char *listen;             //  "" none
    fg_dataset_t *train, *test;
    fg_keypair_t keys;              //  the coordinator's CURVE pair ("" off)
    char inproc [64];
    fg_coordinator_t *coordinator;
    int port;                       //  its tcp port, 0 none
    fg_trainer_t **trainers;        //  local of them
} s_run_t;

//  The configuration, the trainers' sources, both dataset splits and the
//  security preflight (keys and allow-lists checked before anything is
//  written). Returns 0 or the exit code (printed).
static int
s_run_open (s_run_t *run, const char *dir, const s_run_opts_t *opts)
{
    run->dir = dir;
    int status = fedctl_load_config (dir, &opts->sets, &run->cfg);
    if (status)
        return status;
    run->local = opts->local >= 0? opts->local: (int) run->cfg.grid.local_trainers;
    run->listen = opts->listen? opts->listen: run->cfg.grid.listen;
    if (opts->local_tcp && !*run->listen) {
        fedctl_fail ("--local-transport tcp needs --listen (e.g. tcp://127.0.0.1:*)");
        return EX_USAGE;
    }
    if (run->local == 0 && !*run->listen) {
        fedctl_fail ("no trainers: give --local N or --listen tcp://*:PORT for remote workers");
        return EX_USAGE;
    }
    if ((status = fedctl_open_split (&run->cfg, FG_SPLIT_TRAIN, &run->train))
    ||  (status = fedctl_open_split (&run->cfg, FG_SPLIT_TEST, &run->test)))
        return status;
    zsys_init ();
    zsys_set_max_sockets (0);
    fg_error_t err;
    if (fg_security_preflight (&run->cfg, dir, run->listen, &run->keys, &err)) {
        fedctl_fail ("%s", err.msg);
        return fedctl_exit_code (err.code);
    }
    return 0;
}

//  Starts the coordinator and says where it listens and how it is
//  protected. Returns 0 or the exit code (printed).
static int
s_run_coordinator (s_run_t *run)
{
    const fg_config_t *cfg = &run->cfg;
    snprintf (run->inproc, sizeof run->inproc, "fedgrid-%ld", (long) getpid ());
    fg_coordinator_args_t args = {
        .dir = run->dir, .cfg = cfg, .train = run->train, .test = run->test,
        .inproc = run->inproc, .listen = run->listen, .eval_threads = fedctl_threads (cfg, 1)
    };
    fg_error_t err;
    run->coordinator = fg_coordinator_new (&args, &err);
    if (!run->coordinator) {
        fedctl_fail ("%s", err.msg);
        return err.code == FG_EMISMATCH || err.code == FG_ECHECKSUM || err.code == FG_EFORMAT
             ? EX_DATAERR: err.code == FG_EINVAL? EX_UNAVAILABLE: fedctl_exit_code (err.code);
    }
    int port = run->port = fg_coordinator_port (run->coordinator);
    if (port)
        fprintf (stderr, "fedctl: coordinator listening on port %d\n", port);
    //  CURVE on tcp: workers need the public key
    if (port && run->keys.public_txt [0])
        fprintf (stderr, "fedctl: CURVE on: workers need --server-key %s/%s (public key %s)\n",
                 run->dir, FG_SECURITY_SERVER_NAME, run->keys.public_txt);
    else
    if (port && !cfg->grid.curve)
        fprintf (stderr, "fedctl: grid.curve = false: traffic on port %d is neither encrypted "
                 "nor authenticated\n", port);
    return 0;
}

//  The local trainers, on inproc:// or (--local-transport tcp) on the
//  coordinator's port; local tcp trainers use the coordinator's own pair
//  (always allowed). Returns 0 or EX_SOFTWARE (printed).
static int
s_run_trainers (s_run_t *run, bool local_tcp, const char *slowdown)
{
    const fg_config_t *cfg = &run->cfg;
    bool curve_local = local_tcp && run->keys.secret_txt [0];
    char endpoint [128];
    if (local_tcp)
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", run->port);
    else
        snprintf (endpoint, sizeof endpoint, "inproc://%s", run->inproc);
    char host [64] = "host";
    gethostname (host, sizeof host - 1);
    for (int i = 0; i < run->local; i++) {
        char node_id [FG_WIRE_NAME_MAX + 1], cache [4200];
        snprintf (node_id, sizeof node_id, "%.40s-local-%d", host, i);
        snprintf (cache, sizeof cache, "%s/trainers/local-%d", run->dir, i);
        fg_trainer_args_t targs = {
            .endpoint = endpoint, .node_id = node_id, .train = run->train, .cache_dir = cache,
            .threads = fedctl_threads (cfg, run->local),
            .heartbeat_ms = (int) cfg->grid.heartbeat_ms,
            .liveness = (int) cfg->grid.liveness, .max_frame = (size_t) cfg->grid.max_frame,
            .chunk_size = (size_t) cfg->grid.chunk_size,
            .server_key = curve_local? run->keys.public_txt: NULL,
            .public_key = curve_local? run->keys.public_txt: NULL,
            .secret_key = curve_local? run->keys.secret_txt: NULL,
            .slowdown = s_slowdown_of (slowdown, i)
        };
        fg_error_t err;
        run->trainers [i] = fg_trainer_new (&targs, &err);
        if (!run->trainers [i]) {
            fedctl_fail ("trainer %d: %s", i, err.msg);
            return EX_SOFTWARE;
        }
    }
    return 0;
}

//  Prints one coordinator event: a committed round, the end, or a failure
//  (*status EX_SOFTWARE). Returns true when the run is over.
static bool
s_run_event (s_run_t *run, int *status)
{
    char *kind, *text;
    if (fg_coordinator_event (run->coordinator, &kind, &text))
        return false;
    bool stop = false;
    if (strcmp (kind, "ROUND") == 0) {
        printf ("%s\n", text);
        fflush (stdout);
    }
    else
    if (strcmp (kind, "DONE") == 0) {
        if (strcmp (text, "already finished") == 0)
            printf ("experiment in %s already finished: nothing to do\n", run->dir);
        else
            printf ("finished: final weights sha256 %s\n", text);
        fflush (stdout);
        stop = true;
    }
    else {
        fedctl_fail ("%s", text);
        *status = EX_SOFTWARE;
        stop = true;
    }
    zstr_free (&kind);
    zstr_free (&text);
    return stop;
}

//  The owner loop: coordinator events until the end, a failure or Ctrl-C
//  (EX_TEMPFAIL); on a terminal, a live status line under the round lines.
static int
s_run_watch (s_run_t *run)
{
    int status = 0;
    zpoller_t *poller = zpoller_new (fg_coordinator_actor (run->coordinator), NULL);
    bool live = isatty (STDOUT_FILENO) == 1;
    while (true) {
        void *which = zpoller_wait (poller, 250);
        if (zsys_interrupted) {
            fg_log_live (NULL);
            fprintf (stderr, "fedctl: interrupted; stopping (fedctl resume %s continues)\n",
                     run->dir);
            status = EX_TEMPFAIL;
            break;
        }
        if (!which) {
            if (live)
                s_live_line (run->dir);
            continue;
        }
        if (live)
            fg_log_live (NULL);
        if (s_run_event (run, &status))
            break;
    }
    zpoller_destroy (&poller);
    return status;
}

//  Trainers first (a unit keeps its last epoch checkpoint), then the
//  coordinator, between journal transactions.
static void
s_run_close (s_run_t *run)
{
    memset (&run->keys, 0, sizeof run->keys);
    for (int i = 0; run->trainers && i < run->local; i++)
        fg_trainer_destroy (&run->trainers [i]);
    free (run->trainers);
    fg_coordinator_destroy (&run->coordinator);
    fg_dataset_destroy (&run->train);
    fg_dataset_destroy (&run->test);
}

static int
s_run (const char *dir, const s_run_opts_t *opts)
{
    s_run_t run;
    memset (&run, 0, sizeof run);
    int status = s_run_open (&run, dir, opts);
    if (status == 0)
        status = s_run_coordinator (&run);
    if (status == 0) {
        run.trainers = calloc ((size_t) run.local + 1, sizeof *run.trainers);
        if (!run.trainers) {
            fedctl_fail ("out of memory");
            status = EX_OSERR;
        }
    }
    if (status == 0)
        status = s_run_trainers (&run, opts->local_tcp, opts->slowdown);
    if (status == 0)
        status = s_run_watch (&run);
    s_run_close (&run);
    return status;
}

//  A bad FEDGRID_FAULT is refused before anything runs (a test that
//  meant a liar must not run an honest grid by a typo).
static int
s_check_fault (void)
{
    fg_error_t err;
    if (fg_fault_load (&err) == 0)
        return 0;
    fedctl_fail ("%s", err.msg);
    return EX_USAGE;
}

int
fedctl_cmd_start (int argc, char **argv)
{
    s_run_opts_t opts;
    const char *dir;
    int rc = s_parse_run (argc, argv, &opts, &dir);
    if (rc)
        return rc < 0? EX_OK: rc;
    if ((rc = s_check_fault ()))
        return rc;
    if (fg_journal_exists (dir)) {
        fedctl_fail ("%s already holds an experiment's journal: continue it with "
                     "`fedctl resume %s`, or start a new experiment in a new directory", dir, dir);
        return EX_CANTCREAT;
    }
    return s_run (dir, &opts);
}

//  A finished experiment has nothing left to run: resume says so and
//  starts no coordinator and no trainer. Returns 1 (finished, printed),
//  0 (go on: a run reports any other problem itself) or a sysexits code.
static int
s_resume_finished (const char *dir, const s_run_opts_t *opts)
{
    fg_config_t cfg;
    if (!fg_journal_exists (dir) || fedctl_load_config (dir, &opts->sets, &cfg))
        return 0;
    fg_error_t err;
    fg_journal_t *journal = NULL;
    uint32_t last = 0;
    char stored [FG_SHA256_HEX_SIZE] = "", hash [FG_SHA256_HEX_SIZE];
    int rc = fg_journal_open_readonly (dir, &journal, &err);
    if (rc == 0)
        rc = fg_journal_meta (journal, stored, NULL, NULL, &err);
    if (rc == 0)
        rc = fg_journal_last_round (journal, &last, &err);
    fg_journal_close (&journal);
    fg_config_hash (&cfg, hash);
    //  another configuration, or a journal that does not open: the run
    //  refuses it with the reason
    if (rc || strcmp (stored, hash) || last < (uint64_t) cfg.experiment.rounds)
        return 0;
    fprintf (stderr, "fedctl: %s is finished: round %u of %lld committed, nothing to resume "
             "(`fedctl status %s`; `fedctl export %s` writes the weights)\n", dir, last,
             (long long) cfg.experiment.rounds, dir, dir);
    return 1;
}

int
fedctl_cmd_resume (int argc, char **argv)
{
    s_run_opts_t opts;
    const char *dir;
    int rc = s_parse_run (argc, argv, &opts, &dir);
    if (rc)
        return rc < 0? EX_OK: rc;
    if ((rc = s_check_fault ()))
        return rc;
    if (s_resume_finished (dir, &opts))
        return EX_OK;
    return s_run (dir, &opts);
}
