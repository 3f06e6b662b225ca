/*  fg_coord_files.c — the experiment's files beside its journal.

    status.json   replaced every S_STATUS_MS and at the end (fedctl status
                  reads it);
    rounds.csv    one row per committed round: derived data, rebuilt from
                  the journal at start, so a crash between a commit and
                  its row never loses or doubles a row (its waste columns
                  from clients.csv's rows, as far as they were written);
    clients.csv   one row per result received and per copy stopped, failed
                  or lost, appended (it holds what the journal does not:
                  rejected and duplicate results, sample bytes served, the
                  compute of discarded copies: fg_coord_waste.c).
    status.json and rounds.csv are replaced whole with fg_file_write_atomic
    (tmp, fsync, rename, fsync of the folder): a reader sees the old file
    or the new one. clients.csv is an append-only log, flushed per row.    */

#include "fg_coordinator_internal.h"
#include "fg_clock.h"
#include "fg_file.h"
#include "fg_log.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_STATUS_MS     1000        //  status.json refresh
//  Columns are only ever appended: a reader by position keeps working.
//  The time split (units_seconds .. commit_seconds, committed_unix_s) is
//  measured by this run only: rows rebuilt at start keep the values of
//  the rounds.csv they replace, or leave them empty (not recorded).
#define S_ROUNDS_HEADER "round,test_accuracy,test_loss,train_loss,updates,samples,seconds," \
                        "wasted_seconds,wasted_copies,units_seconds,aggregate_seconds," \
                        "eval_seconds,commit_seconds,committed_unix_s\n"
#define S_ROUNDS_TIMED  9           //  columns before the time split
#define S_CLIENTS_COLUMNS "round,shard,node,attempt,samples,local_losses,seconds,update_bytes," \
                          "outcome,fetched_bytes,kind,held_seconds,wasted_seconds"
#define S_CLIENTS_HEADER S_CLIENTS_COLUMNS ",ended_unix_s\n"
//  the layout before ended_unix_s: read for the waste, moved aside at open
#define S_CLIENTS_HEADER_V2 S_CLIENTS_COLUMNS "\n"
#define S_CLIENTS_OUTCOME   8       //  0-based columns read back for rounds.csv
#define S_CLIENTS_WASTED    12

//  --------------------------------------------------------------------------
//  status.json

static uint32_t
s_in_flight (const fg_coord_t *self)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < self->nshards; s++)
        n += self->units [s].state <= FG_COORD_UNIT_RUNNING && self->units [s].copies;
    return n;
}

//  A figure as a JSON number, or null when it is not finite (NaN: no
//  accuracy yet), which JSON cannot hold; NULL only when out of memory.
static json_t *
s_number (double x)
{
    return isfinite (x)? json_real (x): json_null ();
}

//  The figures of status.json as a jansson object, or NULL with jerr set
//  (out of memory).
//  Dumped as one line, keys in this order, ", " and ": " between items
//  (jansson's default separators): `sed` on `"port": N` keeps working.
double
fg_coord_eta (bool finished, uint32_t rounds_left, double round_avg_s, double elapsed_s,
              size_t done, size_t shards)
{
    if (finished)
        return 0;
    if (round_avg_s > 0)
        return round_avg_s * rounds_left;
    if (done == 0 || shards == 0 || rounds_left == 0)
        return -1;                      //  nothing measured yet
    //  before the first commit: this round at the pace of its finished units
    double round_s = elapsed_s * (double) shards / (double) done;
    double eta = round_s * rounds_left - elapsed_s;
    return eta > 0? eta: 0;
}

static json_t *
s_status_object (fg_coord_t *self, json_error_t *jerr)
{
    uint32_t left = (uint32_t) self->cfg.experiment.rounds - (self->round? self->round - 1: 0);
    double elapsed_s = self->round_started? (double) (zclock_mono () - self->round_started) / 1000.0: 0;
    double eta = fg_coord_eta (self->finished, left, self->round_seconds_avg, elapsed_s,
                               self->done, self->nshards);
    //  A finished or stopped run has no node and no unit left, and its
    //  round is the last committed one (as fedctl status --json says once
    //  the coordinator is gone); a running one reports the round in progress.
    bool over = self->finished || self->stopped;
    uint32_t round = self->stopped && self->round? self->round - 1: self->round;
    if (self->stopped)
        eta = -1;                       //  nothing is running to finish
    return json_pack_ex (jerr, 0, "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:i, "
                                  "s:s, s:o, s:I, s:I, s:o, s:o, s:I}",
        "state", self->finished? "finished": self->stopped? "stopped"
               : self->nnodes? "running": "waiting for trainers",
        "round", (json_int_t) round,
        "rounds", (json_int_t) self->cfg.experiment.rounds,
        "nodes_alive", (json_int_t) (over? 0: self->nnodes),
        "units_in_flight", (json_int_t) (over? 0: s_in_flight (self)),
        "units_done", (json_int_t) self->done,
        "shards", (json_int_t) self->nshards,
        "last_accuracy", s_number (self->last_accuracy),
        "eta_s", s_number (eta),
        "pid", (json_int_t) getpid (),
        "port", self->port,
        "backup", self->cfg.grid.backup == FG_BACKUP_ALWAYS? "always":
                  self->cfg.grid.backup == FG_BACKUP_NEVER? "never": "late",
        "waste_round_s", s_number (self->waste_s),
        "wasted_copies_round", (json_int_t) self->wasted_copies,
        "backups_round", (json_int_t) self->backups,
        "waste_last_s", s_number (self->waste_last_s),
        "waste_total_s", s_number (self->waste_total_s),
        "updated_ns", (json_int_t) fg_clock_wall_ns ());
}

