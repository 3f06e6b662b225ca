/*  bench_trust.c — what a hostile node costs the coordinator: the figures
    of issue 11, before and after.

    bench/bench_trust [PRESET [ATTACK...]]   (default fmnist-cnn-iid, all)

    Starts an in-process coordinator on tcp://127.0.0.1 in a fresh folder
    under $TMPDIR for each attack and plays a node written from
    docs/protocol.md, built on the codec (fg_wire_send / fg_wire_recv):

      results   RESULTs of zero updates with sample_count 10^12 for every
                shard, attempt 8, from a node that was issued nothing;
                then one for the node's own unit with a false count
      oversize  RESULT of the node's own unit announcing 8 GiB; every
                chunk asked for is sent (at most 400 MiB)
      data      300 DATA-REQUESTs of one chunk each about the node's unit,
                never read
      hello     2,000 HELLOs with different node ids on one connection
      malformed 18 kinds of malformed or out-of-place message

    and prints, per attack, what the coordinator did (answers, ACKs of
    forged results, bytes it asked for) and cost (resident memory of the
    process, journal size, node records, events, strikes, log lines). It
    uses public APIs and tests/fg_test_node, so with that file copied in
    the same source builds against an older tree to measure it too. Not a
    test: it asserts nothing.                                             */

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fg_actors.h"
#include "fg_blob.h"
#include "fg_config.h"
#include "fg_log.h"
#include "fg_ops.h"
#include "fg_sha256.h"
#include "fg_test_node.h"
#include "fg_wire_socket.h"

static size_t s_log_lines;

static void
s_log_count (fg_log_level_t level, const char *line, void *arg)
{
    (void) level;
    (void) line;
    (void) arg;
    __atomic_add_fetch (&s_log_lines, 1, __ATOMIC_RELAXED);
}

//  Resident memory of this process, MB.
static double
s_rss_mb (void)
{
    FILE *file = fopen ("/proc/self/status", "r");
    char line [256];
    double kib = 0;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = strtod (line + 6, NULL);
    if (file)
        fclose (file);
    return kib / 1024.0;
}

//  ---- the grid ---------------------------------------------------------------

typedef struct {
    fg_config_t cfg;
    fg_dataset_t *train, *test;
    uint8_t hash [32];
    char dir [512];
    char endpoint [64];
    fg_coordinator_t *coordinator;
    uint64_t experiment;
} s_grid_t;

static int
s_grid_start (s_grid_t *g, const char *preset, const char *attack)
{
    memset (g, 0, sizeof *g);
    fg_error_t err;
    fg_config_defaults (&g->cfg);
    if (fg_config_preset (&g->cfg, preset, &err)) {
        fprintf (stderr, "bench_trust: %s\n", err.msg);
        return -1;
    }
    g->cfg.grid.curve = false;
    g->cfg.grid.liveness = 1000;        //  nobody dropped as silent meanwhile
    const char *tmp = getenv ("TMPDIR");
    snprintf (g->dir, sizeof g->dir, "%s/bench-trust-%d-%s", tmp && *tmp? tmp: "/tmp",
              (int) getpid (), attack);
    if (mkdir (g->dir, 0755)) {
        fprintf (stderr, "bench_trust: cannot make %s\n", g->dir);
        return -1;
    }
    size_t ntrain = g->cfg.data.dataset == FG_DATASET_SYNTHETIC
                  ? (size_t) g->cfg.data.synthetic_train: 0;
    size_t ntest = g->cfg.data.dataset == FG_DATASET_SYNTHETIC
                 ? (size_t) g->cfg.data.synthetic_test: 0;
    if (fg_dataset_open (g->cfg.data.dataset, g->cfg.data.path, FG_SPLIT_TRAIN, ntrain,
                         &g->train, &err)
    ||  fg_dataset_open (g->cfg.data.dataset, g->cfg.data.path, FG_SPLIT_TEST, ntest,
                         &g->test, &err)) {
        fprintf (stderr, "bench_trust: %s\n", err.msg);
        return -1;
    }
    fg_dataset_hash (g->train, g->hash);
    fg_coordinator_args_t args = {
        .dir = g->dir, .cfg = &g->cfg, .train = g->train, .test = g->test,
        .listen = "tcp://127.0.0.1:*", .eval_threads = 1
    };
    g->coordinator = fg_coordinator_new (&args, &err);
    if (!g->coordinator) {
        fprintf (stderr, "bench_trust: coordinator: %s\n", err.msg);
        return -1;
    }
    snprintf (g->endpoint, sizeof g->endpoint, "tcp://127.0.0.1:%d",
              fg_coordinator_port (g->coordinator));
    return 0;
}

