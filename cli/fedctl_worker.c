/*  fedctl worker — one trainer serving a remote coordinator (started with
    --listen): its identity and CURVE pair kept in its --cache folder, its
    samples read from a local copy or fetched into that folder.           */

#include "fedctl.h"
#include "fg_endpoint.h"
#include "fg_actors.h"
#include "fg_fault.h"
#include "fg_file.h"
#include "fg_security.h"
#include "fg_wire.h"

#include <czmq.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
s_worker_usage (FILE *out)
{
    fprintf (out,
        "usage: fedctl worker --connect tcp://HOST:PORT --cache DIR\n"
        "                     [--server-key FILE|Z85]\n"
        "                     [--dataset KIND [--data PATH] [--train-limit N]]\n"
        "                     [--threads N] [--id NAME] [--set grid.KEY=VALUE ...]\n"
        "                     [--slowdown F] [--swarm N [--pool T]]\n"
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
        "--slowdown F (1..1000) simulates a slow PC: after each mini-batch the\n"
        "trainer stays idle for F - 1 times the batch's time (still answering\n"
        "heartbeats and messages), so a unit takes F times as long; its results\n"
        "are the same bits (docs/chaos.md).\n"

        "--swarm N runs N trainer identities in this one process (NAME-0 ...\n"
        "NAME-<N-1>, NAME from --id or the cache folder's), each its own\n"
        "connection speaking the trainer's protocol, their units trained by a pool\n"
        "of T threads (default --threads, else 2): a grid of many nodes on one\n"
        "machine, for scale tests (docs/benchmarks.md). It needs --dataset; about\n"
        "two file descriptors per identity (ulimit -n).\n"
        "\n"
        "--server-key is the coordinator's public key (its DIR/coordinator.key, or\n"
        "the 40 characters fedctl start prints): the connection is then encrypted\n"
        "and authenticated with CURVE, the coordinator's default (grid.curve). The\n"
        "worker's own key pair is made once in DIR/worker.key[_secret] (mode 0600)\n"
        "and kept, so its identity is stable; when the coordinator has an allow\n"
        "list (grid.allow_keys), copy DIR/worker.key into that folder. Without\n"
        "--server-key the connection is plain (for grid.curve = false).\n");
}

//  The command line of fedctl worker.
typedef struct {
    const char *connect, *cache, *kind, *data, *id, *server_key;
    long limit, threads, swarm, pool;
    double slowdown;
    fedctl_sets_t sets;
} s_worker_opts_t;

//  Parses the command line: 0, -1 after --help, or EX_USAGE (printed).
static int
s_worker_parse (int argc, char **argv, s_worker_opts_t *opts)
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
        { "slowdown",    required_argument, NULL, 'S' },
        { "swarm",       required_argument, NULL, 'W' },
        { "pool",        required_argument, NULL, 'P' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    memset (opts, 0, sizeof *opts);
    opts->data = "";
    int c;
    char *end;
    while ((c = getopt_long (argc, argv, "c:C:k:d:n:j:i:K:s:S:W:P:h", options, NULL)) != -1) {
        switch (c) {
            case 'K': opts->server_key = optarg; break;
            case 'c': opts->connect = optarg; break;
            case 'C': opts->cache = optarg; break;
            case 'k': opts->kind = optarg; break;
            case 'd': opts->data = optarg; break;
            case 'i': opts->id = optarg; break;
            case 's': if (fedctl_sets_add (&opts->sets, optarg)) return EX_USAGE; break;
            case 'n':
                opts->limit = strtol (optarg, &end, 10);
                if (*end || opts->limit < 0) {
                    fedctl_fail ("--train-limit %s: expected a count", optarg);
                    return EX_USAGE;
                }
                break;
            case 'j':
                opts->threads = strtol (optarg, &end, 10);
                if (*end || opts->threads < 0 || opts->threads > 1024) {
                    fedctl_fail ("--threads %s: expected 0..1024", optarg);
                    return EX_USAGE;
                }
                break;
            case 'S':
                opts->slowdown = strtod (optarg, &end);
                if (*end || !(opts->slowdown >= 1 && opts->slowdown <= 1000)) {
                    fedctl_fail ("--slowdown %s: expected a factor 1..1000", optarg);
                    return EX_USAGE;
                }
                break;
            case 'W':
                opts->swarm = strtol (optarg, &end, 10);
                if (*end || opts->swarm < 1 || opts->swarm > FG_SWARM_MAX) {
                    fedctl_fail ("--swarm %s: expected 1..%d identities", optarg, FG_SWARM_MAX);
                    return EX_USAGE;
                }
                break;
            case 'P':
                opts->pool = strtol (optarg, &end, 10);
                if (*end || opts->pool < 1 || opts->pool > 256) {
                    fedctl_fail ("--pool %s: expected 1..256 threads", optarg);
                    return EX_USAGE;
                }
                break;
            case 'h': s_worker_usage (stdout); return -1;
            default:  s_worker_usage (stderr); return EX_USAGE;
        }
    }
    if (!opts->connect || !opts->cache || optind != argc) {
        fedctl_fail ("worker needs --connect and --cache");
        s_worker_usage (stderr);
        return EX_USAGE;
    }
    fg_error_t err;
    if (fg_endpoint_check (opts->connect, false, &err)) {
        fedctl_fail ("--connect: %s", err.msg);
        return EX_USAGE;
    }
    if (opts->swarm && opts->slowdown > 1) {
        fedctl_fail ("--slowdown goes with one trainer, not with --swarm (its pool trains "
                     "the identities' units)");
        return EX_USAGE;
    }
    if ((opts->swarm || opts->pool) && (!opts->swarm || !opts->kind)) {
        fedctl_fail ("--swarm needs --dataset (its identities read a local copy); --pool "
                     "goes with --swarm");
        return EX_USAGE;
    }
    if (!opts->kind && (*opts->data || opts->limit)) {
        fedctl_fail ("--data and --train-limit describe a local copy: give --dataset KIND too "
                     "(without any of them the worker fetches samples)");
        return EX_USAGE;
    }
    return 0;
}

