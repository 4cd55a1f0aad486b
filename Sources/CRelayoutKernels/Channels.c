// Transposes with a side of 2 to 15 elements that lies packed on one side: NHWC -> NCHW with 3
// channels (deinterleave: source rows of C elements back to back, C destination rows) and its
// inverse (interleave: C source rows into destination rows of C elements back to back). The 16-byte
// block kernels see such a tile as all tail (2 threads: f4 64x224x224x3:0,3,1,2 0.55 of memcpy,
// u1 0.29, u2 0.23). Here C registers hold 64 / E consecutive elements of every channel (or of
// every row), and each output register is gathered from them with one two-register permute per
// pair of input registers and a blend per pair after the first (AVX-512BW; 1-byte elements also
// need VBMI), then written whole.
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <pthread.h>

// The byte permute is permute_bytes2 (assembly), so one body serves every element size and only
// 1-byte tiles need VBMI at run time.
#define CHANNELS_TARGET __attribute__((target("avx512f,avx512vl,avx512bw")))

// How one output register is gathered from the C input registers laid end to end: input registers
// 2p and 2p + 1 make pair p, whose lanes one two-register permute picks through index[p]; the
// output takes the lanes in from[p] from pair p (a blend per pair after the first).
enum { MAX_CHANNEL_PAIRS = (RL_MAX_CHANNELS + 1) / 2 };
typedef struct {
    __m512i index[MAX_CHANNEL_PAIRS];
    uint64_t from[MAX_CHANNEL_PAIRS];
} Gather;

// The permute indices and blend masks of every gather, by direction, element size (log2), channel
// count and output register: built once, so that a tile pays only their loads (built per call, they
// cost more than the copy of a 1024-pixel tile: u1 64x224x224x3:0,3,1,2 0.89 -> 0.41 of memcpy).
// Each (kind, element size, channel count) is built on first use, so a process touches only the
// few KiB it needs of the tables' 1.4 MiB.
// Deinterleaving, output c lane j is element j of channel c: input lane j * C + c (pixels read
// backwards: (K - 1 - j) * C + c, the registers loaded from the lowest pixel up). Interleaving,
// output m lane j is packed element f = m * K + j, element f / C of row f % C: input lane
// (f % C) * K + f / C.
enum { DEINTERLEAVE, INTERLEAVE, DEINTERLEAVE_REVERSED, GATHER_KINDS };
typedef struct {
    _Alignas(64) unsigned char index[MAX_CHANNEL_PAIRS][64];
    uint64_t from[MAX_CHANNEL_PAIRS];
} GatherTable;
static GatherTable gather_tables[GATHER_KINDS][4][RL_MAX_CHANNELS - 1][RL_MAX_CHANNELS];
static int gather_tables_built[GATHER_KINDS][4][RL_MAX_CHANNELS - 1];
static pthread_mutex_t gather_tables_lock = PTHREAD_MUTEX_INITIALIZER;

static void build_gather_table(int kind, int e, int C) {
    for (int m = 0; m < C; m++) {
        const int E = 1 << e, K = 64 / E;
        GatherTable *t = &gather_tables[kind][e][C - 2][m];
        for (int j = 0; j < K; j++) {
            const int f = m * K + j;
            const int v = kind == INTERLEAVE ? (f % C) * K + f / C : kind == DEINTERLEAVE ? j * C + m : (K - 1 - j) * C + m;
            const int p = v / (2 * K);
            // An index is an element of the register's own width (little-endian: its low byte).
            t->index[p][j * E] = (unsigned char)(v - p * 2 * K);
            t->from[p] |= (uint64_t)1 << j;
        }
    }
}

// The gathers of C channels of 1 << e bytes, built the first time they are asked for.
static const GatherTable *gather_table(int kind, int e, int C) {
    BUILD_ONCE(&gather_tables_built[kind][e][C - 2], &gather_tables_lock, build_gather_table(kind, e, C));
    return gather_tables[kind][e][C - 2];
}

CHANNELS_TARGET static inline __attribute__((always_inline)) void gathers_for(Gather *g, const int kind, const int C, const int E) {
    const GatherTable *t = gather_table(kind, E == 1 ? 0 : E == 2 ? 1 : E == 4 ? 2 : 3, C);
#pragma clang loop unroll(full)
    for (int m = 0; m < C; m++)
#pragma clang loop unroll(full)
        for (int p = 0; p < (C + 1) / 2; p++) {
            g[m].index[p] = _mm512_load_si512((const void *)t[m].index[p]);
            g[m].from[p] = t[m].from[p];
        }
}

// A whole output register: streamed where asked and the line is aligned (a tile's rows are).
CHANNELS_TARGET static inline __attribute__((always_inline)) void put(char *p, __m512i v, int stream) {
    if (stream) _mm512_stream_si512((void *)p, v);
    else _mm512_storeu_si512((void *)p, v);
}

