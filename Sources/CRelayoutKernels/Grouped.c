// Transposes of grouped tiles: the destination's stride-1 dimension A continued by its next dimension
// A2, and the source's stride-1 dimension B continued by B2. Such a tile is one 2-D transpose whose
// rows are not evenly spaced (row (i, i2) starts at i * stride + i2 * stride2), so the rows are
// looked up in tables built once per tile. One call replaces a call per (a2, b2) pair of small
// transposes, and strips of destination rows run the full grouped width (TTC's 15/28/32/48-sized
// axes otherwise give tiles of a few KiB each).
#include "CRelayoutKernels.h"
#include "TransposeBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// One N x N block through a row table: N source rows at srows[0..<N] + b_offset, transposed into v.
static inline __attribute__((always_inline)) void load_block(const char *const *srows, ptrdiff_t b_offset, v16 *v, const int E) {
    const int N = 16 / E;
#pragma clang loop unroll(full)
    for (int i = 0; i < N; i++) v[i] = load16(srows[i] + b_offset);
    transpose_registers(v, E);
}

// A block stored to N destination rows at drows[0..<N] + a_offset.
static inline __attribute__((always_inline)) void block_rows(const char *const *srows, ptrdiff_t b_offset,
                                                             char *const *drows, ptrdiff_t a_offset, const int E) {
    v16 v[16];
    load_block(srows, b_offset, v, E);
#pragma clang loop unroll(full)
    for (int i = 0; i < 16 / E; i++) store16(drows[i] + a_offset, v[i], 0);
}

// 2N source rows from row a (bytes from `column`) into N out rows from byte `offset`, 32 bytes each:
// the 1- and 2-byte walks' pairs of blocks where the CPU has AVX2 (grouped_narrow_avx2); null
// elsewhere, where they take N x N blocks.
typedef void pair_function(const char *const *srows, ptrdiff_t a, ptrdiff_t column, char *const *out, ptrdiff_t offset);

enum { PACKED_STRIP_BYTES = 16384 };

int rl_transpose_strips_pack(ptrdiff_t row_elements, ptrdiff_t element_size) {
    // 16 / E rows of row_elements * E bytes: 16 * row_elements bytes.
    return element_size <= 2 && row_elements > 0 && ((16 * row_elements) & 63) == 0 && 16 * row_elements <= PACKED_STRIP_BYTES;
}

