// The wide walk (see below) for 4- to 16-byte elements, and for 2-byte tiles what the staged
// 1- and 2-byte walk of NarrowWide.c leaves: AVX-512 transposes into 64-byte-aligned destination
// rows, one whole line per non-temporal store (per ordinary store under the streaming threshold).
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"
#include "WideBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

// The wide walk: a tile into 64-byte-aligned destination rows, walked by source rows, through row
// tables (grouped tiles) or by stride (plain tiles); along_n a multiple of L = 64 / E (whole lines
// per row), columns past the whole blocks one element at a time. Source rows are read forward 64
// bytes per block (forward streams the hardware prefetchers follow); each transposed L x L block
// goes out as whole destination lines, one store each (`stream`: non-temporal). No staging buffer, no software
// prefetching. On a 2-core Intel Xeon VM (AVX-512, 2 MiB L2) against the 16-byte row walk, 2
// threads: f4 7264² 18 -> 27-29 GB/s, 4096² 21 -> 29, f8 4096² 17-20 -> 30, 43408x1216 14.5 ->
// 19-35; TTC 0.85-0.88 -> 0.96-0.98 of memcpy (C harness, one thread: 14.4 GB/s against 9.4 for
// the row walk, which walks down columns of source lines and reads each line four times).
// Bands of 2L source rows: each step transposes two L x L blocks, one above the
// other, and writes each destination row two consecutive lines (128 bytes), one after the other
// (2 threads against one line per row per step: f4 8192² 29-31 -> 37-41 GB/s, 4096² 33-35 -> 40-46,
// 7264² 28-33 -> 37-41, f8 8192² 30-31 -> 41.6, c16 4096² 32-33 -> 38.5; four lines per row
// measured no better). A C harness of the bare access pattern (loads and streaming stores, no
// transpose), f4 8192²: 29-32 GB/s for one line per row, 40-44 for two. Without `pairs`
// (RL_TRANSPOSE_WIDE_SINGLE_BLOCKS, 4-byte tiles only) each step is one block: on an AMD EPYC Zen 4
// VM (8-way 32 KiB L1d), where a step's 32 source rows measured slower than 16 (f4 TTC + 2-D set,
// 1.175x GB/s with one block), while 8- and 16-byte tiles (16 and 8 rows) still gained from two.
// No software fetching: the hardware prefetchers keep ahead of these aligned loads. Fetching the
// source 4 steps ahead into L1 (as the skewed walk does from memory, Skewed.c) measured 0.75-0.89x
// (5 rounds: f4 8192², 7264², 4096², f8 7264²); only the next band's first steps, 0.91-1.00x.
SKEW_TARGET static inline __attribute__((always_inline)) void wide_walk(const char *const *srows, const char *src, ptrdiff_t src_row,
                                                                       char *const *drows, char *dst, ptrdiff_t dst_row,
                                                                       ptrdiff_t along_n, ptrdiff_t across_n, const int E, const int pairs,
                                                                       const int stream) {
    const int L = 64 / E;
    const ptrdiff_t across_full = across_n - across_n % L;
    for (ptrdiff_t a = 0; a < along_n;) {
        const int pair = pairs && a + 2 * L <= along_n;
        for (ptrdiff_t b = 0; b < across_full; b += L) {
            __m512i first[16], r[16];
#pragma clang loop unroll(full)
            for (int i = 0; i < L; i++) r[i] = _mm512_loadu_si512((const void *)(source_row_at(srows, src, src_row, a + i) + b * E));
            transpose_block(r, E);
            if (pair) {
#pragma clang loop unroll(full)
                for (int i = 0; i < L; i++) first[i] = r[i];
#pragma clang loop unroll(full)
                for (int i = 0; i < L; i++) r[i] = _mm512_loadu_si512((const void *)(source_row_at(srows, src, src_row, a + L + i) + b * E));
                transpose_block(r, E);
            }
#pragma clang loop unroll(full)
            for (int i = 0; i < L; i++) {
                char *line = destination_row_at(drows, dst, dst_row, b + i) + a * E;
                if (pair) {
                    put_line(line, first[i], stream);
                    put_line(line + 64, r[i], stream);
                } else {
                    put_line(line, r[i], stream);
                }
            }
        }
        const ptrdiff_t rows = pair ? 2 * L : L;
        for (ptrdiff_t b = across_full; b < across_n; b++)
            for (ptrdiff_t i = 0; i < rows; i++)
                memcpy(destination_row_at(drows, dst, dst_row, b) + (a + i) * E, source_row_at(srows, src, src_row, a + i) + b * E, E);
        a += rows;
    }
}