CHANNELS_TARGET static inline __attribute__((always_inline)) __m512i gather(const __m512i *r, const Gather *g, const int C, const int E) {
    __m512i out = pick2_lanes(r[0], g->index[0], r[1], E);
#pragma clang loop unroll(full)
    for (int p = 1; p < (C + 1) / 2; p++) out = blend_lanes(g->from[p], out, pick2_lanes(r[2 * p], g->index[p], 2 * p + 1 < C ? r[2 * p + 1] : r[2 * p], E), E);
    return out;
}

// The bytes [lo, hi) of a 64-byte register, as a mask (either end may lie outside it).
static inline __mmask64 bytes_between(ptrdiff_t lo, ptrdiff_t hi) {
    const __mmask64 below_hi = hi <= 0 ? 0 : first_bytes(hi), below_lo = lo <= 0 ? 0 : first_bytes(lo);
    return below_hi & ~below_lo;
}

// Deinterleave: the first C channels of pixels of P elements, element a of channel c at
// src[(a * P + c) * E] (pixels read backwards: src[(c - a * P) * E]) -> dst + c * dst_row + a * E.
// The gathers are those of P channels; channels C.. are loaded but not written. A step of K pixels
// loads P registers from its lowest pixel up, masked to the bytes from that pixel's channel 0 to
// the highest pixel's channel C - 1 (the P - C elements past it need not lie inside the source); the
// last step, of fewer pixels, masks its loads to them and its stores to its lanes.
CHANNELS_TARGET static inline __attribute__((always_inline)) void deinterleave_step(const char *src, char *dst, ptrdiff_t dst_row, ptrdiff_t a,
                                                                                    ptrdiff_t t, const Gather *g, int stream, int C, int reversed,
                                                                                    const int whole, const int P, const int E) {
    const int K = 64 / E;
    // The span's first byte as if the step had K pixels; its valid bytes [lo, hi).
    const char *span = src + (reversed ? -(a + K - 1) : a) * P * E;
    const ptrdiff_t lo = reversed ? (K - t) * P * E : 0, hi = (reversed ? K * P : t * P) * E - (P - C) * E;
    __m512i r[RL_MAX_CHANNELS];
#pragma clang loop unroll(full)
    for (int k = 0; k < P; k++) {
        if (whole && (k < P - 1 || C == P)) r[k] = _mm512_loadu_si512((const void *)(span + k * 64));
        else r[k] = _mm512_maskz_loadu_epi8(bytes_between(lo - k * 64, hi - k * 64), (const void *)(span + k * 64));
    }
#pragma clang loop unroll(full)
    for (int c = 0; c < P; c++) {
        if (c >= C) continue;
        const __m512i v = gather(r, &g[c], P, E);
        char *out = dst + c * dst_row + a * E;
        if (whole) put(out, v, stream);
        else _mm512_mask_storeu_epi8((void *)out, first_bytes(t * E), v);
    }
}

CHANNELS_TARGET static inline __attribute__((always_inline)) void deinterleave(const char *src, char *dst, ptrdiff_t dst_row, ptrdiff_t n,
                                                                               int streaming, int C, int reversed, const int P, const int E) {
    const int K = 64 / E;
    Gather g[RL_MAX_CHANNELS];
    gathers_for(g, reversed ? DEINTERLEAVE_REVERSED : DEINTERLEAVE, P, E);
    const int stream = streaming && ((((uintptr_t)dst) | (uintptr_t)dst_row) & 63) == 0;
    ptrdiff_t a = 0;
    if (C == P) {
        // Every channel: whole steps need no masks (C a constant here).
        for (; a + K <= n; a += K) deinterleave_step(src, dst, dst_row, a, K, g, stream, P, reversed, 1, P, E);
    } else {
        for (; a + K <= n; a += K) deinterleave_step(src, dst, dst_row, a, K, g, stream, C, reversed, 1, P, E);
    }
    if (a < n) deinterleave_step(src, dst, dst_row, a, n - a, g, stream, C, reversed, 0, P, E);
}

// Interleave: element b of row c at src + c * src_row + b * E -> dst[(b * C + c) * E]. The last
// step, of t < K elements per row, loads and stores through masks.
CHANNELS_TARGET static inline __attribute__((always_inline)) void interleave_rows(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t n,
                                                                                  int streaming, const int C, const int E) {
    const int K = 64 / E;
    Gather g[RL_MAX_CHANNELS];
    gathers_for(g, INTERLEAVE, C, E);
    const int stream = streaming && ((uintptr_t)dst & 63) == 0;
    ptrdiff_t b = 0;
    for (; b + K <= n; b += K) {
        __m512i r[RL_MAX_CHANNELS];
#pragma clang loop unroll(full)
        for (int c = 0; c < C; c++) r[c] = _mm512_loadu_si512((const void *)(src + c * src_row + b * E));
#pragma clang loop unroll(full)
        for (int m = 0; m < C; m++) put(dst + (b * C + m * K) * E, gather(r, &g[m], C, E), stream);
    }
    if (b < n) {
        const ptrdiff_t t = n - b;
        __m512i r[RL_MAX_CHANNELS];
#pragma clang loop unroll(full)
        for (int c = 0; c < C; c++) r[c] = _mm512_maskz_loadu_epi8(first_bytes(t * E), (const void *)(src + c * src_row + b * E));
#pragma clang loop unroll(full)
        for (int m = 0; m < C; m++) {
            const __mmask64 keep = bytes_between(0, t * C * E - m * 64);
            if (keep) _mm512_mask_storeu_epi8((void *)(dst + (b * C + m * K) * E), keep, gather(r, &g[m], C, E));
        }
    }
}

