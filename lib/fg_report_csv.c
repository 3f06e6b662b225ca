/*  fg_report_csv.c — an experiment folder read for the report: its
    configuration (fedgrid.toml, through fg_config) and the coordinator's
    rounds.csv and clients.csv (actors/fg_coord_files.c writes them).

    Columns are found by the header's names, so files of every layout read
    (a column of a later layout missing from an earlier file is "not
    recorded", NaN). The files are outside input: every field is checked,
    and an error names file:line and the column. A file being appended may
    end in a line cut short: that line is left out and noted.             */

#include "fg_report_internal.h"
#include "fg_config.h"
#include "fg_file.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COLS_MAX 64                   //  columns of a header we look at

void
fg_report_note (fg_report_exp_t *exp, const char *fmt, ...)
{
    size_t used = strlen (exp->notes);
    if (used + 2 >= sizeof exp->notes)
        return;
    if (used)
        exp->notes [used++] = '\n', exp->notes [used] = 0;
    va_list args;
    va_start (args, fmt);
    vsnprintf (exp->notes + used, sizeof exp->notes - used, fmt, args);
    va_end (args);
}

//  --------------------------------------------------------------------------
//  Lines and fields

typedef struct {
    const char *name;                   //  file, for messages
    size_t line;                        //  1-based
    char *field [S_COLS_MAX];
    int nfields;
    int width;                          //  the header's columns
    int index [S_COLS_MAX];             //  per wanted column: its position, or -1
} s_csv_t;

//  Splits line (NUL-terminated, no newline) at commas. Returns the count,
//  or -1 when there are more than S_COLS_MAX.
static int
s_split (char *line, char **field)
{
    int n = 0;
    for (char *p = line, *next; p; p = next) {
        if (n == S_COLS_MAX)
            return -1;
        next = strchr (p, ',');
        if (next)
            *next++ = 0;
        field [n++] = p;
    }
    return n;
}

//  Maps the wanted column names to their positions in the header; a
//  required one missing is an error.
static int
s_header (s_csv_t *csv, char *line, const char *const *wanted, int nwanted, int nrequired,
          fg_error_t *err)
{
    int n = s_split (line, csv->field);
    if (n < 0)
        return fg_error_set (err, FG_EFORMAT, "%s:1: more than %d columns", csv->name,
                             S_COLS_MAX);
    csv->nfields = csv->width = n;
    for (int w = 0; w < nwanted; w++) {
        csv->index [w] = -1;
        for (int i = 0; i < n; i++)
            if (strcmp (csv->field [i], wanted [w]) == 0)
                csv->index [w] = i;
        if (csv->index [w] < 0 && w < nrequired)
            return fg_error_set (err, FG_EFORMAT, "%s:1: no column \"%s\" in the header "
                                 "(not a file the coordinator wrote?)", csv->name, wanted [w]);
    }
    return 0;
}

//  The text of wanted column w of the current row, or NULL when the file
//  has no such column.
static const char *
s_get (const s_csv_t *csv, int w)
{
    return csv->index [w] < 0? NULL: csv->field [csv->index [w]];
}

static int
s_bad (const s_csv_t *csv, const char *column, const char *text, const char *what,
       fg_error_t *err)
{
    char shown [48];
    size_t i = 0;
    for (; text [i] && i + 1 < sizeof shown; i++)
        shown [i] = text [i] >= 0x20 && text [i] < 0x7f? text [i]: '?';
    shown [i] = 0;
    return fg_error_set (err, FG_EFORMAT, "%s:%zu: column %s: \"%s\" %s", csv->name, csv->line,
                         column, shown, what);
}

static int
s_uint (const s_csv_t *csv, int w, const char *column, uint32_t max, uint32_t *out,
        fg_error_t *err)
{
    const char *text = s_get (csv, w);
    if (!text || !*text || strspn (text, "0123456789") != strlen (text) || strlen (text) > 10)
        return s_bad (csv, column, text? text: "", "is not a whole number", err);
    unsigned long long v = strtoull (text, NULL, 10);
    if (v > max)
        return s_bad (csv, column, text, "is out of range", err);
    *out = (uint32_t) v;
    return 0;
}

