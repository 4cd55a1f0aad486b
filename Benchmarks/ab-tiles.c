// Two builds of the C kernels in one process, timed in turn on the same buffers: an A/B test of a
// kernel change that separate processes cannot settle on a shared VM (they drift 10-20 % apart,
// more than most single changes are worth; docs/performance.md, twenty-seventh session).
//
// Build B is the kernels compiled again with the change switched on by a macro and every exported
// rl_ symbol renamed to vb_rl_ (Benchmarks/ab-tiles.sh does both builds and links them). The
// harness transposes an R x C matrix of E-byte elements into C x R in 512 x 512 tiles (the engine's
// for 2- and 4-byte elements; AB_TILES_TILE=1024x1024 for 1-byte ones), work items
// along the source's rows, on THREADS pthreads (2 by default), with rl_transpose_tile's flags as the
// engine sets them for a streamed copy past the fetch-ahead threshold (streaming, wide walks, fetch
// ahead, each tile's neighbour rows and shared-line flags; FLAGS replaces all but those). Each repetition times memcpy of the same bytes, then A and B in an
// order that alternates, each once untimed first. Prints medians (bytes read plus written), each
// build's ratio to memcpy, and B's median GB/s over A's with the spread of the per-repetition
// ratios B / A. Both builds must write the same bytes (checked once) unless AB_TILES_UNCHECKED is
// set, for timing-only builds that bound what a change could gain.
//
//   Benchmarks/ab-tiles.sh -DSOME_MACRO=1                  # builds /tmp/ab-tiles
//   /tmp/ab-tiles 4 7263 8193 15                          # E ROWS COLUMNS REPETITIONS [THREADS] [FLAGS]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "CRelayoutKernels.h"

void vb_rl_transpose_tile(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                          ptrdiff_t across_n, ptrdiff_t element_size, int flags);
int vb_rl_transpose_tile_line_flags(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                                    ptrdiff_t element_size, int flags, ptrdiff_t before_n, ptrdiff_t after_n);

enum { MAX_REPS = 256, MAX_THREADS = 64 };
// Tile sides in elements (512, or AB_TILES_TILE=ALONGxACROSS).
static long tile_along = 512, tile_across = 512;
static long rows, columns, element, flags;
static char *src, *dst;
static atomic_long next_item;
static void (*transpose)(const void *, ptrdiff_t, void *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, int);
static int (*line_flags)(ptrdiff_t, const void *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, int, ptrdiff_t, ptrdiff_t);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *worker(void *unused) {
    (void)unused;
    const long tiles_a = (rows + tile_along - 1) / tile_along, tiles_b = (columns + tile_across - 1) / tile_across;
    for (long item; (item = atomic_fetch_add(&next_item, 1)) < tiles_a * tiles_b;) {
        const long ta = item / tiles_b * tile_along, tb = item % tiles_b * tile_across;
        const long na = rows - ta < tile_along ? rows - ta : tile_along, nb = columns - tb < tile_across ? columns - tb : tile_across;
        // The neighbour rows as the engine flags them (CopyPlan.neighbourRowFlags).
        const long neighbours = (ta >= RL_NEIGHBOUR_ROWS ? RL_TRANSPOSE_ROWS_BEFORE : 0) | (rows - ta - na >= RL_NEIGHBOUR_ROWS ? RL_TRANSPOSE_ROWS_AFTER : 0);
        // And which of two neighbouring tiles writes the lines their rows share (CopyPlan.sharedLineFlags).
        char *to = dst + (tb * rows + ta) * element;
        const long before = ta > 0 ? tile_along : 0, after = rows - ta - na < tile_along ? rows - ta - na : tile_along;
        const long lines = line_flags(columns, to, rows, na, nb, element, (int)(flags | neighbours), before, after);
        transpose(src + (ta * columns + tb) * element, columns, to, rows, na, nb, element, (int)(flags | neighbours | lines));
    }
    return 0;
}

static long threads = 2;
static double timed(void (*fn)(const void *, ptrdiff_t, void *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, int)) {
    pthread_t t[MAX_THREADS];
    transpose = fn;
    line_flags = fn == rl_transpose_tile ? rl_transpose_tile_line_flags : vb_rl_transpose_tile_line_flags;
    atomic_store(&next_item, 0);
    const double start = now();
    for (long i = 0; i < threads; i++) pthread_create(&t[i], 0, worker, 0);
    for (long i = 0; i < threads; i++) pthread_join(t[i], 0);
    rl_store_fence();
    return now() - start;
}

