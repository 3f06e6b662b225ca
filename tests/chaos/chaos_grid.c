/*  chaos_grid.c — chaos-grid, the grid supervisor: runs a scenario
    (chaos_grid_scenario.c) against an initialised experiment folder.

    It starts `fedctl start DIR --local 0 --listen tcp://127.0.0.1:*`,
    then each worker (`fedctl worker --cache OUT/NAME.cache --id NAME`,
    through its own chaos-proxy when the scenario says so) and applies
    each worker's profile from one clock: its slowdown and FEDGRID_FAULT
    at every start; its availability trace (down: kill -9, the PC loses
    power; up: started again on the same cache, so it keeps its identity
    and checkpoints); a crash loop (kill -9 every ~EVERY s, started again
    DOWN s later); freezes (SIGSTOP every ~EVERY s, SIGCONT FOR s later).
    "~EVERY" is drawn uniform in [EVERY/2, 3 EVERY/2] from fg_rng streams
    keyed by (--seed, FG_RNG_GRID_SIM, worker, kind): the same seed gives
    the same gaps. Every event it injects is logged with its time since
    the coordinator started (OUT/events.log and stdout).

    Exit status: 0 the coordinator finished (exit 0) and no worker or
    proxy died unasked; 1 the coordinator failed; 2 the time limit passed
    (everything killed); 3 a worker or proxy died unasked (a crash the
    scenario did not inject); 64 usage; 70 a process could not start.  */

#include "chaos_grid.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_TICK_MS  20               //  the supervisor's clock step

typedef struct {
    const char *fedctl, *dir, *scenario, *proxy, *out;
    uint64_t seed;
    double limit;
    cg_scenario_t scn;
    pid_t coordinator;
    int port;
    char server_key [4200];         //  "" without CURVE
    double t0;
    FILE *events;
} s_grid_t;

static volatile sig_atomic_t s_interrupted;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_interrupted = 1;
}

static double
s_mono (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static double
s_now (const s_grid_t *g)
{
    return s_mono () - g->t0;
}

//  Logs one event: seconds since the start, who, what.
static void
s_event (s_grid_t *g, const char *who, const char *format, ...)
{
    char text [600];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    printf ("%9.3f %-14s %s\n", s_now (g), who, text);
    fflush (stdout);
    if (g->events) {
        fprintf (g->events, "%9.3f %-14s %s\n", s_now (g), who, text);
        fflush (g->events);
    }
}

//  Forks argv with stdout and stderr appended to log (and stdout to
//  *out_fd's pipe instead, when out_fd is not NULL), FEDGRID_FAULT set to
//  fault (NULL: unset). Returns the pid or -1.
static pid_t
s_spawn (char **argv, const char *log, const char *fault, int *out_fd)
{
    int fds [2] = { -1, -1 };
    if (out_fd && pipe (fds))
        return -1;
    fflush (NULL);
    pid_t pid = fork ();
    if (pid == 0) {
        setpgid (0, 0);             //  a terminal's Ctrl-C reaches the supervisor only
        signal (SIGINT, SIG_DFL);
        signal (SIGTERM, SIG_DFL);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
            close (fd);
        }
        if (out_fd) {
            dup2 (fds [1], STDOUT_FILENO);
            close (fds [0]);
            close (fds [1]);
        }
        if (fault && *fault)
            setenv ("FEDGRID_FAULT", fault, 1);
        else
            unsetenv ("FEDGRID_FAULT");
        execv (argv [0], argv);
        fprintf (stderr, "chaos-grid: cannot run %s: %s\n", argv [0], strerror (errno));
        _exit (127);
    }
    if (out_fd) {
        close (fds [1]);
        if (pid < 0)
            close (fds [0]);
        else
            *out_fd = fds [0];
    }
    return pid;
}

//  The coordinator's tcp port from DIR/status.json (0 until it is there).
static int
s_read_port (const char *dir)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/status.json", dir);
    json_t *status = json_load_file (path, 0, NULL);
    json_int_t port = json_integer_value (json_object_get (status, "port"));
    json_decref (status);
    return port > 0 && port < 65536? (int) port: 0;
}