//  A real number, or NaN for an empty field, "nan" (not measured) or a
//  column the file does not have.
static int
s_real (const s_csv_t *csv, int w, const char *column, double *out, fg_error_t *err)
{
    const char *text = s_get (csv, w);
    *out = NAN;
    if (!text || !*text || strcmp (text, "nan") == 0 || strcmp (text, "-nan") == 0)
        return 0;
    char *end = NULL;
    double v = strtod (text, &end);
    if (end == text || *end || !isfinite (v) || strspn (text, "0123456789.-+eE") != strlen (text))
        return s_bad (csv, column, text, "is not a number", err);
    *out = v;
    return 0;
}

//  Calls row (ctx, csv) for every complete line after the header; a last
//  line without its newline is left out and noted.
typedef int (s_row_fn) (void *ctx, s_csv_t *csv, fg_error_t *err);

static int
s_each_row (fg_report_exp_t *exp, char *text, size_t size, s_csv_t *csv,
            const char *const *wanted, int nwanted, int nrequired, s_row_fn *row, void *ctx,
            fg_error_t *err)
{
    if (memchr (text, 0, size))
        return fg_error_set (err, FG_EFORMAT, "%s: holds a NUL byte (not a CSV file)", csv->name);
    char *end = text + size, *line = text;
    for (csv->line = 1; line < end; csv->line++) {
        char *nl = memchr (line, '\n', (size_t) (end - line));
        if (!nl) {
            fg_report_note (exp, "%s: line %zu is cut short (being written): left out", csv->name,
                    csv->line);
            break;
        }
        *nl = 0;
        if (nl > line && nl [-1] == '\r')
            nl [-1] = 0;
        int rc;
        if (csv->line == 1)
            rc = s_header (csv, line, wanted, nwanted, nrequired, err);
        else {
            //  a row must have every column of the header: a short one is damage
            csv->nfields = s_split (line, csv->field);
            rc = csv->nfields != csv->width
               ? fg_error_set (err, FG_EFORMAT, "%s:%zu: %d columns, the header has %d",
                               csv->name, csv->line, csv->nfields, csv->width)
               : row (ctx, csv, err);
        }
        if (rc)
            return rc;
        line = nl + 1;
    }
    if (csv->line == 1)
        return fg_error_set (err, FG_EFORMAT, "%s: no header line", csv->name);
    return 0;
}

//  --------------------------------------------------------------------------
//  rounds.csv

static const char *const s_round_cols [] = {
    "round", "test_accuracy", "test_loss", "train_loss", "updates", "seconds",
    "units_seconds", "aggregate_seconds", "eval_seconds", "commit_seconds", "committed_unix_s"
};

typedef struct {
    fg_report_exp_t *exp;
    size_t cap;
} s_ctx_t;

//  Room for one more element in *array of *count, capacity *cap.
static int
s_grow (void **array, size_t count, size_t *cap, size_t each)
{
    if (count < *cap)
        return 0;
    size_t more = *cap? 2 * *cap: 64;
    void *bigger = realloc (*array, more * each);
    if (!bigger)
        return FG_ENOMEM;
    *array = bigger;
    *cap = more;
    return 0;
}

static int
s_round_row (void *ctx_, s_csv_t *csv, fg_error_t *err)
{
    s_ctx_t *ctx = ctx_;
    fg_report_exp_t *exp = ctx->exp;
    fg_report_round_t r;
    int rc = s_uint (csv, 0, "round", FG_REPORT_ROUND_MAX, &r.round, err);
    if (rc == 0) rc = s_real (csv, 1, "test_accuracy", &r.test_accuracy, err);
    if (rc == 0) rc = s_real (csv, 2, "test_loss", &r.test_loss, err);
    if (rc == 0) rc = s_real (csv, 3, "train_loss", &r.train_loss, err);
    if (rc == 0) rc = s_uint (csv, 4, "updates", UINT32_MAX, &r.updates, err);
    if (rc == 0) rc = s_real (csv, 5, "seconds", &r.seconds, err);
    if (rc == 0) rc = s_real (csv, 6, "units_seconds", &r.units_s, err);
    if (rc == 0) rc = s_real (csv, 7, "aggregate_seconds", &r.aggregate_s, err);
    if (rc == 0) rc = s_real (csv, 8, "eval_seconds", &r.eval_s, err);
    if (rc == 0) rc = s_real (csv, 9, "commit_seconds", &r.commit_s, err);
    if (rc == 0) rc = s_real (csv, 10, "committed_unix_s", &r.committed_unix, err);
    if (rc)
        return rc;
    if (r.test_accuracy < 0 || r.test_accuracy > 1)
        return s_bad (csv, "test_accuracy", s_get (csv, 1), "is not in 0..1", err);
    if (r.round == 0 || (exp->nrounds && r.round <= exp->rounds [exp->nrounds - 1].round))
        return s_bad (csv, "round", s_get (csv, 0), "does not follow the row before", err);
    if (s_grow ((void **) &exp->rounds, exp->nrounds, &ctx->cap, sizeof r))
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", csv->name);
    exp->rounds [exp->nrounds++] = r;
    return 0;
}