typedef struct { char *from, *to; size_t bytes; } Part;
static void *copy_part(void *p) {
    Part *part = p;
    memcpy(part->to, part->from, part->bytes);
    return 0;
}

static double timed_memcpy(size_t bytes) {
    pthread_t t[MAX_THREADS];
    Part parts[MAX_THREADS];
    const double start = now();
    for (long i = 0; i < threads; i++) {
        const size_t from = bytes * i / threads, to = bytes * (i + 1) / threads;
        parts[i] = (Part){src + from, dst + from, to - from};
        pthread_create(&t[i], 0, copy_part, &parts[i]);
    }
    for (long i = 0; i < threads; i++) pthread_join(t[i], 0);
    return now() - start;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    double copy[MAX_REPS];
    memcpy(copy, v, sizeof(double) * n);
    qsort(copy, n, sizeof(double), by_value);
    return n % 2 ? copy[n / 2] : (copy[n / 2 - 1] + copy[n / 2]) / 2;
}

static char *huge(size_t bytes) {
    char *p = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s E ROWS COLUMNS REPETITIONS [THREADS] [FLAGS]\n", argv[0]);
        return 2;
    }
    element = atol(argv[1]);
    rows = atol(argv[2]);
    columns = atol(argv[3]);
    int reps = atoi(argv[4]);
    if (argc > 5) threads = atol(argv[5]);
    flags = argc > 6 ? atol(argv[6]) : RL_TRANSPOSE_STREAMING | RL_TRANSPOSE_WIDE | RL_TRANSPOSE_FETCH_AHEAD;
    if (reps > MAX_REPS) reps = MAX_REPS;
    if (getenv("AB_TILES_TILE") && sscanf(getenv("AB_TILES_TILE"), "%ldx%ld", &tile_along, &tile_across) != 2) return 2;
    if (tile_along < 1 || tile_across < 1) return 2;
    if (threads < 1 || threads > MAX_THREADS || reps < 1) return 2;
    const size_t bytes = (size_t)rows * columns * element;
    src = huge(bytes);
    dst = huge(bytes);
    if (!src || !dst) {
        fprintf(stderr, "cannot map 2 x %zu bytes\n", bytes);
        return 1;
    }
    for (size_t i = 0; i < bytes; i++) src[i] = (char)(i * 7 + 1);
    memset(dst, 0, bytes);
    // Both builds must agree on every byte.
    timed(rl_transpose_tile);
    char *expected = malloc(bytes);
    memcpy(expected, dst, bytes);
    memset(dst, 0, bytes);
    timed(vb_rl_transpose_tile);
    // AB_TILES_UNCHECKED=1: a timing-only build B that is known to write wrong bytes (a bound).
    if (memcmp(expected, dst, bytes) != 0) {
        fprintf(stderr, "build B writes other bytes than build A%s\n", getenv("AB_TILES_UNCHECKED") ? " (unchecked: timing only)" : "");
        if (!getenv("AB_TILES_UNCHECKED")) return 1;
    }
    free(expected);
    double a[MAX_REPS], b[MAX_REPS], m[MAX_REPS], ratio[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        m[r] = timed_memcpy(bytes);
        if (r % 2 == 0) {
            a[r] = timed(rl_transpose_tile);
            b[r] = timed(vb_rl_transpose_tile);
        } else {
            b[r] = timed(vb_rl_transpose_tile);
            a[r] = timed(rl_transpose_tile);
        }
        ratio[r] = a[r] / b[r];
    }
    const double gb = 2.0 * bytes / 1e9, ma = median(a, reps), mb = median(b, reps), mm = median(m, reps);
    qsort(ratio, reps, sizeof(double), by_value);
    printf("E=%ld %ldx%ld, %ld threads, %d repetitions: memcpy %.1f GB/s; A %.1f GB/s (%.2f); B %.1f GB/s (%.2f); "
           "B/A %.3f (per repetition %.3f..%.3f, middle half %.3f..%.3f)\n",
           element, rows, columns, threads, reps, gb / mm, gb / ma, mm / ma, gb / mb, mm / mb, ma / mb, ratio[0], ratio[reps - 1],
           ratio[reps / 4], ratio[reps - 1 - reps / 4]);
    return 0;
}