//  Starts the coordinator and waits (up to 60 s) for its port.
static int
s_start_coordinator (s_grid_t *g)
{
    char *argv [CG_ARGS_MAX + 12], log [4200];
    int n = 0;
    argv [n++] = (char *) g->fedctl;
    argv [n++] = "start";
    argv [n++] = (char *) g->dir;
    argv [n++] = "--local";
    argv [n++] = "0";
    argv [n++] = "--listen";
    argv [n++] = "tcp://127.0.0.1:*";
    for (int i = 0; i < g->scn.coordinator.count; i++)
        argv [n++] = g->scn.coordinator.word [i];
    argv [n] = NULL;
    snprintf (log, sizeof log, "%s/coordinator.out", g->out);
    g->t0 = s_mono ();
    g->coordinator = s_spawn (argv, log, NULL, NULL);
    if (g->coordinator < 0)
        return -1;
    s_event (g, "coordinator", "started (pid %d)", (int) g->coordinator);
    while (s_now (g) < 60 && !s_interrupted) {
        if ((g->port = s_read_port (g->dir)) > 0)
            break;
        if (waitpid (g->coordinator, NULL, WNOHANG) == g->coordinator) {
            g->coordinator = 0;
            break;
        }
        usleep (S_TICK_MS * 1000);
    }
    if (g->port <= 0) {
        fprintf (stderr, "chaos-grid: the coordinator gave no port (see %s)\n", log);
        return -1;
    }
    snprintf (g->server_key, sizeof g->server_key, "%s/coordinator.key", g->dir);
    if (access (g->server_key, R_OK) != 0)
        g->server_key [0] = '\0';
    s_event (g, "coordinator", "listening on port %d%s", g->port,
             g->server_key [0]? " (CURVE)": "");
    return 0;
}

//  Starts w's chaos-proxy and reads the port it prints (10 s at most).
static int
s_start_proxy (s_grid_t *g, cg_worker_t *w, size_t index)
{
    char *argv [CG_ARGS_MAX + 12], log [4200], events [4200], upstream [64], seed [32];
    int n = 0;
    snprintf (upstream, sizeof upstream, "127.0.0.1:%d", g->port);
    snprintf (seed, sizeof seed, "%llu", (unsigned long long) (g->seed * 1000 + index));
    snprintf (log, sizeof log, "%s/%s.proxy.out", g->out, w->name);
    snprintf (events, sizeof events, "%s/%s.proxy.log", g->out, w->name);
    argv [n++] = (char *) g->proxy;
    argv [n++] = "--listen";
    argv [n++] = "127.0.0.1:0";
    argv [n++] = "--upstream";
    argv [n++] = upstream;
    argv [n++] = "--seed";
    argv [n++] = seed;
    argv [n++] = "--log";
    argv [n++] = events;
    for (int i = 0; i < w->proxy.count; i++)
        argv [n++] = w->proxy.word [i];
    argv [n] = NULL;
    int fd;
    w->proxy_pid = s_spawn (argv, log, NULL, &fd);
    if (w->proxy_pid < 0) {
        w->proxy_pid = 0;
        return -1;
    }
    char line [64] = "";
    size_t have = 0;
    struct pollfd p = { fd, POLLIN, 0 };
    double until = s_now (g) + 10;
    while (have < sizeof line - 1 && !strchr (line, '\n') && s_now (g) < until
    &&     poll (&p, 1, 100) >= 0) {
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t got = read (fd, line + have, sizeof line - 1 - have);
        if (got <= 0)
            break;
        have += (size_t) got;
        line [have] = '\0';
    }
    close (fd);
    w->proxy_port = atoi (line);
    if (w->proxy_port <= 0) {
        fprintf (stderr, "chaos-grid: proxy of %s gave no port (see %s)\n", w->name, log);
        return -1;
    }
    s_event (g, w->name, "proxy on port %d (seed %s)", w->proxy_port, seed);
    return 0;
}

//  A gap of ~every seconds: uniform in [every/2, 3 every/2].
static double
s_gap (fg_rng_t *rng, double every)
{
    return every * (0.5 + fg_rng_uniform_double (rng));
}