void
fg_coord_write_status (fg_coord_t *self)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/status.json", self->dir);
    fg_error_t err;
    json_error_t jerr;
    json_t *status = s_status_object (self, &jerr);
    //  10 significant digits: seconds to the microsecond, accuracy exact
    char *text = status? json_dumps (status, JSON_REAL_PRECISION (10)): NULL;
    json_decref (status);
    bool failed;
    if (!status)
        failed = fg_error_set (&err, FG_EINVAL, "%s: not written: %s", path, jerr.text) != 0;
    else
    if (!text)
        failed = fg_error_set (&err, FG_ENOMEM, "%s: out of memory for its JSON", path) != 0;
    else {
        size_t n = strlen (text);
        text [n] = '\n';               //  over the NUL: the file ends with a newline
        failed = fg_file_write_atomic (path, text, n + 1, 0644, 0, &err) != 0;
    }
    free (text);
    if (failed && !self->status_failing)
        fg_warn ("coordinator: %s (fedctl status shows the journal's state; retried every "
                 "second)", err.msg);
    else
    if (!failed && self->status_failing)
        fg_info ("coordinator: %s written again", path);
    self->status_failing = failed;
    self->status_at = zclock_mono () + S_STATUS_MS;
}

//  --------------------------------------------------------------------------
//  rounds.csv, kept in memory as last written and replaced whole

