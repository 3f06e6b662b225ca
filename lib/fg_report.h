/*  fg_report.h — an experiment's files drawn: `fedctl report`.

    fg_report_load reads an experiment folder (fedgrid.toml, rounds.csv,
    clients.csv) into an fg_report_exp_t; fg_report_charts draws the charts
    of one or more experiments as SVG documents; fg_report_html puts them
    into one self-contained HTML page (inline SVG, no script, no network).
    What each chart shows and from which column: docs/report.md.

    Every input file is outside input: each field is checked and an error
    names the file and line. A file being appended (an experiment that is
    running) may end in a cut-short line: it is left out and said so in
    the experiment's notes. Every text placed into SVG or HTML is escaped.
    Output is deterministic: the same inputs give the same bytes (numbers
    are formatted without the locale).                                    */

#ifndef FG_REPORT_H_INCLUDED
#define FG_REPORT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_sha256.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_REPORT_FILE_MAX   ((size_t) 1 << 29)     //  512 MiB per input file
#define FG_REPORT_NODE_MAX   128                    //  node name bytes, with the NUL
#define FG_REPORT_ROUND_MAX  10000000u              //  largest round number accepted
#define FG_REPORT_EXP_MAX    16                     //  experiments in one report

//  One row of rounds.csv. NaN: not recorded (an earlier layout, an empty
//  field, a row rebuilt at a restart).
typedef struct {
    uint32_t round;
    uint32_t updates;
    double   test_accuracy;         //  0..1
    double   test_loss;
    double   train_loss;
    double   seconds;               //  the round's wall time until FINISH answered
    double   units_s;               //  round start to FINISH: units trained, moved
    double   aggregate_s;           //  the aggregator's fold
    double   eval_s;                //  the test-set evaluation
    double   commit_s;              //  the journal's transaction
    double   committed_unix;        //  wall clock at the row, Unix seconds
} fg_report_round_t;

//  One row of clients.csv: a result received or a copy ended without one.
typedef struct {
    uint32_t round;
    uint32_t shard;
    uint32_t attempt;
    char     node [FG_REPORT_NODE_MAX];
    char     outcome [16];          //  accepted, agreed, outvoted, ... (docs/actors.md)
    char     kind [16];             //  first, replica, reissue, backup; "" if not recorded
    double   loss;                  //  the last local epoch's loss; NaN: none
    double   seconds;               //  the trainer's training time
    double   held_s;                //  TASK to its result or end; NaN: not recorded
    double   ended_unix;            //  wall clock at the row; NaN: not recorded
} fg_report_copy_t;

//  A node's event from the journal (joined, removed = a disconnect, a
//  strike, quarantined): what the timeline marks beside the copies.
typedef struct {
    char     node [FG_REPORT_NODE_MAX];
    char     what [16];             //  "joined", "removed", "strike", "quarantined"
    char     why [96];              //  the rest of the event's text (removed: why)
    double   unix_s;                //  the journal's wall clock
    uint32_t round;                 //  the round in progress
} fg_report_event_t;

#define FG_REPORT_EVENTS_MAX 200000u    //  node events kept from a journal

typedef struct {
    char   name [256];              //  the folder as given (shown, escaped)
    char   hash [FG_SHA256_HEX_SIZE];   //  experiment hash, "" when no fedgrid.toml
    char  *config;                  //  canonical text of every key, or NULL
    fg_report_round_t *rounds;      //  in round order
    size_t nrounds;
    fg_report_copy_t *copies;       //  in file order
    size_t ncopies;
    fg_report_event_t *events;      //  in journal order
    size_t nevents;
    char   notes [1024];            //  what is missing or cut short, for the page
} fg_report_exp_t;

//  Reads DIR/fedgrid.toml (when present), DIR/rounds.csv,
//  DIR/clients.csv and the nodes' events of DIR's journal (each may be
//  missing: a note says so; a journal that cannot be read is noted too)
//  into *exp.
//  Returns 0, or FG_EFORMAT / FG_ERANGE naming file:line and field,
//  FG_EIO, FG_ENOMEM; on error *exp holds nothing to free.
int
    fg_report_load (const char *dir, fg_report_exp_t *exp, fg_error_t *err);

//  Parses rounds.csv text (name is for messages) into exp->rounds.
//  Columns are found by the header's names (any layout since the first).
//  A last line without its newline is left out (noted). Returns 0,
//  FG_EFORMAT or FG_ERANGE (name:line: what), FG_ENOMEM.
int
    fg_report_rounds_parse (fg_report_exp_t *exp, const char *text, size_t size,
                            const char *name, fg_error_t *err);

//  As fg_report_rounds_parse, for clients.csv into exp->copies.
int
    fg_report_clients_parse (fg_report_exp_t *exp, const char *text, size_t size,
                             const char *name, fg_error_t *err);

//  Reads the node events of the journal in dir (read-only; safe while the
//  coordinator runs) into exp->events. A missing journal: 0 and a note.
//  Returns 0 or the journal's codes (fg_journal_open_readonly,
//  fg_journal_events_foreach), FG_ENOMEM.
int
    fg_report_load_events (const char *dir, fg_report_exp_t *exp, fg_error_t *err);

//  One journal event's text (at wall time unix_s, in round) as a node
//  event, or false when it is about no node. Exposed for the tests.
bool
    fg_report_event_parse (const char *text, double unix_s, uint32_t round,
                           fg_report_event_t *event);

//  Frees what exp holds and zeroes it; NULL-safe.
void
    fg_report_exp_release (fg_report_exp_t *exp);

//  One chart: its file name ("accuracy.svg") and SVG document.
typedef struct {
    char   file [64];
    char  *svg;
    size_t size;
} fg_report_chart_t;

//  Draws the charts of exps [0..n): accuracy and test loss (all
//  experiments overlaid), then per experiment its local losses, its
//  timeline per worker and its time per round. Caller frees with
//  fg_report_charts_free. Returns 0, FG_EINVAL (n == 0 or too many),
//  FG_ENOMEM.
int
    fg_report_charts (const fg_report_exp_t *exps, size_t n, fg_report_chart_t **charts,
                      size_t *count, fg_error_t *err);

void
    fg_report_charts_free (fg_report_chart_t **charts, size_t count);

//  The label of each experiment: the configuration keys in which it
//  differs from the others ("data.balance = 0.8, seed = 2"), or its name
//  when they do not differ. labels [i] is caller-owned (free each).
//  Returns 0 or FG_ENOMEM.
int
    fg_report_labels (const fg_report_exp_t *exps, size_t n, char **labels);

//  The whole page: charts, each experiment's configuration, hash and
//  notes. *html is caller-owned (free). Returns 0, FG_EINVAL, FG_ENOMEM.
int
    fg_report_html (const fg_report_exp_t *exps, size_t n, char **html, size_t *size,
                    fg_error_t *err);

//  Nice axis ticks over [lo, hi]: about `target` steps of 1, 2 or 5 times
//  a power of ten; *first is the first tick >= lo, *count the ticks in
//  [lo, hi]. A degenerate range is widened first. Returns the step.
double
    fg_report_ticks (double *lo, double *hi, int target, double *first, int *count);

#ifdef __cplusplus
}
#endif

#endif
