/*  fg_journal_mark.c — the journal's mark (DIR/journal.mark): the last
    committed round, written after each commit, compared at every open.

    LMDB keeps two meta pages and reads the one with the larger transaction
    id. A damaged newer meta page (a flipped byte in its transaction id, a
    lost write) makes it read the older one: the journal is consistent, but
    the newest commit has vanished and nothing in LMDB says so. The same
    happens when the file is replaced by an older copy. The mark is a
    witness outside the file: a small text file, written atomically (tmp,
    fsync, rename, fsync of the folder) after each committed round, with
    the experiment id, the round, LMDB's transaction id (for diagnosis) and
    the weights checkpoint's size, CRC-32 and SHA-256; a CRC-32 of those
    lines ends it.

    The order makes it safe against crashes: the mark is written after
    the commit is durable, so it may lag the journal by one commit (a crash
    between the two), never lead it. A journal ahead of its mark is sound
    (the writer brings the mark up to date at open); a journal behind it
    has lost committed work and is refused. A reader reads the mark before
    its read transaction begins, so a commit beside it only puts the
    journal further ahead. An experiment older than the mark has none: it
    opens, and the writer creates the mark.                               */

#include "fg_crash.h"
#include "fg_file.h"
#include "fg_journal_internal.h"
#include "fg_log.h"
#include "fg_sha256.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MARK_MAX      1024            //  bytes of a mark file
#define S_MARK_VERSION  1
#define S_ID_HEX        (2 * FG_JREC_ID_SIZE)

//  ---- the file ----------------------------------------------------------------

static void
s_mark_path (const char *dir, char *path, size_t cap)
{
    snprintf (path, cap, "%s/%s", dir, FG_JOURNAL_MARK_FILE);
}

//  The mark's lines without the check line; returns their length.
static int
s_mark_body (const fg_jdb_mark_t *m, char *buf, size_t cap)
{
    return snprintf (buf, cap,
        "fedgrid journal mark %d\n"
        "experiment %s\n"
        "round %" PRIu32 "\n"
        "txnid %" PRIu64 "\n"
        "weights_size %" PRIu64 "\n"
        "weights_crc %08" PRIx32 "\n"
        "weights_sha256 %s\n",
        S_MARK_VERSION, m->experiment, m->round, m->txnid, m->weights_size, m->weights_crc,
        m->weights_sha256);
}

//  Parses text into *m; the check line must hold the CRC-32 of the lines
//  before it, and the lines must be exactly as s_mark_body writes them.
static int
s_mark_parse (const char *path, const char *text, size_t size, fg_jdb_mark_t *m,
              fg_error_t *err)
{
    const char *check = strstr (text, "check ");
    unsigned version = 0;
    uint32_t crc = 0;
    char end = 0;
    memset (m, 0, sizeof *m);
    if (!check || strlen (text) != size
    ||  sscanf (check, "check %8" SCNx32 "%c", &crc, &end) != 2 || end != '\n'
    ||  (size_t) (check - text) + 15 != size)
        return fg_error_set (err, FG_EFORMAT, "%s is damaged (no check line at its end)", path);
    if (crc != fg_jrec_crc (text, (size_t) (check - text)))
        return fg_error_set (err, FG_ECHECKSUM, "%s is damaged (its check line does not match "
                             "its content)", path);
    char weights_crc [9] = "";
    int n = sscanf (text, "fedgrid journal mark %u\nexperiment %32[0-9a-f]\nround %" SCNu32
                    "\ntxnid %" SCNu64 "\nweights_size %" SCNu64 "\nweights_crc %8[0-9a-f]\n"
                    "weights_sha256 %64[0-9a-f]\n", &version, m->experiment, &m->round,
                    &m->txnid, &m->weights_size, weights_crc, m->weights_sha256);
    if (n == 7 && version != S_MARK_VERSION)
        return fg_error_set (err, FG_EVERSION, "%s has version %u and this fedgrid reads "
                             "version %d", path, version, S_MARK_VERSION);
    m->weights_crc = (uint32_t) strtoul (weights_crc, NULL, 16);
    char again [S_MARK_MAX];
    int len = s_mark_body (m, again, sizeof again);
    if (n != 7 || len != check - text || memcmp (again, text, (size_t) len) != 0)
        return fg_error_set (err, FG_EFORMAT, "%s is damaged (its lines are not those of a "
                             "journal mark)", path);
    return 0;
}

int
fg_jdb_mark_read (const char *dir, fg_jdb_mark_t *mark, fg_error_t *err)
{
    char path [FG_JDB_PATH_MAX + 32];
    s_mark_path (dir, path, sizeof path);
    char *text = NULL;
    size_t size = 0;
    fg_error_t ferr;
    int rc = fg_file_read (path, S_MARK_MAX, &text, &size, &ferr);
    if (rc == FG_ENOENT)
        return FG_ENOENT;
    if (rc == FG_ERANGE)
        rc = fg_error_set (err, FG_EFORMAT, "%s is damaged (%s)", path, ferr.msg);
    else
    if (rc)
        rc = fg_error_set (err, rc, "%s", ferr.msg);
    else
        rc = s_mark_parse (path, text, size, mark, err);
    free (text);
    if (rc)
        fg_error_prefix (err, "journal");
    return rc;
}