// wide_walk compiled per element size (8- and 16-byte tiles always in pairs) and per store mode,
// through row tables (`srows`, `drows`) or by stride (null tables: the table tests fold away).
SKEW_TARGET static inline __attribute__((always_inline)) void wide_walk_sized(const char *const *srows, const char *src, ptrdiff_t src_row,
                                                                             char *const *drows, char *dst, ptrdiff_t dst_row,
                                                                             ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t E, int pairs,
                                                                             const int stream) {
    if (E == 4) wide_walk(srows, src, src_row, drows, dst, dst_row, along_n, across_n, 4, pairs, stream);
    else if (E == 8) wide_walk(srows, src, src_row, drows, dst, dst_row, along_n, across_n, 8, 1, stream);
    else wide_walk(srows, src, src_row, drows, dst, dst_row, along_n, across_n, 16, 1, stream);
}

SKEW_TARGET static void wide_rows(const char *const *s, char *const *d, ptrdiff_t a, ptrdiff_t b, ptrdiff_t E, int pairs, int stream) {
    if (stream) wide_walk_sized(s, 0, 0, d, 0, 0, a, b, E, pairs, 1);
    else wide_walk_sized(s, 0, 0, d, 0, 0, a, b, E, pairs, 0);
}

int rl_transpose_rows_wide(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size,
                           int flags) {
    const ptrdiff_t E = element_size;
    if (E < 4 || !rl_avx512_transposes() || along_n % (64 / E) != 0 || across_n < 64 / E) return 0;
    for (ptrdiff_t b = 0; b < across_n; b++)
        if (((uintptr_t)drows[b] & 63) != 0) return 0;
    const int stream = (flags & RL_TRANSPOSE_STREAMING) != 0;
    wide_rows(srows, drows, along_n, across_n, E, four_byte_pairs(flags), stream);
    return 1;
}

