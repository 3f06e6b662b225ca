/*  chaos_test_util.h — helpers of test_chaos_proxy.c: the chaos proxy run
    as a real process in front of a listener of the test, sockets with
    time limits, the proxy's event log. Every helper fails the running
    cmocka test (never hangs) when something does not arrive within
    CHAOS_TEST_WAIT seconds.                                             */

#ifndef CHAOS_TEST_UTIL_H_INCLUDED
#define CHAOS_TEST_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CHAOS_TEST_WAIT 30.0

//  The test's temporary folder (set up by the test program).
extern char chaos_test_dir [64];

typedef struct {
    pid_t pid;
    int port;                       //  where the proxy listens
    int up;                         //  the test's upstream listener
    char log [128];                 //  the proxy's --log
} chaos_test_proxy_t;

//  Monotonic seconds.
double
    chaos_test_now (void);

//  $CHAOS_PROXY, or tests/chaos/chaos-proxy (make check runs in the build
//  folder).
const char *
    chaos_test_binary (void);

//  A listening socket on 127.0.0.1, port chosen by the kernel.
int
    chaos_test_listener (int *port);

//  Runs argv (argv [0] a path) with stdout into out (size bytes; only the
//  first line when line_only) and stderr into err_path. Returns the pid;
//  the caller waits for it.
pid_t
    chaos_test_spawn (const char **argv, char *out, size_t size, bool line_only,
                      const char *err_path);

//  Starts the proxy in front of a fresh upstream listener with the extra
//  options args (NULL-terminated), logging to chaos_test_dir/NAME.log;
//  reads the port it prints. Stop sends sig and checks exit status 0.
void
    chaos_test_proxy_start (chaos_test_proxy_t *p, const char *name, const char *const *args);
void
    chaos_test_proxy_stop (chaos_test_proxy_t *p, int sig);

//  A client connection to 127.0.0.1:port (TCP_NODELAY), and the proxy's
//  connection to the upstream listener.
int
    chaos_test_connect (int port);
int
    chaos_test_accept (const chaos_test_proxy_t *p);

//  recv once readable (its result, errno set when negative); n bytes
//  exactly; send all of buf.
ssize_t
    chaos_test_recv (int fd, void *buf, size_t n);
void
    chaos_test_recv_exact (int fd, void *buf, size_t n);
void
    chaos_test_send (int fd, const void *buf, size_t n);

//  True when fd stays unreadable (no byte, no EOF, no error) for seconds.
bool
    chaos_test_quiet (int fd, double seconds);

//  A file's text (at most 1 MiB; free it), and how often needle occurs.
char *
    chaos_test_read_file (const char *path);
int
    chaos_test_count (const char *text, const char *needle);

//  The scheduled events of connection conn in a proxy log: the
//  "event=... at=..." part of each of its lines with an at=, one a line.
void
    chaos_test_schedule_of (const char *log, int conn, char *out, size_t size);

#endif
