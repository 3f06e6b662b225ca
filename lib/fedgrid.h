/*  fedgrid.h — the public API of libfedgrid, one include for all of it.

    fedgrid trains deep CNNs by federated learning on a grid of ordinary
    PCs. See docs/architecture.md for the map of modules and libfedgrid(3)
    for an overview; every header below is installed in
    $(includedir)/fedgrid and included here, so a program needs only
        #include <fedgrid.h>      cc prog.c $(pkg-config --cflags --libs fedgrid)
    examples/ holds two programs built this way.                          */

#ifndef FEDGRID_H_INCLUDED
#define FEDGRID_H_INCLUDED

//  the core (lib/)
#include "fg_version.h"
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
#include "fg_fault.h"
#include "fg_journal.h"
#include "fg_wire.h"

//  the network engine (nn/)
#include "fg_dataset.h"
#include "fg_image.h"
#include "fg_ops.h"
#include "fg_model.h"
#include "fg_optim.h"
#include "fg_train.h"
#include "fg_unit.h"

//  the actors (actors/): coordinator, trainers, security, wire over sockets
#include "fg_actors.h"
#include "fg_security.h"
#include "fg_wire_socket.h"

#endif