typedef struct {
    fg_test_journal_counts_t counts;
    double journal_kb;
} s_journal_t;

//  Stops the coordinator; what its journal holds.
static s_journal_t
s_grid_stop (s_grid_t *g)
{
    fg_coordinator_destroy (&g->coordinator);
    fg_dataset_destroy (&g->train);
    fg_dataset_destroy (&g->test);
    s_journal_t j;
    memset (&j, 0, sizeof j);
    fg_test_journal_counts (g->dir, &j.counts);
    char path [600];
    struct stat st;
    snprintf (path, sizeof path, "%s/journal.lmdb", g->dir);
    if (stat (path, &st) == 0)
        j.journal_kb = st.st_size / 1024.0;
    char command [700];
    snprintf (command, sizeof command, "rm -rf '%s'", g->dir);
    if (system (command) != 0)
        fprintf (stderr, "bench_trust: could not remove %s\n", g->dir);
    return j;
}

//  ---- a node ---------------------------------------------------------------------

static zsock_t *
s_connect (const s_grid_t *g, int rcvhwm)
{
    return fg_test_node_connect (g->endpoint, rcvhwm);
}

static void
s_send (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment)
{
    if (fg_test_node_send (dealer, msg, experiment))
        fprintf (stderr, "bench_trust: cannot send %s\n", fg_wire_type_name (msg->type));
}

#define s_recv  fg_test_node_recv
#define s_hello fg_test_node_hello

//  A node admitted as id; NULL when not.
static zsock_t *
s_node (s_grid_t *g, const char *id, int rcvhwm, bool dataset)
{
    zsock_t *dealer = s_connect (g, rcvhwm);
    s_hello (dealer, id, dataset? g->hash: NULL);
    fg_wire_msg_t msg;
    s_recv (dealer, &msg, 10000);
    bool ok = msg.type == FG_WIRE_ACK;
    if (ok)
        g->experiment = msg.experiment;
    fg_wire_msg_clear (&msg);
    if (!ok)
        zsock_destroy (&dealer);
    return dealer;
}

//  READY, and the TASK it gets (false when none).
static bool
s_task (s_grid_t *g, zsock_t *dealer, fg_wire_msg_t *task)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_READY;
    msg.ready.slots = 1;
    s_send (dealer, &msg, g->experiment);
    s_recv (dealer, task, 10000);
    return task->type == FG_WIRE_TASK;
}

//  The round's base weights, pulled as a trainer does; NULL on failure.
static fg_state_t *
s_base (s_grid_t *g, zsock_t *dealer)
{
    uint8_t *blob = NULL;
    uint64_t have = 0, total = 1;
    while (have < total) {
        fg_wire_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.type = FG_WIRE_WEIGHTS_REQUEST;
        msg.weights_request.blob = FG_WIRE_BLOB_GLOBAL;
        msg.weights_request.offset = have;
        msg.weights_request.credit = 1;
        msg.weights_request.chunk_size = (uint32_t) g->cfg.grid.chunk_size;
        s_send (dealer, &msg, g->experiment);
        s_recv (dealer, &msg, 10000);
        if (msg.type != FG_WIRE_WEIGHTS_CHUNK) {
            fg_wire_msg_clear (&msg);
            free (blob);
            return NULL;
        }
        total = msg.weights_chunk.total;
        if (!blob)
            blob = malloc (total? total: 1);
        memcpy (blob + msg.weights_chunk.offset, msg.weights_chunk.data, msg.weights_chunk.size);
        have = msg.weights_chunk.offset + msg.weights_chunk.size;
        fg_wire_msg_clear (&msg);
    }
    fg_state_t *base = NULL;
    fg_blob_decode (blob, total, NULL, &base, NULL);
    free (blob);
    return base;
}

