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

int
fg_file_write_atomic (const char *path, const void *data, size_t size,
                      int mode, int exclusive, fg_error_t *err)
{
    const char *step = "stat";
    if (exclusive && access (path, F_OK) == 0)
        return fg_error_set (err, FG_EEXIST, "%s: already exists", path);
    size_t tmp_size = strlen (path) + 32;
    char *tmp = malloc (tmp_size);
    if (!tmp)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", path);
    snprintf (tmp, tmp_size, "%s.tmp.%ld", path, (long) getpid ());
    int fd = -1;

    step = "create temporary file";
    fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        goto fail;
    step = "write";
    const char *bytes = (const char *) data;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, bytes + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = ENOSPC;             //  nothing written, no error: no room
        if (n <= 0)
            goto fail;
        done += (size_t) n;
    }
    step = "fsync";
    if (fsync (fd))
        goto fail;
    step = "close";
    if (close (fd)) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    step = "rename";
    if (rename (tmp, path))
        goto fail;
    step = "fsync directory";
    if (s_fsync_dir (path))
        goto fail;
    free (tmp);
    return 0;

fail:;
    int saved = errno;
    if (fd >= 0)
        close (fd);
    unlink (tmp);
    free (tmp);
    return fg_error_set (err, fg_file_errno_code (saved), "%s: cannot write (%s): %s", path,
                         step, fg_file_strerror (saved));
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
