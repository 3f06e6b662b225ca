/*  test_chaos_proxy.c — the chaos proxy (tests/chaos/chaos-proxy), run as
    a real process between a client socket and a server socket of this
    test over real TCP on 127.0.0.1: bytes arrive unchanged and in order
    under latency and jitter, the latency, the bandwidth cap, a stall, a
    reset, both half-closes, periodic drops, a refused upstream,
    back-pressure from the bounded buffer, the same schedule from the same
    seed, bad options refused. Time bounds are one-sided where load could
    break them: what the proxy must delay is checked against a lower bound
    (a loaded machine only adds delay); upper bounds are generous.       */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos_test_util.h"
#include "fg_rng.h"
#include "fg_test_util.h"

#define S_ARGS(...) ((const char *const []) { __VA_ARGS__, NULL })

static void
s_random_bytes (uint8_t *buf, size_t n, uint32_t stream)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 20261207, FG_RNG_TEST, stream, 0, 0, 0);
    for (size_t i = 0; i < n; i += 4) {
        uint32_t word = fg_rng_u32 (&rng);
        memcpy (buf + i, &word, n - i < 4? n - i: 4);
    }
}

static void
s_nonblock (int fd)
{
    fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
}

//  Closes the test's ends (-1: none), stops the proxy with SIGTERM (it
//  must exit 0) and checks that its log holds every one of needles (a
//  NULL-terminated list, or NULL).
static void
s_stop_expect (chaos_test_proxy_t *p, int client, int server, const char *const *needles)
{
    if (client >= 0)
        close (client);
    if (server >= 0)
        close (server);
    chaos_test_proxy_stop (p, SIGTERM);
    if (!needles)
        return;
    char *log = chaos_test_read_file (p->log);
    for (; *needles; needles++)
        if (!strstr (log, *needles))
            fail_msg ("the proxy's log lacks '%s':\n%s", *needles, log);
    free (log);
}

//  Sends data from client through the proxy to server, which echoes it
//  back through the proxy; what comes back to the client lands in got.
//  One poll loop plays both ends, so nothing blocks on a full buffer.
static void
s_echo_through (int client, int server, const uint8_t *data, size_t n, uint8_t *got)
{
    static uint8_t echo [65536];
    size_t sent = 0, back = 0, e_head = 0, e_len = 0;
    s_nonblock (client);
    s_nonblock (server);
    double until = chaos_test_now () + 120;
    while (back < n) {
        struct pollfd pfd [2] = {
            { client, (short) (POLLIN | (sent < n? POLLOUT: 0)), 0 },
            { server, (short) ((e_len < sizeof echo? POLLIN: 0) | (e_len? POLLOUT: 0)), 0 } };
        assert_true (poll (pfd, 2, 1000) >= 0);
        assert_true (chaos_test_now () < until);
        if ((pfd [0].revents & POLLOUT) && sent < n) {
            //  sends of uneven sizes, so chunks straddle the proxy's ring end
            size_t size = 1 + (sent * 7919) % 20011;
            ssize_t w = send (client, data + sent, n - sent > size? size: n - sent, MSG_NOSIGNAL);
            sent += w > 0? (size_t) w: 0;
        }
        if (pfd [0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv (client, got + back, n - back, 0);
            if (r <= 0 && !(r < 0 && errno == EAGAIN))
                fail_msg ("the client's connection ended after %zu of %zu bytes", back, n);
            back += r > 0? (size_t) r: 0;
        }
        if ((pfd [1].revents & (POLLIN | POLLHUP | POLLERR)) && e_len < sizeof echo) {
            size_t tail = (e_head + e_len) % sizeof echo;
            size_t room = tail >= e_head? sizeof echo - tail: e_head - tail;
            ssize_t r = recv (server, echo + tail, room, 0);
            e_len += r > 0? (size_t) r: 0;
        }
        if ((pfd [1].revents & POLLOUT) && e_len) {
            size_t run = e_head + e_len <= sizeof echo? e_len: sizeof echo - e_head;
            ssize_t w = send (server, echo + e_head, run, MSG_NOSIGNAL);
            if (w > 0) {
                e_head = (e_head + (size_t) w) % sizeof echo;
                e_len -= (size_t) w;
            }
        }
    }
}

static void
test_bytes_unchanged_and_in_order (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "order", S_ARGS ("--latency-ms", "20", "--jitter-ms", "30", "--seed", "3",
                                                 "--buffer", "50000"));
    size_t n = 2 << 20;
    uint8_t *data = malloc (n), *got = malloc (n);
    assert_non_null (data);
    assert_non_null (got);
    s_random_bytes (data, n, 1);
    int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
    s_echo_through (client, server, data, n, got);
    assert_memory_equal (got, data, n);
    //  every byte went through both ways, nothing was lost
    s_stop_expect (&p, client, server, S_ARGS ("conn=0 event=close up_in=2097152 up_out=2097152 up_lost=0 "
                   "down_in=2097152 down_out=2097152 down_lost=0", "event=exit signal=TERM"));
    free (data);
    free (got);
}

