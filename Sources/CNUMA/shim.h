#ifndef RELAYOUT_CNUMA_SHIM_H
#define RELAYOUT_CNUMA_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <numa.h>
#include <numaif.h>

/// The CPU the calling thread runs on (sched_getcpu needs _GNU_SOURCE, which Swift does not set).
static inline int relayout_current_cpu(void) { return sched_getcpu(); }

/// libnuma's API version from its header.
static inline int relayout_numa_api_version(void) { return LIBNUMA_API_VERSION; }
#endif
