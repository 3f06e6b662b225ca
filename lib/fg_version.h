/*  fg_version.h — the version of libfedgrid (part of fedgrid.h; a header
    of its own so lib/ can define fg_version without the whole API).      */

#ifndef FG_VERSION_H_INCLUDED
#define FG_VERSION_H_INCLUDED

#define FEDGRID_VERSION_MAJOR 0
#define FEDGRID_VERSION_MINOR 1
#define FEDGRID_VERSION_PATCH 0

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
