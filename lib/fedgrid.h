/*  fedgrid.h — the public API of libfedgrid, one include for all of it.

    fedgrid trains deep CNNs by federated learning on a grid of ordinary
    PCs. See docs/architecture.md for the map of modules.
        #include <fedgrid.h>      cc prog.c $(pkg-config --cflags --libs fedgrid) */

#ifndef FEDGRID_H_INCLUDED
#define FEDGRID_H_INCLUDED

#define FEDGRID_VERSION_MAJOR 0
#define FEDGRID_VERSION_MINOR 1
#define FEDGRID_VERSION_PATCH 0

#include "fg_error.h"
#include "fg_log.h"
#include "fg_rng.h"
#include "fg_sha256.h"
#include "fg_state.h"
#include "fg_config.h"
#include "fg_crash.h"
#include "fg_blob.h"
#include "fg_safetensors.h"
#include "fg_partition.h"
#include "fg_aggregate.h"

#ifdef __cplusplus
extern "C" {
#endif

//  "0.1.0": the version of the library the program runs with.
const char *
    fg_version (void);

#ifdef __cplusplus
}
#endif

#endif
