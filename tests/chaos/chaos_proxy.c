/*  chaos_proxy.c — the chaos proxy of fedgrid's tests: a TCP proxy that
    sits between fedctl workers and a coordinator started with --listen
    and, per connection and from a seeded schedule, adds latency and
    jitter, caps bandwidth, stalls forwarding, resets, half-closes and
    drops the connection. It forwards bytes and never parses ZMTP, so it
    works the same with or without CURVE. This file: the options, their
    checks and main. docs/chaos.md, "The chaos proxy".

    Exit status: 0 after SIGTERM or SIGINT, 64 for a bad option (the
    reason on stderr), 1 when the listener or the log cannot be set up.  */

#include "chaos_proxy.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

static const char *s_usage =
"usage: chaos-proxy --listen HOST:PORT --upstream HOST:PORT [OPTIONS]\n"
"\n"
"Forwards TCP connections from --listen to --upstream through a bounded\n"
"buffer per direction, injecting faults from a schedule drawn per\n"
"connection from --seed (the same seed replays the same events at the\n"
"same offsets). Prints the port it listens on (one line on stdout; PORT 0\n"
"picks a free one), logs every event, exits cleanly on SIGTERM/SIGINT.\n"
"\n"
"  --listen HOST:PORT      where clients connect (HOST * for every address;\n"
"                          a tcp:// prefix is accepted)\n"
"  --upstream HOST:PORT    where each connection is forwarded\n"
"  --seed N                seed of the schedule (default 1)\n"
"  --latency-ms MS         one-way delay added to every byte\n"
"  --jitter-ms MS          plus a delay drawn uniform in [0, MS] per chunk\n"
"                          (order is kept: a chunk never overtakes another)\n"
"  --bandwidth RATE        bytes/s per direction (token bucket); RATE is a\n"
"                          number with an optional k M G (x1000) or Ki Mi Gi\n"
"  --bandwidth-up RATE     the client -> upstream direction only\n"
"  --bandwidth-down RATE   the upstream -> client direction only\n"
"  --stall-every S         stall both directions every S seconds on average\n"
"  --stall-for T           ... for T seconds each (bytes are held, not lost)\n"
"  --reset-every S         reset each connection (RST to both sides) S\n"
"                          seconds on average after it was accepted\n"
"  --half-close-every S    half-close each connection after S seconds on\n"
"                          average: FIN to one side, the bytes of that\n"
"                          direction are lost from then on\n"
"  --half-close-dir DIR    up, down or either (default: drawn per connection)\n"
"  --drop-every S          close each connection cleanly (FIN to both sides,\n"
"                          buffered bytes lost) S seconds after its accept\n"
"  --spread F              periods are drawn uniform in S*[1-F, 1+F]\n"
"                          (default 0.5; 0: exactly every S seconds)\n"
"  --event 'CONN AT KIND [ARGS]'   one event at AT seconds after the accept\n"
"                          of connection CONN (a number from 0, or *):\n"
"                          stall FOR [up|down|both], reset, drop,\n"
"                          half-close [up|down|either]; repeatable\n"
"  --schedule FILE         events, one per line as for --event, # comments\n"
"  --buffer BYTES          buffer per direction per connection (default\n"
"                          256Ki, 4Ki..64Mi); when full, reading stops\n"
"  --max-conns N           connections at once (default 256); more wait in\n"
"                          the listen backlog\n"
"  --log FILE              append the event log to FILE (default stderr)\n"
"  --help                  this text\n"
"\n"
"Directions: up is client -> upstream (worker -> coordinator), down is\n"
"upstream -> client. Log lines: t=SECONDS conn=N event=KIND [key=value...],\n"
"t counted from the start; scheduled events carry at=OFFSET, seconds from\n"
"the connection's accept.\n";

static int
s_bad (const char *option, const char *value, const char *want)
{
    fprintf (stderr, "chaos-proxy: %s: '%s': %s (see --help)\n", option, value, want);
    return -1;
}

//  A byte count or rate: a number with an optional k M G or Ki Mi Gi.
static int
s_bytes (const char *text, double min, double max, double *value)
{
    static const struct { const char *suffix; double factor; } units [] = {
        { "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
        { "k", 1e3 }, { "K", 1e3 }, { "M", 1e6 }, { "G", 1e9 }, { "", 1 } };
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || !isfinite (v) || !(text [0] >= '0' && text [0] <= '9'))
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units [0]; i++)
        if (!strcmp (end, units [i].suffix)) {
            v *= units [i].factor;
            if (v < min || v > max)
                return -1;
            *value = v;
            return 0;
        }
    return -1;
}

