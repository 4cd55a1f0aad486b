// Transposes with a side of 2 to 4 elements that lies packed on one side: NHWC -> NCHW with 3
// channels (deinterleave: source rows of C elements back to back, C destination rows) and its
// inverse (interleave: C source rows into destination rows of C elements back to back). The 16-byte
// block kernels see such a tile as all tail (2 threads: f4 64x224x224x3:0,3,1,2 0.55 of memcpy,
// u1 0.29, u2 0.23). Here C registers hold 64 / E consecutive elements of every channel (or of
// every row), and each output register is gathered from them with two-register byte/word/dword
// permutes (AVX-512BW; 1-byte elements also need VBMI), then written whole.
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

// The byte permute is permute_bytes2 (assembly), so one body serves every element size and only
// 1-byte tiles need VBMI at run time.
#define CHANNELS_TARGET __attribute__((target("avx512f,avx512vl,avx512bw")))

// Per element size: two-register permute, one-register permute under a mask, and blend.
CHANNELS_TARGET static inline __attribute__((always_inline)) __m512i pick2(__m512i a, __m512i index, __m512i b, const int E) {
    switch (E) {
    case 1: return permute_bytes2(a, index, b);
    case 2: return _mm512_permutex2var_epi16(a, index, b);
    case 4: return _mm512_permutex2var_epi32(a, index, b);
    default: return _mm512_permutex2var_epi64(a, index, b);
    }
}

CHANNELS_TARGET static inline __attribute__((always_inline)) __m512i blend(uint64_t mask, __m512i a, __m512i b, const int E) {
    switch (E) {
    case 1: return _mm512_mask_blend_epi8((__mmask64)mask, a, b);
    case 2: return _mm512_mask_blend_epi16((__mmask32)mask, a, b);
    case 4: return _mm512_mask_blend_epi32((__mmask16)mask, a, b);
    default: return _mm512_mask_blend_epi64((__mmask8)mask, a, b);
    }
}

// How one output register is gathered from the C input registers laid end to end: lanes from
// registers 0-1 through `low` (a two-register permute), the others from registers 2-3 through
// `high`, chosen by `from_high`.
typedef struct {
    __m512i low, high;
    uint64_t from_high;
} Gather;

// The gathers of the C output registers. Deinterleaving, output c lane j is element j of channel c:
// input lane j * C + c. Interleaving, output m lane j is packed element f = m * K + j, element f / C
// of row f % C: input lane (f % C) * K + f / C.
CHANNELS_TARGET static inline __attribute__((always_inline)) void gathers_for(Gather *g, const int interleaving, const int C, const int E) {
    const int K = 64 / E;
    for (int m = 0; m < C; m++) {
        // Each index is an element of the register's own width (little-endian, so its low byte).
        _Alignas(64) unsigned char low[64] = {0}, high[64] = {0};
        g[m].from_high = 0;
        for (int j = 0; j < K; j++) {
            const int f = m * K + j, v = interleaving ? (f % C) * K + f / C : j * C + m;
            if (v >= 2 * K) {
                high[j * E] = (unsigned char)(v - 2 * K);
                g[m].from_high |= (uint64_t)1 << j;
            } else {
                low[j * E] = (unsigned char)v;
            }
        }
        g[m].low = _mm512_load_si512((const void *)low);
        g[m].high = _mm512_load_si512((const void *)high);
    }
}

// A whole output register: streamed where asked and the line is aligned (a tile's rows are).
CHANNELS_TARGET static inline __attribute__((always_inline)) void put(char *p, __m512i v, int stream) {
    if (stream) _mm512_stream_si512((void *)p, v);
    else _mm512_storeu_si512((void *)p, v);
}

CHANNELS_TARGET static inline __attribute__((always_inline)) __m512i gather(const __m512i *r, Gather g, const int C, const int E) {
    const __m512i low = pick2(r[0], g.low, r[1], E);
    if (C == 2) return low;
    const __m512i high = pick2(r[2], g.high, C == 4 ? r[3] : r[2], E);
    return blend(g.from_high, low, high, E);
}

