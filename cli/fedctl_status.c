/*  fedctl status — where an experiment stands: its committed rounds and
    last accuracy from the journal (read-only), and, while a coordinator
    runs, the live figures of DIR/status.json.                            */

#include "fedctl.h"
#include "fg_journal.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  What status prints.
typedef struct {
    const char *state;              //  "finished", "running", ...
    uint32_t last;                  //  last committed round, 0: none
    fg_journal_metrics_t metrics;   //  of round last
    char hash [65];                 //  SHA-256 of its weights, "" when none
    bool running;                   //  a coordinator runs (live figures below)
    long nodes, in_flight;
    double eta;                     //  seconds, < 0 unknown
    bool waste_known;               //  status.json holds the waste figures
    char backup [16];               //  grid.backup the coordinator runs with
    double waste_round, waste_last, waste_total;   //  seconds of discarded compute
    long wasted_copies, backups;    //  of the round in progress
    uint64_t strikes;               //  against all nodes
    json_t *quarantined;            //  array of their ids (owned)
} s_status_t;

//  Strikes and quarantined nodes from the node records.
static int
s_status_node (const fg_journal_node_t *node, void *arg)
{
    s_status_t *st = (s_status_t *) arg;
    st->strikes += node->strikes;
    //  an id that is not UTF-8 (json_string refuses it) is listed as such
    if (node->quarantined
    &&  json_array_append_new (st->quarantined, json_string (node->identity)) != 0)
        json_array_append_new (st->quarantined, json_string ("(an id that is not UTF-8)"));
    return 0;
}