static int
s_rounds_printf (fg_coord_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Appends formatted text to the in-memory rounds.csv. Returns 0 or
//  FG_ENOMEM.
static int
s_rounds_printf (fg_coord_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (NULL, 0, fmt, args);
    va_end (args);
    char *more = n < 0? NULL: realloc (self->rounds_csv, self->rounds_csv_size + (size_t) n + 1);
    if (!more)
        return FG_ENOMEM;
    self->rounds_csv = more;
    va_start (args, fmt);
    vsnprintf (more + self->rounds_csv_size, (size_t) n + 1, fmt, args);
    va_end (args);
    self->rounds_csv_size += (size_t) n;
    return 0;
}

//  wasted < 0: not known (clients.csv of an earlier layout, or missing).
//  timing: the time split's columns, without the leading comma.
static int
s_rounds_row (fg_coord_t *self, uint32_t round, const fg_journal_metrics_t *m, double wasted,
              uint32_t copies, const char *timing)
{
    int rc = s_rounds_printf (self, "%u,%.6f,%.6f,%.6f,%u,%llu,%.3f,", round, m->test_accuracy,
                              m->test_loss, m->train_loss, m->updates,
                              (unsigned long long) m->samples, (double) m->duration_ms / 1000.0);
    if (rc == 0)
        rc = wasted < 0? s_rounds_printf (self, ",")
                       : s_rounds_printf (self, "%.3f,%u", wasted, copies);
    if (rc == 0)
        rc = s_rounds_printf (self, ",%s\n", timing);
    return rc;
}

//  The time split of rounds 1..last as the rounds.csv being replaced
//  wrote it (its current layout only): timing [r] is the text after its
//  S_ROUNDS_TIMED-th comma, or NULL. Returns 0 or FG_ENOMEM.
static int
s_timing_from_rounds (fg_coord_t *self, uint32_t last, char ***timing)
{
    *timing = calloc (last + 1, sizeof (char *));
    if (!*timing)
        return FG_ENOMEM;
    char path [1100], line [1024];
    snprintf (path, sizeof path, "%s/rounds.csv", self->dir);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    bool current = fgets (line, sizeof line, file) && strcmp (line, S_ROUNDS_HEADER) == 0;
    int rc = 0;
    while (rc == 0 && current && fgets (line, sizeof line, file)) {
        size_t len = strlen (line);
        if (len == 0 || line [len - 1] != '\n')
            break;                      //  cut short: not a row
        line [len - 1] = 0;
        char *tail = line;
        for (int i = 0; tail && i < S_ROUNDS_TIMED; i++) {
            tail = strchr (tail, ',');
            tail = tail? tail + 1: NULL;
        }
        unsigned long round = strtoul (line, NULL, 10);
        if (!tail || round < 1 || round > last || (*timing) [round]
        ||  strspn (tail, "0123456789.,") != strlen (tail))
            continue;
        (*timing) [round] = strdup (tail);
        rc = (*timing) [round]? 0: FG_ENOMEM;
    }
    fclose (file);
    return rc;
}

//  The waste of rounds 1..last from clients.csv (rows of the current
//  layout): wasted [r] seconds, copies [r]; wasted [r] = -1 for every
//  round when clients.csv is missing or of an earlier layout (not
//  known). Returns 0 or FG_ENOMEM.
static int
s_waste_from_clients (fg_coord_t *self, uint32_t last, double **wasted, uint32_t **copies)
{
    *wasted = malloc ((last + 1) * sizeof (double));
    *copies = calloc (last + 1, sizeof (uint32_t));
    if (!*wasted || !*copies)
        return FG_ENOMEM;
    for (uint32_t r = 0; r <= last; r++)
        (*wasted) [r] = -1;
    char path [1100], line [4096];
    snprintf (path, sizeof path, "%s/clients.csv", self->dir);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    bool current = fgets (line, sizeof line, file)
                && (strcmp (line, S_CLIENTS_HEADER) == 0 || strcmp (line, S_CLIENTS_HEADER_V2) == 0);
    for (uint32_t r = 0; current && r <= last; r++)
        (*wasted) [r] = 0;
    while (current && fgets (line, sizeof line, file)) {
        char *field [S_CLIENTS_WASTED + 1];
        int n = 0;
        for (char *p = line, *next; p && n <= S_CLIENTS_WASTED; p = next) {
            next = strchr (p, ',');
            if (next)
                *next++ = 0;
            field [n++] = p;
        }
        unsigned long round = n > S_CLIENTS_WASTED? strtoul (field [0], NULL, 10): 0;
        if (round < 1 || round > last)
            continue;                   //  a row cut short by a crash, or of a later round
        double seconds = strtod (field [S_CLIENTS_WASTED], NULL);
        bool useful = strcmp (field [S_CLIENTS_OUTCOME], "accepted") == 0
                   || strcmp (field [S_CLIENTS_OUTCOME], "agreed") == 0;
        if (!useful && seconds >= 0) {
            (*wasted) [round] += seconds;
            (*copies) [round]++;
        }
    }
    fclose (file);
    return 0;
}

static int
s_rounds_write (fg_coord_t *self, fg_error_t *err)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/rounds.csv", self->dir);
    return fg_file_write_atomic (path, self->rounds_csv, self->rounds_csv_size, 0644, 0, err);
}

int
fg_coord_rounds_csv_rebuild (fg_coord_t *self, uint32_t last, fg_error_t *err)
{
    self->rounds_csv_size = 0;
    double *wasted = NULL;
    uint32_t *copies = NULL;
    char **timing = NULL;
    int rc = s_waste_from_clients (self, last, &wasted, &copies);
    if (rc == 0)
        rc = s_timing_from_rounds (self, last, &timing);
    if (rc == 0)
        rc = s_rounds_printf (self, "%s", S_ROUNDS_HEADER);
    self->waste_total_s = 0;
    for (uint32_t r = 1; rc == 0 && r <= last; r++) {
        fg_journal_metrics_t m;
        double w = wasted [r];
        if (fg_journal_metrics_get (self->journal, r, &m, NULL) == 0)
            rc = s_rounds_row (self, r, &m, w, copies [r], timing [r]? timing [r]: ",,,,");
        if (w > 0)
            self->waste_total_s += w;
    }
    for (uint32_t r = 0; timing && r <= last; r++)
        free (timing [r]);
    free (timing);
    free (wasted);
    free (copies);
    if (rc)
        return fg_error_set (err, rc, "rounds.csv: out of memory");
    return s_rounds_write (self, err);
}

void
fg_coord_rounds_csv_add (fg_coord_t *self, uint32_t round, const fg_journal_metrics_t *m)
{
    fg_error_t err;
    char timing [160];
    snprintf (timing, sizeof timing, "%.3f,%.3f,%.3f,%.3f,%.3f", self->units_s, self->aggregate_s,
              self->eval_s, self->commit_s, (double) fg_clock_wall_ns () / 1e9);
    if (s_rounds_row (self, round, m, self->waste_s, self->wasted_copies, timing))
        fg_warn ("coordinator: rounds.csv: out of memory (rebuilt at the next start)");
    else
    if (s_rounds_write (self, &err))
        fg_warn ("coordinator: %s (rebuilt at the next start)", err.msg);
}

