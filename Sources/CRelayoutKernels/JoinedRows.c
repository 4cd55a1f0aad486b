// The row walk (Transpose.c's tile_rows) into destination rows that start inside lines, streamed in
// whole lines: strips of N = 16 / E destination rows walked along, each step a 64-byte stretch of
// every row of the strip through register blocks into an L1 slot; each row's line is joined from
// the stretch of the step before (the bytes before the row's offset into its lines) and this one's.
// The staged walk (Staged.c) streams such rows too, but writes 128 bytes into each of 64 / E rows a
// step and moves down the source a band at a time, where this walk writes each row of a strip on
// along, line after line, as the row walk does into aligned rows. Plain tiles of 2-byte elements
// take it (on an AMD EPYC, Zen 3, it measured slower than the staged walks for 1-byte plain tiles
// and for 4-, 8- and 16-byte ones; see rl_transpose_tile), and grouped tiles of 1-byte elements
// through row tables, where the grouped row walk would take ordinary stores (see
// rl_transpose_tile_grouped).
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

// Slots of N rows x 64 bytes in a ring: step k's blocks go to slot k % JOIN_SLOTS while the line of
// step k - 1 is joined from slots k - 2 and k - 1, which the stores wrote a step before (a load
// of bytes that stores are still writing waits for them to land).
enum { JOIN_SLOTS = 3 };

// Ones in bytes 0-31, zeros in 32-63: from 32 - m, the mask of a 32-byte piece's first m bytes.
static const unsigned char leading_ones[64] __attribute__((aligned(64))) = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};

// 32 bytes of the line that starts `skew` bytes before this step's stretch `now`, from byte `o` of
// it: the bytes before the stretch come from the previous one (`before`, 64 bytes).
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i joined32(const char *before, const char *now, int o,
                                                                                               int skew) {
    int m = skew - o;
    m = m < 0 ? 0 : m > 32 ? 32 : m;
    const __m256i mask = _mm256_loadu_si256((const __m256i *)(leading_ones + 32 - m));
    const __m256i from_before = _mm256_loadu_si256((const __m256i *)(before + 64 + o - skew));
    const __m256i from_now = _mm256_loadu_si256((const __m256i *)(now + o - skew));
    return _mm256_blendv_epi8(from_now, from_before, mask);
}

// A row's line joined from its stretches in two slots (`before`, `now`), streamed to `line`.
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void stream_joined(char *line, const char *before, const char *now,
                                                                                                 int skew) {
    _mm256_stream_si256((__m256i *)line, joined32(before, now, 0, skew));
    _mm256_stream_si256((__m256i *)(line + 32), joined32(before, now, 32, skew));
}