//  RESULT of (1, shard, attempt) carrying the whole of blob.
static void
s_result (s_grid_t *g, zsock_t *dealer, uint32_t shard, uint32_t attempt, uint64_t samples,
          const uint8_t *blob, size_t size, uint64_t announced)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_RESULT;
    msg.round = 1;
    msg.shard = shard;
    msg.attempt = attempt;
    msg.result.sample_count = samples;
    msg.result.elapsed_ms = 1000;
    msg.result.update_size = announced;
    if (blob)
        fg_sha256 (blob, size, msg.result.update_hash);
    msg.result.prefix = blob;
    msg.result.prefix_size = size;
    s_send (dealer, &msg, g->experiment);
}

//  ---- the attacks -----------------------------------------------------------------

static void
s_report (const char *attack, const char *did, double rss0, double rss1, s_journal_t j)
{
    printf ("%-9s  %s; RSS %.0f -> %.0f MB; journal %.0f KB, %zu node records, %zu events "
            "(%zu strikes); %zu log lines\n", attack, did, rss0, rss1, j.journal_kb,
            j.counts.nodes, j.counts.events, j.counts.strikes, __atomic_load_n (&s_log_lines, __ATOMIC_RELAXED));
    fflush (stdout);
}

//  Forged results: zero updates (the base XOR itself) with 10^12 samples
//  for every shard from a node issued nothing, then the count lie on the
//  victim's own unit. Prints the ACKs the forgeries got (= folded).
static void
s_attack_results (s_grid_t *g)
{
    double rss0 = s_rss_mb ();
    zsock_t *victim = s_node (g, "victim", 0, true);
    zsock_t *liar = s_node (g, "liar", 0, true);
    fg_wire_msg_t task;
    if (!victim || !liar || !s_task (g, victim, &task)) {
        printf ("results    could not set up\n");
        return;
    }
    fg_state_t *base = s_base (g, liar);
    uint8_t *blob = NULL;
    size_t size = 0;
    if (!base || fg_blob_encode (base, base, &blob, &size, NULL)) {
        printf ("results    no base weights\n");
        return;
    }
    size_t acks = 0, rejects = 0, pulls = 0, forged = 0;
    for (uint32_t shard = 0; shard < (uint32_t) g->cfg.grid.nodes; shard++) {
        s_result (g, liar, shard, 8, 1000000000000ull, blob, size, size);
        forged++;
        fg_wire_msg_t msg;
        s_recv (liar, &msg, 5000);
        acks += msg.type == FG_WIRE_ACK;
        rejects += msg.type == FG_WIRE_REJECT;
        pulls += msg.type == FG_WIRE_WEIGHTS_REQUEST;
        fg_wire_msg_clear (&msg);
    }
    //  the victim's own unit, with a false sample count
    s_result (g, victim, task.shard, task.attempt, 1000000000000ull, blob, size, size);
    fg_wire_msg_t msg;
    s_recv (victim, &msg, 5000);
    const char *own = msg.type == FG_WIRE_ACK? "ACKed": msg.type == FG_WIRE_REJECT? "refused"
                    : "unanswered";
    fg_wire_msg_clear (&msg);
    fg_wire_msg_clear (&task);
    char did [300];
    snprintf (did, sizeof did, "%zu forged RESULTs (other nodes' shards, attempt 8, 10^12 "
              "samples): %zu ACKed (folded), %zu refused, %zu pulled; own unit with 10^12 "
              "samples %s", forged, acks, rejects, pulls, own);
    free (blob);
    fg_state_destroy (&base);
    zsock_destroy (&liar);
    zsock_destroy (&victim);
    double rss1 = s_rss_mb ();
    s_report ("results", did, rss0, rss1, s_grid_stop (g));
}