//  Starts (or starts again) worker w on its cache folder.
static int
s_start_worker (s_grid_t *g, cg_worker_t *w)
{
    char *argv [2 * CG_ARGS_MAX + 16], log [4200], cache [4200], connect [64], slow [32];
    int n = 0;
    snprintf (connect, sizeof connect, "tcp://127.0.0.1:%d", w->proxy_pid? w->proxy_port: g->port);
    snprintf (cache, sizeof cache, "%s/%s.cache", g->out, w->name);
    snprintf (log, sizeof log, "%s/%s.out", g->out, w->name);
    argv [n++] = (char *) g->fedctl;
    argv [n++] = "worker";
    argv [n++] = "--connect";
    argv [n++] = connect;
    argv [n++] = "--cache";
    argv [n++] = cache;
    argv [n++] = "--id";
    argv [n++] = w->name;
    if (g->server_key [0]) {
        argv [n++] = "--server-key";
        argv [n++] = g->server_key;
    }
    if (w->slowdown > 1) {
        snprintf (slow, sizeof slow, "%g", w->slowdown);
        argv [n++] = "--slowdown";
        argv [n++] = slow;
    }
    for (int i = 0; i < g->scn.common.count; i++)
        argv [n++] = g->scn.common.word [i];
    argv [n] = NULL;
    w->pid = s_spawn (argv, log, w->fault, NULL);
    if (w->pid < 0) {
        w->pid = 0;
        return -1;
    }
    double now = s_now (g);
    w->starts++;
    w->killed = false;
    s_event (g, w->name, "%s (pid %d)%s%s", w->starts == 1? "start": "start again, same cache",
             (int) w->pid, w->fault [0]? " FEDGRID_FAULT=": "", w->fault);
    if (w->crash_every)
        w->next_crash = now + s_gap (&w->crash_rng, w->crash_every);
    if (w->freeze_every)
        w->next_freeze = now + s_gap (&w->freeze_rng, w->freeze_every);
    return 0;
}

//  kill -9 of a worker (frozen or not), reaped at once.
static void
s_kill_worker (cg_worker_t *w)
{
    kill (w->pid, SIGKILL);
    waitpid (w->pid, NULL, 0);
    w->pid = 0;
    w->frozen = false;
}

//  The availability trace's steps that are due.
static void
s_apply_trace (s_grid_t *g, cg_worker_t *w, double now)
{
    while (w->trace_at < w->ntrace && w->trace [w->trace_at].at <= now) {
        bool up = w->trace [w->trace_at++].up;
        if (up && w->trace_down) {
            w->trace_down = false;
            s_event (g, w->name, "trace: up (powered on)");
        }
        else
        if (!up && !w->trace_down) {
            w->trace_down = true;
            w->downs++;
            if (w->pid) {
                s_kill_worker (w);
                s_event (g, w->name, "trace: down (kill -9, powered off)");
            }
            else
                s_event (g, w->name, "trace: down (was not running)");
        }
    }
}

//  One tick of w's profile: its process's fate, trace, crash loop,
//  freezes, and a start when it should run and does not. Returns 0 or -1
//  (a process could not start).
static int
s_tick_worker (s_grid_t *g, cg_worker_t *w, double now)
{
    int status;
    if (w->pid && waitpid (w->pid, &status, WNOHANG) == w->pid) {
        w->unexpected++;
        w->pid = 0;
        w->frozen = false;
        w->restart_at = now + 1;
        s_event (g, w->name, "EXITED UNASKED (%s %d): started again in 1 s",
                 WIFSIGNALED (status)? "signal": "status",
                 WIFSIGNALED (status)? WTERMSIG (status): WEXITSTATUS (status));
    }
    s_apply_trace (g, w, now);
    if (w->pid && w->crash_every && now >= w->next_crash) {
        s_kill_worker (w);
        w->crashes++;
        w->restart_at = now + w->crash_down;
        s_event (g, w->name, "crash: kill -9 (started again in %.1f s)", w->crash_down);
    }
    if (w->pid && w->frozen && now >= w->thaw_at) {
        kill (w->pid, SIGCONT);
        w->frozen = false;
        w->next_freeze = now + s_gap (&w->freeze_rng, w->freeze_every);
        s_event (g, w->name, "thaw: SIGCONT");
    }
    else
    if (w->pid && !w->frozen && w->freeze_every && now >= w->next_freeze) {
        kill (w->pid, SIGSTOP);
        w->frozen = true;
        w->freezes++;
        w->thaw_at = now + w->freeze_for;
        s_event (g, w->name, "freeze: SIGSTOP for %.1f s", w->freeze_for);
    }
    if (!w->pid && !w->trace_down && now >= w->start_s && now >= w->restart_at)
        return s_start_worker (g, w);
    return 0;
}

