#ifndef RELAYOUT_CNUMA_SHIM_H
#define RELAYOUT_CNUMA_SHIM_H
// No _GNU_SOURCE here: defining it changes glibc's struct layouts (fd_set) inside this module and
// clashes with Swift's Glibc module in a clean build. sched_getcpu is declared by hand instead.
#include <numa.h>
#include <numaif.h>

extern int sched_getcpu(void);

/// The CPU the calling thread runs on.
static inline int relayout_current_cpu(void) { return sched_getcpu(); }

/// libnuma's API version from its header.
static inline int relayout_numa_api_version(void) { return LIBNUMA_API_VERSION; }
#endif