//  8 GiB announced for the node's own unit; every chunk asked is sent, up
//  to 400 MiB.
static void
s_attack_oversize (s_grid_t *g)
{
    double rss0 = s_rss_mb ();
    zsock_t *node = s_node (g, "big", 0, true);
    fg_wire_msg_t task;
    if (!node || !s_task (g, node, &task)) {
        printf ("oversize   could not set up\n");
        return;
    }
    uint64_t samples = task.task.sample_count;
    uint64_t announced = (uint64_t) 8 << 30, sent = 0, limit = (uint64_t) 400 << 20;
    s_result (g, node, task.shard, task.attempt, samples, NULL, 0, announced);
    size_t chunk = (size_t) g->cfg.grid.chunk_size;
    uint8_t *data = calloc (1, chunk);
    const char *answer = "unanswered";
    while (sent < limit) {
        fg_wire_msg_t msg;
        s_recv (node, &msg, 5000);
        if (msg.type != FG_WIRE_WEIGHTS_REQUEST) {
            answer = msg.type == FG_WIRE_REJECT? "refused": answer;
            fg_wire_msg_clear (&msg);
            break;
        }
        answer = "pulled";
        for (uint32_t i = 0; i < msg.weights_request.credit && sent < limit; i++) {
            fg_wire_msg_t c;
            fg_wire_msg_reply (&c, FG_WIRE_WEIGHTS_CHUNK, &msg);
            c.weights_chunk.blob = FG_WIRE_BLOB_UPDATE;
            c.weights_chunk.offset = sent;
            c.weights_chunk.total = announced;
            c.weights_chunk.size = chunk;
            c.weights_chunk.data = data;
            s_send (node, &c, g->experiment);
            sent += chunk;
        }
        fg_wire_msg_clear (&msg);
    }
    zclock_sleep (500);
    double rss1 = s_rss_mb ();
    char did [200];
    snprintf (did, sizeof did, "8 GiB update announced: %s, %.0f MiB streamed", answer,
              sent / 1048576.0);
    free (data);
    fg_wire_msg_clear (&task);
    zsock_destroy (&node);
    s_report ("oversize", did, rss0, rss1, s_grid_stop (g));
}

//  300 DATA-REQUESTs of one chunk each that the node never reads; how long
//  another node then waits for its HELLO's ACK.
static void
s_attack_data (s_grid_t *g)
{
    zsock_t *flooder = s_node (g, "flooder", 1, false);
    fg_wire_msg_t task;
    memset (&task, 0, sizeof task);
    if (!flooder || !s_task (g, flooder, &task)) {     //  (the requests name its unit)
        printf ("data       could not set up\n");
        return;
    }
    zclock_sleep (500);
    double rss0 = s_rss_mb ();
    size_t record = fg_dataset_record_size (g->train);
    fg_wire_range_t range = { 0, (uint32_t) ((size_t) g->cfg.grid.chunk_size / record) };
    if (range.count > fg_dataset_count (g->train))
        range.count = (uint32_t) fg_dataset_count (g->train);
    for (int i = 0; i < 300; i++) {
        fg_wire_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.type = FG_WIRE_DATA_REQUEST;
        msg.round = 1;
        msg.shard = task.shard;
        msg.attempt = task.attempt;
        memcpy (msg.data_request.dataset_hash, g->hash, 32);
        msg.data_request.sample_count = range.count;
        msg.data_request.range_count = 1;
        msg.data_request.ranges = &range;
        s_send (flooder, &msg, g->experiment);
    }
    int64_t asked = zclock_mono ();
    zsock_t *other = s_node (g, "other", 0, true);
    int64_t waited = zclock_mono () - asked;
    zclock_sleep (3000);
    double rss1 = s_rss_mb ();
    char did [200];
    snprintf (did, sizeof did, "300 unread DATA-REQUESTs of %u samples: another node's HELLO "
              "answered after %lld ms%s", range.count, (long long) waited,
              other? "": " (not at all)");
    fg_wire_msg_clear (&task);
    zsock_destroy (&other);
    zsock_destroy (&flooder);
    s_report ("data", did, rss0, rss1, s_grid_stop (g));
}

