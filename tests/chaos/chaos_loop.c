/*  chaos_loop.c — the chaos proxy's single-threaded poll loop: the
    listener, the connections, the event log and the signals that end it.
    SIGTERM and SIGINT are blocked except inside ppoll, so a signal is
    never lost between the check of the flag and the wait.               */

#include "chaos_proxy.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t s_signal;
static FILE *s_log;
static int64_t s_start;

int64_t
chaos_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * CHAOS_NS + ts.tv_nsec;
}

void
chaos_log (uint32_t conn, const char *fmt, ...)
{
    if (!s_log)
        return;
    fprintf (s_log, "t=%.3f ", (double) (chaos_now () - s_start) / (double) CHAOS_NS);
    if (conn != CHAOS_NO_CONN)
        fprintf (s_log, "conn=%u ", conn);
    va_list args;
    va_start (args, fmt);
    vfprintf (s_log, fmt, args);
    va_end (args);
    fputc ('\n', s_log);
}

static void
s_on_signal (int sig)
{
    s_signal = sig;
}

static void
s_addr_text (const struct sockaddr *addr, socklen_t len, char *text, size_t size)
{
    char host [NI_MAXHOST], port [NI_MAXSERV];
    if (getnameinfo (addr, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV))
        snprintf (text, size, "?");
    else
        snprintf (text, size, addr->sa_family == AF_INET6? "[%s]:%s": "%s:%s", host, port);
}