//  Parses the command line: 0 with *dir and *json set, -1 after --help,
//  or EX_USAGE.
static int
s_status_parse (int argc, char **argv, fedctl_sets_t *sets, bool *json, const char **dir)
{
    static const struct option options [] = {
        { "json", no_argument,       NULL, 'J' },
        { "set",  required_argument, NULL, 's' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int c;
    while ((c = getopt_long (argc, argv, "Js:h", options, NULL)) != -1) {
        switch (c) {
            case 'J': *json = true; break;
            case 's': if (fedctl_sets_add (sets, optarg)) return EX_USAGE; break;
            case 'h':
                printf ("usage: fedctl status DIR [--json] [--set section.key=value ...]\n\n"
                        "Round, last accuracy, nodes alive, units in flight, ETA, the SHA-256 "
                        "of the last committed weights, and the trainer compute thrown away on "
                        "discarded copies (grid.backup).\n");
                return -1;
            default:
                return EX_USAGE;
        }
    }
    if (optind != argc - 1) {
        fedctl_fail ("usage: fedctl status DIR [--json]");
        return EX_USAGE;
    }
    *dir = argv [optind];
    return 0;
}

//  The last committed round, its metrics and weights hash, when DIR holds
//  a journal. Returns 0 or EX_DATAERR (printed).
static int
s_status_journal (const char *dir, s_status_t *st)
{
    char mark [1100];
    snprintf (mark, sizeof mark, "%s/%s", dir, FG_JOURNAL_MARK_FILE);
    if (!fg_journal_exists (dir) && access (mark, F_OK) != 0)
        return 0;                       //  not started (a mark alone: the journal is lost)
    fg_error_t err;
    fg_journal_t *journal = NULL;
    int rc = fg_journal_open_readonly (dir, &journal, &err);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return EX_DATAERR;
    }
    rc = fg_journal_nodes_foreach (journal, s_status_node, st, &err);
    if (rc == 0)
        rc = fg_journal_last_round (journal, &st->last, &err);
    if (rc == 0)
        rc = fg_journal_metrics_get (journal, st->last, &st->metrics, &err);
    fg_journal_close (&journal);
    if (rc && rc != FG_ENOENT) {
        fedctl_fail ("%s", err.msg);
        return EX_DATAERR;
    }
    fg_state_t *weights = NULL;
    if (st->last && fedctl_journal_weights (dir, FG_JOURNAL_LATEST, NULL, &weights, &err) == 0)
        fg_state_hash (weights, st->hash);
    fg_state_destroy (&weights);
    return 0;
}

//  The state and the live figures from the coordinator, when one runs.
static void
s_status_live (const char *dir, const fg_config_t *cfg, s_status_t *st)
{
    json_t *live = fedctl_status_read (dir);
    long pid = (long) fedctl_status_number (live, "pid", 0);
    const char *state = fedctl_status_string (live, "state");
    st->running = pid > 0 && kill ((pid_t) pid, 0) == 0 && strcmp (state, "finished") != 0
               && strcmp (state, "stopped") != 0;
    st->state = st->last >= (uint32_t) cfg->experiment.rounds? "finished"
              : st->running? "running"
              : st->last || fg_journal_exists (dir)? "stopped": "not started";
    st->eta = strcmp (st->state, "finished") == 0? 0: -1;   //  as status.json ends
    //  the waste figures stay in status.json after the run
    const char *backup = fedctl_status_string (live, "backup");
    if (*backup) {
        st->waste_known = true;
        snprintf (st->backup, sizeof st->backup, "%s", backup);
        st->waste_round = fedctl_status_number (live, "waste_round_s", 0);
        st->waste_last = fedctl_status_number (live, "waste_last_s", 0);
        st->waste_total = fedctl_status_number (live, "waste_total_s", 0);
        st->wasted_copies = (long) fedctl_status_number (live, "wasted_copies_round", 0);
        st->backups = (long) fedctl_status_number (live, "backups_round", 0);
    }
    if (st->running) {
        st->nodes = (long) fedctl_status_number (live, "nodes_alive", 0);
        st->in_flight = (long) fedctl_status_number (live, "units_in_flight", 0);
        st->eta = fedctl_status_number (live, "eta_s", -1);
        if (strcmp (state, "waiting for trainers") == 0)
            st->state = "waiting for trainers";
    }
    json_decref (live);
}

//  A figure as a JSON number, or null when it is not finite (a test loss
//  that overflowed), which JSON cannot hold.
static json_t *
s_number (double x)
{
    return isfinite (x)? json_real (x): json_null ();
}

//  `fedctl status --json`: one line, jansson's ", " and ": " separators,
//  reals to 10 significant digits. Returns 0 or EX_OSERR (printed).
static int
s_status_print_json (const fg_config_t *cfg, const s_status_t *st)
{
    uint32_t last = st->last;
    json_error_t jerr;
    json_t *out = json_pack_ex (&jerr, 0, "{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:o, s:s, s:I, "
                                          "s:O, s:s, s:o, s:o, s:o}",
        "state", st->state, "round", (json_int_t) last,
        "rounds", (json_int_t) cfg->experiment.rounds,
        "test_accuracy", s_number (last? st->metrics.test_accuracy: 0.0),
        "test_loss", s_number (last? st->metrics.test_loss: 0.0),
        "nodes_alive", (json_int_t) st->nodes, "units_in_flight", (json_int_t) st->in_flight,
        "eta_s", s_number (st->eta), "weights_sha256", st->hash, "strikes", (json_int_t) st->strikes,
        "quarantined", st->quarantined, "backup", st->backup,
        "waste_round_s", s_number (st->waste_round), "waste_last_s", s_number (st->waste_last),
        "waste_total_s", s_number (st->waste_total));
    char *text = out? json_dumps (out, JSON_REAL_PRECISION (10)): NULL;
    json_decref (out);
    if (!text) {
        fedctl_fail ("status --json: %s", out? "out of memory": jerr.text);
        return EX_OSERR;
    }
    printf ("%s\n", text);
    free (text);
    return 0;
}

static void
s_status_print (const char *dir, const fg_config_t *cfg, const s_status_t *st)
{
    uint32_t last = st->last;
    printf ("experiment  %s (%s)\n", dir, st->state);
    printf ("round       %u of %lld committed\n", last, (long long) cfg->experiment.rounds);
    if (last)
        printf ("accuracy    %.2f%% (test loss %.4f)\n", 100 * st->metrics.test_accuracy,
                st->metrics.test_loss);
    if (st->running)
        printf ("nodes       %ld alive, %ld units in flight%s\n", st->nodes, st->in_flight,
                st->nodes? "": " — waiting for a trainer to connect");
    if (st->running && st->eta >= 0)
        printf ("eta         %.0f s\n", st->eta);
    if (last)
        printf ("weights     sha256 %s\n", st->hash);
    if (st->waste_known && st->running)
        printf ("waste       %.1f s this round (%ld copies discarded, %ld backups), %.1f s "
                "the last round, %.1f s in all (grid.backup = %s)\n", st->waste_round,
                st->wasted_copies, st->backups, st->waste_last, st->waste_total, st->backup);
    else
    if (st->waste_known)
        printf ("waste       %.1f s of trainer compute discarded in all, %.1f s the last "
                "round (grid.backup = %s)\n", st->waste_total, st->waste_last, st->backup);
    if (st->strikes) {
        size_t n = json_array_size (st->quarantined);
        printf ("trust       %llu strikes; %zu nodes quarantined%s",
                (unsigned long long) st->strikes, n, n? ": ": "");
        //  each id as a JSON string (quoted, escaped), joined by ", "
        for (size_t i = 0; i < n; i++) {
            char *id = json_dumps (json_array_get (st->quarantined, i), JSON_ENCODE_ANY);
            printf ("%s%s", i? ", ": "", id? id: "?");
            free (id);
        }
        printf ("\n");
    }
}

int
fedctl_cmd_status (int argc, char **argv)
{
    fedctl_sets_t sets = { .count = 0 };
    bool json = false;
    const char *dir;
    int status = s_status_parse (argc, argv, &sets, &json, &dir);
    if (status)
        return status < 0? EX_OK: status;
    fg_config_t cfg;
    if ((status = fedctl_load_config (dir, &sets, &cfg)))
        return status;
    s_status_t st;
    memset (&st, 0, sizeof st);
    if (!(st.quarantined = json_array ())) {
        fedctl_fail ("status: out of memory");
        return EX_OSERR;
    }
    if ((status = s_status_journal (dir, &st)) == 0) {
        s_status_live (dir, &cfg, &st);
        if (json)
            status = s_status_print_json (&cfg, &st);
        else
            s_status_print (dir, &cfg, &st);
    }
    json_decref (st.quarantined);
    return status? status: EX_OK;
}
