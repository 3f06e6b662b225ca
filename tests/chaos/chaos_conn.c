/*  chaos_conn.c — one connection of the chaos proxy: the client socket,
    the upstream socket and a pipe per direction.

    A pipe holds the bytes read from its source in a bounded ring, cut in
    chunks that each carry a due time: arrival + latency + a jitter draw,
    raised to the previous chunk's due time so bytes stay in order. A
    chunk is written once due, when the direction is not stalled, within
    the tokens of its bandwidth bucket. A full ring (or chunk table) stops
    reading from the source: the sender's socket buffers fill and TCP
    pushes back, as a slow link would; nothing is ever queued unbounded.  */

#include "chaos_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define S_CHUNKS 1024               //  chunks in flight per direction

typedef struct {
    uint32_t len;
    int64_t due;                    //  monotonic ns: not written before
} s_chunk_t;

typedef struct {
    uint8_t *buf;                   //  ring of bytes read, not yet written
    size_t cap, head, len;
    s_chunk_t chunk [S_CHUNKS];     //  ring of chunks; their lengths sum to len
    size_t c_head, c_len;
    int64_t last_due;
    double rate, burst, tokens;     //  token bucket (rate 0: no cap)
    int64_t tok_at;
    int64_t stall_until;
    bool stalled;                   //  a stall is on (its end is logged)
    bool src_eof;                   //  the source sent FIN: forward it once drained
    bool dst_shut;                  //  FIN sent to the destination
    bool cut;                       //  half-closed: source bytes are read and lost
    bool want_out;                  //  the last write would block
    fg_rng_t jitter;
    uint64_t bytes_in, bytes_out, bytes_lost;
} s_pipe_t;

struct chaos_conn {
    const chaos_opts_t *opts;
    uint32_t id;
    int fd [2];                     //  client, upstream; -1: closed
    bool connecting;                //  upstream connect in progress
    int64_t opened;
    s_pipe_t pipe [2];              //  [CHAOS_UP] reads fd [0], writes fd [1]
    chaos_sched_t sched;
};

static const char *s_dir_names [2] = { "up", "down" };

static double
s_secs (int64_t ns)
{
    return (double) ns / (double) CHAOS_NS;
}