static void
test_latency_is_added_each_way (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "latency", S_ARGS ("--latency-ms", "80", "--jitter-ms", "40"));
    int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
    for (int i = 0; i < 4; i++) {
        char c = (char) ('a' + i), r;
        double t0 = chaos_test_now ();
        chaos_test_send (client, &c, 1);
        chaos_test_recv_exact (server, &r, 1);
        double t1 = chaos_test_now ();
        assert_int_equal (r, c);
        chaos_test_send (server, &c, 1);
        chaos_test_recv_exact (client, &r, 1);
        double t2 = chaos_test_now ();
        //  one way at least the latency; never past latency + jitter by
        //  much on an idle machine, by seconds on a loaded one
        assert_true (t1 - t0 >= 0.080);
        assert_true (t2 - t1 >= 0.080);
        assert_true (t2 - t0 < 10.0);
    }
    close (client);
    close (server);
    chaos_test_proxy_stop (&p, SIGINT);
    char *log = chaos_test_read_file (p.log);
    assert_non_null (strstr (log, "event=exit signal=INT"));
    free (log);
}

//  600,000 bytes at 400,000 bytes/s with a burst of 20,000 (50 ms of the
//  rate) cannot arrive in less than 1.45 s, whatever the load.
static void
test_bandwidth_cap_holds (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "bandwidth", S_ARGS ("--bandwidth-up", "400k"));
    size_t n = 600000;
    uint8_t *data = malloc (n), *got = malloc (n);
    s_random_bytes (data, n, 2);
    int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
    //  the other direction is not capped: 600,000 bytes down first
    double t0 = chaos_test_now ();
    s_nonblock (client);
    s_nonblock (server);
    size_t sent = 0, got_n = 0;
    double t_down = 0;
    for (int dir = 0; dir < 2; dir++) {
        int from = dir == 0? server: client, to = dir == 0? client: server;
        sent = got_n = 0;
        double t = chaos_test_now ();
        while (got_n < n) {
            struct pollfd pfd [2] = { { from, sent < n? POLLOUT: 0, 0 }, { to, POLLIN, 0 } };
            assert_true (poll (pfd, 2, 1000) >= 0);
            if ((pfd [0].revents & POLLOUT) && sent < n) {
                ssize_t w = send (from, data + sent, n - sent, MSG_NOSIGNAL);
                sent += w > 0? (size_t) w: 0;
            }
            ssize_t r = pfd [1].revents? recv (to, got + got_n, n - got_n, 0): -1;
            if (r == 0)
                fail_msg ("EOF after %zu bytes", got_n);
            got_n += r > 0? (size_t) r: 0;
            assert_true (chaos_test_now () - t0 < 60);
        }
        assert_memory_equal (got, data, n);
        if (dir == 0)
            t_down = chaos_test_now () - t;
        else {
            double t_up = chaos_test_now () - t;
            print_message ("# capped up: %.0f bytes/s; uncapped down: %.0f bytes/s\n",
                           (double) n / t_up, (double) n / t_down);
            assert_true (t_up >= (double) (n - 20000) / 400000.0);
            assert_true (t_up < 30.0);
        }
    }
    s_stop_expect (&p, client, server, NULL);
    free (data);
    free (got);
}