//  HOST:PORT (or [V6]:PORT, with an optional tcp:// prefix) to an address.
static int
s_address (const char *option, const char *text, bool listen, struct sockaddr_storage *addr,
           socklen_t *len)
{
    const char *at = strncmp (text, "tcp://", 6)? text: text + 6;
    char host [256], *colon;
    if (strlen (at) >= sizeof host)
        return s_bad (option, text, "longer than 255 characters");
    strcpy (host, at);
    if (!(colon = strrchr (host, ':')) || colon == host)
        return s_bad (option, text, "want HOST:PORT");
    *colon = 0;
    const char *port = colon + 1;
    char *name = host;
    if (name [0] == '[' && colon [-1] == ']') {
        name++;
        colon [-1] = 0;
    }
    double p;
    if (chaos_parse_number (port, listen? 0: 1, 65535, &p) || !port [0] || port [strspn (port, "0123456789")])
        return s_bad (option, text, listen? "PORT a number in [0, 65535]": "PORT a number in [1, 65535]");
    bool any = !strcmp (name, "*");
    if (any && !listen)
        return s_bad (option, text, "HOST * only for --listen");
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | (any? AI_PASSIVE: 0) }, *res = NULL;
    int rc = getaddrinfo (any? NULL: name, port, &hints, &res);
    if (rc || !res)
        return s_bad (option, text, rc? gai_strerror (rc): "no address");
    memcpy (addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo (res);
    return 0;
}

enum {
    O_LISTEN = 256, O_UPSTREAM, O_SEED, O_LATENCY, O_JITTER, O_BW, O_BW_UP, O_BW_DOWN,
    O_STALL_EVERY, O_STALL_FOR, O_RESET_EVERY, O_HALF_EVERY, O_HALF_DIR, O_DROP_EVERY,
    O_SPREAD, O_EVENT, O_SCHEDULE, O_BUFFER, O_MAX_CONNS, O_LOG, O_HELP
};

static const struct option s_options [] = {
    { "listen", 1, NULL, O_LISTEN }, { "upstream", 1, NULL, O_UPSTREAM },
    { "seed", 1, NULL, O_SEED }, { "latency-ms", 1, NULL, O_LATENCY },
    { "jitter-ms", 1, NULL, O_JITTER }, { "bandwidth", 1, NULL, O_BW },
    { "bandwidth-up", 1, NULL, O_BW_UP }, { "bandwidth-down", 1, NULL, O_BW_DOWN },
    { "stall-every", 1, NULL, O_STALL_EVERY }, { "stall-for", 1, NULL, O_STALL_FOR },
    { "reset-every", 1, NULL, O_RESET_EVERY }, { "half-close-every", 1, NULL, O_HALF_EVERY },
    { "half-close-dir", 1, NULL, O_HALF_DIR }, { "drop-every", 1, NULL, O_DROP_EVERY },
    { "spread", 1, NULL, O_SPREAD }, { "event", 1, NULL, O_EVENT },
    { "schedule", 1, NULL, O_SCHEDULE }, { "buffer", 1, NULL, O_BUFFER },
    { "max-conns", 1, NULL, O_MAX_CONNS }, { "log", 1, NULL, O_LOG },
    { "help", 0, NULL, O_HELP }, { NULL, 0, NULL, 0 }
};

//  Milliseconds in [0, 10 minutes] to nanoseconds.
static int
s_ms (const char *option, const char *text, int64_t *ns)
{
    double v;
    if (chaos_parse_number (text, 0, 600000, &v))
        return s_bad (option, text, "milliseconds in [0, 600000]");
    *ns = (int64_t) llround (v * 1e6);
    return 0;
}

//  A period or duration in seconds: (0, CHAOS_MAX_S], at least 1 ms.
static int
s_period (const char *option, const char *text, double *s)
{
    if (chaos_parse_number (text, 0.001, CHAOS_MAX_S, s))
        return s_bad (option, text, "seconds in [0.001, 1000000]");
    return 0;
}