// Deinterleave: element a of channel c at src[(a * C + c) * E] -> dst + c * dst_row + a * E.
CHANNELS_TARGET static inline __attribute__((always_inline)) void deinterleave(const char *src, char *dst, ptrdiff_t dst_row, ptrdiff_t n,
                                                                               int streaming, const int C, const int E) {
    const int K = 64 / E;
    Gather g[4];
    gathers_for(g, 0, C, E);
    const int stream = streaming && ((((uintptr_t)dst) | (uintptr_t)dst_row) & 63) == 0;
    ptrdiff_t a = 0;
    for (; a + K <= n; a += K) {
        __m512i r[4];
#pragma clang loop unroll(full)
        for (int k = 0; k < C; k++) r[k] = _mm512_loadu_si512((const void *)(src + (a * C + k * K) * E));
#pragma clang loop unroll(full)
        for (int c = 0; c < C; c++) put(dst + c * dst_row + a * E, gather(r, g[c], C, E), stream);
    }
    for (; a < n; a++)
        for (int c = 0; c < C; c++) memcpy(dst + c * dst_row + a * E, src + (a * C + c) * E, E);
}

// Interleave: element b of row c at src + c * src_row + b * E -> dst[(b * C + c) * E].
CHANNELS_TARGET static inline __attribute__((always_inline)) void interleave_rows(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t n,
                                                                                  int streaming, const int C, const int E) {
    const int K = 64 / E;
    Gather g[4];
    gathers_for(g, 1, C, E);
    const int stream = streaming && ((uintptr_t)dst & 63) == 0;
    ptrdiff_t b = 0;
    for (; b + K <= n; b += K) {
        __m512i r[4];
#pragma clang loop unroll(full)
        for (int c = 0; c < C; c++) r[c] = _mm512_loadu_si512((const void *)(src + c * src_row + b * E));
#pragma clang loop unroll(full)
        for (int m = 0; m < C; m++) put(dst + (b * C + m * K) * E, gather(r, g[m], C, E), stream);
    }
    for (; b < n; b++)
        for (int c = 0; c < C; c++) memcpy(dst + (b * C + c) * E, src + c * src_row + b * E, E);
}

#define CHANNEL_KERNELS(E)                                                                                                     \
    CHANNELS_TARGET static void deinterleave##E(const char *s, char *d, ptrdiff_t dr, ptrdiff_t n, int C, int st) {          \
        if (C == 2) deinterleave(s, d, dr, n, st, 2, E);                                                                       \
        else if (C == 3) deinterleave(s, d, dr, n, st, 3, E);                                                                  \
        else deinterleave(s, d, dr, n, st, 4, E);                                                                              \
    }                                                                                                                          \
    CHANNELS_TARGET static void interleave##E(const char *s, ptrdiff_t sr, char *d, ptrdiff_t n, int C, int st) {            \
        if (C == 2) interleave_rows(s, sr, d, n, st, 2, E);                                                                    \
        else if (C == 3) interleave_rows(s, sr, d, n, st, 3, E);                                                               \
        else interleave_rows(s, sr, d, n, st, 4, E);                                                                           \
    }
CHANNEL_KERNELS(1)
CHANNEL_KERNELS(2)
CHANNEL_KERNELS(4)
CHANNEL_KERNELS(8)

int rl_transpose_tile_channels(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                               ptrdiff_t across_n, ptrdiff_t element_size, int streaming) {
    const ptrdiff_t E = element_size;
    if (E > 8 || !rl_avx512_transposes() || (E == 1 && !rl_has_avx512_vbmi())) return 0;
    const char *s = (const char *)src;
    char *d = (char *)dst;
    // Deinterleaving only where the 16-byte blocks would leave a tail: f4 with 4 channels, f8 with 2
    // or 4, measured faster there (2 threads, 1.07-1.14 of memcpy against 0.76-0.89 here).
    if (across_n >= 2 && across_n <= 4 && src_along == across_n && along_n >= 64 / E && across_n % (16 / E) != 0) {
        const int C = (int)across_n;
        switch (E) {
        case 1: deinterleave1(s, d, dst_across, along_n, C, streaming); break;
        case 2: deinterleave2(s, d, dst_across * 2, along_n, C, streaming); break;
        case 4: deinterleave4(s, d, dst_across * 4, along_n, C, streaming); break;
        default: deinterleave8(s, d, dst_across * 8, along_n, C, streaming); break;
        }
        return 1;
    }
    if (along_n >= 2 && along_n <= 4 && dst_across == along_n && across_n >= 64 / E) {
        const int C = (int)along_n;
        switch (E) {
        case 1: interleave1(s, src_along, d, across_n, C, streaming); break;
        case 2: interleave2(s, src_along * 2, d, across_n, C, streaming); break;
        case 4: interleave4(s, src_along * 4, d, across_n, C, streaming); break;
        default: interleave8(s, src_along * 8, d, across_n, C, streaming); break;
        }
        return 1;
    }
    return 0;
}
#else
int rl_transpose_tile_channels(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                               ptrdiff_t across_n, ptrdiff_t element_size, int streaming) {
    (void)src; (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size; (void)streaming;
    return 0;
}
#endif
