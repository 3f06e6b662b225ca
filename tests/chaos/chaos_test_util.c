/*  chaos_test_util.c — what test_chaos_proxy.c uses to drive the chaos
    proxy: start it as a real process in front of a listener of the test,
    stop it with a signal, sockets with time limits, its log.            */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chaos_test_util.h"

char chaos_test_dir [64];

double
chaos_test_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

const char *
chaos_test_binary (void)
{
    const char *path = getenv ("CHAOS_PROXY");
    return path && *path? path: "tests/chaos/chaos-proxy";
}

int
chaos_test_listener (int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    assert_true (fd >= 0);
    assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal (listen (fd, 16), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *) &addr, &len), 0);
    *port = ntohs (addr.sin_port);
    return fd;
}

//  Runs argv, its stdout into out (size bytes, the first line when
//  line_only), stderr into a file; returns the pid. The caller waits.
pid_t
chaos_test_spawn (const char **argv, char *out, size_t size, bool line_only, const char *err_path)
{
    int fds [2];
    assert_int_equal (pipe (fds), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        dup2 (fds [1], 1);
        int err = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err >= 0)
            dup2 (err, 2);
        execv (argv [0], (char **) argv);
        _exit (127);
    }
    close (fds [1]);
    size_t got = 0;
    double until = chaos_test_now () + CHAOS_TEST_WAIT;
    while (got + 1 < size && chaos_test_now () < until) {
        struct pollfd pfd = { fds [0], POLLIN, 0 };
        if (poll (&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read (fds [0], out + got, size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t) n;
        out [got] = 0;
        if (line_only && memchr (out, '\n', got))
            break;
    }
    out [got] = 0;
    close (fds [0]);
    return pid;
}

//  Starts the proxy in front of a fresh upstream listener of the test,
//  with the extra options args (NULL-terminated), logging to NAME.log.
void
chaos_test_proxy_start (chaos_test_proxy_t *p, const char *name, const char *const *args)
{
    int up_port;
    char upstream [64], out [64], err [160];
    p->up = chaos_test_listener (&up_port);
    snprintf (upstream, sizeof upstream, "127.0.0.1:%d", up_port);
    snprintf (p->log, sizeof p->log, "%s/%s.log", chaos_test_dir, name);
    snprintf (err, sizeof err, "%s/%s.err", chaos_test_dir, name);
    const char *argv [40] = { chaos_test_binary (), "--listen", "127.0.0.1:0", "--upstream", upstream,
                              "--log", p->log };
    int n = 7;
    while (args && *args && n < 39)
        argv [n++] = *args++;
    argv [n] = NULL;
    p->pid = chaos_test_spawn (argv, out, sizeof out, true, err);
    p->port = atoi (out);
    if (p->port <= 0)
        fail_msg ("the proxy printed no port ('%s')", out);
}

//  Stops the proxy with sig; it must exit 0.
void
chaos_test_proxy_stop (chaos_test_proxy_t *p, int sig)
{
    int status = 0;
    kill (p->pid, sig);
    assert_int_equal (waitpid (p->pid, &status, 0), p->pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    close (p->up);
}

int
chaos_test_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    assert_true (fd >= 0);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

//  The proxy's connection to the test's upstream listener.
int
chaos_test_accept (const chaos_test_proxy_t *p)
{
    struct pollfd pfd = { p->up, POLLIN, 0 };
    assert_int_equal (poll (&pfd, 1, (int) (CHAOS_TEST_WAIT * 1000)), 1);
    int fd = accept (p->up, NULL, NULL);
    assert_true (fd >= 0);
    return fd;
}

//  Waits for fd to be readable, then recv; returns recv's result (errno
//  set when negative). Fails the test after CHAOS_TEST_WAIT seconds.
ssize_t
chaos_test_recv (int fd, void *buf, size_t n)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    if (poll (&pfd, 1, (int) (CHAOS_TEST_WAIT * 1000)) != 1)
        fail_msg ("nothing to read after %.0f s", CHAOS_TEST_WAIT);
    return recv (fd, buf, n, 0);
}

void
chaos_test_recv_exact (int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n; ) {
        ssize_t r = chaos_test_recv (fd, (char *) buf + got, n - got);
        if (r <= 0)
            fail_msg ("connection ended after %zu of %zu bytes (%s)", got, n, r? strerror (errno): "EOF");
        got += (size_t) r;
    }
}

void
chaos_test_send (int fd, const void *buf, size_t n)
{
    assert_int_equal (send (fd, buf, n, MSG_NOSIGNAL), (ssize_t) n);
}

//  True when nothing arrives on fd within seconds (recv 0 or an error
//  count as arriving).
bool
chaos_test_quiet (int fd, double seconds)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    return poll (&pfd, 1, (int) (seconds * 1000)) == 0;
}

char *
chaos_test_read_file (const char *path)
{
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    char *text = calloc (1, 1 << 20);
    assert_non_null (text);
    size_t n = fread (text, 1, (1 << 20) - 1, f);
    text [n] = 0;
    fclose (f);
    return text;
}

int
chaos_test_count (const char *text, const char *needle)
{
    int n = 0;
    for (const char *at = strstr (text, needle); at; at = strstr (at + 1, needle))
        n++;
    return n;
}

//  The scheduled events of connection conn in a log: "event=... at=..."
//  parts of its lines with an at=, one per line.
void
chaos_test_schedule_of (const char *log, int conn, char *out, size_t size)
{
    char tag [32];
    snprintf (tag, sizeof tag, " conn=%d event=", conn);
    size_t used = 0;
    out [0] = 0;
    for (const char *line = log; line && *line; line = strchr (line, '\n')? strchr (line, '\n') + 1: NULL) {
        const char *end = strchr (line, '\n'), *hit = strstr (line, tag);
        size_t len = end? (size_t) (end - line): strlen (line);
        if (!hit || hit > line + len || !memmem (line, len, " at=", 4))
            continue;
        hit += strlen (tag) - strlen ("event=");
        int n = snprintf (out + used, size - used, "%.*s\n", (int) (line + len - hit), hit);
        assert_true (n > 0 && (size_t) n < size - used);
        used += (size_t) n;
    }
}

