// Transposes into destination rows that start inside cache lines, with whole-line non-temporal
// stores. A 16-row strip of 4-byte elements is transposed 16 x 16 at a time in AVX-512 registers;
// each destination row then takes its aligned line from the previous and the current block with one
// two-table permute, shifted by how far that row starts into its line. Ordinary stores there would
// read every destination line in before writing it (1.5x the traffic of a copy).
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define SKEW_TARGET __attribute__((target("avx512f,avx512vl,avx512bw")))

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

// One strip: destination rows b..b+15 over a in [0, along_n), along_n a multiple of 16.
SKEW_TARGET static void strip4(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row, ptrdiff_t along_n,
                               int next_strip) {
    __m512i shift[16];
    int skew[16];
    for (int r = 0; r < 16; r++) {
        skew[r] = (int)(((uintptr_t)(dst + r * dst_row) & 63) >> 2);
        shift[r] = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                    _mm512_set1_epi32(16 - skew[r]));
    }
    __m512 prev[16], cur[16];
    for (ptrdiff_t a = 0; a < along_n; a += 16) {
        // The source rows 64 ahead (on into the next strip's column near the end): the hardware
        // prefetchers do not follow a walk down a column.
        const ptrdiff_t ahead = a + 64;
        const char *fetch = ahead < along_n ? src + ahead * src_row + 63
                          : next_strip && ahead - along_n < along_n ? src + (ahead - along_n) * src_row + 64 + 63 : 0;
        if (fetch)
            for (int k = 0; k < 16; k++) _mm_prefetch(fetch + k * src_row, _MM_HINT_T1);
        for (int i = 0; i < 16; i++) cur[i] = _mm512_loadu_ps((const float *)(src + (a + i) * src_row));
        transpose16x16(cur);
        for (int r = 0; r < 16; r++) {
            char *line = dst + r * dst_row + (a - skew[r]) * 4;
            if (a == 0) {
                __m512 head = _mm512_permutex2var_ps(cur[r], shift[r], cur[r]);
                _mm512_mask_storeu_ps((float *)line, (__mmask16)(0xffffu << skew[r]), head);
            } else {
                __m512 joined = _mm512_permutex2var_ps(prev[r], shift[r], cur[r]);
                _mm512_stream_ps((float *)line, joined);
            }
            prev[r] = cur[r];
        }
    }
    // The last block's elements past the last whole line.
    for (int r = 0; r < 16; r++) {
        char *line = dst + r * dst_row + (along_n - skew[r]) * 4;
        __m512 tail = _mm512_permutex2var_ps(prev[r], shift[r], prev[r]);
        _mm512_mask_storeu_ps((float *)line, (__mmask16)((1u << skew[r]) - 1), tail);
    }
}

// Returns 0 when the tile is not one it handles (then nothing was written).
SKEW_TARGET static int skewed4(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                               ptrdiff_t across_n) {
    const ptrdiff_t src_row = src_along * 4, dst_row = dst_across * 4;
    const ptrdiff_t along_full = along_n & ~(ptrdiff_t)15, across_full = across_n & ~(ptrdiff_t)15;
    if (along_full < 32 || across_full < 16 || ((uintptr_t)dst & 3) != 0) return 0;
    for (ptrdiff_t b = 0; b < across_full; b += 16) {
        strip4(src + b * 4, src_row, dst + b * dst_row, dst_row, along_full, b + 16 < across_full);
        if (along_full < along_n)
            for (ptrdiff_t r = 0; r < 16; r++)
                for (ptrdiff_t a = along_full; a < along_n; a++)
                    memcpy(dst + (b + r) * dst_row + a * 4, src + a * src_row + (b + r) * 4, 4);
    }
    if (across_full < across_n)
        rl_transpose_tile(src + across_full * 4, src_along, dst + across_full * dst_row, dst_across, along_n,
                          across_n - across_full, 4, 0);
    return 1;
}

int rl_transpose_tile_skewed(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size) {
    if (element_size != 4 || !rl_avx512_transposes()) return 0;
    return skewed4((const char *)src, src_along, (char *)dst, dst_across, along_n, across_n);
}
#else
int rl_transpose_tile_skewed(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size) {
    (void)src; (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size;
    return 0;
}
#endif
