/*  fg_test_util.c — temporary folders for the unit tests.                */

#include "fg_test_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

int
fg_test_tmpdir (const char *name, char *dir, size_t size)
{
    const char *tmp = getenv ("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    int len = snprintf (dir, size, "%s/%s-XXXXXX", tmp, name);
    if (len < 0 || (size_t) len >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp (dir)? 0: -1;
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

int
fg_test_rmtree (const char *path)
{
    //  depth first (a folder after its contents); FTW_PHYS: a link is
    //  removed, never followed
    return nftw (path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

int
fg_test_run_tap (int (*run) (void))
{
    const char *output = getenv ("CMOCKA_MESSAGE_OUTPUT");
    int fds [2];
    if (!output || strcasecmp (output, "TAP") || pipe (fds))
        return run ();
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0)
        return run ();
    if (pid == 0) {
        close (fds [0]);
        dup2 (fds [1], STDOUT_FILENO);
        close (fds [1]);
        int rc = run ();
        fflush (stdout);
        _exit (rc);
    }
    close (fds [1]);
    FILE *in = fdopen (fds [0], "r");
    char line [4096];
    while (in && fgets (line, sizeof line, in)) {
        bool skipped = strncmp (line, "not ok ", 7) == 0 && strstr (line, " # SKIP");
        fputs (skipped? line + 4: line, stdout);
        fflush (stdout);
    }
    if (in)
        fclose (in);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status)? WEXITSTATUS (status): 1;
}

long
fg_test_minor_faults (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}