//  2,000 HELLOs with different node ids on one connection.
static void
s_attack_hello (s_grid_t *g)
{
    double rss0 = s_rss_mb ();
    zsock_t *dealer = s_connect (g, 0);
    for (int i = 0; i < 2000; i++) {
        char id [32];
        snprintf (id, sizeof id, "flood-%d", i);
        s_hello (dealer, id, g->hash);
    }
    size_t acks = 0, rejects = 0;
    for (int i = 0; i < 2000; i++) {
        fg_wire_msg_t msg;
        s_recv (dealer, &msg, 5000);
        if (!msg.type)
            break;
        acks += msg.type == FG_WIRE_ACK;
        rejects += msg.type == FG_WIRE_REJECT;
        fg_wire_msg_clear (&msg);
    }
    zsock_destroy (&dealer);
    double rss1 = s_rss_mb ();
    char did [200];
    snprintf (did, sizeof did, "2000 HELLOs, other ids, one connection: %zu ACKs, %zu REJECTs",
              acks, rejects);
    s_report ("hello", did, rss0, rss1, s_grid_stop (g));
}

//  A message encoded, then its header byte at offset set to value (offset
//  -1: as it is), or the frames cut to the first `keep` bytes of frame 0.
static void
s_send_bent (zsock_t *dealer, fg_wire_msg_t *msg, uint64_t experiment, int offset,
             uint8_t value, size_t keep)
{
    msg->experiment = experiment;
    fg_wire_frames_t frames;
    if (fg_wire_encode (msg, NULL, &frames, NULL))
        return;
    zmsg_t *zmsg = zmsg_new ();
    for (size_t i = 0; i < frames.count; i++)
        zmsg_addmem (zmsg, frames.frame [i].data,
                     i == 0 && keep? keep: frames.frame [i].size);
    if (offset >= 0)
        zframe_data (zmsg_first (zmsg)) [offset] = value;
    fg_wire_frames_clear (&frames);
    zmsg_send (&zmsg, dealer);
}