//  Closes both sockets, with an RST (SO_LINGER 0) or a FIN, and logs what
//  went through each way. A clean close first shuts the write side, then
//  reads and discards what is pending, as a close with unread bytes would
//  send an RST instead of a FIN.
static void
s_conn_close (chaos_conn_t *self, bool reset)
{
    for (int i = 0; i < 2; i++) {
        if (self->fd [i] < 0)
            continue;
        if (reset) {
            struct linger lin = { .l_onoff = 1, .l_linger = 0 };
            setsockopt (self->fd [i], SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
        }
        else {
            uint8_t sink [4096];
            shutdown (self->fd [i], SHUT_WR);
            for (int n = 0; n < 64 && read (self->fd [i], sink, sizeof sink) > 0; n++)
                ;
        }
        close (self->fd [i]);
        self->fd [i] = -1;
    }
    s_pipe_t *up = &self->pipe [CHAOS_UP], *down = &self->pipe [CHAOS_DOWN];
    for (int d = 0; d < 2; d++) {
        self->pipe [d].bytes_lost += self->pipe [d].len;
        self->pipe [d].len = self->pipe [d].c_len = 0;
    }
    chaos_log (self->id, "event=close up_in=%llu up_out=%llu up_lost=%llu down_in=%llu"
               " down_out=%llu down_lost=%llu how=%s",
               (unsigned long long) up->bytes_in, (unsigned long long) up->bytes_out,
               (unsigned long long) up->bytes_lost, (unsigned long long) down->bytes_in,
               (unsigned long long) down->bytes_out, (unsigned long long) down->bytes_lost,
               reset? "rst": "fin");
}

//  An I/O error on a socket: the other side is reset too, as the error
//  would have reached it end to end.
static void
s_conn_abort (chaos_conn_t *self, const char *what, int dir, int error)
{
    chaos_log (self->id, "event=error dir=%s on=%s error=%s", s_dir_names [dir], what,
               strerror (error));
    s_conn_close (self, true);
}

static void
s_pipe_init (s_pipe_t *pipe, const chaos_opts_t *opts, uint32_t id, int d, int64_t now)
{
    pipe->cap = opts->buffer;
    pipe->rate = opts->bandwidth [d];
    //  a burst of 50 ms of the rate, at least 1 KiB, at most the buffer
    pipe->burst = fmin (fmax (pipe->rate / 20.0, 1024.0), (double) opts->buffer);
    pipe->tokens = pipe->burst;
    pipe->tok_at = now;
    fg_rng_init (&pipe->jitter, opts->seed, FG_RNG_CHAOS, id, CHAOS_STREAM_JITTER + (uint32_t) d, 0, 0);
}

static int
s_connect_upstream (chaos_conn_t *self)
{
    const chaos_opts_t *opts = self->opts;
    int fd = socket (opts->up_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    self->fd [1] = fd;
    if (connect (fd, (const struct sockaddr *) &opts->up_addr, opts->up_len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    self->connecting = true;
    return 0;
}

chaos_conn_t *
chaos_conn_new (const chaos_opts_t *opts, uint32_t id, int fd, int64_t now)
{
    chaos_conn_t *self = calloc (1, sizeof *self);
    if (self) {
        self->pipe [0].buf = malloc (opts->buffer);
        self->pipe [1].buf = malloc (opts->buffer);
    }
    if (!self || !self->pipe [0].buf || !self->pipe [1].buf) {
        chaos_log (id, "event=refused reason=out-of-memory");
        if (self) {
            free (self->pipe [0].buf);
            free (self->pipe [1].buf);
        }
        free (self);
        close (fd);
        return NULL;
    }
    self->opts = opts;
    self->id = id;
    self->fd [0] = fd;
    self->fd [1] = -1;
    self->opened = now;
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int d = 0; d < 2; d++)
        s_pipe_init (&self->pipe [d], opts, id, d, now);
    chaos_sched_init (&self->sched, opts, id);
    int rc = s_connect_upstream (self);
    if (rc) {
        chaos_log (id, "event=connect-failed error=%s", strerror (-rc));
        s_conn_close (self, true);
        chaos_conn_destroy (&self);
    }
    return self;
}

void
chaos_conn_destroy (chaos_conn_t **self_p)
{
    chaos_conn_t *self = *self_p;
    if (!self)
        return;
    if (self->fd [0] >= 0 || self->fd [1] >= 0)
        s_conn_close (self, false);
    free (self->pipe [0].buf);
    free (self->pipe [1].buf);
    free (self);
    *self_p = NULL;
}

//  ---- events ------------------------------------------------------------

static void
s_half_close (chaos_conn_t *self, int d)
{
    s_pipe_t *pipe = &self->pipe [d];
    int dst = self->fd [1 - d];
    pipe->bytes_lost += pipe->len;
    pipe->len = pipe->c_len = 0;
    pipe->cut = true;
    if (!pipe->dst_shut && dst >= 0 && !(d == CHAOS_UP && self->connecting))
        shutdown (dst, SHUT_WR);
    pipe->dst_shut = true;
}

static void
s_fire (chaos_conn_t *self, const chaos_event_t *ev, int64_t now)
{
    int dirs = ev->dirs;
    switch (ev->kind) {
        case CHAOS_STALL:
            chaos_log (self->id, "event=stall at=%.3f for=%.3f dir=%s", s_secs (ev->at_ns),
                       s_secs (ev->for_ns), chaos_dirs_name (dirs));
            for (int d = 0; d < 2; d++)
                if (dirs & (1 << d)) {
                    s_pipe_t *pipe = &self->pipe [d];
                    if (pipe->stall_until < now + ev->for_ns)
                        pipe->stall_until = now + ev->for_ns;
                    pipe->stalled = true;
                }
            break;
        case CHAOS_RESET:
            chaos_log (self->id, "event=reset at=%.3f", s_secs (ev->at_ns));
            s_conn_close (self, true);
            break;
        case CHAOS_DROP:
            chaos_log (self->id, "event=drop at=%.3f", s_secs (ev->at_ns));
            s_conn_close (self, false);
            break;
        case CHAOS_HALF_CLOSE:
            if (dirs == CHAOS_DIR_BOTH)     //  a listed "either": drawn
                dirs = fg_rng_below (&self->sched.rng [CHAOS_HALF_CLOSE], 2)? CHAOS_DIR_DOWN: CHAOS_DIR_UP;
            chaos_log (self->id, "event=half-close at=%.3f dir=%s", s_secs (ev->at_ns),
                       chaos_dirs_name (dirs));
            s_half_close (self, dirs == CHAOS_DIR_UP? CHAOS_UP: CHAOS_DOWN);
            break;
        default:
            break;
    }
}

static void
s_fire_due (chaos_conn_t *self, int64_t now)
{
    chaos_event_t ev;
    while (!chaos_conn_done (self) && chaos_sched_peek (&self->sched, self->opts, self->id, &ev)
        && self->opened + ev.at_ns <= now) {
        chaos_sched_pop (&self->sched, self->opts, self->id);
        s_fire (self, &ev, now);
    }
    for (int d = 0; d < 2; d++)
        if (self->pipe [d].stalled && self->pipe [d].stall_until <= now) {
            self->pipe [d].stalled = false;
            chaos_log (self->id, "event=stall-end dir=%s", s_dir_names [d]);
        }
}

//  ---- the pipes ---------------------------------------------------------

static bool
s_can_read (const chaos_conn_t *self, int d)
{
    const s_pipe_t *pipe = &self->pipe [d];
    if (self->fd [d] < 0 || pipe->src_eof || (d == CHAOS_DOWN && self->connecting))
        return false;
    return pipe->cut || (pipe->len < pipe->cap && pipe->c_len < S_CHUNKS);
}

static bool
s_can_write (const chaos_conn_t *self, int d)
{
    const s_pipe_t *pipe = &self->pipe [d];
    return self->fd [1 - d] >= 0 && !pipe->dst_shut && !(d == CHAOS_UP && self->connecting);
}

//  Queues n bytes just read (the ring already holds them) as a chunk.
static void
s_pipe_queue (s_pipe_t *pipe, const chaos_opts_t *opts, size_t n, int64_t now)
{
    int64_t due = now + opts->latency_ns;
    if (opts->jitter_ns > 0)
        due += (int64_t) (fg_rng_uniform_double (&pipe->jitter) * (double) (opts->jitter_ns + 1));
    if (due < pipe->last_due)
        due = pipe->last_due;
    pipe->last_due = due;
    pipe->len += n;
    pipe->bytes_in += n;
    if (pipe->c_len > 0) {
        s_chunk_t *last = &pipe->chunk [(pipe->c_head + pipe->c_len - 1) % S_CHUNKS];
        if (last->due == due && last->len + n <= UINT32_MAX) {
            last->len += (uint32_t) n;
            return;
        }
    }
    pipe->chunk [(pipe->c_head + pipe->c_len) % S_CHUNKS] = (s_chunk_t) { (uint32_t) n, due };
    pipe->c_len++;
}

static void
s_pipe_read (chaos_conn_t *self, int d, int64_t now)
{
    s_pipe_t *pipe = &self->pipe [d];
    uint8_t sink [16384];
    struct iovec iov [2];
    int parts = 1;
    if (pipe->cut)
        iov [0] = (struct iovec) { sink, sizeof sink };
    else {
        size_t tail = (pipe->head + pipe->len) % pipe->cap, free_ = pipe->cap - pipe->len;
        size_t first = tail + free_ <= pipe->cap? free_: pipe->cap - tail;
        iov [0] = (struct iovec) { pipe->buf + tail, first };
        iov [1] = (struct iovec) { pipe->buf, free_ - first };
        parts = free_ > first? 2: 1;
    }
    ssize_t n = readv (self->fd [d], iov, parts);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0)
        s_conn_abort (self, "read", d, errno);
    else
    if (n == 0) {
        pipe->src_eof = true;
        chaos_log (self->id, "event=eof dir=%s", s_dir_names [d]);
    }
    else
    if (pipe->cut)
        pipe->bytes_lost += (size_t) n;
    else
        s_pipe_queue (pipe, self->opts, (size_t) n, now);
}

static void
s_refill (s_pipe_t *pipe, int64_t now)
{
    if (pipe->rate > 0 && now > pipe->tok_at) {
        pipe->tokens = fmin (pipe->burst, pipe->tokens + pipe->rate * s_secs (now - pipe->tok_at));
        pipe->tok_at = now;
    }
}

//  Bytes that may be written now: due, not stalled, within the tokens.
static size_t
s_pipe_ready (s_pipe_t *pipe, int64_t now)
{
    if (pipe->stall_until > now)
        return 0;
    size_t ready = 0;
    for (size_t i = 0; i < pipe->c_len; i++) {
        const s_chunk_t *c = &pipe->chunk [(pipe->c_head + i) % S_CHUNKS];
        if (c->due > now)
            break;
        ready += c->len;
    }
    if (pipe->rate > 0) {
        s_refill (pipe, now);
        ready = (size_t) fmin ((double) ready, floor (pipe->tokens));
    }
    return ready;
}

static void
s_pipe_consume (s_pipe_t *pipe, size_t n)
{
    pipe->head = (pipe->head + n) % pipe->cap;
    pipe->len -= n;
    pipe->bytes_out += n;
    if (pipe->rate > 0)
        pipe->tokens -= (double) n;
    while (n > 0) {
        s_chunk_t *c = &pipe->chunk [pipe->c_head];
        size_t take = n < c->len? n: c->len;
        c->len -= (uint32_t) take;
        n -= take;
        if (c->len == 0) {
            pipe->c_head = (pipe->c_head + 1) % S_CHUNKS;
            pipe->c_len--;
        }
    }
}

static void
s_pipe_write (chaos_conn_t *self, int d, int64_t now)
{
    s_pipe_t *pipe = &self->pipe [d];
    pipe->want_out = false;
    if (!s_can_write (self, d))
        return;
    size_t ready = s_pipe_ready (pipe, now);
    if (ready > 0) {
        size_t first = pipe->head + ready <= pipe->cap? ready: pipe->cap - pipe->head;
        struct iovec iov [2] = { { pipe->buf + pipe->head, first }, { pipe->buf, ready - first } };
        ssize_t n = writev (self->fd [1 - d], iov, ready > first? 2: 1);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            pipe->want_out = true;
            return;
        }
        if (n < 0) {
            s_conn_abort (self, "write", d, errno);
            return;
        }
        s_pipe_consume (pipe, (size_t) n);
    }
    if (pipe->len == 0 && pipe->src_eof && !pipe->dst_shut) {
        shutdown (self->fd [1 - d], SHUT_WR);
        pipe->dst_shut = true;
    }
}

//  ---- service -----------------------------------------------------------

static void
s_check_connect (chaos_conn_t *self, short revents)
{
    if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
        return;
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt (self->fd [1], SOL_SOCKET, SO_ERROR, &error, &len) < 0)
        error = errno;
    if (error == EINPROGRESS)
        return;
    self->connecting = false;
    if (error) {
        chaos_log (self->id, "event=connect-failed error=%s", strerror (error));
        s_conn_close (self, true);
    }
    else
    if (self->pipe [CHAOS_UP].cut)      //  half-closed while connecting
        shutdown (self->fd [1], SHUT_WR);
}