//  Stops every worker and proxy: SIGCONT, SIGTERM, then after 5 s SIGKILL.
static void
s_stop_all (s_grid_t *g)
{
    for (size_t i = 0; i < g->scn.nworkers; i++) {
        cg_worker_t *w = &g->scn.workers [i];
        if (w->pid) {
            kill (w->pid, SIGCONT);
            kill (w->pid, SIGTERM);
        }
        if (w->proxy_pid)
            kill (w->proxy_pid, SIGTERM);
    }
    double until = s_now (g) + 5;
    for (size_t i = 0; i < g->scn.nworkers; i++) {
        cg_worker_t *w = &g->scn.workers [i];
        pid_t *pids [2] = { &w->pid, &w->proxy_pid };
        for (int k = 0; k < 2; k++) {
            while (*pids [k] && waitpid (*pids [k], NULL, WNOHANG) == 0 && s_now (g) < until)
                usleep (S_TICK_MS * 1000);
            if (*pids [k] && kill (*pids [k], 0) == 0) {
                kill (*pids [k], SIGKILL);
                waitpid (*pids [k], NULL, 0);
            }
            *pids [k] = 0;
        }
    }
}

//  A proxy that died unasked: counted as the worker's, logged.
static void
s_tick_proxy (s_grid_t *g, cg_worker_t *w)
{
    int status;
    if (w->proxy_pid && waitpid (w->proxy_pid, &status, WNOHANG) == w->proxy_pid) {
        w->proxy_pid = 0;
        w->unexpected++;
        s_event (g, w->name, "PROXY EXITED UNASKED (%s %d)",
                 WIFSIGNALED (status)? "signal": "status",
                 WIFSIGNALED (status)? WTERMSIG (status): WEXITSTATUS (status));
    }
}

//  The run's loop until the coordinator exits, the limit passes or a
//  signal comes. Returns the exit status.
static int
s_run (s_grid_t *g)
{
    for (size_t i = 0; i < g->scn.nworkers; i++) {
        cg_worker_t *w = &g->scn.workers [i];
        fg_rng_init (&w->crash_rng, g->seed, FG_RNG_GRID_SIM, (uint32_t) i, 0, 0, 0);
        fg_rng_init (&w->freeze_rng, g->seed, FG_RNG_GRID_SIM, (uint32_t) i, 1, 0, 0);
        if (w->proxy.count && (!g->proxy || s_start_proxy (g, w, i))) {
            if (!g->proxy)
                fprintf (stderr, "chaos-grid: worker %s needs a proxy: give --proxy PATH\n",
                         w->name);
            return 70;
        }
    }
    int status = 0;
    while (true) {
        double now = s_now (g);
        int coord_status;
        if (waitpid (g->coordinator, &coord_status, WNOHANG) == g->coordinator) {
            g->coordinator = 0;
            bool fine = WIFEXITED (coord_status) && WEXITSTATUS (coord_status) == 0;
            s_event (g, "coordinator", "exited (%s %d)",
                     WIFSIGNALED (coord_status)? "signal": "status",
                     WIFSIGNALED (coord_status)? WTERMSIG (coord_status)
                                                : WEXITSTATUS (coord_status));
            status = fine? 0: 1;
            break;
        }
        if (now > g->limit || s_interrupted) {
            s_event (g, "chaos-grid", s_interrupted? "interrupted: killing everything"
                                                   : "TIME LIMIT (%.0f s) passed: killing everything",
                     g->limit);
            status = 2;
            break;
        }
        for (size_t i = 0; i < g->scn.nworkers; i++) {
            s_tick_proxy (g, &g->scn.workers [i]);
            if (s_tick_worker (g, &g->scn.workers [i], now))
                return 70;
        }
        usleep (S_TICK_MS * 1000);
    }
    return status;
}

