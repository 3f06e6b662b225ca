/*  chaos_proxy.h — what the files of the chaos proxy share (internal).

    The chaos proxy sits on TCP between fedctl workers and a coordinator
    and forwards bytes (it never parses ZMTP) through a bounded buffer per
    direction, adding latency, jitter, a bandwidth cap, stalls, resets,
    half-closes and drops from a schedule drawn per connection from
    fg_rng (seed, FG_RNG_CHAOS, connection, kind): the same seed replays
    the same events at the same offsets. docs/chaos.md, "The chaos proxy".

    chaos_proxy.c  options, --help, main
    chaos_sched.c  the per-connection event schedule and the event syntax
    chaos_conn.c   one connection: its two directions, their buffers
    chaos_loop.c   the single-threaded poll loop, listener, signals, log   */

#ifndef CHAOS_PROXY_H_INCLUDED
#define CHAOS_PROXY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "fg_rng.h"

//  Directions of a connection: up is client -> upstream (worker ->
//  coordinator), down is upstream -> client. As a mask: 1 up, 2 down.
enum { CHAOS_UP = 0, CHAOS_DOWN = 1 };
enum { CHAOS_DIR_UP = 1, CHAOS_DIR_DOWN = 2, CHAOS_DIR_BOTH = 3 };

//  What the schedule injects. The numbers key the rng streams: append only.
typedef enum {
    CHAOS_STALL      = 0,       //  hold the bytes of dirs for for_ns
    CHAOS_RESET      = 1,       //  RST to both sides (SO_LINGER 0, close)
    CHAOS_HALF_CLOSE = 2,       //  FIN to one side, that direction's bytes lost
    CHAOS_DROP       = 3,       //  FIN to both sides, buffered bytes lost
    CHAOS_KINDS      = 4
} chaos_kind_t;

//  Rng stream (the "shard" word) of each direction's jitter draws.
#define CHAOS_STREAM_JITTER 16

#define CHAOS_NS 1000000000LL
#define CHAOS_NO_CONN UINT32_MAX
#define CHAOS_MAX_EVENTS 100000         //  --event + --schedule lines, in all
#define CHAOS_MAX_S 1000000.0           //  longest period or stall, seconds

typedef struct {
    int64_t conn;               //  connection number, -1: every connection
    int64_t at_ns;              //  offset from the connection's accept
    chaos_kind_t kind;
    int dirs;                   //  stall: mask; half-close: 1, 2 or 3 (either)
    int64_t for_ns;             //  stall: how long
} chaos_event_t;

typedef struct {
    struct sockaddr_storage listen_addr, up_addr;
    socklen_t listen_len, up_len;
    uint64_t seed;
    int64_t latency_ns, jitter_ns;
    double bandwidth [2];       //  bytes/s per direction, 0: no cap
    double every [CHAOS_KINDS]; //  mean period in seconds, 0: off
    int64_t stall_for_ns;       //  with every [CHAOS_STALL]
    int half_close_dirs;        //  1 up, 2 down, 3 either (seeded)
    double spread;              //  periods drawn in every * [1-spread, 1+spread]
    size_t buffer;              //  bytes per direction per connection
    uint32_t max_conns;
    const char *log_path;       //  NULL: stderr
    chaos_event_t *events;      //  --event and --schedule, sorted by at_ns
    size_t n_events, cap_events;
} chaos_opts_t;

//  One connection's schedule: the next random event of each kind and the
//  next listed event (opts->events) that applies to it.
typedef struct {
    fg_rng_t rng [CHAOS_KINDS];
    int64_t next [CHAOS_KINDS]; //  offset of the next random event, INT64_MAX: none
    int half_dirs;              //  direction of the random half-close
    size_t listed;              //  index of the next listed event to look at
} chaos_sched_t;

//  ---- chaos_sched.c ----------------------------------------------------

//  A finite decimal number in [min, max], the whole text. Returns 0 or -1.
int
    chaos_parse_number (const char *text, double min, double max, double *value);

//  Parses one event "CONN AT KIND [ARGS]" (CONN a number or *, AT seconds
//  from the connection's accept; stall FOR [up|down|both], half-close
//  [up|down|either], reset, drop) into ev. Returns 0, or -1 with a reason
//  in why (size bytes).
int
    chaos_event_parse (const char *text, chaos_event_t *ev, char *why, size_t size);

//  Appends the events of --event text or of a schedule file to opts.
//  Returns 0, or -1 with a message naming the option or file:line in why.
int
    chaos_events_add (chaos_opts_t *opts, const char *text, const char *where,
                      char *why, size_t size);
int
    chaos_events_load (chaos_opts_t *opts, const char *path, char *why, size_t size);

//  Sorts opts->events by offset (stable: equal offsets keep their order).
void
    chaos_events_sort (chaos_opts_t *opts);

//  The schedule of connection conn: a pure function of (seed, conn, opts).
void
    chaos_sched_init (chaos_sched_t *self, const chaos_opts_t *opts, uint32_t conn);

//  The next event of connection conn into ev (not consumed). Returns true,
//  or false when nothing more is scheduled.
bool
    chaos_sched_peek (chaos_sched_t *self, const chaos_opts_t *opts, uint32_t conn,
                      chaos_event_t *ev);

//  Consumes the event chaos_sched_peek returned, drawing the next one of
//  its kind.
void
    chaos_sched_pop (chaos_sched_t *self, const chaos_opts_t *opts, uint32_t conn);

const char *
    chaos_kind_name (chaos_kind_t kind);
const char *
    chaos_dirs_name (int dirs);

//  ---- chaos_conn.c -----------------------------------------------------

typedef struct chaos_conn chaos_conn_t;

//  A connection accepted as fd (now its owner), number id; starts the
//  connect to the upstream. Returns NULL when out of memory or when the
//  connect fails at once (fd closed with RST, event logged).
chaos_conn_t *
    chaos_conn_new (const chaos_opts_t *opts, uint32_t id, int fd, int64_t now);

//  Closes what is open (cleanly) and frees.
void
    chaos_conn_destroy (chaos_conn_t **self_p);

//  Fires due events, reads what is readable and writes what is due.
//  revents [0] / [1]: poll results of the client / upstream socket.
void
    chaos_conn_service (chaos_conn_t *self, const short revents [2], int64_t now);

//  Poll events wanted on the client / upstream socket (fd -1: none), and
//  the earliest time the connection needs service without I/O.
void
    chaos_conn_poll_want (const chaos_conn_t *self, int fds [2], short events [2]);
int64_t
    chaos_conn_deadline (chaos_conn_t *self, int64_t now);

//  True once both sockets are closed: destroy it.
bool
    chaos_conn_done (const chaos_conn_t *self);

//  ---- chaos_loop.c -----------------------------------------------------

//  Monotonic nanoseconds.
int64_t
    chaos_now (void);

//  Logs one line "t=S conn=N event=..." (t: seconds since the proxy
//  started; conn CHAOS_NO_CONN: no conn field). fmt starts with event=.
void
    chaos_log (uint32_t conn, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Opens the log (opts->log_path or stderr), binds and listens, prints the
//  port on stdout, and forwards until SIGTERM or SIGINT. Returns the exit
//  status: 0 on a signal, 1 when the listener or the log cannot be set up
//  (reason on stderr).
int
    chaos_loop_run (const chaos_opts_t *opts);

#endif