void
chaos_conn_service (chaos_conn_t *self, const short revents [2], int64_t now)
{
    if (self->connecting && self->fd [1] >= 0)
        s_check_connect (self, revents [1]);
    s_fire_due (self, now);
    for (int d = 0; d < 2 && !chaos_conn_done (self); d++)
        if ((revents [d] & (POLLIN | POLLHUP | POLLERR)) && s_can_read (self, d))
            s_pipe_read (self, d, now);
    for (int d = 0; d < 2 && !chaos_conn_done (self); d++)
        s_pipe_write (self, d, now);
    if (!chaos_conn_done (self)
        && self->pipe [0].src_eof && self->pipe [0].dst_shut
        && self->pipe [1].src_eof && self->pipe [1].dst_shut)
        s_conn_close (self, false);
}

void
chaos_conn_poll_want (const chaos_conn_t *self, int fds [2], short events [2])
{
    for (int i = 0; i < 2; i++) {
        fds [i] = self->fd [i];
        events [i] = 0;
        if (s_can_read (self, i))
            events [i] |= POLLIN;
        if (self->pipe [1 - i].want_out)
            events [i] |= POLLOUT;
    }
    if (self->connecting)
        events [1] = POLLOUT;
    //  a socket we want nothing from is left out: its POLLHUP or POLLERR
    //  (a peer gone while our buffer is full) would wake the loop again
    //  and again until the other side drains
    for (int i = 0; i < 2; i++)
        if (!events [i])
            fds [i] = -1;
}

