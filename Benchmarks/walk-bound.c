// The 1- and 2-byte transposes against the 4-byte one and against their bare memory patterns, in
// one process on one pair of 64 MiB buffers, every walk once per repetition in turn (separate
// processes drift apart by 10-20 % on the noisy VM; docs/performance.md, tenth session).
//
// Kernels: rl_transpose_tile with streaming and the wide walk on 512 x 512 tiles, work items
// following the source's rows, as the engine runs them (f4 4096 x 4096, u2 4096 x 8192, u1
// 8192 x 8192). Patterns, no transpose: "direct" loads one line of H source rows into registers and
// streams them out as 64 / E destination rows of H * E bytes (the 4-byte wide walk's reads and
// writes); "staged" copies H rows by W bytes into an L1 stage first (the 1- and 2-byte walk's).
// Each repetition times memcpy first, then one untimed walk, then every walk, in an order that
// rotates from one repetition to the next. Prints medians (bytes read plus written) and each walk's
// ratio to the f4 kernel and to the f4 direct pattern. AVX-512 only.
//
//   for f in Sources/CRelayoutKernels/*.c; do clang -O3 -ISources/CRelayoutKernels/include -c $f -o /tmp/$(basename $f .c).o; done
//   clang -O2 -mavx512f -mavx512bw -ISources/CRelayoutKernels/include Benchmarks/walk-bound.c \
//     /tmp/Channels.o /tmp/Grouped.o /tmp/NarrowWide.o /tmp/Planes.o /tmp/RunTile.o /tmp/Skewed.o /tmp/Transpose.o -o /tmp/walk-bound -lpthread
//   /tmp/walk-bound 11      # REPETITIONS [THREADS]
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "CRelayoutKernels.h"

enum { BYTES = 64 << 20, TILE = 512, MAX_REPS = 64 };
static long rows, columns, element;
static char *src, *dst;
static atomic_long next_item;

#define STAGED(NAME, E, H, W)                                                                                  \
    static void NAME(long ta, long tb) {                                                                       \
        _Alignas(64) char stage[H * W];                                                                        \
        const long src_row = columns * E, dst_row = rows * E;                                                  \
        for (long a = ta; a < ta + TILE; a += H)                                                               \
            for (long c = tb * E; c < (tb + TILE) * E; c += W) {                                               \
                for (long r = 0; r < H; r++)                                                                   \
                    for (int q = 0; q < W; q += 64)                                                            \
                        _mm512_store_si512(stage + r * W + q, _mm512_loadu_si512(src + (a + r) * src_row + c + q)); \
                const char *p = stage;                                                                         \
                for (long d = 0; d < W / E; d++)                                                               \
                    for (int l = 0; l < H * E / 64; l++, p += 64)                                              \
                        _mm512_stream_si512(dst + (c / E + d) * dst_row + a * E + 64 * l, _mm512_load_si512(p)); \
            }                                                                                                  \
    }

#define DIRECT(NAME, E, H)                                                                                     \
    static void NAME(long ta, long tb) {                                                                       \
        const long src_row = columns * E, dst_row = rows * E;                                                  \
        for (long a = ta; a < ta + TILE; a += H)                                                               \
            for (long c = tb * E; c < (tb + TILE) * E; c += 64) {                                              \
                __m512i r[H];                                                                                  \
                _Pragma("clang loop unroll(full)") for (int i = 0; i < H; i++) r[i] = _mm512_loadu_si512(src + (a + i) * src_row + c); \
                _Pragma("clang loop unroll(full)") for (int d = 0; d < 64 / E; d++)                            \
                    _Pragma("clang loop unroll(full)") for (int l = 0; l < H * E / 64; l++)                    \
                        _mm512_stream_si512(dst + (c / E + d) * dst_row + a * E + 64 * l, r[d * (H * E / 64) + l]); \
            }                                                                                                  \
    }

DIRECT(direct4, 4, 32)
DIRECT(direct2, 2, 64)
STAGED(staged4, 4, 32, 64)
STAGED(staged2, 2, 64, 128)
STAGED(staged1, 1, 128, 128)

