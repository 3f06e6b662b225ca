/*  fedctl journal verify DIR, fedctl journal dump DIR — checking and
    printing an experiment's journal (docs/journal.md). Both open it
    read-only, so they may run beside a coordinator.                      */

#include "fedctl.h"
#include "fg_journal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE  *out;
} s_verify_t;

static void
s_report (const char *key, int code, const char *message, void *arg)
{
    s_verify_t *v = (s_verify_t *) arg;
    fprintf (v->out, "%s: %s (%s)\n", key, message, fg_strerror (code));
}

//  Exit code for a failure to open or read a journal: damage is bad data.
static int
s_exit_code (int code)
{
    switch (code) {
        case FG_EFORMAT:
        case FG_ECHECKSUM:
        case FG_ESTATE:
        case FG_EVERSION:   return EX_DATAERR;
        case FG_EUNSUPPORTED: return EX_UNAVAILABLE;
        default:            return fedctl_exit_code (code);
    }
}

//  "journal DIR/journal.lmdb: 8220672 bytes, 2007 pages of 4096 used, 95
//  free": LMDB never shrinks its file; freed pages are reused first.
static void
s_space (fg_journal_t *j, const char *dir, FILE *out)
{
    fg_journal_space_t sp;
    if (fg_journal_space (j, &sp, NULL) == 0)
        fprintf (out, "journal %s/%s: %" PRIu64 " bytes, %" PRIu64 " pages of %" PRIu64
                 " in use, %" PRIu64 " of them free (reused before the file grows)\n", dir,
                 FG_JOURNAL_FILE, sp.file_bytes, sp.pages, sp.page_size, sp.free_pages);
}

//  Checks every record, blob checksum and invariant of DIR's journal and
//  prints one line per problem ("KEY: what (kind)") and a summary to out.
//  Returns EX_OK when sound, EX_DATAERR when damaged, EX_NOINPUT when
//  there is no journal, EX_IOERR etc. when it cannot be read.
static int
s_verify (const char *dir, FILE *out)
{
    s_verify_t v = { out };
    size_t problems = 0;
    fg_error_t err;
    int rc = fg_journal_verify (dir, s_report, &v, &problems, &err);
    if (rc && problems == 0) {
        fedctl_fail ("%s", err.msg);
        return s_exit_code (rc);
    }
    if (problems) {
        fprintf (out, "journal %s/%s: %zu problem%s%s; fedgrid will not resume from it\n",
                 dir, FG_JOURNAL_FILE, problems, problems == 1? "": "s",
                 problems > 1000? " (the first 1000 listed)": "");
        return EX_DATAERR;
    }
    //  Sound: say what it holds.
    fg_journal_t *j;
    if ((rc = fg_journal_open_readonly (dir, &j, &err))) {
        fedctl_fail ("%s", err.msg);
        return s_exit_code (rc);
    }
    uint32_t last = 0;
    uint32_t *rounds = NULL;
    size_t nrounds = 0;
    rc = fg_journal_last_round (j, &last, &err);
    if (rc == FG_ENOENT)
        rc = 0;
    if (rc == 0)
        rc = fg_journal_weights_rounds (j, &rounds, &nrounds, &err);
    if (rc == 0) {
        fprintf (out, "journal %s/%s: OK: ", dir, FG_JOURNAL_FILE);
        if (last)
            fprintf (out, "rounds 1..%" PRIu32 " committed", last);
        else
            fprintf (out, "no round committed");
        fg_journal_round_t *r;
        if (fg_journal_round_get (j, last + 1, &r, NULL) == 0) {
            fprintf (out, ", round %" PRIu32 " open", last + 1);
            fg_journal_round_destroy (&r);
        }
        fprintf (out, ", %zu weights checkpoint%s retained", nrounds, nrounds == 1? "": "s");
        for (size_t i = 0; i < nrounds; i++)
            fprintf (out, "%s%" PRIu32, i? ",": " (", rounds [i]);
        fprintf (out, "%s", nrounds? ")": "");
        //  FedAvgM: verify checked there is one beside every checkpoint
        uint32_t *buffers = NULL;
        size_t nbuffers = 0;
        if (fg_journal_optimizer_rounds (j, &buffers, &nbuffers, NULL) == 0 && nbuffers)
            fprintf (out, ", each with its server momentum buffer");
        free (buffers);
        //  update retention: these rounds' updates are gone by design, not lost
        uint32_t pruned = 0;
        if (fg_journal_pruned (j, &pruned, NULL) == 0 && pruned == 1)
            fprintf (out, ", updates of round 1 pruned");
        else
        if (pruned)
            fprintf (out, ", updates of rounds 1..%" PRIu32 " pruned", pruned);
        fprintf (out, "\n");
        s_space (j, dir, out);
    }
    else
        fedctl_fail ("%s", err.msg);
    free (rounds);
    fg_journal_close (&j);
    return rc? s_exit_code (rc): EX_OK;
}

//  Prints every database of DIR's journal readably to out (blobs as size
//  and CRC, a damaged record as "DAMAGED: why"). Returns EX_OK,
//  EX_NOINPUT, EX_DATAERR (another schema, unreadable meta) or EX_IOERR.
static int
s_dump (const char *dir, FILE *out)
{
    fg_journal_t *j;
    fg_error_t err;
    int rc = fg_journal_open_readonly (dir, &j, &err);
    if (rc == 0)
        rc = fg_journal_dump (j, out, &err);
    fg_journal_close (&j);
    if (rc) {
        fedctl_fail ("%s", err.msg);
        return s_exit_code (rc);
    }
    return EX_OK;
}

int
fedctl_cmd_journal (int argc, char **argv)
{
    if (argc == 3 && strcmp (argv [1], "verify") == 0)
        return s_verify (argv [2], stdout);
    if (argc == 3 && strcmp (argv [1], "dump") == 0)
        return s_dump (argv [2], stdout);
    bool help = argc == 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0);
    fprintf (help? stdout: stderr,
        "usage: fedctl journal verify DIR   check every record, checksum and invariant\n"
        "       fedctl journal dump DIR     print every record readably\n"
        "Both open the journal read-only: safe beside a running coordinator.\n"
        "verify exits 0 when sound, 65 when damaged, 66 when there is no journal.\n");
    return help? EX_OK: EX_USAGE;
}