//  Parses a copy of text (rows are split in place) with row for each line.
static int
s_parse (fg_report_exp_t *exp, const char *text, size_t size, const char *name,
         const char *const *wanted, int nwanted, int nrequired, s_row_fn *row,
         fg_error_t *err)
{
    if (size > FG_REPORT_FILE_MAX)
        return fg_error_set (err, FG_ERANGE, "%s: larger than %zu bytes", name,
                             FG_REPORT_FILE_MAX);
    char *copy = malloc (size + 1);
    if (!copy)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", name);
    memcpy (copy, text, size);
    copy [size] = 0;
    s_csv_t csv = { .name = name };
    s_ctx_t ctx = { .exp = exp };
    int rc = s_each_row (exp, copy, size, &csv, wanted, nwanted, nrequired, row, &ctx, err);
    free (copy);
    return rc;
}

int
fg_report_rounds_parse (fg_report_exp_t *exp, const char *text, size_t size, const char *name,
                        fg_error_t *err)
{
    int n = (int) (sizeof s_round_cols / sizeof s_round_cols [0]);
    return s_parse (exp, text, size, name, s_round_cols, n, 6, s_round_row, err);
}

//  --------------------------------------------------------------------------
//  clients.csv

static const char *const s_client_cols [] = {
    "round", "shard", "node", "attempt", "local_losses", "seconds", "outcome",
    "kind", "held_seconds", "ended_unix_s"
};

//  A word of lower-case letters, as outcome and kind are written.
static int
s_word (const s_csv_t *csv, int w, const char *column, char *out, size_t size, fg_error_t *err)
{
    const char *text = s_get (csv, w);
    *out = 0;
    if (!text)
        return 0;                       //  an earlier layout: not recorded
    if (strlen (text) >= size || strspn (text, "abcdefghijklmnopqrstuvwxyz_") != strlen (text))
        return s_bad (csv, column, text, "is not an outcome or kind the coordinator writes",
                      err);
    strcpy (out, text);
    return 0;
}

//  The last of the ';'-separated local losses (its last epoch), NaN when
//  there are none (a copy ended without a result).
static int
s_last_loss (const s_csv_t *csv, double *loss, fg_error_t *err)
{
    const char *text = s_get (csv, 4);
    *loss = NAN;
    for (const char *p = text; p && *p; ) {
        const char *semi = strchr (p, ';');
        size_t len = semi? (size_t) (semi - p): strlen (p);
        char one [64];
        char *end = NULL;
        if (len == 0 || len >= sizeof one)
            return s_bad (csv, "local_losses", text, "is not a list of numbers", err);
        memcpy (one, p, len);
        one [len] = 0;
        double v = strtod (one, &end);
        if (*end || end == one || strspn (one, "0123456789.-+eE") != len)
            return s_bad (csv, "local_losses", text, "is not a list of numbers", err);
        *loss = v;                      //  inf/nan: a diverged unit, drawn as a gap
        p = semi? semi + 1: NULL;
    }
    return 0;
}

static int
s_node (const s_csv_t *csv, char *node, fg_error_t *err)
{
    const char *text = s_get (csv, 2);
    size_t len = strlen (text);
    if (len == 0 || len >= FG_REPORT_NODE_MAX)
        return s_bad (csv, "node", text, "is not a node name (1 to 127 bytes)", err);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) text [i] < 0x20 || text [i] == 0x7f)
            return s_bad (csv, "node", text, "holds a control character", err);
    memcpy (node, text, len + 1);
    return 0;
}