static void kernel(long ta, long tb) {
    rl_transpose_tile(src + (ta * columns + tb) * element, columns, dst + (tb * rows + ta) * element, rows, TILE, TILE, element,
                      RL_TRANSPOSE_STREAMING | RL_TRANSPOSE_WIDE);
}

typedef struct { const char *name; void (*tile)(long, long); long element; } Walk;
static const Walk walks[] = {
    {"f4 kernel", kernel, 4},           {"u2 kernel", kernel, 2},          {"u1 kernel", kernel, 1},
    {"f4 direct H32", direct4, 4},      {"u2 direct H64", direct2, 2},     {"f4 staged H32 W64", staged4, 4},
    {"u2 staged H64 W128", staged2, 2}, {"u1 staged H128 W128", staged1, 1},
};
enum { WALKS = sizeof walks / sizeof walks[0] };
static const Walk *current;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void *work(void *unused) {
    (void)unused;
    const long row_tiles = rows / TILE, column_tiles = columns / TILE;
    for (;;) {
        const long i = atomic_fetch_add(&next_item, 1);
        if (i >= row_tiles * column_tiles) break;
        current->tile(i / column_tiles * TILE, i % column_tiles * TILE);
    }
    rl_store_fence();
    return 0;
}

typedef struct { char *d; const char *s; size_t n; } Slice;
static void *copy_slice(void *p) { Slice *m = p; memcpy(m->d, m->s, m->n); return 0; }
static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 11, threads = argc > 2 ? atoi(argv[2]) : 2;
    if (reps < 1 || reps > MAX_REPS || threads < 1 || threads > 16) { fprintf(stderr, "usage: walk-bound [REPETITIONS 1-64] [THREADS 1-16]\n"); return 1; }
    src = aligned_alloc(1 << 21, BYTES);
    dst = aligned_alloc(1 << 21, BYTES);
    madvise(src, BYTES, MADV_HUGEPAGE);
    madvise(dst, BYTES, MADV_HUGEPAGE);
    for (size_t i = 0; i < BYTES; i++) src[i] = (char)(i * 7 + (i >> 12));
    memset(dst, 0, BYTES);
    static double seconds[WALKS + 1][MAX_REPS];
    pthread_t workers[16];
    for (int rep = 0; rep < reps; rep++) {
        Slice slices[16];
        double start = now();
        for (int t = 0; t < threads; t++) {
            slices[t] = (Slice){dst + (size_t)BYTES / threads * t, src + (size_t)BYTES / threads * t, (size_t)BYTES / threads};
            pthread_create(&workers[t], 0, copy_slice, &slices[t]);
        }
        for (int t = 0; t < threads; t++) pthread_join(workers[t], 0);
        seconds[WALKS][rep] = now() - start;
        // memcpy leaves the destination dirty in the 300 MiB L3 (ordinary stores at this size), and
        // the walk after it would pay the write-backs: an untimed walk first, then every walk in an
        // order that starts one later each repetition.
        for (int k = -1; k < WALKS; k++) {
            const int w = k < 0 ? 3 : (rep + k) % WALKS;
            current = &walks[w];
            element = current->element;
            rows = element == 1 ? 8192 : 4096;
            columns = BYTES / element / rows;
            atomic_store(&next_item, 0);
            start = now();
            for (int t = 0; t < threads; t++) pthread_create(&workers[t], 0, work, 0);
            for (int t = 0; t < threads; t++) pthread_join(workers[t], 0);
            if (k >= 0) seconds[w][rep] = now() - start;
        }
    }
    double rate[WALKS + 1];
    for (int w = 0; w <= WALKS; w++) {
        qsort(seconds[w], reps, sizeof(double), by_value);
        rate[w] = 2.0 * BYTES / seconds[w][reps / 2] / 1e9;
    }
    for (int w = 0; w < WALKS; w++)
        printf("%-20s %5.1f GB/s   / f4 kernel %.2f   / f4 direct %.2f\n", walks[w].name, rate[w], rate[w] / rate[0], rate[w] / rate[3]);
    printf("%-20s %5.1f GB/s\n", "memcpy", rate[WALKS]);
    return 0;
}