//  A 1 s stall starting 0.2 s after the accept: a byte sent during it is
//  delivered no earlier than 1.2 s after the connect.
static void
test_stall_delays_delivery (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "stall", S_ARGS ("--event", "* 0.2 stall 1.0"));
    double t0 = chaos_test_now ();
    int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
    char c = 'x', r;
    chaos_test_send (client, &c, 1);            //  before the stall: passes
    chaos_test_recv_exact (server, &r, 1);
    usleep (400 * 1000);
    chaos_test_send (client, &c, 1);
    chaos_test_send (server, &c, 1);
    chaos_test_recv_exact (server, &r, 1);
    chaos_test_recv_exact (client, &r, 1);
    double t1 = chaos_test_now ();
    assert_true (t1 - t0 >= 1.2);
    assert_true (t1 - t0 < 15.0);
    s_stop_expect (&p, client, server, S_ARGS ("conn=0 event=stall at=0.200 for=1.000 dir=both",
                               "conn=0 event=stall-end dir=up", "conn=0 event=stall-end dir=down"));
}

//  A reset reaches both sides as ECONNRESET.
static void
test_reset_reaches_both_sides (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "reset", S_ARGS ("--reset-every", "0.3", "--spread", "0"));
    double t0 = chaos_test_now ();
    int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
    char buf [16];
    ssize_t rc = chaos_test_recv (client, buf, sizeof buf);
    int error = errno;
    assert_true (chaos_test_now () - t0 >= 0.3);
    assert_int_equal (rc, -1);
    assert_int_equal (error, ECONNRESET);
    rc = chaos_test_recv (server, buf, sizeof buf);
    assert_int_equal (rc, -1);
    assert_int_equal (errno, ECONNRESET);
    s_stop_expect (&p, client, server, S_ARGS ("conn=0 event=reset at=0.300", "down_lost=0 how=rst"));
}

//  half-close down: the client reads EOF, its bytes still reach the
//  server, the server's bytes are lost. half-close up: the mirror.
static void
test_half_close_each_direction (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "half", S_ARGS ("--event", "0 0.2 half-close down",
                                                "--event", "1 0.2 half-close up"));
    char buf [16];
    for (int conn = 0; conn < 2; conn++) {
        int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
        int shut = conn == 0? client: server, open_ = conn == 0? server: client;
        assert_int_equal (chaos_test_recv (shut, buf, sizeof buf), 0);     //  EOF
        chaos_test_send (shut, "ping", 4);                                  //  still delivered
        chaos_test_recv_exact (open_, buf, 4);
        assert_memory_equal (buf, "ping", 4);
        chaos_test_send (open_, "lost", 4);                                 //  into the void
        assert_true (chaos_test_quiet (open_, 0.3));
        close (client);
        close (server);
    }
    s_stop_expect (&p, -1, -1, S_ARGS ("conn=0 event=half-close at=0.200 dir=down",
                               "conn=1 event=half-close at=0.200 dir=up",
                               "up_lost=4",
                               "down_lost=4"));
}

//  --drop-every 0.3 --spread 0: every connection ends with a clean EOF on
//  both sides 0.3 s after its accept.
static void
test_drop_every (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "drop", S_ARGS ("--drop-every", "0.3", "--spread", "0"));
    char buf [16];
    for (int conn = 0; conn < 2; conn++) {
        double t0 = chaos_test_now ();
        int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
        chaos_test_send (client, "hi", 2);
        chaos_test_recv_exact (server, buf, 2);
        assert_int_equal (chaos_test_recv (client, buf, sizeof buf), 0);
        assert_true (chaos_test_now () - t0 >= 0.3);
        assert_int_equal (chaos_test_recv (server, buf, sizeof buf), 0);
        close (client);
        close (server);
    }
    s_stop_expect (&p, -1, -1, S_ARGS ("conn=0 event=drop at=0.300",
                               "conn=1 event=drop at=0.300", "up_in=2 up_out=2 up_lost=0 "
                               "down_in=0 down_out=0 down_lost=0 how=fin"));
}