//  The worker's configuration: defaults, the --set values, then the local
//  copy's dataset, path and size. Returns 0 or EX_USAGE (printed).
static int
s_worker_config (const s_worker_opts_t *opts, fg_config_t *cfg)
{
    fg_error_t err;
    fg_config_defaults (cfg);
    char set [300];
    int rc = 0;
    for (int i = 0; rc == 0 && i < opts->sets.count; i++)
        rc = fg_config_set (cfg, opts->sets.items [i], "--set", &err);
    if (rc == 0 && opts->kind) {
        snprintf (set, sizeof set, "data.dataset=%s", opts->kind);
        rc = fg_config_set (cfg, set, "--dataset", &err);
    }
    if (rc == 0 && opts->kind) {
        snprintf (set, sizeof set, "data.path=%s", opts->data);
        rc = fg_config_set (cfg, set, "--data", &err);
    }
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return EX_USAGE;
    }
    cfg->data.train_limit = opts->limit;
    if (opts->limit)
        cfg->data.synthetic_train = opts->limit;
    cfg->grid.threads = opts->threads;
    return 0;
}

//  A persistent identity: --id, or the cache folder's, made once. Makes
//  the cache folder. Returns 0 or EX_CANTCREAT (printed).
static int
s_worker_node_id (const s_worker_opts_t *opts, char node_id [FG_WIRE_NAME_MAX + 1])
{
    fg_error_t err;
    char path [4200];
    snprintf (path, sizeof path, "%s/node-id", opts->cache);
    if (fg_file_mkdirs (opts->cache, &err)) {
        fedctl_fail ("%s", err.msg);
        return EX_CANTCREAT;
    }
    if (opts->id) {
        snprintf (node_id, FG_WIRE_NAME_MAX + 1, "%s", opts->id);
        return 0;
    }
    char *stored;
    size_t size;
    if (fg_file_read (path, 128, &stored, &size, NULL) == 0 && size > 0 && size <= FG_WIRE_NAME_MAX) {
        snprintf (node_id, FG_WIRE_NAME_MAX + 1, "%.*s", (int) strcspn (stored, "\n"), stored);
        free (stored);
    }
    else {
        char host [40] = "host";
        gethostname (host, sizeof host - 1);
        snprintf (node_id, FG_WIRE_NAME_MAX + 1, "%s-%ld-%lld", host, (long) getpid (),
                  (long long) zclock_time ());
        fg_file_write_atomic (path, node_id, strlen (node_id), 0644, 0, NULL);
    }
    return 0;
}

//  CURVE (with --server-key): the coordinator's public key, and this
//  worker's pair, made once in the cache folder and kept (a stable
//  identity). Returns 0 or the exit code (printed).
static int
s_worker_keys (const s_worker_opts_t *opts, char server [FG_SECURITY_KEY_TEXT],
               fg_keypair_t *keys)
{
    server [0] = '\0';
    memset (keys, 0, sizeof *keys);
    if (!opts->server_key)
        return 0;
    fg_error_t err;
    bool created = false;
    if (fg_security_read_public (opts->server_key, server, &err)
    ||  fg_security_ensure_pair (opts->cache, FG_SECURITY_WORKER_NAME, keys, &created, &err)) {
        fedctl_fail ("%s", err.msg);
        return fedctl_exit_code (err.code);
    }
    fprintf (stderr, "fedctl: worker key %s/%s%s (public key %s): a coordinator with "
             "grid.allow_keys needs a copy of that file\n", opts->cache, FG_SECURITY_WORKER_NAME,
             created? ", made now": "", keys->public_txt);
    return 0;
}