// kernel(..., C, E) with the channel count C (2 to RL_MAX_CHANNELS) a constant in each case. Only
// pixels narrower than a line come here (C * E < 64), so 8-byte elements stop at 7 channels and
// their wider cases compile to nothing.
#define CHANNEL_CASE(C, E, kernel, ...) \
    case C:                             \
        if (C * E < 64) kernel(__VA_ARGS__, C, E); \
        break;
#define FOR_CHANNELS(C, E, kernel, ...)             \
    switch (C) {                                    \
    CHANNEL_CASE(2, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(3, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(4, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(5, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(6, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(7, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(8, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(9, E, kernel, __VA_ARGS__)         \
    CHANNEL_CASE(10, E, kernel, __VA_ARGS__)        \
    CHANNEL_CASE(11, E, kernel, __VA_ARGS__)        \
    CHANNEL_CASE(12, E, kernel, __VA_ARGS__)        \
    CHANNEL_CASE(13, E, kernel, __VA_ARGS__)        \
    CHANNEL_CASE(14, E, kernel, __VA_ARGS__)        \
    CHANNEL_CASE(15, E, kernel, __VA_ARGS__)        \
    }

// One function per element size and direction.
#define CHANNEL_KERNELS(E)                                                                                          \
    CHANNELS_TARGET static void deinterleave##E(const char *s, char *d, ptrdiff_t dr, ptrdiff_t n, int P, int C, int rev, int st) { \
        FOR_CHANNELS(P, E, deinterleave, s, d, dr, n, st, C, rev)                                                  \
    }                                                                                                               \
    CHANNELS_TARGET static void interleave##E(const char *s, ptrdiff_t sr, char *d, ptrdiff_t n, int C, int st) {   \
        FOR_CHANNELS(C, E, interleave_rows, s, sr, d, n, st)                                                        \
    }
CHANNEL_KERNELS(1)
CHANNEL_KERNELS(2)
CHANNEL_KERNELS(4)
CHANNEL_KERNELS(8)

int rl_transpose_tile_channels(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                               ptrdiff_t across_n, ptrdiff_t element_size, int streaming) {
    const ptrdiff_t E = element_size;
    if (E > 8 || !rl_avx512_transposes() || (E == 1 && !rl_has_avx512_vbmi())) return 0;
    // Pixels of a whole line or more (f8 with 8 channels) stay with the 16-byte blocks, which
    // measured faster there (2 threads, 30.1 against 26.1 GB/s); elsewhere the gathers win, also
    // where the blocks leave no tail (f8 with 2 channels 32.3 -> 39.5, u2 with 8 28.9 -> 32.7, f4
    // with 8 30.2 -> 32.9; interleaving u2 with 8 27.0 -> 35.7).
    // Deinterleaving takes pixels of P >= C elements (RGBA into RGB planes), read forwards or
    // backwards (a flipped image into planes).
    const ptrdiff_t P = src_along < 0 ? -src_along : src_along;
    const int deinterleaving = across_n >= 2 && across_n <= P && P <= RL_MAX_CHANNELS && along_n >= 64 / E && P * E < 64;
    const int interleaving = !deinterleaving && along_n >= 2 && along_n <= RL_MAX_CHANNELS && dst_across == along_n && across_n >= 64 / E &&
                             along_n * E < 64;
    if (!deinterleaving && !interleaving) return 0;
    const char *s = (const char *)src;
    char *d = (char *)dst;
    if (deinterleaving) {
        const int C = (int)across_n, reversed = src_along < 0;
        switch (E) {
        case 1: deinterleave1(s, d, dst_across, along_n, (int)P, C, reversed, streaming); break;
        case 2: deinterleave2(s, d, dst_across * 2, along_n, (int)P, C, reversed, streaming); break;
        case 4: deinterleave4(s, d, dst_across * 4, along_n, (int)P, C, reversed, streaming); break;
        default: deinterleave8(s, d, dst_across * 8, along_n, (int)P, C, reversed, streaming); break;
        }
    } else {
        const int C = (int)along_n;
        switch (E) {
        case 1: interleave1(s, src_along, d, across_n, C, streaming); break;
        case 2: interleave2(s, src_along * 2, d, across_n, C, streaming); break;
        case 4: interleave4(s, src_along * 4, d, across_n, C, streaming); break;
        default: interleave8(s, src_along * 8, d, across_n, C, streaming); break;
        }
    }
    return 1;
}
#else
int rl_transpose_tile_channels(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                               ptrdiff_t across_n, ptrdiff_t element_size, int streaming) {
    (void)src; (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size; (void)streaming;
    return 0;
}
#endif