//  --------------------------------------------------------------------------
//  clients.csv

void
fg_coord_clients_csv_open (fg_coord_t *self)
{
    char path [1100];
    snprintf (path, sizeof path, "%s/clients.csv", self->dir);
    bool fresh = access (path, F_OK) != 0;
    if (!fresh) {
        //  a file of an earlier layout (no fetched_bytes, no waste) is kept aside
        char head [256] = "";
        FILE *old = fopen (path, "r");
        if (old) {
            if (!fgets (head, sizeof head, old))
                head [0] = 0;
            fclose (old);
        }
        if (strcmp (head, S_CLIENTS_HEADER)) {
            char aside [1200];
            snprintf (aside, sizeof aside, "%s/clients-old.csv", self->dir);
            fresh = rename (path, aside) == 0;
        }
    }
    self->clients_csv = fopen (path, "a");
    if (!self->clients_csv)
        fg_warn ("coordinator: %s: cannot open for appending: %s (no clients.csv rows this "
                 "run)", path, fg_file_strerror (errno));
    else
    if (fresh)
        fprintf (self->clients_csv, "%s", S_CLIENTS_HEADER);
}

//  After a row: a failed write is warned once per streak, with its reason.
static void
s_clients_csv_flushed (fg_coord_t *self)
{
    int errnum = 0;
    if (fflush (self->clients_csv) || ferror (self->clients_csv))
        errnum = errno? errno: EIO;
    clearerr (self->clients_csv);
    if (errnum && !self->clients_failing)
        fg_warn ("coordinator: %s/clients.csv: cannot write: %s (rows are missing from it "
                 "until a write succeeds)", self->dir, fg_file_strerror (errnum));
    self->clients_failing = errnum != 0;
}

//  One row from its fields; round is the result's (its copy's compute is
//  counted as waste by fg_coord_waste_row).
static void
s_clients_row (fg_coord_t *self, const char *id, uint32_t round, uint32_t shard,
               uint32_t attempt, uint64_t samples, const float *loss, uint32_t nloss,
               uint32_t elapsed_ms, uint64_t update_size, const char *outcome)
{
    const char *kind;
    double held, wasted;
    fg_coord_waste_row (self, round, shard, attempt, elapsed_ms, outcome, &kind, &held, &wasted);
    if (!self->clients_csv)
        return;
    fprintf (self->clients_csv, "%u,%u,%s,%u,%llu,", self->round, shard, id, attempt,
             (unsigned long long) samples);
    for (uint32_t i = 0; i < nloss; i++)
        fprintf (self->clients_csv, "%s%.6f", i? ";": "", loss [i]);
    uint64_t fetched = fg_coord_fetched_bytes (self, id, self->round, shard);
    fprintf (self->clients_csv, ",%.3f,%llu,%s,%llu,%s,%.3f,%.3f,%.3f\n", elapsed_ms / 1000.0,
             (unsigned long long) update_size, outcome, (unsigned long long) fetched, kind,
             held, wasted, (double) fg_clock_wall_ns () / 1e9);
    s_clients_csv_flushed (self);
}

void
fg_coord_clients_csv_copy (fg_coord_t *self, const fg_coord_node_t *node,
                           const fg_coord_issue_t *issue, const char *outcome, double held)
{
    if (!self->clients_csv)
        return;
    uint64_t fetched = fg_coord_fetched_bytes (self, node->id, self->round, node->shard);
    fprintf (self->clients_csv, "%u,%u,%s,%u,0,,0.000,0,%s,%llu,%s,%.3f,%.3f,%.3f\n",
             self->round, node->shard, node->id, node->attempt, outcome,
             (unsigned long long) fetched, fg_coord_copy_kind_name (issue->kind), held, held,
             (double) fg_clock_wall_ns () / 1e9);
    s_clients_csv_flushed (self);
}

void
fg_coord_clients_csv_add (fg_coord_t *self, const fg_coord_node_t *node, uint32_t shard,
                          uint32_t attempt, const char *outcome)
{
    s_clients_row (self, node->id, node->r_round, shard, attempt, node->samples, node->loss,
                   node->nloss, node->elapsed_ms, node->update_size, outcome);
}

void
fg_coord_clients_csv_vote (fg_coord_t *self, const fg_coord_vote_t *vote, uint32_t shard,
                           const char *outcome)
{
    s_clients_row (self, vote->id, self->round, shard, vote->attempt, vote->samples, vote->loss,
                   vote->nloss, vote->elapsed_ms, vote->update_size, outcome);
}