//  Hosts the swarm (--swarm) until Ctrl-C. Returns EX_OK or EX_SOFTWARE
//  (printed).
static int
s_worker_swarm (const s_worker_opts_t *opts, const fg_trainer_args_t *targs,
                fg_keypair_t *keys)
{
    fg_swarm_args_t sargs = {
        .trainer = *targs, .identities = (int) opts->swarm,
        .pool = (int) (opts->pool? opts->pool: opts->threads? opts->threads: 2)
    };
    fg_error_t err;
    zsys_set_max_sockets (0);           //  as many as the descriptor limit allows
    zsys_init ();
    fg_swarm_t *swarm = fg_swarm_new (&sargs, &err);
    memset (keys, 0, sizeof *keys);     //  each identity keeps its copy
    if (!swarm) {
        fedctl_fail ("%s", err.msg);
        return EX_SOFTWARE;
    }
    fprintf (stderr, "fedctl: swarm of %ld identities %s-0.. serving %s%s, %d pool threads\n",
             opts->swarm, targs->node_id, opts->connect, targs->server_key? " (CURVE)": "",
             sargs.pool);
    while (!zsys_interrupted)
        zclock_sleep (200);
    fprintf (stderr, "fedctl: swarm %s stopping\n", targs->node_id);
    fg_swarm_destroy (&swarm);
    return EX_OK;
}

//  Hosts the trainer until Ctrl-C. Returns EX_OK or EX_SOFTWARE (printed).
static int
s_worker_serve (const s_worker_opts_t *opts, const fg_config_t *cfg, fg_dataset_t *train,
                const char *node_id, const char *server, fg_keypair_t *keys)
{
    bool curve = opts->server_key != NULL;
    fg_trainer_args_t targs = {
        .endpoint = opts->connect, .node_id = node_id, .train = train,
        .cache_dir = opts->cache,
        .threads = fedctl_threads (cfg, 1), .heartbeat_ms = (int) cfg->grid.heartbeat_ms,
        .liveness = (int) cfg->grid.liveness, .max_frame = (size_t) cfg->grid.max_frame,
        .chunk_size = (size_t) cfg->grid.chunk_size,
        .server_key = curve? server: NULL,
        .public_key = curve? keys->public_txt: NULL,
        .secret_key = curve? keys->secret_txt: NULL,
        .slowdown = opts->slowdown
    };
    fg_error_t err;
    if (opts->swarm)
        return s_worker_swarm (opts, &targs, keys);
    zsys_init ();
    fg_trainer_t *trainer = fg_trainer_new (&targs, &err);
    memset (keys, 0, sizeof *keys);             //  the trainer keeps its copy
    if (!trainer) {
        fedctl_fail ("%s", err.msg);
        return EX_SOFTWARE;
    }
    fprintf (stderr, "fedctl: worker %s serving %s%s%s\n", node_id, opts->connect,
             curve? " (CURVE)": "",
             train? "": " (fetching samples into its cache)");
    while (!zsys_interrupted)
        zclock_sleep (200);
    fprintf (stderr, "fedctl: worker %s stopping\n", node_id);
    fg_trainer_destroy (&trainer);
    return EX_OK;
}

int
fedctl_cmd_worker (int argc, char **argv)
{
    s_worker_opts_t opts;
    int status = s_worker_parse (argc, argv, &opts);
    if (status)
        return status < 0? EX_OK: status;
    fg_error_t err;
    if (fg_fault_load (&err)) {
        fedctl_fail ("%s", err.msg);
        return EX_USAGE;
    }
    fg_config_t cfg;
    if ((status = s_worker_config (&opts, &cfg)))
        return status;
    fg_dataset_t *train = NULL;
    if (opts.kind && (status = fedctl_open_split (&cfg, FG_SPLIT_TRAIN, &train)))
        return status;
    char node_id [FG_WIRE_NAME_MAX + 1];
    char server [FG_SECURITY_KEY_TEXT];
    fg_keypair_t keys;
    status = s_worker_node_id (&opts, node_id);
    if (status == 0)
        status = s_worker_keys (&opts, server, &keys);
    if (status == 0)
        status = s_worker_serve (&opts, &cfg, train, node_id, server, &keys);
    memset (&keys, 0, sizeof keys);
    fg_dataset_destroy (&train);
    return status;
}
