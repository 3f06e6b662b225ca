/*  fedctl start, resume, worker, status, export — running experiments.

    start / resume run the coordinator and --local N trainers in this
    process (threads; they reach the coordinator over inproc://, or over
    its tcp endpoint with --local-transport tcp). The owner loop prints one
    line per committed round on stdout, logs go to stderr, and Ctrl-C /
    SIGTERM stop the trainers first (a unit keeps its last epoch
    checkpoint) and then the coordinator, between journal transactions.  */

#include "fedctl.h"
#include "fg_actors.h"
#include "fg_blob.h"
#include "fg_file.h"
#include "fg_journal.h"
#include "fg_security.h"
#include "fg_wire.h"

#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    fedctl_sets_t sets;
    int  local;                     //  -1: from the configuration
    const char *listen;             //  NULL: from the configuration
    bool local_tcp;                 //  local trainers connect over tcp
} s_run_opts_t;

static void
s_run_usage (FILE *out, const char *command)
{
    fprintf (out,
        "usage: fedctl %s DIR [--local N] [--listen tcp://*:PORT] [--local-transport inproc|tcp]\n"
        "                    [--set section.key=value ...]\n"
        "\n"
        "%s\n"
        "Runs the coordinator and N in-process trainers (default grid.local_trainers);\n"
        "--listen also accepts remote `fedctl worker`s. One line per committed round\n"
        "goes to stdout; DIR/rounds.csv, DIR/clients.csv and DIR/status.json follow\n"
        "the run. Ctrl-C stops cleanly; `fedctl resume DIR` continues exactly.\n"
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

static int
s_parse_run (int argc, char **argv, s_run_opts_t *opts, const char **dir)
{
    static const struct option options [] = {
        { "set",             required_argument, NULL, 's' },
        { "local",           required_argument, NULL, 'l' },
        { "listen",          required_argument, NULL, 'L' },
        { "local-transport", required_argument, NULL, 't' },
        { "help",            no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    memset (opts, 0, sizeof *opts);
    opts->local = -1;
    int c;
    while ((c = getopt_long (argc, argv, "s:l:L:t:h", options, NULL)) != -1) {
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

//  DIR/status.json, the coordinator's live state (caller frees), or NULL.
static char *
s_read_status (const char *dir)
{
    char path [4200], *text;
    size_t size;
    snprintf (path, sizeof path, "%s/status.json", dir);
    return fg_file_read (path, 4096, &text, &size, NULL) == 0? text: NULL;
}

//  The number after "name": in status.json text, or fallback.
static double
s_status_number (const char *text, const char *name, double fallback)
{
    char key [64];
    snprintf (key, sizeof key, "\"%s\": ", name);
    const char *p = strstr (text, key);
    return p? strtod (p + strlen (key), NULL): fallback;
}

//  "round 3/10: 4/10 units done, 2 in flight, 2 nodes" from DIR/status.json
static void
s_live_line (const char *dir)
{
    char *text = s_read_status (dir);
    if (!text)
        return;
    long round = (long) s_status_number (text, "round", 0);
    long rounds = (long) s_status_number (text, "rounds", 0);
    long done = (long) s_status_number (text, "units_done", 0);
    long shards = (long) s_status_number (text, "shards", 0);
    long flight = (long) s_status_number (text, "units_in_flight", 0);
    long nodes = (long) s_status_number (text, "nodes_alive", 0);
    printf ("\r\033[Kround %ld/%ld: %ld/%ld units done, %ld in flight, %ld node%s%s",
            round, rounds, done, shards, flight, nodes, nodes == 1? "": "s",
            nodes? "": " (waiting for trainers)");
    fflush (stdout);
    free (text);
}

static int
s_run (const char *dir, const s_run_opts_t *opts)
{
    fg_config_t cfg;
    int status = fedctl_load_config (dir, &opts->sets, &cfg);
    if (status)
        return status;
    int local = opts->local >= 0? opts->local: (int) cfg.grid.local_trainers;
    const char *listen = opts->listen? opts->listen: cfg.grid.listen;
    if (opts->local_tcp && !*listen) {
        fedctl_fail ("--local-transport tcp needs --listen (e.g. tcp://127.0.0.1:*)");
        return EX_USAGE;
    }
    if (local == 0 && !*listen) {
        fedctl_fail ("no trainers: give --local N or --listen tcp://*:PORT for remote workers");
        return EX_USAGE;
    }
    fg_dataset_t *train = NULL, *test = NULL;
    if ((status = fedctl_open_split (&cfg, FG_SPLIT_TRAIN, &train))
    ||  (status = fedctl_open_split (&cfg, FG_SPLIT_TEST, &test))) {
        fg_dataset_destroy (&train);
        return status;
    }
    zsys_init ();
    zsys_set_max_sockets (0);
    //  keys and allow-lists checked before anything is written
    fg_keypair_t keys;
    fg_error_t err;
    if (fg_security_preflight (&cfg, dir, listen, &keys, &err)) {
        fedctl_fail ("%s", err.msg);
        fg_dataset_destroy (&train);
        fg_dataset_destroy (&test);
        return fedctl_exit_code (err.code);
    }
    char inproc [64];
    snprintf (inproc, sizeof inproc, "fedgrid-%ld", (long) getpid ());
    fg_coordinator_args_t args = {
        .dir = dir, .cfg = &cfg, .train = train, .test = test, .inproc = inproc,
        .listen = listen, .eval_threads = fedctl_threads (&cfg, 1)
    };
    fg_coordinator_t *coordinator = fg_coordinator_new (&args, &err);
    fg_trainer_t **trainers = calloc ((size_t) local + 1, sizeof *trainers);
    if (!coordinator) {
        fedctl_fail ("%s", err.msg);
        status = err.code == FG_EMISMATCH || err.code == FG_ECHECKSUM || err.code == FG_EFORMAT
               ? EX_DATAERR: err.code == FG_EINVAL? EX_UNAVAILABLE: fedctl_exit_code (err.code);
        goto done;
    }
    int port = fg_coordinator_port (coordinator);
    if (port)
        fprintf (stderr, "fedctl: coordinator listening on port %d\n", port);
    //  CURVE on tcp: workers need the public key; local tcp trainers use
    //  the coordinator's own pair (always allowed)
    if (port && keys.public_txt [0])
        fprintf (stderr, "fedctl: CURVE on: workers need --server-key %s/%s (public key %s)\n",
                 dir, FG_SECURITY_SERVER_NAME, keys.public_txt);
    else
    if (port && !cfg.grid.curve)
    if (port)
        fprintf (stderr, "fedctl: grid.curve = false: traffic on port %d is neither encrypted "
                 "nor authenticated\n", port);
    bool curve_local = opts->local_tcp && keys.secret_txt [0];
    char endpoint [128];
    if (opts->local_tcp)
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    else
        snprintf (endpoint, sizeof endpoint, "inproc://%s", inproc);
    char host [64] = "host";
    gethostname (host, sizeof host - 1);
    for (int i = 0; i < local; i++) {
        char node_id [FG_WIRE_NAME_MAX + 1], cache [4200];
        snprintf (node_id, sizeof node_id, "%.40s-local-%d", host, i);
        snprintf (cache, sizeof cache, "%s/trainers/local-%d", dir, i);
        fg_trainer_args_t targs = {
            .endpoint = endpoint, .node_id = node_id, .train = train, .cache_dir = cache,
            .threads = fedctl_threads (&cfg, local), .heartbeat_ms = (int) cfg.grid.heartbeat_ms,
            .liveness = (int) cfg.grid.liveness, .max_frame = (size_t) cfg.grid.max_frame,
            .chunk_size = (size_t) cfg.grid.chunk_size,
            .server_key = curve_local? keys.public_txt: NULL,
            .public_key = curve_local? keys.public_txt: NULL,
            .secret_key = curve_local? keys.secret_txt: NULL
        };
        trainers [i] = fg_trainer_new (&targs, &err);
        if (!trainers [i]) {
            fedctl_fail ("trainer %d: %s", i, err.msg);
            status = EX_SOFTWARE;
            goto done;
        }
    }
    zpoller_t *poller = zpoller_new (fg_coordinator_actor (coordinator), NULL);
    //  on a terminal, a live status line under the round lines
    bool live = isatty (STDOUT_FILENO) == 1;
    while (true) {
        void *which = zpoller_wait (poller, 250);
        if (zsys_interrupted) {
            fprintf (stderr, "%sfedctl: interrupted; stopping (fedctl resume %s continues)\n",
                     live? "\r\033[K": "", dir);
            status = EX_TEMPFAIL;
            break;
        }
        if (!which) {
            if (live)
                s_live_line (dir);
            continue;
        }
        if (live)
            printf ("\r\033[K");
        char *kind, *text;
        if (fg_coordinator_event (coordinator, &kind, &text))
            continue;
        bool stop = false;
        if (strcmp (kind, "ROUND") == 0) {
            printf ("%s\n", text);
            fflush (stdout);
        }
        else
        if (strcmp (kind, "DONE") == 0) {
            if (strcmp (text, "already finished") == 0)
                printf ("experiment in %s already finished: nothing to do\n", dir);
            else
                printf ("finished: final weights sha256 %s\n", text);
            fflush (stdout);
            stop = true;
        }
        else {
            fedctl_fail ("%s", text);
            status = EX_SOFTWARE;
            stop = true;
        }
        zstr_free (&kind);
        zstr_free (&text);
        if (stop)
            break;
    }
    zpoller_destroy (&poller);

done:
    memset (&keys, 0, sizeof keys);
    for (int i = 0; i < local; i++)
        fg_trainer_destroy (&trainers [i]);
    free (trainers);
    fg_coordinator_destroy (&coordinator);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
    return status;
}

int
fedctl_cmd_start (int argc, char **argv)
{
    s_run_opts_t opts;
    const char *dir;
    int rc = s_parse_run (argc, argv, &opts, &dir);
    if (rc)
        return rc < 0? EX_OK: rc;
    if (fg_journal_exists (dir)) {
        fedctl_fail ("%s already holds an experiment's journal: continue it with "
                     "`fedctl resume %s`, or start a new experiment in a new directory", dir, dir);
        return EX_CANTCREAT;
    }
    return s_run (dir, &opts);
}

int
fedctl_cmd_resume (int argc, char **argv)
{
    s_run_opts_t opts;
    const char *dir;
    int rc = s_parse_run (argc, argv, &opts, &dir);
    if (rc)
        return rc < 0? EX_OK: rc;
    return s_run (dir, &opts);
}

//  --------------------------------------------------------------------------

static void
s_worker_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl worker --connect tcp://HOST:PORT --cache DIR\n"
        "                     [--server-key FILE|Z85]\n"
        "                     [--dataset KIND [--data PATH] [--train-limit N]]\n"
        "                     [--threads N] [--id NAME] [--set grid.KEY=VALUE ...]\n"
        "\n"
        "Hosts one trainer for a coordinator started with --listen. Without\n"
        "--dataset it fetches the samples of each unit's shard from the\n"
        "coordinator and keeps them in DIR/samples.lmdb, so it fetches only what\n"
        "it has not seen before. With --dataset it reads its own copy of the\n"
        "training set (KIND as data.dataset, PATH its folder, N as\n"
        "data.train_limit or synthetic_train); a copy that differs from the\n"
        "coordinator's is not used and the samples are fetched. --cache also\n"
        "keeps its identity and unit checkpoints. --set gives deployment settings\n"
        "(grid.heartbeat_ms, grid.liveness, grid.max_frame, grid.chunk_size) that\n"
        "should match the coordinator's. Ctrl-C stops it.\n"
        "\n"
        "--server-key is the coordinator's public key (its DIR/coordinator.key, or\n"
        "the 40 characters fedctl start prints): the connection is then encrypted\n"
        "and authenticated with CURVE, the coordinator's default (grid.curve). The\n"
        "worker's own key pair is made once in DIR/worker.key[_secret] (mode 0600)\n"
        "and kept, so its identity is stable; when the coordinator has an allow\n"
        "list (grid.allow_keys), copy DIR/worker.key into that folder. Without\n"
        "--server-key the connection is plain (for grid.curve = false).\n");
}

int
fedctl_cmd_worker (int argc, char **argv)
{
    static const struct option options [] = {
        { "connect",     required_argument, NULL, 'c' },
        { "cache",       required_argument, NULL, 'C' },
        { "dataset",     required_argument, NULL, 'k' },
        { "data",        required_argument, NULL, 'd' },
        { "train-limit", required_argument, NULL, 'n' },
        { "threads",     required_argument, NULL, 'j' },
        { "id",          required_argument, NULL, 'i' },
        { "server-key",  required_argument, NULL, 'K' },
        { "set",         required_argument, NULL, 's' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *connect = NULL, *cache = NULL, *kind = NULL, *data = "", *id = NULL;
    const char *server_key = NULL;
    long limit = 0, threads = 0;
    int c;
    char *end;
    fedctl_sets_t sets = { .count = 0 };
    while ((c = getopt_long (argc, argv, "c:C:k:d:n:j:i:K:s:h", options, NULL)) != -1) {
        switch (c) {
            case 'K': server_key = optarg; break;
            case 'c': connect = optarg; break;
            case 'C': cache = optarg; break;
            case 'k': kind = optarg; break;
            case 'd': data = optarg; break;
            case 'i': id = optarg; break;
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'n':
                limit = strtol (optarg, &end, 10);
                if (*end || limit < 0) {
                    fedctl_fail ("--train-limit %s: expected a count", optarg);
                    return EX_USAGE;
                }
                break;
            case 'j':
                threads = strtol (optarg, &end, 10);
                if (*end || threads < 0 || threads > 1024) {
                    fedctl_fail ("--threads %s: expected 0..1024", optarg);
                    return EX_USAGE;
                }
                break;
            case 'h': s_worker_usage (stdout); return EX_OK;
            default:  s_worker_usage (stderr); return EX_USAGE;
        }
    }
    if (!connect || !cache || optind != argc) {
        fedctl_fail ("worker needs --connect and --cache");
        s_worker_usage (stderr);
        return EX_USAGE;
    }
    if (!kind && (*data || limit)) {
        fedctl_fail ("--data and --train-limit describe a local copy: give --dataset KIND too "
                     "(without any of them the worker fetches samples)");
        return EX_USAGE;
    }
    fg_config_t cfg;
    fg_error_t err;
    fg_config_defaults (&cfg);
    char set [300];
    int rc = 0;
    for (int i = 0; rc == 0 && i < sets.count; i++)
        rc = fg_config_set (&cfg, sets.items [i], "--set", &err);
    if (rc == 0 && kind) {
        snprintf (set, sizeof set, "data.dataset=%s", kind);
        rc = fg_config_set (&cfg, set, "--dataset", &err);
    }
    if (rc == 0 && kind) {
        snprintf (set, sizeof set, "data.path=%s", data);
        rc = fg_config_set (&cfg, set, "--data", &err);
    }
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return EX_USAGE;
    }
    cfg.data.train_limit = limit;
    if (limit)
        cfg.data.synthetic_train = limit;
    cfg.grid.threads = threads;
    fg_dataset_t *train = NULL;
    int status = kind? fedctl_open_split (&cfg, FG_SPLIT_TRAIN, &train): 0;
    if (status)
        return status;
    //  a persistent identity: the cache folder's, made once
    char node_id [FG_WIRE_NAME_MAX + 1];
    char path [4200];
    snprintf (path, sizeof path, "%s/node-id", cache);
    if (fg_file_mkdirs (cache, &err)) {
        fedctl_fail ("%s", err.msg);
        fg_dataset_destroy (&train);
        return EX_CANTCREAT;
    }
    if (id)
        snprintf (node_id, sizeof node_id, "%s", id);
    else {
        char *stored;
        size_t size;
        if (fg_file_read (path, 128, &stored, &size, NULL) == 0 && size > 0 && size <= FG_WIRE_NAME_MAX) {
            snprintf (node_id, sizeof node_id, "%.*s", (int) strcspn (stored, "\n"), stored);
            free (stored);
        }
        else {
            char host [40] = "host";
            gethostname (host, sizeof host - 1);
            snprintf (node_id, sizeof node_id, "%s-%ld-%lld", host, (long) getpid (),
                      (long long) zclock_time ());
            fg_file_write_atomic (path, node_id, strlen (node_id), 0644, 0, NULL);
        }
    }
    //  CURVE: the coordinator's public key, and this worker's pair, made
    //  once in the cache folder and kept (a stable identity)
    char server [FG_SECURITY_KEY_TEXT] = "";
    fg_keypair_t keys;
    memset (&keys, 0, sizeof keys);
    if (server_key) {
        bool created = false;
        if (fg_security_read_public (server_key, server, &err)
        ||  fg_security_ensure_pair (cache, FG_SECURITY_WORKER_NAME, &keys, &created, &err)) {
            fedctl_fail ("%s", err.msg);
            fg_dataset_destroy (&train);
            return fedctl_exit_code (err.code);
        }
        fprintf (stderr, "fedctl: worker key %s/%s%s (public key %s): a coordinator with "
                 "grid.allow_keys needs a copy of that file\n", cache, FG_SECURITY_WORKER_NAME,
                 created? ", made now": "", keys.public_txt);
    }
    fg_trainer_args_t targs = {
        .endpoint = connect, .node_id = node_id, .train = train, .cache_dir = cache,
        .threads = fedctl_threads (&cfg, 1), .heartbeat_ms = (int) cfg.grid.heartbeat_ms,
        .liveness = (int) cfg.grid.liveness, .max_frame = (size_t) cfg.grid.max_frame,
        .chunk_size = (size_t) cfg.grid.chunk_size,
        .server_key = server_key? server: NULL,
        .public_key = server_key? keys.public_txt: NULL,
        .secret_key = server_key? keys.secret_txt: NULL
    };
    zsys_init ();
    fg_trainer_t *trainer = fg_trainer_new (&targs, &err);
    memset (&keys, 0, sizeof keys);             //  the trainer keeps its copy
    if (!trainer) {
        fedctl_fail ("%s", err.msg);
        fg_dataset_destroy (&train);
        return EX_SOFTWARE;
    }
    fprintf (stderr, "fedctl: worker %s serving %s%s%s\n", node_id, connect,
             server_key? " (CURVE)": "",
             train? "": " (fetching samples into its cache)");
    while (!zsys_interrupted)
        zclock_sleep (200);
    fprintf (stderr, "fedctl: worker %s stopping\n", node_id);
    fg_trainer_destroy (&trainer);
    fg_dataset_destroy (&train);
    return EX_OK;
}

//  --------------------------------------------------------------------------

int
fedctl_cmd_keygen (int argc, char **argv)
{
    static const struct option options [] = {
        { "name", required_argument, NULL, 'n' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *name = FG_SECURITY_SERVER_NAME;
    int c;
    while ((c = getopt_long (argc, argv, "n:h", options, NULL)) != -1) {
        switch (c) {
            case 'n': name = optarg; break;
            case 'h':
            default:
                fprintf (c == 'h'? stdout: stderr,
                    "usage: fedctl keygen DIR [--name NAME]\n"
                    "\n"
                    "Makes a CURVE key pair (CZMQ certificate format): DIR/NAME, the public\n"
                    "key to hand out, and DIR/NAME_secret (mode 0600). NAME defaults to\n"
                    "%s, the coordinator's pair in an experiment folder (fedctl\n"
                    "start makes it when missing); fedctl worker makes its own %s\n"
                    "in its --cache folder. Never overwrites a pair. Prints the public key.\n",
                    FG_SECURITY_SERVER_NAME, FG_SECURITY_WORKER_NAME);
                return c == 'h'? EX_OK: EX_USAGE;
        }
    }
    if (optind != argc - 1 || !*name || strchr (name, '/')) {
        fedctl_fail ("usage: fedctl keygen DIR [--name NAME] (NAME without '/')");
        return EX_USAGE;
    }
    fg_keypair_t keys;
    fg_error_t err;
    if (fg_security_keygen (argv [optind], name, &keys, &err)) {
        fedctl_fail ("%s", err.msg);
        return fedctl_exit_code (err.code);
    }
    printf ("%s\n", keys.public_txt);
    fprintf (stderr, "fedctl: wrote %s/%s (public) and %s/%s_secret (secret, mode 0600)\n",
             argv [optind], name, argv [optind], name);
    memset (&keys, 0, sizeof keys);
    return EX_OK;
}

//  --------------------------------------------------------------------------

//  Weights of round (FG_JOURNAL_LATEST: the newest) from DIR's journal.
static int
s_journal_weights (const char *dir, uint32_t round, uint32_t *found, fg_state_t **state,
                   fg_error_t *err)
{
    fg_journal_t *journal = NULL;
    int rc = fg_journal_open_readonly (dir, &journal, err);
    void *blob = NULL;
    size_t size = 0;
    if (rc == 0)
        rc = fg_journal_get_weights (journal, round, false, found, &blob, &size, err);
    if (rc == 0)
        rc = fg_blob_decode (blob, size, NULL, state, err);
    free (blob);
    fg_journal_close (&journal);
    return rc;
}

//  FG_EMISMATCH when DIR's journal was written by another configuration.
static int
s_journal_meta_matches (const char *dir, const fg_config_t *cfg, fg_error_t *err)
{
    fg_journal_t *journal = NULL;
    int rc = fg_journal_open_readonly (dir, &journal, err);
    char stored [65], hash [FG_SHA256_HEX_SIZE];
    if (rc == 0)
        rc = fg_journal_meta (journal, stored, NULL, NULL, err);
    fg_journal_close (&journal);
    if (rc)
        return rc;
    fg_config_hash (cfg, hash);
    if (strcmp (stored, hash))
        return fg_error_set (err, FG_EMISMATCH, "the journal in %s was written by another "
                             "configuration (experiment %.12s, this one %.12s)", dir, stored, hash);
    return 0;
}

int
fedctl_cmd_status (int argc, char **argv)
{
    static const struct option options [] = {
        { "json", no_argument,       NULL, 'J' },
        { "set",  required_argument, NULL, 's' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    bool json = false;
    fedctl_sets_t sets = { .count = 0 };
    int c;
    while ((c = getopt_long (argc, argv, "Js:h", options, NULL)) != -1) {
        switch (c) {
            case 'J': json = true; break;
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'h':
                printf ("usage: fedctl status DIR [--json] [--set section.key=value ...]\n\n"
                        "Round, last accuracy, nodes alive, units in flight, ETA and the SHA-256 "
                        "of the last committed weights.\n");
                return EX_OK;
            default:
                return EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        fedctl_fail ("usage: fedctl status DIR [--json]");
        return EX_USAGE;
    }
    const char *dir = argv [optind];
    fg_config_t cfg;
    int status = fedctl_load_config (dir, &sets, &cfg);
    if (status)
        return status;
    fg_error_t err;
    fg_journal_t *journal = NULL;
    uint32_t last = 0;
    fg_journal_metrics_t metrics;
    memset (&metrics, 0, sizeof metrics);
    char hash [65] = "";
    if (fg_journal_exists (dir)) {
        int rc = fg_journal_open_readonly (dir, &journal, &err);
        if (rc) {
            fedctl_fail ("%s", err.msg);
            return EX_DATAERR;
        }
        rc = fg_journal_last_round (journal, &last, &err);
        if (rc == 0)
            rc = fg_journal_metrics_get (journal, last, &metrics, &err);
        fg_journal_close (&journal);
        if (rc && rc != FG_ENOENT) {
            fedctl_fail ("%s", err.msg);
            return EX_DATAERR;
        }
        fg_state_t *weights = NULL;
        if (last && s_journal_weights (dir, FG_JOURNAL_LATEST, NULL, &weights, &err) == 0)
            fg_state_hash (weights, hash);
        fg_state_destroy (&weights);
    }
    //  live figures from the coordinator, when one runs
    char *live = s_read_status (dir);
    long pid = live? (long) s_status_number (live, "pid", 0): 0;
    bool running = pid > 0 && kill ((pid_t) pid, 0) == 0 && !strstr (live, "\"finished\"");
    const char *state = last >= (uint32_t) cfg.experiment.rounds? "finished"
                      : running? "running": last || fg_journal_exists (dir)? "stopped": "not started";
    long nodes = 0, in_flight = 0;
    double eta = -1;
    if (running) {
        nodes = (long) s_status_number (live, "nodes_alive", 0);
        in_flight = (long) s_status_number (live, "units_in_flight", 0);
        eta = s_status_number (live, "eta_s", -1);
        if (strstr (live, "waiting for trainers"))
            state = "waiting for trainers";
    }
    free (live);
    if (json)
        printf ("{\"state\": \"%s\", \"round\": %u, \"rounds\": %lld, \"test_accuracy\": %.6f, "
                "\"test_loss\": %.6f, \"nodes_alive\": %ld, \"units_in_flight\": %ld, "
                "\"eta_s\": %.1f, \"weights_sha256\": \"%s\"}\n",
                state, last, (long long) cfg.experiment.rounds, last? metrics.test_accuracy: 0,
                last? metrics.test_loss: 0, nodes, in_flight, eta, hash);
    else {
        printf ("experiment  %s (%s)\n", dir, state);
        printf ("round       %u of %lld committed\n", last, (long long) cfg.experiment.rounds);
        if (last)
            printf ("accuracy    %.2f%% (test loss %.4f)\n", 100 * metrics.test_accuracy,
                    metrics.test_loss);
        if (running)
            printf ("nodes       %ld alive, %ld units in flight%s\n", nodes, in_flight,
                    nodes? "": " — waiting for a trainer to connect");
        if (running && eta >= 0)
            printf ("eta         %.0f s\n", eta);
        if (last)
            printf ("weights     sha256 %s\n", hash);
    }
    return EX_OK;
}

int
fedctl_cmd_export (int argc, char **argv)
{
    static const struct option options [] = {
        { "round",  required_argument, NULL, 'r' },
        { "output", required_argument, NULL, 'o' },
        { "set",    required_argument, NULL, 's' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    uint32_t round = FG_JOURNAL_LATEST;
    const char *output = NULL;
    fedctl_sets_t sets = { .count = 0 };
    int c;
    while ((c = getopt_long (argc, argv, "r:o:s:h", options, NULL)) != -1) {
        char *end;
        switch (c) {
            case 'r':
                if (strcmp (optarg, "last")) {
                    unsigned long value = strtoul (optarg, &end, 10);
                    if (*end || value == 0 || value >= UINT32_MAX) {
                        fedctl_fail ("--round %s: expected a round number or last", optarg);
                        return EX_USAGE;
                    }
                    round = (uint32_t) value;
                }
                break;
            case 'o': output = optarg; break;
            case 's': if (fedctl_sets_add (&sets, optarg)) return EX_USAGE; break;
            case 'h':
                printf ("usage: fedctl export DIR [--round N|last] -o FILE\n\nWrites committed "
                        "global weights: a fedgrid blob, or safetensors when FILE ends in "
                        ".safetensors.\n");
                return EX_OK;
            default:
                return EX_USAGE;
        }
    }
    if (optind != argc - 1 || !output) {
        fedctl_fail ("usage: fedctl export DIR [--round N|last] -o FILE");
        return EX_USAGE;
    }
    //  the journal must be this experiment's (with the same --set as the run)
    fg_config_t cfg;
    int status = fedctl_load_config (argv [optind], &sets, &cfg);
    if (status)
        return status;
    fg_error_t err;
    fg_state_t *weights = NULL;
    uint32_t found = 0;
    int rc = s_journal_meta_matches (argv [optind], &cfg, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return EX_DATAERR;
    }
    rc = s_journal_weights (argv [optind], round, &found, &weights, &err);
    if (rc) {
        fedctl_fail ("%s%s", err.msg, rc == FG_ENOENT? " (fedctl journal dump lists the retained rounds)": "");
        return rc == FG_ENOENT? EX_NOINPUT: EX_DATAERR;
    }
    size_t len = strlen (output);
    bool safetensors = len > 12 && strcmp (output + len - 12, ".safetensors") == 0;
    rc = safetensors? fg_blob_export_safetensors (output, weights, &err)
                    : fg_blob_save (output, weights, &err);
    char hash [65];
    fg_state_hash (weights, hash);
    fg_state_destroy (&weights);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return EX_CANTCREAT;
    }
    printf ("%s: weights of round %u, sha256 %s\n", output, found, hash);
    return EX_OK;
}
