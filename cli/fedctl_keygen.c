/*  fedctl keygen — a CURVE key pair for a coordinator (DIR/coordinator.key,
    made by fedctl start when missing) or any other NAME.                 */

#include "fedctl.h"
#include "fg_security.h"

#include <getopt.h>
#include <string.h>

int
fedctl_cmd_keygen (int argc, char **argv)
{
    static const struct option options [] = {
        { "name", required_argument, NULL, 'n' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *name = FG_SECURITY_SERVER_NAME;
    int c;
    while ((c = getopt_long (argc, argv, "n:h", options, NULL)) != -1) {
        switch (c) {
            case 'n': name = optarg; break;
            case 'h':
            default:
                fprintf (c == 'h'? stdout: stderr,
                    "usage: fedctl keygen DIR [--name NAME]\n"
                    "\n"
                    "Makes a CURVE key pair (CZMQ certificate format): DIR/NAME, the public\n"
                    "key to hand out, and DIR/NAME_secret (mode 0600). NAME defaults to\n"
                    "%s, the coordinator's pair in an experiment folder (fedctl\n"
                    "start makes it when missing); fedctl worker makes its own %s\n"
                    "in its --cache folder. Never overwrites a pair. Prints the public key.\n",
                    FG_SECURITY_SERVER_NAME, FG_SECURITY_WORKER_NAME);
                return c == 'h'? EX_OK: EX_USAGE;
        }
    }
    if (optind != argc - 1 || !*name || strchr (name, '/')) {
        fedctl_fail ("usage: fedctl keygen DIR [--name NAME] (NAME without '/')");
        return EX_USAGE;
    }
    fg_keypair_t keys;
    fg_error_t err;
    if (fg_security_keygen (argv [optind], name, &keys, &err)) {
        fedctl_fail ("%s", err.msg);
        return fedctl_exit_code (err.code);
    }
    printf ("%s\n", keys.public_txt);
    fprintf (stderr, "fedctl: wrote %s/%s (public) and %s/%s_secret (secret, mode 0600)\n",
             argv [optind], name, argv [optind], name);
    memset (&keys, 0, sizeof keys);
    return EX_OK;
}