//  When pipe d can write again without I/O: its head chunk is due, its
//  stall ends, or its bucket holds enough tokens; INT64_MAX: never.
static int64_t
s_pipe_deadline (const chaos_conn_t *self, int d)
{
    const s_pipe_t *pipe = &self->pipe [d];
    int64_t at = pipe->stalled? pipe->stall_until: INT64_MAX;
    if (pipe->len == 0 || pipe->want_out || !s_can_write (self, d))
        return at;
    int64_t t = pipe->chunk [pipe->c_head].due;
    if (t < pipe->stall_until)
        t = pipe->stall_until;
    if (pipe->rate > 0) {
        //  at most about 100 writes a second, byte by byte at low rates
        double need = fmin ((double) pipe->len, fmax (1.0, pipe->rate / 100.0));
        if (pipe->tokens < need) {
            int64_t full = pipe->tok_at + (int64_t) ceil ((need - pipe->tokens) / pipe->rate * (double) CHAOS_NS);
            if (t < full)
                t = full;
        }
    }
    return t < at? t: at;
}

int64_t
chaos_conn_deadline (chaos_conn_t *self, int64_t now)
{
    if (chaos_conn_done (self))
        return now;
    int64_t t = INT64_MAX;
    for (int d = 0; d < 2; d++) {
        int64_t p = s_pipe_deadline (self, d);
        if (p < t)
            t = p;
    }
    chaos_event_t ev;
    if (chaos_sched_peek (&self->sched, self->opts, self->id, &ev)
        && self->opened + ev.at_ns < t)
        t = self->opened + ev.at_ns;
    return t;
}

bool
chaos_conn_done (const chaos_conn_t *self)
{
    return self->fd [0] < 0 && self->fd [1] < 0;
}