//  Binds and listens; prints the port on stdout. Returns the socket or -1.
static int
s_listen (const chaos_opts_t *opts)
{
    int fd = socket (opts->listen_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind (fd, (const struct sockaddr *) &opts->listen_addr, opts->listen_len)
        || listen (fd, 128)) {
        fprintf (stderr, "chaos-proxy: --listen: cannot listen: %s\n", strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char text [NI_MAXHOST + NI_MAXSERV + 4], up [NI_MAXHOST + NI_MAXSERV + 4];
    getsockname (fd, (struct sockaddr *) &addr, &len);
    s_addr_text ((const struct sockaddr *) &addr, len, text, sizeof text);
    s_addr_text ((const struct sockaddr *) &opts->up_addr, opts->up_len, up, sizeof up);
    int port = (int) ntohs (addr.ss_family == AF_INET6? ((struct sockaddr_in6 *) &addr)->sin6_port
                                                     : ((struct sockaddr_in *) &addr)->sin_port);
    struct timespec wall;
    clock_gettime (CLOCK_REALTIME, &wall);
    chaos_log (CHAOS_NO_CONN, "event=start wall=%lld.%03ld listen=%s upstream=%s seed=%llu",
               (long long) wall.tv_sec, wall.tv_nsec / 1000000, text, up,
               (unsigned long long) opts->seed);
    printf ("%d\n", port);
    fflush (stdout);
    return fd;
}

static int
s_signals (sigset_t *wait_mask)
{
    struct sigaction act = { .sa_handler = s_on_signal };
    sigemptyset (&act.sa_mask);
    signal (SIGPIPE, SIG_IGN);
    sigset_t block;
    sigemptyset (&block);
    sigaddset (&block, SIGTERM);
    sigaddset (&block, SIGINT);
    if (sigaction (SIGTERM, &act, NULL) || sigaction (SIGINT, &act, NULL)
        || sigprocmask (SIG_BLOCK, &block, wait_mask))
        return -1;
    sigdelset (wait_mask, SIGTERM);
    sigdelset (wait_mask, SIGINT);
    return 0;
}

typedef struct {
    const chaos_opts_t *opts;
    int listener;
    chaos_conn_t **conns;
    uint32_t n_conns, next_id;
    struct pollfd *pfd;             //  listener, then two per connection
} s_loop_t;

static void
s_accept (s_loop_t *self, int64_t now)
{
    for (int i = 0; i < 16 && self->n_conns < self->opts->max_conns; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4 (self->listener, (struct sockaddr *) &addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                chaos_log (CHAOS_NO_CONN, "event=accept-failed error=%s", strerror (errno));
            return;
        }
        char peer [NI_MAXHOST + NI_MAXSERV + 4];
        s_addr_text ((const struct sockaddr *) &addr, len, peer, sizeof peer);
        uint32_t id = self->next_id++;
        chaos_log (id, "event=open peer=%s", peer);
        chaos_conn_t *conn = chaos_conn_new (self->opts, id, fd, now);
        if (conn)
            self->conns [self->n_conns++] = conn;
    }
}

//  One turn: wait for I/O or the nearest deadline, then serve everything.
static void
s_turn (s_loop_t *self, const sigset_t *wait_mask)
{
    int64_t now = chaos_now (), deadline = INT64_MAX;
    nfds_t n = 1;
    self->pfd [0] = (struct pollfd) { self->listener, self->n_conns < self->opts->max_conns? POLLIN: 0, 0 };
    for (uint32_t i = 0; i < self->n_conns; i++) {
        int fds [2];
        short events [2];
        chaos_conn_poll_want (self->conns [i], fds, events);
        for (int j = 0; j < 2; j++)
            self->pfd [n++] = (struct pollfd) { fds [j], events [j], 0 };
        int64_t t = chaos_conn_deadline (self->conns [i], now);
        if (t < deadline)
            deadline = t;
    }
    struct timespec ts, *timeout = NULL;
    if (deadline != INT64_MAX) {
        int64_t wait = deadline > now? deadline - now: 0;
        ts = (struct timespec) { wait / CHAOS_NS, wait % CHAOS_NS };
        timeout = &ts;
    }
    if (ppoll (self->pfd, n, timeout, wait_mask) < 0 && errno != EINTR)
        chaos_log (CHAOS_NO_CONN, "event=poll-failed error=%s", strerror (errno));
    now = chaos_now ();
    uint32_t served = self->n_conns, kept = 0;
    for (uint32_t i = 0; i < served; i++) {
        short revents [2] = { self->pfd [1 + 2 * i].revents, self->pfd [2 + 2 * i].revents };
        chaos_conn_service (self->conns [i], revents, now);
        if (chaos_conn_done (self->conns [i]))
            chaos_conn_destroy (&self->conns [i]);
        else
            self->conns [kept++] = self->conns [i];
    }
    self->n_conns = kept;
    if (self->pfd [0].revents & POLLIN)
        s_accept (self, now);
}

int
chaos_loop_run (const chaos_opts_t *opts)
{
    s_start = chaos_now ();
    s_log = stderr;
    if (opts->log_path && !(s_log = fopen (opts->log_path, "a"))) {
        fprintf (stderr, "chaos-proxy: --log: cannot open %s: %s\n", opts->log_path, strerror (errno));
        return 1;
    }
    setvbuf (s_log, NULL, _IOLBF, 0);
    sigset_t wait_mask;
    s_loop_t self = { .opts = opts, .listener = -1 };
    self.conns = calloc (opts->max_conns, sizeof *self.conns);
    self.pfd = calloc (1 + 2 * (size_t) opts->max_conns, sizeof *self.pfd);
    int rc = 1;
    if (!self.conns || !self.pfd || s_signals (&wait_mask))
        fprintf (stderr, "chaos-proxy: cannot set up: %s\n", strerror (errno));
    else
    if ((self.listener = s_listen (opts)) >= 0) {
        while (!s_signal)
            s_turn (&self, &wait_mask);
        rc = 0;
    }
    for (uint32_t i = 0; i < self.n_conns; i++)
        chaos_conn_destroy (&self.conns [i]);
    if (rc == 0)
        chaos_log (CHAOS_NO_CONN, "event=exit signal=%s", s_signal == SIGINT? "INT": "TERM");
    if (self.listener >= 0)
        close (self.listener);
    free (self.conns);
    free (self.pfd);
    if (s_log != stderr)
        fclose (s_log);
    s_log = NULL;
    return rc;
}