//  ---- what the journal holds ------------------------------------------------------

//  The journal's side of a mark, read in txn: experiment id, last committed
//  round and LMDB's transaction id of the snapshot.
static int
s_journal_side (fg_journal_t *self, MDB_txn *txn, fg_jdb_mark_t *j, bool *have,
                fg_error_t *err)
{
    memset (j, 0, sizeof *j);
    fg_jrec_any_t x;
    int rc = fg_jdb_meta_read (self, txn, "experiment", FG_JREC_EXPERIMENT, &x, err);
    if (rc)
        return rc;
    for (int i = 0; i < FG_JREC_ID_SIZE; i++)
        snprintf (j->experiment + 2 * i, 3, "%02x", x.experiment.id [i]);
    j->txnid = (uint64_t) mdb_txn_id (txn);
    return fg_jdb_scan_last (self, txn, have, &j->round, err);
}

//  The weights of round as the journal holds them: size and CRC from the
//  round's record; with blob, the SHA-256 of the checkpoint's bytes too
//  (left empty when the checkpoint is missing or damaged: verify reports
//  that as its own problem).
static int
s_journal_weights (fg_journal_t *self, MDB_txn *txn, uint32_t round, bool blob,
                   fg_jdb_mark_t *j, fg_error_t *err)
{
    fg_jrec_round_t r;
    int rc = fg_jdb_round_read (self, txn, round, &r, err);
    if (rc == FG_ENOENT)
        return fg_error_set (err, FG_EFORMAT, "journal %s: rounds/%u is missing", self->path,
                             round);
    if (rc)
        return rc;
    j->weights_size = r.head.weights_size;
    j->weights_crc = r.head.weights_crc;
    if (!blob)
        return 0;
    uint8_t key [4];
    fg_jdb_put_be32 (key, round);
    fg_jrec_any_t w;
    fg_error_t werr;
    rc = fg_jdb_read (self, txn, FG_JDB_WEIGHTS, key, 4, FG_JREC_WEIGHTS, FG_JDB_BLOB, &w, &werr);
    if (rc == FG_ENOENT || rc == FG_EFORMAT || rc == FG_ECHECKSUM || rc == FG_EVERSION)
        return 0;                       //  verify reports the checkpoint itself
    if (rc) {
        if (err)
            *err = werr;
        return rc;
    }
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256 (w.weights.blob, (size_t) w.weights.blob_size, digest);
    fg_sha256_hex (digest, j->weights_sha256);
    return 0;
}

//  ---- the comparison ------------------------------------------------------------

//  The refusal of a journal behind its mark: both rounds, what to do (the
//  transaction id helps whoever looks at the meta pages).
static int
s_behind (fg_journal_t *self, const fg_jdb_mark_t *m, const char *what, fg_error_t *err)
{
    return fg_error_set (err, FG_EMISMATCH,
        "journal %s %s, but %s/%s says round %" PRIu32 " was committed (LMDB transaction %"
        PRIu64 "): committed work is lost (LMDB fell back to its older meta page, or the file "
        "is an older copy). Restore the journal from a backup, or remove %s to accept the "
        "older state and resume (the lost rounds are computed again, bit for bit)",
        self->path, what, self->dir, FG_JOURNAL_MARK_FILE, m->round, m->txnid,
        FG_JOURNAL_MARK_FILE);
}

int
fg_jdb_mark_check (fg_journal_t *self, const fg_jdb_mark_t *m, bool blob, fg_error_t *err)
{
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    fg_jdb_mark_t j;
    bool have;
    char what [128];
    if ((rc = s_journal_side (self, txn, &j, &have, err)))
        goto done;
    if (strcmp (j.experiment, m->experiment) != 0) {
        rc = fg_error_set (err, FG_EMISMATCH, "journal %s is of experiment %.12s but %s/%s "
                           "of experiment %.12s: one of them was copied from elsewhere; put "
                           "back this experiment's journal, or remove %s if the journal is the "
                           "right one", self->path, j.experiment, self->dir,
                           FG_JOURNAL_MARK_FILE, m->experiment, FG_JOURNAL_MARK_FILE);
        goto done;
    }
    if (j.round < m->round) {
        if (have)
            snprintf (what, sizeof what, "has committed rounds up to %" PRIu32, j.round);
        else
            snprintf (what, sizeof what, "has no committed round");
        rc = s_behind (self, m, what, err);
        goto done;
    }
    //  Not compared: LMDB's transaction ids. A compacting copy (mdb_copy -c,
    //  the backup docs/journal.md names) restarts them, and a journal with
    //  the mark's round and its weights has lost nothing the mark saw.
    if (j.round > m->round)
        goto done;                      //  the mark lags (a crash before it was written)
    if ((rc = s_journal_weights (self, txn, m->round, blob, &j, err)))
        goto done;
    if (j.weights_size != m->weights_size || j.weights_crc != m->weights_crc
    ||  (blob && *j.weights_sha256 && strcmp (j.weights_sha256, m->weights_sha256) != 0))
        rc = fg_error_set (err, FG_EMISMATCH, "journal %s: round %" PRIu32 " has weights of %"
                           PRIu64 " bytes, CRC %08" PRIx32 ", but %s/%s recorded %" PRIu64
                           " bytes, CRC %08" PRIx32 "%s: the journal is not the one the mark "
                           "was written for; restore the journal from a backup", self->path,
                           m->round, j.weights_size, j.weights_crc, self->dir,
                           FG_JOURNAL_MARK_FILE, m->weights_size, m->weights_crc,
                           blob? " (or another SHA-256)": "");
done:
    mdb_txn_abort (txn);
    return rc;
}

