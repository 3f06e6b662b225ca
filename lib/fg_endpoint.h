/*  fg_endpoint.h — ZeroMQ endpoints as users type them, checked before a
    socket sees them.

    libzmq takes a malformed connect endpoint ("127.0.0.1:7799" without
    tcp://, "tcp://300.1.1.1:x") and retries it for ever; a worker would
    then warn every few seconds about a grid it can never reach. This
    module says what is wrong, and what was probably meant, at once.

    Accepted (docs/configuration.md, "Endpoints"):
      tcp://HOST:PORT   HOST: a dotted IPv4 address (four numbers 0..255),
                        a bracketed IPv6 address ([::1]), or a host name
                        (letters, digits, '-', '.'; labels of 1..63, at most
                        253 characters; an all-numeric name must be IPv4);
                        for a bind also '*' or an interface name.
                        PORT: 1..65535; for a bind also '*' or 0 (any).
      ipc://PATH        a non-empty path
      inproc://NAME     a non-empty name                                   */

#ifndef FG_ENDPOINT_H_INCLUDED
#define FG_ENDPOINT_H_INCLUDED

#include <stdbool.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Checks endpoint for a connect (bind false) or a bind (bind true).
//  Returns 0, or FG_EINVAL with a message that quotes the endpoint (its
//  printable characters), says which part is wrong and, for a missing
//  scheme, the endpoint with tcp:// in front.
int
    fg_endpoint_check (const char *endpoint, bool bind, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