// Whether the strip of N destination rows from row b lies back to back from a 64-byte boundary
// (grouped_rows' packed strips; rl_transpose_strips_pack checks that N rows make whole lines that
// fit the stage).
static inline int strip_packs(char *const *drows, ptrdiff_t b, ptrdiff_t row_bytes, ptrdiff_t N) {
    if (((uintptr_t)drows[b] & 63) != 0) return 0;
    for (ptrdiff_t r = 1; r < N; r++)
        if (drows[b + r] != drows[b] + r * row_bytes) return 0;
    return 1;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void stream_lines_zmm(char *dst, const char *stage, ptrdiff_t bytes) {
    for (ptrdiff_t o = 0; o < bytes; o += 64) _mm512_stream_si512((void *)(dst + o), _mm512_load_si512((const void *)(stage + o)));
}
#endif

// The edges of a grouped tile, as tile_along_edge and tile_across_edge through row tables: source
// rows [along_full, along_n) into the N rows `out` from column b, and columns [across_full,
// across_n) of rows [a0, along_n).
static inline __attribute__((always_inline)) void grouped_along_edge(const char *const *srows, char *const *out, ptrdiff_t along_full,
                                                                     ptrdiff_t along_n, ptrdiff_t b, const int E) {
    const ptrdiff_t N = 16 / E;
    if (along_full < along_n && edge_takes_blocks(along_n - along_full, E)) {
        edge_block(srows + along_full, NULL, 0, b * E, out, NULL, 0, along_full * E, along_n - along_full, E);
        return;
    }
    for (ptrdiff_t a = along_full; a < along_n; a++)
        for (ptrdiff_t k = 0; k < N; k++) memcpy(out[k] + a * E, srows[a] + (b + k) * E, E);
}

static inline __attribute__((always_inline)) void grouped_across_edge(const char *const *srows, char *const *drows, ptrdiff_t a0,
                                                                      ptrdiff_t along_n, ptrdiff_t across_full, ptrdiff_t across_n, const int E) {
    for (ptrdiff_t b = across_full; b < across_n; b++)
        for (ptrdiff_t a = a0; a < along_n; a++) memcpy(drows[b] + a * E, srows[a] + b * E, E);
}

// A packed strip out of the L1 stage as whole lines: with the AVX-512 kernels, one 64-byte load and
// streaming store each (the 16-byte form takes four of each; u1 75x12x608x96:1,0,3,2 spent a quarter
// of its time there).
static void stream_strip(char *dst, const char *stage, ptrdiff_t bytes) {
#if defined(__x86_64__)
    if (rl_avx512_transposes()) {
        stream_lines_zmm(dst, stage, bytes);
        return;
    }
#endif
    for (ptrdiff_t o = 0; o < bytes; o += 64) stream_line64(dst + o, stage + o);
}

// Strips of N destination rows, walked along the destination; with streaming stores each 64-byte
// stretch of the N rows is staged in L1 and written as whole lines (as in Transpose.c's row walk).
// With `packed`, strips whose rows lie back to back (rows that are not whole lines, where N of them
// are) are staged whole and streamed out as one stretch of lines; other strips take ordinary stores.
static inline __attribute__((always_inline)) void grouped_rows(const char *const *srows, char *const *drows,
                                                               ptrdiff_t along_n, ptrdiff_t across_n, const int E, int streaming, int packed,
                                                               pair_function *pair) {
    const ptrdiff_t N = 16 / E, line = 64 / E;
    const ptrdiff_t along_full = along_n - along_n % N, across_full = across_n - across_n % N;
    const ptrdiff_t along_lines = streaming ? along_full - along_full % line : 0;
    _Alignas(64) char staging[16 * 64];
    _Alignas(64) char strip[PACKED_STRIP_BYTES];
    char *strip_rows[16], *staging_rows[16];
    for (ptrdiff_t r = 0; r < N; r++) staging_rows[r] = staging + r * 64;
    if (packed)
        for (ptrdiff_t r = 0; r < N; r++) strip_rows[r] = strip + r * along_n * E;
    int misaligned = 0;
    for (ptrdiff_t a = 1; a < along_n && !streaming; a++) misaligned |= (((uintptr_t)srows[a] - (uintptr_t)srows[0]) & 63) != 0;
    for (ptrdiff_t b = 0; b < across_full; b += N) {
        const int pack = packed && strip_packs(drows, b, along_n * E, N);
        char *const *out = pack ? strip_rows : drows + b;
        // On a pass that first touches source lines, the lines 64 rows ahead (on into the next
        // line's pass near the end), into L2.
        const int fetch_ahead = along_lines > 0 && (((uintptr_t)srows[0] + b * E + 15) & 63) < 16;
        // With pairs, 1-byte strips write two lines of each destination row per step (128 source
        // rows): one line a row at a time is the pattern the staged walk left behind for being slow
        // on the AMD EPYC Zen 3 (see Staged.c), and timing-only builds without the streamed stores
        // ran these strips 1.4-2.6x as fast. Zen 3, 2 threads, alternating rounds, GB/s: the 24 TTC
        // u1 cases that reach them 1.14x (three rounds; 28x352x28x4x48:4,0,3,2,1 14.1 -> 19.0,
        // 75x75x96x96:1,0,3,2 17.1 -> 23.4, 28x48x28x28x48:4,0,3,2,1 21.2 -> 28.3; lowest 0.81x,
        // 15x15x32x15x15x32:1,4,0,5,3,2); the 2-byte ones 1.03x, four lines 0.95-1.49x.
        ptrdiff_t a0 = 0;
        if (pair && E == 1) {
            _Alignas(64) char wide[16 * 128];
            char *wide_rows[16];
            for (ptrdiff_t r = 0; r < N; r++) wide_rows[r] = wide + r * 128;
            for (; a0 + 2 * line <= along_lines; a0 += 2 * line) {
                for (ptrdiff_t l = 0; l < 2; l++) {
                    const ptrdiff_t a = a0 + l * line;
                    ptrdiff_t ahead_a, ahead_b;
                    if (fetch_ahead && rows_ahead(a, b, line, along_lines, line, across_n, &ahead_a, &ahead_b))
#pragma clang loop unroll(full)
                        for (ptrdiff_t k = 0; k < line; k++) __builtin_prefetch(srows[ahead_a + k] + ahead_b * E + 15, 0, 2);
                    pair(srows, a, b * E, wide_rows, l * 64);
                    pair(srows, a + 2 * N, b * E, wide_rows, l * 64 + 32);
                }
                for (ptrdiff_t r = 0; r < N; r++) {
                    stream_line64(drows[b + r] + a0 * E, wide + r * 128);
                    stream_line64(drows[b + r] + a0 * E + 64, wide + r * 128 + 64);
                }
            }
        }
        for (ptrdiff_t a = a0; a < along_lines; a += line) {
            ptrdiff_t ahead_a, ahead_b;
            if (fetch_ahead && rows_ahead(a, b, line, along_lines, line, across_n, &ahead_a, &ahead_b))
#pragma clang loop unroll(full)
                for (ptrdiff_t k = 0; k < line; k++) __builtin_prefetch(srows[ahead_a + k] + ahead_b * E + 15, 0, 2);
            if (pair) {
                pair(srows, a, b * E, staging_rows, 0);
                pair(srows, a + 2 * N, b * E, staging_rows, 32);
            } else {
#pragma clang loop unroll(full)
                for (ptrdiff_t k = 0; k < 4; k++) block_from_rows(srows, 0, 0, a + k * N, b * E, staging + k * 16, 64, E);
            }
            for (ptrdiff_t r = 0; r < N; r++) {
#pragma clang loop unroll(full)
                for (int q = 0; q < 4; q++) store16(drows[b + r] + a * E + 16 * q, load16(staging + r * 64 + 16 * q), 1);
            }
        }
        // Ordinary stores and packed strips: each row's next source line, requested on the strip
        // that first touches the current one (on every strip where rows start at different offsets
        // in their lines). Grouped tiles are often only 32-96 rows deep, too shallow to fetch 64 rows
        // ahead, and their rows lie pages apart, where the hardware prefetchers do not follow.
        const int fetch_next = !streaming && (misaligned || (((uintptr_t)srows[0] + b * E + 15) & 63) < 16) && b + line < across_n;
        for (ptrdiff_t a = along_lines; a < along_full;) {
            const int two = pair && a + 2 * N <= along_full;
            if (fetch_next)
                for (ptrdiff_t k = 0; k < (two ? 2 : 1) * N; k++) __builtin_prefetch(srows[a + k] + b * E + 15 + 64);
            if (two) {
                pair(srows, a, b * E, out, a * E);
                a += 2 * N;
            } else {
                block_rows(srows + a, b * E, out, a * E, E);
                a += N;
            }
        }
        grouped_along_edge(srows, out, along_full, along_n, b, E);
        if (pack) stream_strip(drows[b], strip, N * along_n * E);
    }
    grouped_across_edge(srows, drows, 0, along_n, across_full, across_n, E);
}

// The remainder of a line walk: N x N blocks over [a0, along_n) x [b0, across_n), then elements.
static inline __attribute__((always_inline)) void grouped_blocks(const char *const *srows, char *const *drows, ptrdiff_t a0, ptrdiff_t along_n,
                                                                 ptrdiff_t b0, ptrdiff_t across_n, const int E) {
    const ptrdiff_t N = 16 / E;
    const ptrdiff_t along_full = a0 + (along_n - a0) - (along_n - a0) % N;
    const ptrdiff_t across_full = b0 + (across_n - b0) - (across_n - b0) % N;
    for (ptrdiff_t b = b0; b < across_full; b += N) {
        for (ptrdiff_t a = a0; a < along_full; a += N) block_rows(srows + a, b * E, drows + b, a * E, E);
        grouped_along_edge(srows, drows + b, along_full, along_n, b, E);
    }
    grouped_across_edge(srows, drows, a0, along_n, across_full, across_n, E);
}

// Line-by-line super-blocks, as Transpose.c's line walk: 64 / E source rows by 64 / E destination
// rows, each source line read whole while in L1, each destination line written whole from an L1
// staging buffer. For row strides that are multiples of 1 KiB, where the row walk's many open rows
// share a few cache sets (48x28x28x28x48:4,3,2,1,0 has 4 MiB and 147 KiB strides).
static inline __attribute__((always_inline)) void grouped_lines(const char *const *srows, char *const *drows,
                                                                ptrdiff_t along_n, ptrdiff_t across_n, const int E, int streaming) {
    const ptrdiff_t N = 16 / E, L = 64 / E;
    const ptrdiff_t along_lines = along_n - along_n % L, across_lines = across_n - across_n % L;
    _Alignas(64) char staging[64 * 64];
    for (ptrdiff_t b = 0; b < across_lines; b += L) {
        for (ptrdiff_t a = 0; a < along_lines; a += L) {
            // As in Transpose.c's line walk: the source lines 64 rows ahead in walk order, into L2.
            ptrdiff_t ahead_a, ahead_b;
            if (rows_ahead(a, b, L, along_lines, L, across_lines, &ahead_a, &ahead_b))
#pragma clang loop unroll(full)
                for (ptrdiff_t k = 0; k < L; k++) __builtin_prefetch(srows[ahead_a + k] + ahead_b * E, 0, 2);
            for (ptrdiff_t ab = 0; ab < L; ab += N)
#pragma clang loop unroll(full)
                for (ptrdiff_t bb = 0; bb < L; bb += N)
                    block_from_rows(srows, 0, 0, a + ab, (b + bb) * E, staging + bb * 64 + ab * E, 64, E);
            for (ptrdiff_t r = 0; r < L; r++) {
#pragma clang loop unroll(full)
                for (int q = 0; q < 4; q++) store16(drows[b + r] + a * E + 16 * q, load16(staging + r * 64 + 16 * q), streaming);
            }
        }
        if (along_lines < along_n) grouped_blocks(srows, drows, along_lines, along_n, b, b + L, E);
    }
    if (across_lines < across_n) grouped_blocks(srows, drows, 0, along_n, across_lines, across_n, E);
}

static inline __attribute__((always_inline)) void grouped(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n,
                                                          int lines, const int E, int streaming, int packed, pair_function *pair) {
    if (lines) grouped_lines(srows, drows, along_n, across_n, E, streaming);
    else grouped_rows(srows, drows, along_n, across_n, E, streaming, packed, pair);
}

#if defined(__x86_64__)
// As in Transpose.c: 1- and 2-byte blocks need more vector registers than the baseline has.
__attribute__((target("avx512f,avx512vl,avx512bw")))
static void grouped_narrow_avx512(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n,
                                  int lines, ptrdiff_t E, int streaming, int packed) {
    if (E == 1) grouped(srows, drows, along_n, across_n, lines, 1, streaming, packed, 0);
    else grouped(srows, drows, along_n, across_n, lines, 2, streaming, packed, 0);
}

// Without AVX-512, where the CPU has AVX2: the 1- and 2-byte walks built for it, their blocks taken
// two at a time in 32-byte registers (interleave_pair_registers), half the interleaves of 16-byte
// blocks, which the baseline build also runs short of registers for. AMD EPYC Zen 3, 2 threads,
// the 52 TTC u1 and u2 cases that reach these walks, alternating rounds, GB/s: geometric mean
// 1.13x over three rounds and 1.04x over six (per case 0.82-1.65x, the same case moving 0.2-0.4
// between the two runs: u1 28x28x48x28x48:1,3,0,4,2 1.65x and 1.23x, 75x75x96x96:1,0,3,2 1.46x
// and 1.28x, 75x96x12x608:3,0,2,1 1.07x and 1.26x); over all 57 TTC cases (alternate.py, three
// rounds) paired GB/s u1 1.038, u2 1.024.
__attribute__((target("avx2"))) static void pair_u1_avx2(const char *const *srows, ptrdiff_t a, ptrdiff_t column, char *const *out,
                                                         ptrdiff_t offset) {
    interleave_pair_avx2(srows, 0, 0, a, column, out, 0, 0, offset, 1);
}
__attribute__((target("avx2"))) static void pair_u2_avx2(const char *const *srows, ptrdiff_t a, ptrdiff_t column, char *const *out,
                                                         ptrdiff_t offset) {
    interleave_pair_avx2(srows, 0, 0, a, column, out, 0, 0, offset, 2);
}
__attribute__((target("avx2"))) static void grouped_narrow_avx2(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n,
                                                                int lines, ptrdiff_t E, int streaming, int packed) {
    if (E == 1) grouped(srows, drows, along_n, across_n, lines, 1, streaming, packed, pair_u1_avx2);
    else grouped(srows, drows, along_n, across_n, lines, 2, streaming, packed, pair_u2_avx2);
}
#endif

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,avx512bw")))
static void grouped_blocks_narrow_avx512(const char *const *srows, char *const *drows, ptrdiff_t a0, ptrdiff_t along_n, ptrdiff_t b0,
                                         ptrdiff_t across_n, ptrdiff_t E) {
    if (E == 1) grouped_blocks(srows, drows, a0, along_n, b0, across_n, 1);
    else grouped_blocks(srows, drows, a0, along_n, b0, across_n, 2);
}
#endif

void rl_transpose_rows_blocks(const char *const *srows, char *const *drows, ptrdiff_t a0, ptrdiff_t along_n, ptrdiff_t b0, ptrdiff_t across_n,
                              ptrdiff_t element_size) {
#if defined(__x86_64__)
    if (element_size <= 2 && rl_avx512_transposes()) {
        grouped_blocks_narrow_avx512(srows, drows, a0, along_n, b0, across_n, element_size);
        return;
    }
#endif
    switch (element_size) {
    case 1: grouped_blocks(srows, drows, a0, along_n, b0, across_n, 1); break;
    case 2: grouped_blocks(srows, drows, a0, along_n, b0, across_n, 2); break;
    case 4: grouped_blocks(srows, drows, a0, along_n, b0, across_n, 4); break;
    case 8: grouped_blocks(srows, drows, a0, along_n, b0, across_n, 8); break;
    default: grouped_blocks(srows, drows, a0, along_n, b0, across_n, 16); break;
    }
}

enum { MAX_GROUPED_ROWS = 2048 };

int rl_transpose_grouped_fits(ptrdiff_t along_rows, ptrdiff_t across_rows) {
    return along_rows <= MAX_GROUPED_ROWS && across_rows <= MAX_GROUPED_ROWS;
}

// Groups of along rows into a few channels, streamed: the groups' destination rows lie back to back
// in each channel's plane; where they are not whole lines (224-pixel rows of a flipped image), a
// group at a time would stream only the rows that start on a line. As many
// groups as fill a 16 KiB L1 stage are taken apart into it by the channel kernels, and each plane's
// stretch is streamed from there in whole lines. Returns 0, having written nothing, where the channel
// kernels do not take the tile.
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw"))) static int channels_through_stage(const char *src, rl_row_group along, char *dst, rl_row_group across, ptrdiff_t E) {
    _Alignas(64) char stage[L1_STAGE_BYTES];
    const ptrdiff_t C = across.count, groups = along.count2 * along.count3;
    const ptrdiff_t per_stage = L1_STAGE_BYTES / (C * along.count * E);
    if (per_stage < 2) return 0;
    for (ptrdiff_t g0 = 0; g0 < groups; g0 += per_stage) {
        const ptrdiff_t ng = groups - g0 < per_stage ? groups - g0 : per_stage, plane = ng * along.count;
        for (ptrdiff_t g = g0; g < g0 + ng; g++) {
            const ptrdiff_t from = (g % along.count2) * along.stride2 + (g / along.count2) * along.stride3;
            // The same tile shape each time: the first call decides for all.
            if (!rl_transpose_tile_channels(src + from * E, along.stride, stage + (g - g0) * along.count * E, plane, along.count, C, E, 0))
                return 0;
        }
        for (ptrdiff_t c = 0; c < C; c++) stream_from_stage(dst + (c * across.stride + g0 * along.count) * E, stage + c * plane * E, plane * E);
    }
    return 1;
}
#else
static int channels_through_stage(const char *src, rl_row_group along, char *dst, rl_row_group across, ptrdiff_t E) {
    (void)src; (void)along; (void)dst; (void)across; (void)E;
    return 0;
}
#endif