// The walk over a tile by strides (srows and drows null) or through row tables (grouped tiles).
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void joined_rows(const char *const *srows, const char *src,
                                                                                               ptrdiff_t src_along, char *const *drows, char *dst,
                                                                                               ptrdiff_t dst_across, ptrdiff_t along_n,
                                                                                               ptrdiff_t across_n, const int E) {
    const ptrdiff_t N = 16 / E, line = 64 / E;
    const ptrdiff_t src_row = src_along * E, dst_row = dst_across * E;
    const ptrdiff_t along_full = along_n - along_n % N, across_full = across_n - across_n % N;
    const ptrdiff_t along_lines = along_full - along_full % line, steps = along_lines / line;
    // The slots, with a line of margin on both sides for the joins' loads (masked off), at the
    // start of a 4 KiB page. Where the ring lies within its page set this walk's speed, and on the
    // stack that was up to the callers' frames. AMD EPYC Zen 3, 2 threads, Benchmarks/ab-tiles.c,
    // the ring moved through a page: 1472-1920 bytes into it u2 7263x7265 ran 0.64-0.73x (and
    // 5001x3003 and 2321x3001 alike at 1536 and 1792), elsewhere even (whatever the place of
    // leading_ones); the walk's frame moved down by 448-768 bytes (an alloca before it)
    // 0.63-0.71x, with the period 4 KiB; and Transpose.c built with -O3, whose rl_transpose_tile
    // frame is 960 bytes smaller, 0.61x.
    // Page-aligned, every frame position measured even (0.90-1.10x, one measurement each).
    _Alignas(4096) char ring[64 + JOIN_SLOTS * 16 * 64 + 64];
    char *slots = ring + 64;
    const int fetch_ahead = srows || (src_row & 63) != 0;
    for (ptrdiff_t b = 0; b < across_full; b += N) {
        int skew[16];
        char *first[16];
        for (ptrdiff_t r = 0; r < N; r++) {
            char *at = destination_row_at(drows, dst, dst_row, b + r);
            skew[r] = (int)((uintptr_t)at & 63);
            first[r] = at - skew[r];
        }
        const int fetch = fetch_ahead || (((uintptr_t)src + b * E + 15) & 63) < 16;
        // Grouped tiles' rows are short and pages apart, where the hardware prefetchers do not
        // follow: each step requests the next line of its rows (as Grouped.c's row walk does).
        for (ptrdiff_t k = 0; k <= steps; k++) {
            if (k < steps) {
                const ptrdiff_t a = k * line;
                ptrdiff_t ahead_a, ahead_b;
                if (fetch && rows_ahead(a, b, line, along_lines, line, across_n, &ahead_a, &ahead_b))
#pragma clang loop unroll(full)
                    for (ptrdiff_t q = 0; q < line; q++) __builtin_prefetch(source_row_at(srows, src, src_row, ahead_a + q) + ahead_b * E + 15, 0, 2);
                char *slot = slots + (k % JOIN_SLOTS) * 16 * 64;
                // Two pairs of blocks in 32-byte registers (interleave_pair_avx2) rather than four
                // 16-byte blocks: AMD EPYC Zen 3, 2 threads, five alternating rounds, GB/s: the
                // eleven TTC u1 cases that take this walk 0.99-1.26x (geometric mean 1.15x;
                // 32x15x15x15x15x32:5,4,3,2,1,0 17.4 -> 21.8, 15x15x32x15x15x32:1,5,4,0,3,2 17.4 ->
                // 21.8, 112x15x15x15x5x32:5,4,3,2,1,0 14.9 -> 18.4), the four u2 ones 0.97-1.14x.
                interleave_pair_avx2(srows, src, src_row, a, b * E, 0, slot, 64, 0, E);
                interleave_pair_avx2(srows, src, src_row, a + 2 * N, b * E, 0, slot, 64, 32, E);
            }
            // The line of step k - 1: its first on each row (k == 1), whose bytes before the row's
            // offset belong to the tile before, takes ordinary stores of this tile's bytes.
            if (k >= 1) {
                const char *now = slots + ((k - 1) % JOIN_SLOTS) * 16 * 64;
                const char *before = slots + ((k + JOIN_SLOTS - 2) % JOIN_SLOTS) * 16 * 64;
                for (ptrdiff_t r = 0; r < N; r++) {
                    char *to = first[r] + (k - 1) * 64;
                    if (k == 1 && skew[r] != 0) memcpy(to + skew[r], now + r * 64, (size_t)(64 - skew[r]));
                    else stream_joined(to, before + r * 64, now + r * 64, skew[r]);
                }
            }
        }
        // The last stretch's bytes past the last whole line, then the rows' last elements.
        if (steps > 0) {
            const char *last = slots + ((steps - 1) % JOIN_SLOTS) * 16 * 64;
            for (ptrdiff_t r = 0; r < N; r++) memcpy(first[r] + steps * 64, last + r * 64 + 64 - skew[r], (size_t)skew[r]);
        }
        if (!srows) {
            for (ptrdiff_t a = along_lines; a < along_full; a += N) block(src + a * src_row + b * E, src_row, dst + b * dst_row + a * E, dst_row, E, 0);
            tile_along_edge(src, src_row, dst, dst_row, along_full, along_n, b, E);
        }
    }
    if (srows) {
        if (along_lines < along_n) rl_transpose_rows_blocks(srows, drows, along_lines, along_n, 0, across_full, E);
        if (across_full < across_n) rl_transpose_rows_blocks(srows, drows, 0, along_n, across_full, across_n, E);
    } else {
        tile_across_edge(src, src_row, dst, dst_row, 0, along_n, across_full, across_n, E);
    }
}

__attribute__((target("avx2"))) static void joined_u2(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                                                      ptrdiff_t across_n) {
    joined_rows(0, src, src_along, 0, dst, dst_across, along_n, across_n, 2);
}

__attribute__((target("avx2"))) static void joined_rows_u1(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n) {
    joined_rows(srows, 0, 0, drows, 0, 0, along_n, across_n, 1);
}
#endif

int rl_transpose_tile_joined(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                             ptrdiff_t element_size) {
#if defined(__x86_64__)
    if (element_size != 2 || !rl_avx2_narrow_kernels() || (((uintptr_t)dst | (uintptr_t)(dst_across * 2)) & 1) != 0) return 0;
    joined_u2((const char *)src, src_along, (char *)dst, dst_across, along_n, across_n);
    return 1;
#else
    (void)src; (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size;
    return 0;
#endif
}

int rl_transpose_rows_joined(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size) {
#if defined(__x86_64__)
    if (element_size != 1 || !rl_avx2_narrow_kernels()) return 0;
    joined_rows_u1(srows, drows, along_n, across_n);
    return 1;
#else
    (void)srows; (void)drows; (void)along_n; (void)across_n; (void)element_size;
    return 0;
#endif
}
