/*  fg_endpoint.c — ZeroMQ endpoints checked before use (fg_endpoint.h).  */

#include "fg_endpoint.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HOST_MAX 253

//  The endpoint as it may be quoted in a message: at most 80 printable
//  characters, anything else as '?'.
static void
s_quote (const char *endpoint, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = endpoint; *p && n + 4 < size && n < 80; p++)
        out [n++] = (*p >= 0x20 && *p < 0x7F)? *p: '?';
    if (endpoint [n] && n + 4 < size) {
        memcpy (out + n, "...", 3);
        n += 3;
    }
    out [n] = '\0';
}

//  A decimal number of 1..max digits' value in [0, limit], all of text [0, n).
static bool
s_number (const char *text, size_t n, unsigned long limit, unsigned long *value)
{
    if (n == 0 || n > 5)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit ((unsigned char) text [i]))
            return false;
        v = v * 10 + (unsigned long) (text [i] - '0');
    }
    *value = v;
    return v <= limit;
}

//  Four dotted numbers 0..255.
static bool
s_ipv4 (const char *host, size_t n)
{
    size_t start = 0, parts = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || host [i] == '.') {
            unsigned long v;
            if (!s_number (host + start, i - start, 255, &v) || i - start > 3)
                return false;
            parts++;
            start = i + 1;
        }
    return parts == 4;
}

//  Why host [0, n) is not a host (or NULL when it is one).
static const char *
s_host_problem (const char *host, size_t n, bool bind)
{
    if (n == 0)
        return "the host is empty";
    if (bind && n == 1 && host [0] == '*')
        return NULL;
    if (host [0] == '[') {
        if (n < 3 || host [n - 1] != ']')
            return "an IPv6 address is written [ADDRESS]";
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit ((unsigned char) host [i]) && host [i] != ':' && host [i] != '.')
                return "an IPv6 address holds hex digits, ':' and '.' only";
        return NULL;
    }
    if (n > S_HOST_MAX)
        return "the host name is longer than 253 characters";
    bool numeric = true;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = host [i];
        if (c == '.') {
            if (label == 0)
                return "the host has an empty label ('..' or a leading '.')";
            label = 0;
            continue;
        }
        if (!isalnum ((unsigned char) c) && c != '-' && c != '_')
            return "the host holds a character other than letters, digits, '-', '_' and '.'";
        if (++label > 63)
            return "a label of the host name is longer than 63 characters";
        numeric = numeric && isdigit ((unsigned char) c);
    }
    if (label == 0 && n > 0 && host [n - 1] == '.')
        return "the host ends with '.'";
    if (numeric && !s_ipv4 (host, n))
        return "the host is not an IPv4 address (four numbers 0..255 joined by '.')";
    return NULL;
}

//  tcp://HOST:PORT (the text after the scheme).
static const char *
s_tcp_problem (const char *rest, bool bind)
{
    const char *semicolon = strchr (rest, ';');
    if (semicolon && !bind)
        rest = semicolon + 1;           //  "source;destination": the destination
    const char *colon = strrchr (rest, ':');
    if (!colon || (rest [0] == '[' && colon < strchr (rest, ']')))
        return "no :PORT after the host";
    const char *why = s_host_problem (rest, (size_t) (colon - rest), bind);
    if (why)
        return why;
    const char *port = colon + 1;
    unsigned long v;
    if (bind && strcmp (port, "*") == 0)
        return NULL;
    if (!s_number (port, strlen (port), 65535, &v))
        return "the port is not a number 1..65535";
    if (v == 0 && !bind)
        return "port 0 can only be bound, not connected to";
    return NULL;
}

int
fg_endpoint_check (const char *endpoint, bool bind, fg_error_t *err)
{
    assert (endpoint);
    char quoted [96];
    s_quote (endpoint, quoted, sizeof quoted);
    const char *why = NULL;
    if (strncmp (endpoint, "tcp://", 6) == 0)
        why = s_tcp_problem (endpoint + 6, bind);
    else
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        why = endpoint [strncmp (endpoint, "ipc://", 6) == 0? 6: 9]? NULL: "the name is empty";
    else
    if (!strstr (endpoint, "://") && s_tcp_problem (endpoint, bind) == NULL)
        return fg_error_set (err, FG_EINVAL, "endpoint '%s' has no scheme: did you mean "
                             "'tcp://%s'?", quoted, quoted);
    else
        why = "it does not start with tcp://, ipc:// or inproc://";
    if (why)
        return fg_error_set (err, FG_EINVAL, "endpoint '%s': %s (expected tcp://HOST:PORT, "
                             "e.g. tcp://192.168.1.10:7700)", quoted, why);
    for (const char *p = endpoint; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7F)
            return fg_error_set (err, FG_EINVAL, "endpoint '%s': holds a control character",
                                 quoted);
    return 0;
}
