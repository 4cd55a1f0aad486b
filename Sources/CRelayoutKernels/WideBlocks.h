// Shared by the AVX-512 walks that write whole destination lines (Skewed.c: rows that start inside
// lines; Wide.c: aligned rows walked by source rows; NarrowWide.c stages its rows through
// transpose4x4): their target attributes and the in-register transposes of one line-square block.
// Private to CRelayoutKernels.
#ifndef CRELAYOUT_WIDE_BLOCKS_H
#define CRELAYOUT_WIDE_BLOCKS_H
#include "CRelayoutKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define SKEW_TARGET __attribute__((target("avx512f,avx512vl,avx512bw")))
#define SKEW_TARGET_NARROW __attribute__((target("avx512f,avx512vl,avx512bw,avx512vbmi")))

// A whole 64-byte-aligned destination line: streamed, or an ordinary store (tiles under the
// streaming threshold).
SKEW_TARGET static inline __attribute__((always_inline)) void put_line(char *line, __m512i v, const int stream) {
    if (stream) _mm512_stream_si512((void *)line, v);
    else _mm512_store_si512((void *)line, v);
}

// r[i] = 16 elements of source row i; afterwards r[k] = element k of every row (row k of the
// destination block). Four stages: 32-bit and 64-bit interleaves within 128-bit lanes, then two
// stages of 128-bit lane shuffles.
SKEW_TARGET static inline __attribute__((always_inline)) void transpose16x16(__m512 *r) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // r[4g + c]: lane q holds element 4q + c of rows 4g..4g+3.
    for (int h = 0; h < 2; h++)
        for (int c = 0; c < 4; c++) {
            t[8 * h + c] = _mm512_shuffle_f32x4(r[8 * h + c], r[8 * h + 4 + c], 0x88);
            t[8 * h + 4 + c] = _mm512_shuffle_f32x4(r[8 * h + c], r[8 * h + 4 + c], 0xdd);
        }
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    }
}

// 8 rows of 8 64-bit elements, or 4 rows of 4 128-bit ones (as pairs of 64-bit lanes), transposed
// the same way: interleave 64-bit lanes (8-byte elements only), then two stages of 128-bit lane
// shuffles.
SKEW_TARGET static inline __attribute__((always_inline)) void transpose8x8(__m512i *r) {
    __m512i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi64(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi64(r[i], r[i + 1]);
    }
    // t[2p + c]: lane q holds element 2q + c of rows 2p, 2p + 1.
    for (int p = 0; p < 8; p += 4)
        for (int c = 0; c < 2; c++) {
            u[p + c] = _mm512_shuffle_i64x2(t[p + c], t[p + 2 + c], 0x88);
            u[p + 2 + c] = _mm512_shuffle_i64x2(t[p + c], t[p + 2 + c], 0xdd);
        }
    for (int c = 0; c < 2; c++) {
        r[c] = _mm512_shuffle_i64x2(u[c], u[4 + c], 0x88);
        r[4 + c] = _mm512_shuffle_i64x2(u[c], u[4 + c], 0xdd);
        r[2 + c] = _mm512_shuffle_i64x2(u[2 + c], u[6 + c], 0x88);
        r[6 + c] = _mm512_shuffle_i64x2(u[2 + c], u[6 + c], 0xdd);
    }
}

SKEW_TARGET static inline __attribute__((always_inline)) void transpose4x4(__m512i *r) {
    __m512i t0 = _mm512_shuffle_i64x2(r[0], r[1], 0x88), t1 = _mm512_shuffle_i64x2(r[0], r[1], 0xdd);
    __m512i t2 = _mm512_shuffle_i64x2(r[2], r[3], 0x88), t3 = _mm512_shuffle_i64x2(r[2], r[3], 0xdd);
    r[0] = _mm512_shuffle_i64x2(t0, t2, 0x88);
    r[2] = _mm512_shuffle_i64x2(t0, t2, 0xdd);
    r[1] = _mm512_shuffle_i64x2(t1, t3, 0x88);
    r[3] = _mm512_shuffle_i64x2(t1, t3, 0xdd);
}

// L = 64 / E rows of 64 bytes, transposed in place: r[k] = element k of every row.
SKEW_TARGET static inline __attribute__((always_inline)) void transpose_block(__m512i *r, const int E) {
    if (E == 4) transpose16x16((__m512 *)r);
    else if (E == 8) transpose8x8(r);
    else transpose4x4(r);
}

// Whether the walks take 4-byte tiles two blocks per step (RL_TRANSPOSE_WIDE_SINGLE_BLOCKS unset).
static inline int four_byte_pairs(int flags) { return (flags & RL_TRANSPOSE_WIDE_SINGLE_BLOCKS) == 0; }
#endif

#endif
