/*  fg_file.h — whole-file reads and crash-safe writes (internal).

    fg_file_write_atomic writes tmp -> fflush -> fsync -> rename -> fsync
    of the directory, so a reader sees the old file or the new one, never a
    half-written one, even after a power cut.                              */

#ifndef FG_FILE_H_INCLUDED
#define FG_FILE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Reads all of path into a NUL-terminated buffer (*data, *size without
//  the NUL). Refuses files larger than max_size with FG_ERANGE.
//  Caller owns *data and frees it with free ().
//  Returns 0, FG_ENOENT, FG_EIO, FG_ERANGE or FG_ENOMEM.
int
    fg_file_read (const char *path, size_t max_size, char **data, size_t *size,
                  fg_error_t *err);

//  Replaces path with data atomically (see above); mode as for open (2).
//  Returns 0, FG_EFULL (disk full or quota), FG_EIO (the message names
//  the file, the failing step and the reason: fg_file_strerror) or
//  FG_EEXIST when exclusive is true and path exists.
int
    fg_file_write_atomic (const char *path, const void *data, size_t size,
                          int mode, int exclusive, fg_error_t *err);

//  A file written piece by piece, at any offset, then put in place like
//  fg_file_write_atomic (tmp -> fsync -> rename -> fsync of the
//  directory): a large file (a checkpoint, a blob) needs no buffer of its
//  whole size in memory.
typedef struct _fg_file_out_t fg_file_out_t;

//  Opens path's temporary file (path.tmp.PID) into *out. Returns 0,
//  FG_ENOMEM, FG_EFULL or FG_EIO (*out NULL).
int
    fg_file_out_open (const char *path, int mode, fg_file_out_t **out, fg_error_t *err);

//  Writes size bytes at offset at. Returns 0, FG_EFULL or FG_EIO.
int
    fg_file_out_write (fg_file_out_t *self, uint64_t at, const void *data, size_t size,
                       fg_error_t *err);

//  Ends the file and frees self (NULL-safe). rc 0 (every piece written):
//  fsync, close, rename over path, fsync of the directory; returns 0,
//  FG_EFULL or FG_EIO (the temporary file removed). rc a failure: the
//  temporary file is closed and removed, path is untouched; returns rc.
int
    fg_file_out_close (fg_file_out_t **self_p, int rc, fg_error_t *err);

//  The reason of a failed write for messages: "disk full (No space left
//  on device): free some space" for ENOSPC, the quota for EDQUOT,
//  strerror otherwise. Never NULL.
const char *
    fg_file_strerror (int errnum);

//  FG_EFULL for ENOSPC, EDQUOT and EFBIG; FG_EIO otherwise.
int
    fg_file_errno_code (int errnum);

//  Creates directory path and its missing parents (like mkdir -p).
//  Returns 0 or FG_EIO.
int
    fg_file_mkdirs (const char *path, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