//  18 kinds of malformed or out-of-place message: how many got an answer.
static void
s_attack_malformed (s_grid_t *g)
{
    double rss0 = s_rss_mb ();
    zsock_t *stranger = s_connect (g, 0);
    zsock_t *node = s_node (g, "mangler", 0, true);
    if (!node) {
        printf ("malformed  could not set up\n");
        return;
    }
    uint8_t data [16] = { 0 };
    fg_wire_range_t range = { 0, 1 };
    size_t kinds = 0, answered = 0;
    char marks [32] = "";             //  per kind: R a REJECT, A another answer, . silence
    for (int kind = 0; kind < 18; kind++) {
        fg_wire_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.type = FG_WIRE_HEARTBEAT;
        zsock_t *to = node;
        uint64_t experiment = g->experiment;
        switch (kind) {
            case 0: s_send_bent (node, &msg, experiment, 0, 'X', 0); break;     //  magic
            case 1: s_send_bent (node, &msg, experiment, 4, 9, 0); break;       //  version
            case 2: s_send_bent (node, &msg, experiment, 6, 99, 0); break;      //  type
            case 3: s_send_bent (node, &msg, experiment, -1, 0, 20); break;     //  short header
            case 4: s_send_bent (node, &msg, experiment, 36, 0x55, 0); break;   //  checksum
            case 5: zstr_send (node, "garbage"); break;
            case 6: to = stranger; msg.type = FG_WIRE_READY; msg.ready.slots = 1;
                    s_send (stranger, &msg, 0); break;
            case 7: msg.type = FG_WIRE_READY; msg.ready.slots = 1;
                    s_send (node, &msg, experiment + 1); break;
            case 8: msg.type = FG_WIRE_ACK; msg.ack.of_type = FG_WIRE_TASK;
                    s_send (node, &msg, experiment); break;
            case 9: msg.type = FG_WIRE_TASK; msg.round = 1; msg.task.local_epochs = 1;
                    msg.task.batch_size = 1; msg.task.sample_count = 1;
                    msg.task.range_count = 1; msg.task.ranges = &range;
                    s_send (node, &msg, experiment); break;
            case 10: msg.type = FG_WIRE_DATA_CHUNK; msg.data_chunk.start = 0;
                     msg.data_chunk.count = 1; msg.data_chunk.record_size = 16;
                     msg.data_chunk.raw_size = 16;
                     fg_wire_data_pack (data, 16, (uint8_t **) &msg.data_chunk.lz4,
                                        &msg.data_chunk.lz4_size, NULL);
                     s_send (node, &msg, experiment);
                     free ((void *) msg.data_chunk.lz4); break;
            case 11: msg.type = FG_WIRE_WEIGHTS_CHUNK; msg.weights_chunk.blob = FG_WIRE_BLOB_GLOBAL;
                     msg.weights_chunk.total = 16; msg.weights_chunk.size = 16;
                     msg.weights_chunk.data = data; s_send (node, &msg, experiment); break;
            case 12: msg.type = FG_WIRE_WEIGHTS_CHUNK; msg.round = 1; msg.attempt = 1;
                     msg.weights_chunk.blob = FG_WIRE_BLOB_UPDATE;
                     msg.weights_chunk.total = 16; msg.weights_chunk.size = 16;
                     msg.weights_chunk.data = data; s_send (node, &msg, experiment); break;
            case 13: msg.type = FG_WIRE_WEIGHTS_REQUEST; msg.weights_request.version = 7;
                     msg.weights_request.credit = 1; msg.weights_request.chunk_size = 16;
                     s_send (node, &msg, experiment); break;
            case 14: msg.type = FG_WIRE_DATA_REQUEST; msg.data_request.sample_count = 1;
                     msg.data_request.range_count = 1; msg.data_request.ranges = &range;
                     s_send (node, &msg, experiment); break;    //  another dataset (zeros)
            case 15: msg.type = FG_WIRE_ERROR; msg.round = 1; msg.error.code = FG_EIO;
                     s_send (node, &msg, experiment); break;
            case 16: msg.type = FG_WIRE_REJECT; msg.reject.of_type = FG_WIRE_HEARTBEAT;
                     s_send (node, &msg, experiment); break;
            case 17: msg.type = FG_WIRE_RESULT; msg.round = 0; msg.attempt = 1;
                     msg.result.sample_count = 1; msg.result.update_size = 100;
                     s_send (node, &msg, experiment); break;    //  last: it makes the node ready
        }
        kinds++;
        fg_wire_msg_t answer;
        s_recv (to, &answer, 700);
        answered += answer.type != 0;
        marks [kind] = answer.type == FG_WIRE_REJECT? 'R': answer.type? 'A': '.';
        fg_wire_msg_clear (&answer);
    }
    zsock_destroy (&node);
    zsock_destroy (&stranger);
    double rss1 = s_rss_mb ();
    char did [200];
    snprintf (did, sizeof did, "%zu kinds of malformed or out-of-place message: %zu answered, "
              "%zu silent (%s)", kinds, answered, kinds - answered, marks);
    s_report ("malformed", did, rss0, rss1, s_grid_stop (g));
}

int
main (int argc, char *argv [])
{
    const char *preset = argc > 1? argv [1]: "fmnist-cnn-iid";
    zsys_init ();
    zsys_set_logstream (NULL);
    fg_log_set_level (FG_LOG_INFO);
    fg_log_set_sink (s_log_count, NULL);
    struct {
        const char *name;
        void (*run) (s_grid_t *);
    } attacks [] = {
        { "results", s_attack_results }, { "oversize", s_attack_oversize },
        { "data", s_attack_data }, { "hello", s_attack_hello },
        { "malformed", s_attack_malformed }
    };
    int status = 0;
    for (size_t i = 0; i < sizeof attacks / sizeof attacks [0]; i++) {
        bool wanted = argc <= 2;
        for (int a = 2; a < argc; a++)
            wanted |= strcmp (argv [a], attacks [i].name) == 0;
        if (!wanted)
            continue;
        s_grid_t g;
        __atomic_store_n (&s_log_lines, 0, __ATOMIC_RELAXED);
        if (s_grid_start (&g, preset, attacks [i].name)) {
            status = 1;
            continue;
        }
        attacks [i].run (&g);
    }
    fg_log_set_sink (NULL, NULL);
    return status;
}