// Whether the rows of one side lie whole multiples of 1 KiB apart, counting only the strides the
// tile moves along (a count of 1 leaves its stride unused).
static int whole_kib_strides(rl_row_group side, ptrdiff_t E) {
    return ((side.stride * E) & 1023) == 0 && (side.count2 == 1 || ((side.stride2 * E) & 1023) == 0) &&
           (side.count3 == 1 || ((side.stride3 * E) & 1023) == 0);
}

void rl_transpose_tile_grouped(const void *src, rl_row_group along, void *dst, rl_row_group across, ptrdiff_t element_size, int flags) {
    const ptrdiff_t E = element_size;
    // Its row tables hold the tile's own rows only.
    flags &= ~(RL_TRANSPOSE_ROWS_BEFORE | RL_TRANSPOSE_ROWS_AFTER);
    int streaming = (flags & RL_TRANSPOSE_STREAMING) != 0;
    const ptrdiff_t along_groups = along.count2 * along.count3;
    // A few channels (source rows of 2-15 elements back to back, e.g. a cropped NHWC image): each
    // group of along rows is a channel tile, which the channel kernels take (or none does).
    const int rows_in_lines = ((((uintptr_t)dst) | (uintptr_t)(along.count * E) | (uintptr_t)(across.stride * E)) & 63) == 0;
    if (across.count2 * across.count3 == 1 && across.count <= RL_MAX_CHANNELS && streaming && along_groups > 1 && !rows_in_lines &&
        channels_through_stage((const char *)src, along, (char *)dst, across, E))
        return;
    if (across.count2 * across.count3 == 1 && across.count <= RL_MAX_CHANNELS &&
        rl_transpose_tile_channels(src, along.stride, dst, across.stride, along.count, across.count, E, streaming)) {
        for (ptrdiff_t g = 1; g < along_groups; g++) {
            const ptrdiff_t from = (g % along.count2) * along.stride2 + (g / along.count2) * along.stride3;
            rl_transpose_tile_channels((const char *)src + from * E, along.stride, (char *)dst + g * along.count * E, across.stride, along.count,
                                       across.count, E, streaming);
        }
        return;
    }
    // And their inverse (destination rows of 2-15 elements back to back, from as many source rows):
    // each group of across rows, which lie back to back in the source, is a channel tile (2
    // threads, 3 rounds: f8 28x2x24x24x24:3,2,0,4,1, pairs interleaved from groups of 10 x 24, 0.50
    // of memcpy as a grouped transpose, 0.94 so; u2 2x300x100x100:2,1,3,0 0.22 -> 0.72).
    const ptrdiff_t across_groups = across.count2 * across.count3;
    if (along_groups == 1 && across_groups > 1 && along.count <= RL_MAX_CHANNELS &&
        rl_transpose_tile_channels(src, along.stride, dst, across.stride, along.count, across.count, E, streaming)) {
        for (ptrdiff_t g = 1; g < across_groups; g++) {
            const ptrdiff_t to = (g % across.count2) * across.stride2 + (g / across.count2) * across.stride3;
            rl_transpose_tile_channels((const char *)src + g * across.count * E, along.stride, (char *)dst + to * E, across.stride, along.count,
                                       across.count, E, streaming);
        }
        return;
    }
    const ptrdiff_t along_rows = along.count * along_groups;
    ptrdiff_t across_rows = across.count * across.count2 * across.count3;
    const char *srows[MAX_GROUPED_ROWS];
    char *rows_table[MAX_GROUPED_ROWS];
    char **drows = rows_table;
    const char *s = (const char *)src;
    char *d = (char *)dst;
    ptrdiff_t k = 0;
    for (ptrdiff_t i3 = 0; i3 < along.count3; i3++)
        for (ptrdiff_t i2 = 0; i2 < along.count2; i2++)
            for (ptrdiff_t i = 0; i < along.count; i++) srows[k++] = s + (i * along.stride + i2 * along.stride2 + i3 * along.stride3) * E;
    k = 0;
    for (ptrdiff_t j3 = 0; j3 < across.count3; j3++)
        for (ptrdiff_t j2 = 0; j2 < across.count2; j2++)
            for (ptrdiff_t j = 0; j < across.count; j++) drows[k++] = d + (j * across.stride + j2 * across.stride2 + j3 * across.stride3) * E;
    // Whole destination lines only: every destination row starts 64-byte aligned and is whole lines
    // long (streamed lines next to ordinary stores in one line measured slower than no streaming).
    const int aligned = ((((uintptr_t)dst) | (uintptr_t)(across.stride * E) | (uintptr_t)(across.stride2 * E) | (uintptr_t)(across.stride3 * E) |
                          (uintptr_t)(along_rows * E)) & 63) == 0;
    // Aligned rows, with the wide walk: whole 64-byte blocks by source rows, as in
    // rl_transpose_tile_wide (TTC's 112x15x15x15x5x32:5,4,3,2,1,0, 448 x 160 floats per tile,
    // 12.4-13.4 -> 26.9-30.6 GB/s).
    if (aligned && (flags & RL_TRANSPOSE_WIDE) && rl_transpose_rows_wide(srows, (char *const *)drows, along_rows, across_rows, E, flags)) return;
    // As in rl_transpose_tile: strides that are multiples of 1 KiB take the line walk, or, streamed
    // without the AVX-512 walks, the staged one (Staged.c; AMD EPYC, 2 threads, five alternating
    // rounds: f4 352x28x28x4x48:4,3,2,1,0 9.6 -> 17.2 GB/s, 48x28x28x4x352:4,3,2,1,0 11.1 -> 14.5,
    // 48x28x28x28x48:4,3,2,1,0 12.7 -> 15.6). Other strides measured slower staged (0.80-0.96x).
    // Without the AVX-512 walks one side whole KiB is enough, as in rl_transpose_tile: tiles that
    // group a third dimension (352x28x28x4x48:4,3,2,1,0 now groups 48x4x2 destination rows, 39424
    // bytes apart at the third) had fallen off the staged walk (AMD EPYC Zen 3, 2 threads, three
    // alternating rounds: that case 13.7 -> 20.6 GB/s, 28x48x28x4x352:4,0,3,2,1 1.14x, four other
    // grouped cases 0.98-1.08x). With them, 1- and 2-byte tiles reach this before the AVX-512
    // narrow walk below, so the rule there stays as it was measured (every stride whole KiB).
    const int lines = rl_avx512_walks()
                          ? (((along.stride | along.stride2 | along.stride3 | across.stride | across.stride2 | across.stride3) * E) & 1023) == 0
                          : whole_kib_strides(along, E) || whole_kib_strides(across, E);
    const int staged_stride = lines || rl_staged_at_any_stride(E, flags);
    if (streaming && aligned && (flags & RL_TRANSPOSE_WIDE) && staged_stride && rl_transpose_rows_staged(srows, (char *const *)drows, along_rows, across_rows, E))
        return;
    // 1- and 2-byte elements: the staged walk over the first destination rows in whole groups of
    // 16 / E (one 16-byte piece of each source row's columns), the grouped kernels below for the rest.
    if (streaming && aligned && (flags & RL_TRANSPOSE_WIDE) && E <= 2) {
        const ptrdiff_t whole = across_rows - across_rows % (16 / E);
        if (whole > 0 && rl_wide_narrow_rows_aligned(srows, (char *const *)drows, along_rows, whole, E)) {
            if (whole == across_rows) return;
            for (ptrdiff_t k = 0; k < along_rows; k++) srows[k] += whole * E;
            drows += whole;
            across_rows -= whole;
        }
    }
    // Rows back to back that are not whole lines (u1 75x96x75x96:2,0,3,1, rows of 96 bytes): each
    // strip of rows is one stretch of whole lines, staged in L1 and streamed. Where both the
    // destination rows (256 bytes or more) and the source rows (512 or more) are long, the skewed
    // walks below are faster: their two shared lines per row are then a small part of it, and their
    // steps take whole lines of the source rows. One thread, alternating rounds, skewed walk against
    // strips: u1 75xRx12x96:2,0,3,1 (source rows of 960 bytes) R = 288 1.19x, 416 1.22x, 608 1.29x,
    // 224 0.78x, 160 0.96x; 28x28x352x4x48:1,3,0,4,2 (352 by 192 bytes) 0.80x.
    const int long_rows = along_rows * E >= 256 && across_rows * E >= 512;
    const int packed = streaming && !aligned && !lines && !long_rows && rl_transpose_strips_pack(along_rows, E) &&
                       across_rows >= 16 / E && strip_packs(drows, 0, along_rows * E, 16 / E);
    // Other rows stream whole aligned lines joined in registers where the CPU has AVX-512 (u1
    // 96x75x75x96:3,2,1,0 8.3/15.9 -> 20.4/22.0 GB/s, 75x75x96x96:1,0,3,2 14.2 -> 17.0/18.1). On
    // aligned rows the strips measured slower than these kernels (one thread, TTC: 0.39-1.21x).
    if (streaming && !aligned && !packed) {
        const ptrdiff_t done = rl_transpose_rows_streamed(srows, (char *const *)drows, along_rows, across_rows, E, flags);
        if (done == across_rows) return;
        if (done > 0) {
            for (ptrdiff_t k = 0; k < along_rows; k++) srows[k] += done * E;
            drows += done;
            across_rows -= done;
        }
    }
    // Without the AVX-512 walks, 1-byte rows inside lines stream too, each row's lines joined along
    // it (JoinedRows.c) where the rows below would take ordinary stores, a read of every line first.
    // AMD EPYC Zen 3, 2 threads, three alternating rounds, TTC's eleven such u1 cases: 1.06-1.54x
    // GB/s (112x15x15x15x5x32:5,4,3,2,1,0 1.41x, 96x75x75x96:3,2,1,0 1.50x); 2-byte ones measured
    // 0.89-0.98x (five rounds) and keep the ordinary stores.
    if (streaming && !aligned && !packed && E == 1 && !rl_avx512_walks() && rl_transpose_rows_joined(srows, (char *const *)drows, along_rows, across_rows, E))
        return;
    if (!aligned) streaming = 0;
#if defined(__x86_64__)
    if (E <= 2 && rl_avx512_transposes()) {
        grouped_narrow_avx512(srows, drows, along_rows, across_rows, lines, E, streaming, packed);
        return;
    }
    if (E <= 2 && rl_avx2_narrow_kernels()) {
        grouped_narrow_avx2(srows, drows, along_rows, across_rows, lines, E, streaming, packed);
        return;
    }
#endif
    switch (E) {
    case 1: grouped(srows, drows, along_rows, across_rows, lines, 1, streaming, packed, 0); break;
    case 2: grouped(srows, drows, along_rows, across_rows, lines, 2, streaming, packed, 0); break;
    case 4: grouped(srows, drows, along_rows, across_rows, lines, 4, streaming, packed, 0); break;
    case 8: grouped(srows, drows, along_rows, across_rows, lines, 8, streaming, packed, 0); break;
    default: grouped(srows, drows, along_rows, across_rows, lines, 16, streaming, packed, 0); break;
    }
}