static int
s_option (chaos_opts_t *o, int c, const char *name, const char *v, bool *have)
{
    double x;
    char why [1536];
    switch (c) {
        case O_LISTEN:   have [0] = true; return s_address (name, v, true, &o->listen_addr, &o->listen_len);
        case O_UPSTREAM: have [1] = true; return s_address (name, v, false, &o->up_addr, &o->up_len);
        case O_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull (v, &end, 10);
            return errno || end == v || *end || v [0] == '-'? s_bad (name, v, "a number in [0, 2^64)"): 0;
        }
        case O_LATENCY:  return s_ms (name, v, &o->latency_ns);
        case O_JITTER:   return s_ms (name, v, &o->jitter_ns);
        case O_BW: case O_BW_UP: case O_BW_DOWN:
            if (s_bytes (v, 1, 1e12, &x))
                return s_bad (name, v, "bytes/s in [1, 1e12], e.g. 250000, 250k, 2Mi");
            if (c != O_BW_DOWN)
                o->bandwidth [CHAOS_UP] = x;
            if (c != O_BW_UP)
                o->bandwidth [CHAOS_DOWN] = x;
            return 0;
        case O_STALL_EVERY: return s_period (name, v, &o->every [CHAOS_STALL]);
        case O_STALL_FOR:
            if (s_period (name, v, &x))
                return -1;
            o->stall_for_ns = (int64_t) llround (x * (double) CHAOS_NS);
            return 0;
        case O_RESET_EVERY: return s_period (name, v, &o->every [CHAOS_RESET]);
        case O_HALF_EVERY:  return s_period (name, v, &o->every [CHAOS_HALF_CLOSE]);
        case O_DROP_EVERY:  return s_period (name, v, &o->every [CHAOS_DROP]);
        case O_HALF_DIR:
            o->half_close_dirs = !strcmp (v, "up")? CHAOS_DIR_UP: !strcmp (v, "down")? CHAOS_DIR_DOWN
                               : !strcmp (v, "either")? CHAOS_DIR_BOTH: 0;
            return o->half_close_dirs? 0: s_bad (name, v, "up, down or either");
        case O_SPREAD:
            return chaos_parse_number (v, 0, 1, &o->spread)? s_bad (name, v, "a number in [0, 1]"): 0;
        case O_EVENT:
            if (chaos_events_add (o, v, "--event", why, sizeof why) == 0)
                return 0;
            fprintf (stderr, "chaos-proxy: %s (see --help)\n", why);
            return -1;
        case O_SCHEDULE:
            if (chaos_events_load (o, v, why, sizeof why) == 0)
                return 0;
            fprintf (stderr, "chaos-proxy: %s (see --help)\n", why);
            return -1;
        case O_BUFFER:
            if (s_bytes (v, 4096, 64.0 * 1048576, &x) || x != floor (x))
                return s_bad (name, v, "bytes in [4Ki, 64Mi]");
            o->buffer = (size_t) x;
            return 0;
        case O_MAX_CONNS:
            if (chaos_parse_number (v, 1, 4096, &x) || x != floor (x))
                return s_bad (name, v, "a number in [1, 4096]");
            o->max_conns = (uint32_t) x;
            return 0;
        case O_LOG: o->log_path = v; return 0;
        default: return -1;
    }
}

//  Parses argv into opts. Returns 0, 1 for --help, -1 for a bad option.
static int
s_parse (int argc, char **argv, chaos_opts_t *o)
{
    *o = (chaos_opts_t) { .seed = 1, .spread = 0.5, .buffer = 256 * 1024, .max_conns = 256,
                          .half_close_dirs = CHAOS_DIR_BOTH };
    bool have [2] = { false, false };
    opterr = 0;
    int c, index;
    while ((c = getopt_long (argc, argv, ":", s_options, &index)) != -1) {
        if (c == O_HELP)
            return 1;
        if (c == '?' || c == ':') {
            fprintf (stderr, "chaos-proxy: %s: %s (see --help)\n", argv [optind - 1],
                     c == ':'? "needs a value": "unknown option");
            return -1;
        }
        char name [32];
        snprintf (name, sizeof name, "--%s", s_options [index].name);
        if (s_option (o, c, name, optarg, have))
            return -1;
    }
    if (optind < argc) {
        fprintf (stderr, "chaos-proxy: unexpected argument '%s' (see --help)\n", argv [optind]);
        return -1;
    }
    if (!have [0] || !have [1]) {
        fprintf (stderr, "chaos-proxy: --listen and --upstream are required (see --help)\n");
        return -1;
    }
    if ((o->every [CHAOS_STALL] > 0) != (o->stall_for_ns > 0)) {
        fprintf (stderr, "chaos-proxy: --stall-every and --stall-for go together (see --help)\n");
        return -1;
    }
    chaos_events_sort (o);
    return 0;
}

int
main (int argc, char **argv)
{
    chaos_opts_t opts;
    int rc = s_parse (argc, argv, &opts);
    if (rc == 0)
        rc = chaos_loop_run (&opts);
    else
    if (rc == 1) {
        fputs (s_usage, stdout);
        rc = 0;
    }
    else
        rc = 64;
    free (opts.events);
    return rc;
}
