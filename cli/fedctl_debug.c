/*  fedctl debug — tools for developers and test drivers.                 */

#include "fedctl.h"
#include "fg_crash.h"

#include <string.h>

int
fedctl_cmd_debug (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv [1], "crashpoints") == 0) {
        const char *description;
        for (size_t i = 0; fg_crash_point_name (i, &description); i++)
            printf ("%-28s %s\n", fg_crash_point_name (i, NULL), description);
        return EX_OK;
    }
    FILE *out = argc == 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0)
              ? stdout: stderr;
    fprintf (out,
        "usage: fedctl debug crashpoints\n"
        "\n"
        "Lists the named crash points. FEDGRID_CRASH=point:n makes a process kill\n"
        "itself with SIGKILL on the n-th pass of that point (crash-injection tests).\n");
    return out == stdout? EX_OK: EX_USAGE;
}