//  ---- writing it --------------------------------------------------------------------

int
fg_jdb_mark_write (fg_journal_t *self, uint32_t round, const void *blob, size_t size,
                   fg_error_t *err)
{
    assert (!self->readonly);
    MDB_txn *txn;
    int rc = fg_jdb_read_begin (self, &txn, err);
    if (rc)
        return rc;
    fg_jdb_mark_t m;
    bool have;
    rc = s_journal_side (self, txn, &m, &have, err);
    mdb_txn_abort (txn);
    if (rc)
        return rc;
    if (FG_NEVER (!have || m.round != round))
        return fg_error_set (err, FG_ESTATE, "journal %s: mark for round %u, but the last "
                             "committed round is %u", self->path, round, m.round);
    m.weights_size = size;
    m.weights_crc = fg_jrec_crc (blob, size);
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256 (blob, size, digest);
    fg_sha256_hex (digest, m.weights_sha256);
    self->have_mark_digest = false;     //  until the mark is written
    char text [S_MARK_MAX];
    int len = s_mark_body (&m, text, sizeof text);
    if (FG_NEVER (len <= 0 || (size_t) len + 16 > sizeof text))
        return fg_error_set (err, FG_EINVAL, "journal %s: mark too long", self->path);
    len += snprintf (text + len, sizeof text - (size_t) len, "check %08" PRIx32 "\n",
                     fg_jrec_crc (text, (size_t) len));
    char path [FG_JDB_PATH_MAX + 32];
    s_mark_path (self->dir, path, sizeof path);
    rc = fg_file_write_atomic (path, text, (size_t) len, 0644, 0, err);
    if (rc == 0) {
        self->have_mark_digest = true;
        self->mark_round = round;
        memcpy (self->mark_digest, digest, FG_SHA256_SIZE);
    }
    return rc;
}

int
fg_journal_weights_sha256 (const fg_journal_t *self, uint32_t round,
                           uint8_t digest [FG_SHA256_SIZE])
{
    if (!self->have_mark_digest || self->mark_round != round)
        return FG_ENOENT;
    memcpy (digest, self->mark_digest, FG_SHA256_SIZE);
    return 0;
}

//  The mark of the newest round, read back from the journal (at open: an
//  experiment without a mark, or one that lags).
static int
s_mark_catch_up (fg_journal_t *self, fg_error_t *err)
{
    void *blob = NULL;
    size_t size = 0;
    uint32_t found = 0;
    int rc = fg_journal_get_weights (self, self->last, false, &found, &blob, &size, err);
    if (rc == 0)
        rc = fg_jdb_mark_write (self, self->last, blob, size, err);
    free (blob);
    return rc;
}

int
fg_jdb_mark_open (fg_journal_t *self, int mark_rc, const fg_jdb_mark_t *mark,
                  const fg_error_t *mark_err, fg_error_t *err)
{
    if (mark_rc && mark_rc != FG_ENOENT)
        return fg_error_set (err, mark_rc, "%s; fedgrid cannot tell whether the journal lost "
                             "committed rounds: run `fedctl journal verify %s`, and if it says "
                             "OK remove %s/%s and resume", mark_err->msg, self->dir, self->dir,
                             FG_JOURNAL_MARK_FILE);
    int rc = mark_rc == 0? fg_jdb_mark_check (self, mark, false, err): 0;
    if (rc || !self->have_last)
        return rc;
    if (mark_rc == 0 && mark->round == self->last)
        return 0;
    if (mark_rc == 0 && self->last > mark->round + 1)
        fg_info ("journal %s: %s was %u rounds behind; brought up to date", self->path,
                 FG_JOURNAL_MARK_FILE, self->last - mark->round);
    if ((rc = s_mark_catch_up (self, err)))
        fg_error_prefix (err, "round %u is committed, but its mark cannot be written",
                         self->last);
    return rc;
}

int
fg_jdb_mark_after_commit (fg_journal_t *self, uint32_t round, const void *blob, size_t size,
                          fg_error_t *err)
{
    //  The commit is durable; a crash here leaves the mark one round behind.
    fg_crash_point ("journal.mark.before");
    int rc = fg_jdb_mark_write (self, round, blob, size, err);
    if (rc)
        fg_error_prefix (err, "round %u is committed, but its mark cannot be written "
                         "(resume writes it)", round);
    return rc;
}
