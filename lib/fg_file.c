/*  fg_file.c — whole-file reads and crash-safe writes (see fg_file.h).   */

#include "fg_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
fg_file_read (const char *path, size_t max_size, char **data, size_t *size,
              fg_error_t *err)
{
    *data = NULL;
    *size = 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fg_error_set (err, errno == ENOENT? FG_ENOENT: FG_EIO,
                             "%s: cannot open: %s", path, strerror (errno));
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        int saved = errno;
        close (fd);
        return fg_error_set (err, FG_EIO, "%s: not a regular file%s%s", path,
                             saved? ": ": "", saved? strerror (saved): "");
    }
    if ((uint64_t) st.st_size > max_size) {
        close (fd);
        return fg_error_set (err, FG_ERANGE, "%s: file is %lld bytes, more than the %zu allowed",
                             path, (long long) st.st_size, max_size);
    }
    char *buffer = malloc ((size_t) st.st_size + 1);
    if (!buffer) {
        close (fd);
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    }
    size_t have = 0;
    while (have < (size_t) st.st_size) {
        ssize_t n = read (fd, buffer + have, (size_t) st.st_size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n? errno: 0;
            free (buffer);
            close (fd);
            return fg_error_set (err, FG_EIO, "%s: read failed at byte %zu: %s", path, have,
                                 saved? strerror (saved): "file shrank while reading");
        }
        have += (size_t) n;
    }
    close (fd);
    buffer [have] = '\0';
    *data = buffer;
    *size = have;
    return 0;
}

static int
s_fsync_dir (const char *path)
{
    char *copy = strdup (path);
    if (!copy)
        return -1;
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free (copy);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

struct _fg_file_out_t {
    int   fd;
    char *path;
    char *tmp;                          //  path.tmp.PID
};

//  Closes and removes the temporary file (when not renamed); frees self.
static void
s_out_destroy (fg_file_out_t **self_p)
{
    fg_file_out_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    if (self->tmp)
        unlink (self->tmp);
    free (self->tmp);
    free (self->path);
    free (self);
    *self_p = NULL;
}

static int
s_out_fail (fg_file_out_t **self_p, const char *step, int saved, fg_error_t *err)
{
    fg_file_out_t *self = *self_p;
    int rc = fg_error_set (err, fg_file_errno_code (saved), "%s: cannot write (%s): %s",
                           self->path, step, fg_file_strerror (saved));
    s_out_destroy (self_p);
    return rc;
}

int
fg_file_out_open (const char *path, int mode, fg_file_out_t **out, fg_error_t *err)
{
    *out = NULL;
    fg_file_out_t *self = calloc (1, sizeof *self);
    size_t tmp_size = strlen (path) + 32;
    if (self) {
        self->fd = -1;
        self->path = strdup (path);
        self->tmp = malloc (tmp_size);
    }
    if (!self || !self->path || !self->tmp) {
        if (self) {                     //  no file yet: nothing to unlink
            free (self->tmp);
            self->tmp = NULL;
        }
        s_out_destroy (&self);
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    }
    snprintf (self->tmp, tmp_size, "%s.tmp.%ld", path, (long) getpid ());
    self->fd = open (self->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (self->fd < 0)
        return s_out_fail (&self, "create temporary file", errno, err);
    *out = self;
    return 0;
}

int
fg_file_out_write (fg_file_out_t *self, uint64_t at, const void *data, size_t size,
                   fg_error_t *err)
{
    const char *bytes = (const char *) data;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite (self->fd, bytes + done, size - done, (off_t) (at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = ENOSPC;             //  nothing written, no error: no room
        if (n <= 0)
            return fg_error_set (err, fg_file_errno_code (errno), "%s: cannot write (write): %s",
                                 self->path, fg_file_strerror (errno));
        done += (size_t) n;
    }
    return 0;
}

int
fg_file_out_close (fg_file_out_t **self_p, int rc, fg_error_t *err)
{
    fg_file_out_t *self = *self_p;
    if (!self || rc) {
        s_out_destroy (self_p);
        return rc;
    }
    if (fsync (self->fd))
        return s_out_fail (self_p, "fsync", errno, err);
    int fd = self->fd;
    self->fd = -1;
    if (close (fd))
        return s_out_fail (self_p, "close", errno, err);
    if (rename (self->tmp, self->path))
        return s_out_fail (self_p, "rename", errno, err);
    //  renamed: nothing left to remove
    free (self->tmp);
    self->tmp = NULL;
    if (s_fsync_dir (self->path))
        return s_out_fail (self_p, "fsync directory", errno, err);
    s_out_destroy (self_p);
    return 0;
}

int
fg_file_write_atomic (const char *path, const void *data, size_t size,
                      int mode, int exclusive, fg_error_t *err)
{
    if (exclusive && access (path, F_OK) == 0)
        return fg_error_set (err, FG_EEXIST, "%s: already exists", path);
    fg_file_out_t *out;
    int rc = fg_file_out_open (path, mode, &out, err);
    if (rc == 0)
        rc = fg_file_out_write (out, 0, data, size, err);
    return fg_file_out_close (&out, rc, err);
}

int
fg_file_errno_code (int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT || errnum == EFBIG? FG_EFULL: FG_EIO;
}

const char *
fg_file_strerror (int errnum)
{
    switch (errnum) {
        case ENOSPC: return "disk full (No space left on device): free some space";
        case EDQUOT: return "disk quota exceeded: free some space or raise the quota";
        case EFBIG:  return "file too large for this filesystem";
        case 0:      return "unknown reason (no error code)";
        default:     return strerror (errnum);
    }
}

int
fg_file_mkdirs (const char *path, fg_error_t *err)
{
    char *copy = strdup (path);
    if (!copy)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir (copy, 0755) && errno != EEXIST) {
                int e = errno;
                fg_error_set (err, FG_EIO, "%s: cannot create directory: %s", copy, strerror (e));
                free (copy);
                return FG_EIO;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    struct stat st;
    int rc = stat (copy, &st) == 0 && S_ISDIR (st.st_mode)? 0:
        fg_error_set (err, FG_EIO, "%s: exists and is not a directory", copy);
    free (copy);
    return rc;
}