static int
s_client_row (void *ctx_, s_csv_t *csv, fg_error_t *err)
{
    s_ctx_t *ctx = ctx_;
    fg_report_exp_t *exp = ctx->exp;
    fg_report_copy_t c;
    int rc = s_uint (csv, 0, "round", FG_REPORT_ROUND_MAX, &c.round, err);
    if (rc == 0) rc = s_uint (csv, 1, "shard", UINT32_MAX - 1, &c.shard, err);
    if (rc == 0) rc = s_node (csv, c.node, err);
    if (rc == 0) rc = s_uint (csv, 3, "attempt", UINT32_MAX, &c.attempt, err);
    if (rc == 0) rc = s_last_loss (csv, &c.loss, err);
    if (rc == 0) rc = s_real (csv, 5, "seconds", &c.seconds, err);
    if (rc == 0) rc = s_word (csv, 6, "outcome", c.outcome, sizeof c.outcome, err);
    if (rc == 0) rc = s_word (csv, 7, "kind", c.kind, sizeof c.kind, err);
    if (rc == 0) rc = s_real (csv, 8, "held_seconds", &c.held_s, err);
    if (rc == 0) rc = s_real (csv, 9, "ended_unix_s", &c.ended_unix, err);
    if (rc)
        return rc;
    if (!c.outcome [0])
        return s_bad (csv, "outcome", "", "is empty", err);
    if (c.seconds < 0 || c.held_s < 0)
        return s_bad (csv, "seconds", s_get (csv, 5), "is negative", err);
    if (s_grow ((void **) &exp->copies, exp->ncopies, &ctx->cap, sizeof c))
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", csv->name);
    exp->copies [exp->ncopies++] = c;
    return 0;
}

int
fg_report_clients_parse (fg_report_exp_t *exp, const char *text, size_t size, const char *name,
                         fg_error_t *err)
{
    int n = (int) (sizeof s_client_cols / sizeof s_client_cols [0]);
    return s_parse (exp, text, size, name, s_client_cols, n, 7, s_client_row, err);
}

//  --------------------------------------------------------------------------
//  The folder

void
fg_report_exp_release (fg_report_exp_t *exp)
{
    if (!exp)
        return;
    free (exp->config);
    free (exp->rounds);
    free (exp->copies);
    free (exp->events);
    memset (exp, 0, sizeof *exp);
}

//  DIR/fedgrid.toml: the canonical text of every key and the hash; a
//  folder without one is noted (its charts are drawn all the same).
static int
s_load_config (const char *dir, fg_report_exp_t *exp, fg_error_t *err)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/fedgrid.toml", dir);
    if (access (path, F_OK) != 0) {
        fg_report_note (exp, "%s: missing: no configuration shown", path);
        return 0;
    }
    fg_config_t *cfg = malloc (sizeof *cfg);
    if (!cfg)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    int rc = fg_config_load (cfg, path, err);
    if (rc == 0) {
        fg_config_hash (cfg, exp->hash);
        exp->config = fg_config_canonical (cfg, false);
        if (!exp->config)
            rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    }
    free (cfg);
    return rc;
}

//  DIR/name parsed by parse; a missing file is noted.
static int
s_load_csv (const char *dir, const char *name, fg_report_exp_t *exp,
            int (*parse) (fg_report_exp_t *, const char *, size_t, const char *, fg_error_t *),
            fg_error_t *err)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    char *text = NULL;
    size_t size = 0;
    int rc = fg_file_read (path, FG_REPORT_FILE_MAX, &text, &size, err);
    if (rc == FG_ENOENT) {
        fg_report_note (exp, "%s: missing: nothing of it is drawn", path);
        return 0;
    }
    if (rc == 0)
        rc = parse (exp, text, size, path, err);
    free (text);
    return rc;
}

int
fg_report_load (const char *dir, fg_report_exp_t *exp, fg_error_t *err)
{
    memset (exp, 0, sizeof *exp);
    if (strlen (dir) >= sizeof exp->name || strlen (dir) > 4000)
        return fg_error_set (err, FG_ERANGE, "%.60s...: folder name too long", dir);
    strcpy (exp->name, dir);
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode))
        return fg_error_set (err, FG_ENOENT, "%s: no such experiment folder", dir);
    int rc = s_load_config (dir, exp, err);
    if (rc == 0)
        rc = s_load_csv (dir, "rounds.csv", exp, fg_report_rounds_parse, err);
    if (rc == 0)
        rc = s_load_csv (dir, "clients.csv", exp, fg_report_clients_parse, err);
    fg_error_t jerr;
    int jrc = rc == 0? fg_report_load_events (dir, exp, &jerr): 0;
    if (jrc == FG_ENOMEM)
        rc = fg_error_set (err, jrc, "%s", jerr.msg);
    else
    if (jrc)                            //  the charts of the files stand without it
        fg_report_note (exp, "%s (no node events on the timeline)", jerr.msg);
    if (rc)
        fg_report_exp_release (exp);
    return rc;
}
