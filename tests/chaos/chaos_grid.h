/*  chaos_grid.h — the grid supervisor (tests/chaos/chaos-grid): a
    coordinator and N `fedctl worker` processes, each with a node profile
    (docs/chaos.md, "Node profiles and scenarios").

    chaos_grid_scenario.c   the scenario file: parsed into cg_scenario_t
    chaos_grid.c            the run: processes, schedules, the event log  */

#ifndef CHAOS_GRID_H_INCLUDED
#define CHAOS_GRID_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "fg_rng.h"

#define CG_NAME_MAX     64
#define CG_WORKERS_MAX  256
#define CG_ARGS_MAX     64          //  arguments of one command line
#define CG_TRACE_MAX    4096        //  steps of one availability trace

//  One step of an availability trace: from `at` seconds on, up or down.
typedef struct {
    double at;
    bool   up;
} cg_step_t;

//  A list of command-line words (owned).
typedef struct {
    char  *word [CG_ARGS_MAX];
    int    count;
} cg_args_t;

typedef struct {
    //  the profile (scenario file)
    char       name [CG_NAME_MAX + 1];
    double     slowdown;            //  0: full speed
    char       fault [256];         //  FEDGRID_FAULT, "" none
    double     start_s;             //  joins this long after the coordinator
    double     crash_every, crash_down;     //  crash loop; 0: none
    double     freeze_every, freeze_for;    //  SIGSTOP / SIGCONT; 0: none
    cg_step_t *trace;               //  availability trace, NULL: always up
    size_t     ntrace;
    cg_args_t  proxy;               //  chaos-proxy options; count 0: direct
    //  the run (chaos_grid.c)
    pid_t      pid, proxy_pid;      //  0: not running
    int        proxy_port;
    bool       frozen, trace_down, killed;
    double     thaw_at, next_freeze, next_crash, restart_at;
    size_t     trace_at;            //  next trace step
    fg_rng_t   crash_rng, freeze_rng;
    int        starts, crashes, freezes, downs, unexpected;
} cg_worker_t;

typedef struct {
    cg_args_t   coordinator;        //  more arguments of fedctl start
    cg_args_t   common;             //  arguments of every fedctl worker
    cg_worker_t workers [CG_WORKERS_MAX];
    size_t      nworkers;
} cg_scenario_t;

//  Reads the scenario file into *scn (zeroed first). Returns 0, or -1
//  with a message naming the file and line in why.
int
    cg_scenario_load (const char *path, cg_scenario_t *scn, char *why, size_t why_size);

//  Frees what the scenario holds.
void
    cg_scenario_free (cg_scenario_t *scn);

#endif