//  One summary line per worker; 3 when any died unasked.
static int
s_summary (s_grid_t *g, int status)
{
    int unexpected = 0;
    for (size_t i = 0; i < g->scn.nworkers; i++) {
        cg_worker_t *w = &g->scn.workers [i];
        s_event (g, w->name, "summary: %d starts, %d crashes, %d freezes, %d trace downs, "
                 "%d unasked exits", w->starts, w->crashes, w->freezes, w->downs, w->unexpected);
        unexpected += w->unexpected;
    }
    if (status == 0 && unexpected)
        status = 3;
    s_event (g, "chaos-grid", "done in %.1f s: exit %d", s_now (g), status);
    return status;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: chaos-grid --fedctl PATH --dir DIR --scenario FILE [--seed N]\n"
        "                  [--limit SECONDS] [--proxy PATH] [--out FOLDER]\n"
        "\n"
        "Runs the scenario FILE (docs/chaos.md) on the experiment DIR (made by\n"
        "fedctl init): the coordinator, its workers and their profiles. Logs go\n"
        "to FOLDER (default DIR.chaos): coordinator.out, NAME.out, NAME.cache,\n"
        "events.log. Exit 0: finished; 1: the coordinator failed; 2: the time\n"
        "limit (default 600 s) passed; 3: a worker or proxy died unasked.\n");
}

static int
s_parse (int argc, char **argv, s_grid_t *g)
{
    g->seed = 1;
    g->limit = 600;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv [i], *value = i + 1 < argc? argv [i + 1]: NULL;
        if (strcmp (opt, "--help") == 0) {
            s_usage (stdout);
            exit (0);
        }
        if (!value) {
            s_usage (stderr);
            return 64;
        }
        i++;
        if (strcmp (opt, "--fedctl") == 0)          g->fedctl = value;
        else if (strcmp (opt, "--dir") == 0)        g->dir = value;
        else if (strcmp (opt, "--scenario") == 0)   g->scenario = value;
        else if (strcmp (opt, "--proxy") == 0)      g->proxy = value;
        else if (strcmp (opt, "--out") == 0)        g->out = value;
        else if (strcmp (opt, "--seed") == 0)       g->seed = strtoull (value, NULL, 10);
        else if (strcmp (opt, "--limit") == 0)      g->limit = atof (value);
        else {
            s_usage (stderr);
            return 64;
        }
    }
    if (!g->fedctl || !g->dir || !g->scenario || !(g->limit > 0)) {
        s_usage (stderr);
        return 64;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    static s_grid_t grid;
    s_grid_t *g = &grid;
    int status = s_parse (argc, argv, g);
    if (status)
        return status;
    char why [1024], out [4200], path [4300];
    if (cg_scenario_load (g->scenario, &g->scn, why, sizeof why)) {
        fprintf (stderr, "chaos-grid: %s\n", why);
        return 64;
    }
    if (!g->out) {
        snprintf (out, sizeof out, "%s.chaos", g->dir);
        g->out = out;
    }
    mkdir (g->out, 0755);
    snprintf (path, sizeof path, "%s/events.log", g->out);
    g->events = fopen (path, "a");
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);
    signal (SIGPIPE, SIG_IGN);
    status = s_start_coordinator (g) == 0? s_run (g): 70;
    s_stop_all (g);
    if (g->coordinator > 0) {
        kill (g->coordinator, SIGKILL);
        waitpid (g->coordinator, NULL, 0);
    }
    status = s_summary (g, status);
    cg_scenario_free (&g->scn);
    if (g->events)
        fclose (g->events);
    return status;
}