//  An upstream that refuses: the client is reset, the log says why.
static void
test_refused_upstream_resets_client (void **state)
{
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "refused", NULL);
    close (p.up);                               //  nobody listens upstream now
    int client = chaos_test_connect (p.port);
    char buf [4];
    ssize_t rc = chaos_test_recv (client, buf, sizeof buf);
    assert_int_equal (rc, -1);
    assert_int_equal (errno, ECONNRESET);
    close (client);
    p.up = open ("/dev/null", O_RDONLY);        //  for stop's close
    s_stop_expect (&p, -1, -1, S_ARGS ("conn=0 event=connect-failed error=Connection refused"));
}

//  While the up direction stalls, the client can write only what the
//  socket buffers and the proxy's bounded buffer hold: far less than the
//  8 MiB an unbounded queue would take. After the stall all of it
//  arrives, in order. The count is taken only while the stall lasts (3 s
//  from the accept); a machine too loaded to finish writing by then skips
//  the check rather than count what the server's buffers took after it.
static void
test_backpressure_is_bounded (void **state)
{
    size_t n = 8 << 20, sent = 0;
    uint8_t *data = malloc (n), *got = malloc (n);
    assert_non_null (data);
    assert_non_null (got);
    s_random_bytes (data, n, 3);
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "bounded", S_ARGS ("--event", "* 0 stall 3 up", "--buffer", "16Ki"));
    double t0 = chaos_test_now ();
    int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
    int small = 16384;
    setsockopt (client, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    s_nonblock (client);
    for (double quiet_since = chaos_test_now (); chaos_test_now () - quiet_since < 0.3 && sent < n; ) {
        ssize_t w = send (client, data + sent, n - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t) w;
            quiet_since = chaos_test_now ();
        }
        else
            usleep (10000);
    }
    bool in_stall = chaos_test_now () - t0 < 3.0;
    print_message ("# accepted while stalled: %zu bytes%s\n", sent, in_stall? "": " (the stall ended first)");
    chaos_test_recv_exact (server, got, sent);
    assert_memory_equal (got, data, sent);
    s_stop_expect (&p, client, server, NULL);
    free (data);
    free (got);
    if (!in_stall)
        skip ();
    assert_true (sent < (2u << 20));
}

//  Two proxies with seed 7 and one with seed 8, each with one connection
//  that lives until its drop: the seed-7 logs list the same events at the
//  same offsets, and seed 8's differ.
static void
test_same_seed_same_schedule (void **state)
{
    chaos_test_proxy_t p [3];
    const char *seeds [3] = { "7", "7", "8" }, *names [3] = { "seed7a", "seed7b", "seed8" };
    int client [3], server [3];
    for (int i = 0; i < 3; i++) {
        chaos_test_proxy_start (&p [i], names [i], S_ARGS ("--seed", seeds [i], "--stall-every", "0.15",
                                "--stall-for", "0.05", "--drop-every", "0.8", "--half-close-every", "0.6"));
        client [i] = chaos_test_connect (p [i].port);
        server [i] = chaos_test_accept (&p [i]);
    }
    char buf [16];
    for (int i = 0; i < 3; i++) {
        //  the client's read ends on the drop or on a half-close down
        while (chaos_test_recv (client [i], buf, sizeof buf) > 0)
            ;
        while (chaos_test_recv (server [i], buf, sizeof buf) > 0)
            ;
    }
    char sched [3][4096];
    for (int i = 0; i < 3; i++) {
        close (client [i]);
        close (server [i]);
        chaos_test_proxy_stop (&p [i], SIGTERM);
        char *log = chaos_test_read_file (p [i].log);
        chaos_test_schedule_of (log, 0, sched [i], sizeof sched [i]);
        free (log);
        print_message ("# seed %s:\n%s", seeds [i], sched [i]);
    }
    assert_true (chaos_test_count (sched [0], "event=stall ") >= 1);
    assert_true (chaos_test_count (sched [0], "event=drop ") + chaos_test_count (sched [0], "event=half-close ") >= 1);
    assert_string_equal (sched [0], sched [1]);
    assert_string_not_equal (sched [0], sched [2]);
}