// 16 rows of 16 2-byte elements in ymm registers, transposed in place: each 128-bit lane does the
// 8 x 8 interleave of rows 0-7 and 8-15 (unpacks of 16, 32 and 64 bits), then lanes are paired.
SKEW_TARGET static inline __attribute__((always_inline)) void transpose16x16_u16(__m256i *x) {
    __m256i a[16], b[16], c[16];
    for (int h = 0; h < 16; h += 8) {
        for (int i = 0; i < 8; i += 2) {
            a[h + i] = _mm256_unpacklo_epi16(x[h + i], x[h + i + 1]);
            a[h + i + 1] = _mm256_unpackhi_epi16(x[h + i], x[h + i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            b[h + i] = _mm256_unpacklo_epi32(a[h + i], a[h + i + 2]);
            b[h + i + 1] = _mm256_unpackhi_epi32(a[h + i], a[h + i + 2]);
            b[h + i + 2] = _mm256_unpacklo_epi32(a[h + i + 1], a[h + i + 3]);
            b[h + i + 3] = _mm256_unpackhi_epi32(a[h + i + 1], a[h + i + 3]);
        }
        // c[h + k]: lane L holds element 8L + k of rows h..h+7.
        for (int k = 0; k < 4; k++) {
            c[h + 2 * k] = _mm256_unpacklo_epi64(b[h + k], b[h + k + 4]);
            c[h + 2 * k + 1] = _mm256_unpackhi_epi64(b[h + k], b[h + k + 4]);
        }
    }
    for (int k = 0; k < 8; k++) {
        x[k] = _mm256_permute2x128_si256(c[k], c[8 + k], 0x20);
        x[8 + k] = _mm256_permute2x128_si256(c[k], c[8 + k], 0x31);
    }
}

// For the last 16 columns of a tile whose width is not a multiple of 32, the wide walk for 2-byte
// elements works on 32 source rows by 32 bytes, as two 16 x 16 blocks;
// each destination line joins the halves from source rows a..a+15 and a+16..a+31. (Elsewhere the
// staged walk of NarrowWide.c, which reads 128 bytes of each source row per step, measured faster
// once work items followed the source's rows: 2 threads, u2 4096², 8192², 4096x8192 and
// 16x1024x1024:0,2,1 24.4-28.8 -> 30.0-34.8 GB/s, medians of 4 alternating runs.) lines2: the 16
// destination lines b..b+15 of source rows a..a+31 (from `rows`).
SKEW_TARGET static inline __attribute__((always_inline)) void lines2(const char *rows, ptrdiff_t src_row, ptrdiff_t b, __m512i *lines) {
    __m256i top[16], bottom[16];
#pragma clang loop unroll(full)
    for (int i = 0; i < 16; i++) top[i] = _mm256_loadu_si256((const __m256i *)(rows + i * src_row + b * 2));
    transpose16x16_u16(top);
#pragma clang loop unroll(full)
    for (int i = 0; i < 16; i++) bottom[i] = _mm256_loadu_si256((const __m256i *)(rows + (16 + i) * src_row + b * 2));
    transpose16x16_u16(bottom);
#pragma clang loop unroll(full)
    for (int i = 0; i < 16; i++) lines[i] = _mm512_inserti64x4(_mm512_castsi256_si512(top[i]), bottom[i], 1);
}

SKEW_TARGET static void wide_tile2(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row, ptrdiff_t along_full, ptrdiff_t across_full,
                                   int stream) {
    // Bands of 64 source rows where there are that many: two lines per destination row per step,
    // back to back, as in wide_walk (2 threads, u2 4096x4099 26.8-30.0 -> 32.8-40.2 GB/s, 7232²
    // 30.3-32.4 -> 29.5-40.6, 4096² and 8192² 26.5-29.6 -> 27.3-32.8).
    for (ptrdiff_t a = 0; a < along_full;) {
        const int pair = a + 64 <= along_full;
        const char *rows = src + a * src_row;
        char *column = dst + a * 2;
        for (ptrdiff_t b = 0; b < across_full; b += 16) {
            __m512i first[16], second[16];
            lines2(rows, src_row, b, first);
            if (pair) lines2(rows + 32 * src_row, src_row, b, second);
#pragma clang loop unroll(full)
            for (int i = 0; i < 16; i++) {
                put_line(column + (b + i) * dst_row, first[i], stream);
                if (pair) put_line(column + (b + i) * dst_row + 64, second[i], stream);
            }
        }
        a += pair ? 64 : 32;
    }
}

SKEW_TARGET static void wide_tile(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b, ptrdiff_t E, int pairs, int stream) {
    if (stream) wide_walk_sized(0, s, sr, 0, d, dr, a, b, E, pairs, 1);
    else wide_walk_sized(0, s, sr, 0, d, dr, a, b, E, pairs, 0);
}

int rl_transpose_tile_wide(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                           ptrdiff_t across_n, ptrdiff_t element_size, int flags) {
    const ptrdiff_t E = element_size;
    const int stream = (flags & RL_TRANSPOSE_STREAMING) != 0;
    if (!rl_avx512_transposes()) return 0;
    // 1-byte steps are 64 rows along by 16 or more across (one 16-byte piece of each source row's
    // columns), 2-byte blocks 32 by 16.
    const ptrdiff_t L = 64 / E, B = E <= 2 ? 16 : L;
    const ptrdiff_t along_full = along_n - along_n % L, across_full = across_n - across_n % B;
    if (along_full == 0 || across_full == 0 || ((((uintptr_t)dst) | (uintptr_t)(dst_across * E)) & 63) != 0) return 0;
    const char *s = (const char *)src;
    char *d = (char *)dst;
    if (E == 1) {
        if (!rl_wide_narrow_tile(s, src_along, d, dst_across, along_full, across_full, 1, stream)) return 0;
    } else if (E == 2) {
        const ptrdiff_t whole = across_full - across_full % 32;
        const ptrdiff_t staged = whole > 0 && rl_wide_narrow_tile(s, src_along * 2, d, dst_across * 2, along_full, whole, 2, stream) ? whole : 0;
        if (staged < across_full) wide_tile2(s + staged * 2, src_along * 2, d + staged * dst_across * 2, dst_across * 2, along_full, across_full - staged, stream);
    }
    else wide_tile(s, src_along * E, d, dst_across * E, along_full, across_full, E, four_byte_pairs(flags), stream);
    // The rest with ordinary stores: columns past the whole blocks, then rows past them.
    if (across_full < across_n)
        rl_transpose_tile(s + across_full * E, src_along, d + across_full * dst_across * E, dst_across, along_full, across_n - across_full, E, 0);
    if (along_full < along_n)
        rl_transpose_tile(s + along_full * src_along * E, src_along, d + along_full * E, dst_across, along_n - along_full, across_n, E, 0);
    return 1;
}
#else
int rl_transpose_rows_wide(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size,
                           int flags) {
    (void)srows; (void)drows; (void)along_n; (void)across_n; (void)element_size; (void)flags;
    return 0;
}

int rl_transpose_tile_wide(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                           ptrdiff_t across_n, ptrdiff_t element_size, int flags) {
    (void)src; (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size; (void)flags;
    return 0;
}
#endif