//  Writes text to chaos_test_dir/name; its path into path.
static void
s_write_file (const char *name, const char *text, char *path, size_t size)
{
    snprintf (path, size, "%s/%s", chaos_test_dir, name);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    assert_int_equal (fclose (f), 0);
}

//  Runs the proxy with argv (after the binary); returns its exit status,
//  stdout in out and stderr in err.
static int
s_run (const char *const *args, char *out, size_t out_size, char *err, size_t err_size)
{
    const char *argv [24] = { chaos_test_binary () };
    int n = 1, status = 0;
    while (*args && n < 23)
        argv [n++] = *args++;
    argv [n] = NULL;
    char err_path [128];
    snprintf (err_path, sizeof err_path, "%s/run.err", chaos_test_dir);
    pid_t pid = chaos_test_spawn (argv, out, out_size, false, err_path);
    assert_int_equal (waitpid (pid, &status, 0), pid);
    char *text = chaos_test_read_file (err_path);
    snprintf (err, err_size, "%s", text);
    free (text);
    assert_true (WIFEXITED (status));
    return WEXITSTATUS (status);
}

static void
test_bad_options_are_refused (void **state)
{
    char path [128];
    s_write_file ("bad.schedule", "# a schedule\n* 1 stall 0.5 up\n0 2 explode\n", path, sizeof path);
    struct { const char *args [6]; const char *says; } bad [] = {
        { { "--listen", "127.0.0.1:0" },                          "--listen and --upstream are required" },
        { { "--listen", "nonsense", "--upstream", "127.0.0.1:9" }, "--listen: 'nonsense': want HOST:PORT" },
        { { "--listen", "127.0.0.1:70000", "--upstream", "127.0.0.1:9" }, "PORT a number in [0, 65535]" },
        { { "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:0" }, "PORT a number in [1, 65535]" },
        { { "--listen", "127.0.0.1:0", "--upstream", "*:9" },      "HOST * only for --listen" },
        { { "--latency-ms", "-5" },                                "--latency-ms: '-5': milliseconds" },
        { { "--jitter-ms", "1e9" },                                "--jitter-ms: '1e9': milliseconds" },
        { { "--bandwidth", "fast" },                               "--bandwidth: 'fast': bytes/s" },
        { { "--bandwidth", "10X" },                                "--bandwidth: '10X': bytes/s" },
        { { "--bandwidth-down", "0" },                             "--bandwidth-down: '0': bytes/s" },
        { { "--stall-every", "2" },                                "--stall-every and --stall-for go together" },
        { { "--reset-every", "0" },                                "--reset-every: '0': seconds" },
        { { "--drop-every", "nan" },                               "--drop-every: 'nan': seconds" },
        { { "--half-close-dir", "sideways" },                      "--half-close-dir: 'sideways': up, down or either" },
        { { "--spread", "1.5" },                                   "--spread: '1.5': a number in [0, 1]" },
        { { "--seed", "-1" },                                      "--seed: '-1': a number" },
        { { "--buffer", "100" },                                   "--buffer: '100': bytes in [4Ki, 64Mi]" },
        { { "--max-conns", "0" },                                  "--max-conns: '0': a number in [1, 4096]" },
        { { "--event", "* 1 stall" },                              "stall takes FOR" },
        { { "--event", "x 1 drop" },                               "connection 'x'" },
        { { "--event", "* -1 drop" },                              "offset '-1'" },
        { { "--event", "* 1 drop now" },                           "drop takes no argument" },
        { { "--event", "* 1 half-close both" },                    "half-close direction 'both'" },
        { { "--schedule", path },                                  "bad.schedule:3: '0 2 explode': unknown event 'explode'" },
        { { "--schedule", "/nonexistent/file" },                   "--schedule: cannot open /nonexistent/file" },
        { { "--frobnicate" },                                      "--frobnicate: unknown option" },
        { { "--log" },                                             "--log: needs a value" },
        { { "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "extra" }, "unexpected argument 'extra'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        //  every case but the ones about addresses gets valid addresses
        const char *args [12];
        int n = 0;
        bool addr = false;
        for (int j = 0; j < 6 && bad [i].args [j]; j++)
            addr |= !strcmp (bad [i].args [j], "--listen") || !strcmp (bad [i].args [j], "--upstream");
        if (!addr) {
            args [n++] = "--listen";
            args [n++] = "127.0.0.1:0";
            args [n++] = "--upstream";
            args [n++] = "127.0.0.1:9";
        }
        for (int j = 0; j < 6 && bad [i].args [j]; j++)
            args [n++] = bad [i].args [j];
        args [n] = NULL;
        char out [256], err [1024];
        int rc = s_run (args, out, sizeof out, err, sizeof err);
        if (rc != 64 || !strstr (err, bad [i].says) || out [0])
            fail_msg ("case %zu: exit %d, stderr '%s', want 64 and '%s'", i, rc, err, bad [i].says);
    }
}

//  --help exits 0 and documents every option.
static void
test_help_lists_every_option (void **state)
{
    static char out [8192];
    char err [256];
    assert_int_equal (s_run (S_ARGS ("--help"), out, sizeof out, err, sizeof err), 0);
    const char *options [] = { "--listen", "--upstream", "--seed", "--latency-ms", "--jitter-ms",
        "--bandwidth ", "--bandwidth-up", "--bandwidth-down", "--stall-every", "--stall-for",
        "--reset-every", "--half-close-every", "--half-close-dir", "--drop-every", "--spread",
        "--event", "--schedule", "--buffer", "--max-conns", "--log", "--help" };
    for (size_t i = 0; i < sizeof options / sizeof options [0]; i++)
        if (!strstr (out, options [i]))
            fail_msg ("--help does not mention %s", options [i]);
}

//  A schedule file's events fire as listed, for every connection (*) or
//  the one named.
static void
test_schedule_file (void **state)
{
    char path [128];
    s_write_file ("good.schedule", "# conn at kind args\n* 0.1 stall 0.1 down   # every connection\n"
                  "1 0.2 drop\n\n0 0.25 reset\n", path, sizeof path);
    chaos_test_proxy_t p;
    chaos_test_proxy_start (&p, "file", S_ARGS ("--schedule", path));
    char buf [4];
    for (int conn = 0; conn < 2; conn++) {
        int client = chaos_test_connect (p.port), server = chaos_test_accept (&p);
        ssize_t rc = chaos_test_recv (client, buf, sizeof buf);
        assert_int_equal (rc, conn == 0? -1: 0);                //  reset, then drop
        close (client);
        close (server);
    }
    chaos_test_proxy_stop (&p, SIGTERM);
    char *log = chaos_test_read_file (p.log);
    char sched [2][512];
    chaos_test_schedule_of (log, 0, sched [0], sizeof sched [0]);
    chaos_test_schedule_of (log, 1, sched [1], sizeof sched [1]);
    assert_string_equal (sched [0], "event=stall at=0.100 for=0.100 dir=down\nevent=reset at=0.250\n");
    assert_string_equal (sched [1], "event=stall at=0.100 for=0.100 dir=down\nevent=drop at=0.200\n");
    free (log);
}

static int
s_setup (void **state)
{
    (void) state;
    signal (SIGPIPE, SIG_IGN);
    return fg_test_tmpdir ("fg-test-chaos", chaos_test_dir, sizeof chaos_test_dir);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (chaos_test_dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_bytes_unchanged_and_in_order),
        cmocka_unit_test (test_latency_is_added_each_way),
        cmocka_unit_test (test_bandwidth_cap_holds),
        cmocka_unit_test (test_stall_delays_delivery),
        cmocka_unit_test (test_reset_reaches_both_sides),
        cmocka_unit_test (test_half_close_each_direction),
        cmocka_unit_test (test_drop_every),
        cmocka_unit_test (test_refused_upstream_resets_client),
        cmocka_unit_test (test_backpressure_is_bounded),
        cmocka_unit_test (test_same_seed_same_schedule),
        cmocka_unit_test (test_bad_options_are_refused),
        cmocka_unit_test (test_help_lists_every_option),
        cmocka_unit_test (test_schedule_file),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
