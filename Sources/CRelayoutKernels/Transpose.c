// Register-blocked transposes with clang's portable vector extensions: 16-byte vectors, the
// perfect-shuffle network (log2(N) stages of interleaving rows i and i + N/2), which compiles to
// unpack instructions on x86 and zip instructions on ARM. Non-temporal stores where available.
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

// 2N source rows from row i (base + i * stride, N = 16 / E) into N out rows `pitch` bytes apart, 32
// bytes each: the 1- and 2-byte walks' pairs of blocks where the CPU has AVX2 (tile_narrow_avx2);
// null elsewhere, where they take N x N blocks.
typedef void stride_pair_function(const char *base, ptrdiff_t stride, ptrdiff_t i, char *out, ptrdiff_t pitch);

// A tile in line-by-line super-blocks: L = 64 / E source rows by L destination rows, so that every
// source line is read whole while it is in L1 and every destination line is written whole, from an
// L1 staging buffer. Power-of-two row strides map all rows of a tile to a few cache sets; touching
// each line once, completely, is what keeps those strides at full speed. Streaming stores, when
// asked for, write the staged lines.
static inline __attribute__((always_inline)) void tile_lines(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across,
                                                       ptrdiff_t along_n, ptrdiff_t across_n, const int E, int streaming,
                                                       stride_pair_function *pair) {
    const ptrdiff_t N = 16 / E, L = 64 / E;
    const ptrdiff_t src_row = src_along * E, dst_row = dst_across * E;
    const ptrdiff_t along_lines = along_n - along_n % L, across_lines = across_n - across_n % L;
    _Alignas(64) char staging[64 * 64];
    for (ptrdiff_t b = 0; b < across_lines; b += L) {
        for (ptrdiff_t a = 0; a < along_lines; a += L) {
            // The source lines of the rows 64 ahead, into L2: the hardware prefetchers do not follow
            // a walk down a column of lines (2 threads, f4 rows of 14 KiB 28 -> 46 GB/s, 7 KiB
            // 33 -> 39, 16 KiB +8 %; u2 rows of 7 KiB 26 -> 42; u1 rows of 6 KiB 22 -> 27).
            // In walk order: on into the next column band when the tile is short along (48-row tiles
            // of TTC's 48x28x28x4x352:4,3,2,1,0).
            ptrdiff_t ahead_a, ahead_b;
            if (rows_ahead(a, b, L, along_lines, L, across_lines, &ahead_a, &ahead_b))
#pragma clang loop unroll(full)
                for (ptrdiff_t k = 0; k < L; k++) __builtin_prefetch(src + (ahead_a + k) * src_row + ahead_b * E, 0, 2);
            if (E <= 2 && (src_row & 4095) == 0) {
                // With 4 KiB-multiple rows, the 16 (1-byte) or 8 (2-byte) rows of a block are lines
                // in one L1 set, as many as or more than its ways; the four blocks along a line would
                // each fetch them again. So each group of rows is first copied, line by line, into an
                // L1 buffer that does not alias (2 threads, u1 4096²: 17 -> 20-24 GB/s, 8192²: 15-17
                // -> 20-21.5; u2 4096² 24-31 -> 29-38 once the line walk fetched ahead; but 6 KiB
                // rows, two sets, 24 -> 19, and 4-byte blocks gain nothing).
                _Alignas(64) char rows[32 * 64];
                const ptrdiff_t group = pair ? 2 * N : N;
                for (ptrdiff_t ab = 0; ab < L; ab += group) {
                    for (int r = 0; r < group; r++)
#pragma clang loop unroll(full)
                        for (int q = 0; q < 4; q++) store16(rows + r * 64 + 16 * q, load16(src + (a + ab + r) * src_row + b * E + 16 * q), 0);
#pragma clang loop unroll(full)
                    for (ptrdiff_t bb = 0; bb < L; bb += N) {
                        if (pair) pair(rows + bb * E, 64, 0, staging + bb * 64 + ab * E, 64);
                        else block(rows + bb * E, 64, staging + bb * 64 + ab * E, 64, E, 0);
                    }
                }
            } else if (pair) {
                for (ptrdiff_t ab = 0; ab < L; ab += 2 * N)
#pragma clang loop unroll(full)
                    for (ptrdiff_t bb = 0; bb < L; bb += N) pair(src + (b + bb) * E, src_row, a + ab, staging + bb * 64 + ab * E, 64);
            } else {
                for (ptrdiff_t ab = 0; ab < L; ab += N)
#pragma clang loop unroll(full)
                    for (ptrdiff_t bb = 0; bb < L; bb += N)
                        block(src + (a + ab) * src_row + (b + bb) * E, src_row, staging + bb * 64 + ab * E, 64, E, 0);
            }
            for (ptrdiff_t r = 0; r < L; r++) {
                char *row = dst + (b + r) * dst_row + a * E;
#pragma clang loop unroll(full)
                for (int q = 0; q < 4; q++) store16(row + 16 * q, load16(staging + r * 64 + 16 * q), streaming);
            }
        }
        if (along_lines < along_n) tile_blocks(src, src_row, dst, dst_row, along_lines, along_n, b, b + L, E);
    }
    if (across_lines < across_n) tile_blocks(src, src_row, dst, dst_row, 0, along_n, across_lines, across_n, E);
}

// A tile walked along destination rows: N-row strips of register blocks. With streaming stores the
// blocks of each 64-byte stretch are staged in L1 first, so each destination line is written whole
// (16 rows of partial lines at once would overflow the write-combining buffers).
static inline __attribute__((always_inline)) void tile_rows(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across,
                                                       ptrdiff_t along_n, ptrdiff_t across_n, const int E, int streaming,
                                                       stride_pair_function *pair) {
    const ptrdiff_t N = 16 / E;
    const ptrdiff_t src_row = src_along * E, dst_row = dst_across * E;
    const ptrdiff_t along_full = along_n - along_n % N, across_full = across_n - across_n % N;
    // With streaming stores, N destination rows are open at once; 16 open rows (bytes) overflow the
    // write-combining buffers, which then flush partial lines. So streaming goes through an L1 staging
    // buffer of N rows x 64 bytes, and each destination line is written whole, in one go.
    const ptrdiff_t line = 64 / E;
    const ptrdiff_t along_lines = streaming ? along_full - along_full % line : 0;
    _Alignas(64) char staging[16 * 64];
    for (ptrdiff_t b = 0; b < across_full; b += N) {
        // On the pass that first touches a source line, the lines of the rows 64 ahead are
        // requested. 1-byte blocks spend 64 shuffles on every 16 source lines, so without help the
        // loads of the next rows issue late (2 threads, u1 7232²: 29 -> 36 GB/s); wider elements
        // fetch into L2 in walk order, on into the next line's pass near the end, as the line walk
        // does (TTC 96x75x75x96:3,2,1,0 29-30 -> 33.5-37 GB/s, 28x28x4x48x352:2,0,4,1,3 25-27 ->
        // 26-33.5; f4 7264² unchanged).
        // Source rows that are not whole lines start their lines at different strips, so there
        // every strip fetches (2 threads, f4 rows of 16396 bytes into aligned rows 26.5-28 -> 31-33
        // GB/s; one thread 16.5 -> 20).
        const int fetch_ahead = (src_row & 63) != 0 || (((uintptr_t)src + b * E + 15) & 63) < 16;
        for (ptrdiff_t a = 0; a < along_lines; a += line) {
            ptrdiff_t ahead_a, ahead_b;
            if (E == 1) {
                if (fetch_ahead && a + 2 * line <= along_n)
#pragma clang loop unroll(full)
                    for (ptrdiff_t k = 0; k < line; k++) __builtin_prefetch(src + (a + line + k) * src_row + b * E + 15);
            } else if (fetch_ahead && rows_ahead(a, b, line, along_lines, line, across_n, &ahead_a, &ahead_b)) {
#pragma clang loop unroll(full)
                for (ptrdiff_t k = 0; k < line; k++) __builtin_prefetch(src + (ahead_a + k) * src_row + ahead_b * E + 15, 0, 2);
            }
            if (pair) {
                pair(src + b * E, src_row, a, staging, 64);
                pair(src + b * E, src_row, a + 2 * N, staging + 32, 64);
            } else {
#pragma clang loop unroll(full)
                for (ptrdiff_t k = 0; k < 64 / 16; k++)
                    block(src + (a + k * N) * src_row + b * E, src_row, staging + k * 16, 64, E, 0);
            }
            for (ptrdiff_t r = 0; r < N; r++) {
                char *row = dst + (b + r) * dst_row + a * E;
#pragma clang loop unroll(full)
                for (int q = 0; q < 4; q++) store16(row + 16 * q, load16(staging + r * 64 + 16 * q), 1);
            }
        }
        // Ordinary stores (rows that start inside lines, copies under the streaming threshold):
        // the same fetching ahead, once per line of rows (2 threads, f4 4097x4099 21.5-22 ->
        // 23.5-25.5 GB/s, 7263x7265 20.3-22.3 -> 21.9-24.2, u2 and f8 alike; one thread 14 -> 17).
        for (ptrdiff_t a = along_lines; a < along_full;) {
            ptrdiff_t ahead_a, ahead_b;
            if (fetch_ahead && ((a * E) & 63) == 0 && rows_ahead(a, b, line, along_full, N, across_n, &ahead_a, &ahead_b))
#pragma clang loop unroll(full)
                for (ptrdiff_t k = 0; k < line; k++) __builtin_prefetch(src + (ahead_a + k) * src_row + ahead_b * E + 15, 0, 2);
            if (pair && a + 2 * N <= along_full) {
                pair(src + b * E, src_row, a, dst + b * dst_row + a * E, dst_row);
                a += 2 * N;
            } else {
                block(src + a * src_row + b * E, src_row, dst + b * dst_row + a * E, dst_row, E, 0);
                a += N;
            }
        }
        tile_along_edge(src, src_row, dst, dst_row, along_full, along_n, b, E);
    }
    tile_across_edge(src, src_row, dst, dst_row, 0, along_n, across_full, across_n, E);
}

static inline __attribute__((always_inline)) void tile(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across,
                                                       ptrdiff_t along_n, ptrdiff_t across_n, const int E, int streaming,
                                                       stride_pair_function *pair) {
    // Row strides that are multiples of 1 KiB put the rows of a tile into a few cache sets; there only
    // the line-by-line walk avoids re-fetching evicted lines. Elsewhere the row walk is faster. For
    // 1-byte elements, whose row walk fetches ahead, only multiples of 2 KiB need the line walk
    // (2 threads, u1: 7 KiB rows 19 -> 32 GB/s by row walk, 6 KiB rows 24 line walk vs 21).
    const ptrdiff_t aliasing = E == 1 ? 2047 : 1023;
    if ((((src_along | dst_across) * E) & aliasing) == 0)
        tile_lines(src, src_along, dst, dst_across, along_n, across_n, E, streaming, pair);
    else
        tile_rows(src, src_along, dst, dst_across, along_n, across_n, E, streaming, pair);
}

#if defined(__x86_64__)
// A 16x16 (1-byte) block and its interleaving stages keep more than 16 vectors live, an 8x8 (2-byte)
// one close to 16; the baseline instruction set has 16 vector registers, AVX-512's encoding 32. The
// same walks compiled for AVX-512 spill nothing (C harness, 2 threads: u1 4096² 24.5-25.4 -> 32
// GB/s, one thread 12.9 -> 17.2; u1 rows of 4128 bytes 29 -> 33; u2 4096² 33.8-38.9 -> 38.9-41.2;
// 4-byte blocks unchanged), so 1- and 2-byte tiles take them where the CPU has AVX-512BW/VL.
__attribute__((target("avx512f,avx512vl,avx512bw")))
static void tile_narrow_avx512(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across,
                               ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size, int streaming) {
    if (element_size == 1) tile(src, src_along, dst, dst_across, along_n, across_n, 1, streaming, 0);
    else tile(src, src_along, dst, dst_across, along_n, across_n, 2, streaming, 0);
}

// Without AVX-512, where the CPU has AVX2: the 1- and 2-byte walks built for it, their blocks taken
// two at a time in 32-byte registers (interleave_pair_registers), as Grouped.c's grouped_narrow_avx2.
// AMD EPYC Zen 3, 2 threads, alternating rounds, GB/s: the nine TTC and 2-D u1 cases that reach
// these walks 1.00-1.29x over six rounds (geometric mean 1.12x; 384x355x384:2,1,0 24.3 -> 31.3,
// 355x384x384:0,2,1 23.1 -> 28.9, 608x75x12x96:3,2,1,0 15.3 -> 18.0, 1216x43408 21.8 -> 25.6); the
// twelve u2 ones 0.93-1.03x over five (geometric mean about 1.0).
__attribute__((target("avx2"))) static void pair_u1_avx2(const char *base, ptrdiff_t stride, ptrdiff_t i, char *out, ptrdiff_t pitch) {
    interleave_pair_avx2(0, base, stride, i, 0, 0, out, pitch, 0, 1);
}
__attribute__((target("avx2"))) static void pair_u2_avx2(const char *base, ptrdiff_t stride, ptrdiff_t i, char *out, ptrdiff_t pitch) {
    interleave_pair_avx2(0, base, stride, i, 0, 0, out, pitch, 0, 2);
}
__attribute__((target("avx2"))) static void tile_narrow_avx2(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across,
                                                             ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size, int streaming) {
    if (element_size == 1) tile(src, src_along, dst, dst_across, along_n, across_n, 1, streaming, pair_u1_avx2);
    else tile(src, src_along, dst, dst_across, along_n, across_n, 2, streaming, pair_u2_avx2);
}

static int avx512_allowed = 1;

static int vbmi_allowed = 1;

// __builtin_cpu_supports reads the CPU model that the runtime fills in at start-up: a load and a
// bit test, as cheap as any cache of it.
int rl_has_avx512_vbmi(void) {
    return __builtin_cpu_supports("avx512vbmi") && __atomic_load_n(&vbmi_allowed, __ATOMIC_RELAXED);
}

int rl_avx512_transposes(void) {
    return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __atomic_load_n(&avx512_allowed, __ATOMIC_RELAXED);
}
#endif

void rl_set_avx512_allowed(int allowed) {
#if defined(__x86_64__)
    __atomic_store_n(&avx512_allowed, allowed != 0, __ATOMIC_RELAXED);
#else
    (void)allowed;
#endif
}

void rl_set_avx512_vbmi_allowed(int allowed) {
#if defined(__x86_64__)
    __atomic_store_n(&vbmi_allowed, allowed != 0, __ATOMIC_RELAXED);
#else
    (void)allowed;
#endif
}

// Whether rows this many bytes apart lie within 16 bytes of a multiple of 1 KiB, so that the 16
// rows of a 16 x 16 block of bytes share a few L1 sets.
static int near_whole_kib(ptrdiff_t row_bytes) {
    const ptrdiff_t past = row_bytes & 1023;
    return past < 16 || past > 1024 - 16;
}

static int rows_inside_lines_at(const void *dst, ptrdiff_t dst_across, ptrdiff_t element_size) {
    return ((((uintptr_t)dst) | (uintptr_t)(dst_across * element_size)) & 63) != 0;
}

// Whether 4-byte source rows lie a multiple of 512 bytes apart, so that their lines fall into at
// most 8 of a 32 KiB 8-way L1's 64 sets (and an eighth of the L2's). The row walk below reads each
// source line in four strips of 4 destination rows, a tile's rows along between them, so it reads
// each line back from L2 three times; the staged walk reads each once. Rows so spaced measured
// slower on the row walk than on the staged walk, other spacings not (the aliasing is the likely
// cause, not pinned down). Plain tiles only (grouped ones measured both ways). AMD
// EPYC Zen 3, 2 threads, `relayout bench`, 7 alternating rounds, GB/s: 59x2320x384:0,2,1 (rows of
// 1536 bytes) 1.28x, 28x28x48x4x352:1,3,0,4,2 (5632) 1.26x, 355x384x384:0,2,1 1.23x,
// 2320x59x384:2,1,0 (90624) 1.13x, 384x355x384:2,1,0 1.06x, but 75x96x12x608:2,0,3,1 (29184 bytes,
// 96 rows along) 0.87x; Benchmarks/ab-tiles.c, 9 repetitions: 2320x384 1.40x, 4224² 1.17x,
// 8000x1152 1.18x, shapes whose source rows are not such multiples unchanged. 1- and 2-byte
// tiles came out even (0.94-1.06x), so keep the row walk.
static int four_byte_source_rows_in_eight_sets(ptrdiff_t src_along, ptrdiff_t element_size) {
    return element_size == 4 && ((src_along * element_size) & 511) == 0;
}

// Whether a tile goes to the joined row walk (see rl_transpose_tile).
static int joined_rows_walk(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t element_size, int flags) {
    return (flags & RL_TRANSPOSE_STREAMING) && (flags & RL_TRANSPOSE_WIDE) && rows_inside_lines_at(dst, dst_across, element_size) &&
           element_size == 2 && !rl_staged_at_any_stride(element_size, flags) && !rl_avx512_walks() &&
           !near_whole_kib(src_along * element_size) && !near_whole_kib(dst_across * element_size) &&
           !rl_staged_skewed_reads_in_place(src_along, element_size);
}

// The sides of RL_TRANSPOSE_LINES_BEFORE / _AFTER a tile can take: where rl_transpose_tile, without
// them, goes to the staged walk into rows inside lines, those that walk honours; else none. The walks
// rl_transpose_tile tries first are ruled out by their conditions (more strictly than they are:
// there a tile shares no lines, which costs only the lines' reads).
static int line_sides(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                      ptrdiff_t element_size, int flags) {
    if (!(flags & RL_TRANSPOSE_STREAMING) || !(flags & RL_TRANSPOSE_WIDE) || rl_avx512_walks()) return 0;
    // The few-channel gathers, the packed strips, the joined row walk.
    if (across_n <= RL_MAX_CHANNELS || along_n <= RL_MAX_CHANNELS || dst_across == along_n ||
        joined_rows_walk(src_along, dst, dst_across, element_size, flags))
        return 0;
    return rl_staged_skewed_line_sides(src_along, dst, dst_across, along_n, across_n, element_size);
}

int rl_transpose_tile_line_flags(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                                 ptrdiff_t element_size, int flags, ptrdiff_t before_n, ptrdiff_t after_n) {
    flags &= ~(RL_TRANSPOSE_LINES_BEFORE | RL_TRANSPOSE_LINES_AFTER);
    const int here = line_sides(src_along, dst, dst_across, along_n, across_n, element_size, flags);
    if (here == 0) return 0;
    const char *d = (const char *)dst;
    int lines = 0;
    if (before_n > 0 && (here & RL_TRANSPOSE_LINES_BEFORE) &&
        (line_sides(src_along, d - before_n * element_size, dst_across, before_n, across_n, element_size, flags) & RL_TRANSPOSE_LINES_AFTER))
        lines |= RL_TRANSPOSE_LINES_BEFORE;
    if (after_n > 0 && (here & RL_TRANSPOSE_LINES_AFTER) &&
        (line_sides(src_along, d + along_n * element_size, dst_across, after_n, across_n, element_size, flags) & RL_TRANSPOSE_LINES_BEFORE))
        lines |= RL_TRANSPOSE_LINES_AFTER;
    return lines;
}

void rl_transpose_tile(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across,
                       ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size, int flags) {
    const int wide = (flags & RL_TRANSPOSE_WIDE) != 0;
    int streaming = (flags & RL_TRANSPOSE_STREAMING) != 0;
    const int rows_inside_lines = rows_inside_lines_at(dst, dst_across, element_size);
    // A tile that shares lines with its neighbours (the planner asked rl_transpose_tile_line_flags)
    // takes the walk that honours it, the one it would reach below.
    const int lines = flags & (RL_TRANSPOSE_LINES_BEFORE | RL_TRANSPOSE_LINES_AFTER);
    if (lines && rl_transpose_tile_staged(src, src_along, dst, dst_across, along_n, across_n, element_size, 1, lines)) return;
    if ((across_n <= RL_MAX_CHANNELS || along_n <= RL_MAX_CHANNELS) && rl_transpose_tile_channels(src, src_along, dst, dst_across, along_n, across_n, element_size, streaming)) return;
    // 1- and 2-byte rows back to back that are not whole lines: the grouped kernel stages strips of
    // 16 / E rows, each a whole number of lines, and streams them (see its packed strips).
    if (streaming && dst_across == along_n && ((along_n * element_size) & 63) != 0 && ((uintptr_t)dst & 63) == 0 &&
        rl_transpose_strips_pack(along_n, element_size) && ((src_along * element_size) & 1023) != 0 && rl_transpose_grouped_fits(along_n, across_n)) {
        const rl_row_group along = {along_n, 1, 1, src_along, 0, 0}, across = {across_n, 1, 1, dst_across, 0, 0};
        rl_transpose_tile_grouped(src, along, dst, across, element_size, flags);
        return;
    }
    if (streaming && rows_inside_lines &&
        rl_transpose_tile_skewed(src, src_along, dst, dst_across, along_n, across_n, element_size, flags))
        return;
    if (wide && rl_transpose_tile_wide(src, src_along, dst, dst_across, along_n, across_n, element_size, flags)) return;
    // Without the AVX-512 walk, strides that are multiples of 1 KiB on either side take the staged walk
    // (Staged.c; AMD EPYC, 2 threads, f4 8192² 10.8 -> 15.3 GB/s, 4160x4096 6.9 -> 11.4, u1 8192²
    // 6.6 -> 10.2, u2 4096² 8.0 -> 11.9, f8 4096² 11.0 -> 18.2, c16 13.5 -> 20.2). Elsewhere the row
    // walk below is as fast or faster (u2 7264² 16.3 against 14.5, f4 7264² 19.1 against 20.1).
    // Rows that start inside lines (1- and 2-byte ones with AVX2) take its skewed form, which streams
    // where the row walk would fall back to ordinary stores (f4 7263x7265 13.8 -> 17.1 GB/s, f8 10.0
    // -> 14.9; u1, u2 and c16 in Staged.c's staged_skewed).
    // 8- and 16-byte tiles, and with RL_TRANSPOSE_STAGED_ANY_STRIDE the others, at every stride (see
    // rl_staged_at_any_stride).
    const int any_stride = rl_staged_at_any_stride(element_size, flags);
    // 2-byte rows inside lines whose strides on neither side lie near a multiple of 1 KiB take the
    // row walk, their lines joined along each row (JoinedRows.c): it writes a strip's rows on along,
    // line after line, where the staged walk writes 128 bytes into each of 32 rows a step. AMD EPYC
    // Zen 3, 2 threads, alternating rounds: u2 43408x1216 1.14-1.56x GB/s, 59x2320x384:0,2,1
    // 1.11-1.32x, 2320x59x384:2,1,0 1.08-1.13x, 7263x7265 1.20-1.26x; with rows near whole KiB it
    // lost (4097x4099 0.83x: the strip's rows share a few cache sets), as it did for 4- to 16-byte
    // elements (7263x7265 and 2321x3001: f4 0.74x, f8 0.62-0.69x, c16 0.64x). Since the staged
    // walk reads 2-byte source rows in place where their lines spread over the L1 sets (rows 64 bytes
    // or more from a multiple of 1 KiB; rl_staged_skewed_reads_in_place), those tiles take it instead:
    // Benchmarks/ab-tiles.c, 15 repetitions, B/A (one thread, 9): 7263x7265 1.31 (1.15), 5001x3003
    // 1.12 (1.13), 2321x3001 1.26 (1.31), 43408x1216 1.02 (0.82, middle half 0.96-1.07), 2320x59000
    // 0.99 (1.15); `relayout bench`, alternating rounds (5, then 7): 7263x7265 0.95x / 1.05x,
    // 5001x3003 1.08x / 1.21x, 43408x1216 1.10x / 1.04x, 59x2320x384:0,2,1 1.09x, 2320x59x384:2,1,0
    // 1.16x. The joined walk keeps source rows 16 to 63 bytes from a multiple of 1 KiB.
    if (joined_rows_walk(src_along, dst, dst_across, element_size, flags) &&
        rl_transpose_tile_joined(src, src_along, dst, dst_across, along_n, across_n, element_size))
        return;
    if (streaming && wide &&
        (any_stride || rows_inside_lines || ((src_along * element_size) & 1023) == 0 || ((dst_across * element_size) & 1023) == 0 ||
         four_byte_source_rows_in_eight_sets(src_along, element_size)) &&
        rl_transpose_tile_staged(src, src_along, dst, dst_across, along_n, across_n, element_size, 1, 0))
        return;
    // 1-byte tiles held in the caches (not streamed) whose rows on either side lie within 16 bytes of
    // a multiple of 1 KiB take it too, with ordinary stores: the 16 x 16 blocks below read 16 rows
    // that share a few L1 sets (AMD EPYC Zen 3, 2 threads, three alternating rounds: u1 1024x4096
    // 12.1 -> 28.6 GB/s, 4096x1024 2.0x, 2049x4097 2.15x, 1024² 1.94x, 2047x2049 1.37x, 2048² 1.29x;
    // but 2 to 12 planes of 1024² or 2048² 0.84-0.91x in one run and 1.05-1.13x in the next). Rows
    // further from whole KiB measured slower staged (1500x1501 0.31x, 1080x1920 0.62x). Not where the
    // AVX-512 kernels run: those rows inside lines take the AVX-512 blocks below, not measured against
    // this.
    if (!streaming && wide && element_size == 1 && !rl_avx512_walks() && (near_whole_kib(src_along) || near_whole_kib(dst_across)) &&
        rl_transpose_tile_staged(src, src_along, dst, dst_across, along_n, across_n, element_size, 0, 0))
        return;
    // Non-temporal stores need every block row 16-byte aligned.
    if (streaming && ((((uintptr_t)dst) | (uintptr_t)(dst_across * element_size)) & 15) != 0) streaming = 0;
    // Rows that start inside a line stream 64-byte stretches across two lines each, so a strip keeps
    // more partial lines open than the write-combining buffers hold once the block has many rows:
    // ordinary stores are then faster (2 threads: u1 rows of 7248 bytes 12 GB/s streaming vs 20,
    // u2 rows of 10000 bytes 12.5 vs 21; but u2 rows of 10016 bytes 32 vs 23, f4 rows of 14480
    // bytes 28-31 vs 24-25). Open lines: one per row plus one per row that straddles.
    if (streaming && rows_inside_lines) {
        const ptrdiff_t rows = 16 / (element_size < 16 ? element_size : 16);
        ptrdiff_t open = rows;
        for (ptrdiff_t r = 0; r < rows; r++) open += (((uintptr_t)dst + r * dst_across * element_size) & 63) != 0;
        if (open > 12) streaming = 0;
    }
    const char *s = (const char *)src;
    char *d = (char *)dst;
#if defined(__x86_64__)
    if (element_size <= 2 && rl_avx512_transposes()) {
        tile_narrow_avx512(s, src_along, d, dst_across, along_n, across_n, element_size, streaming);
        return;
    }
    if (element_size <= 2 && rl_avx2_narrow_kernels()) {
        tile_narrow_avx2(s, src_along, d, dst_across, along_n, across_n, element_size, streaming);
        return;
    }
#endif
    switch (element_size) {
    case 1: tile(s, src_along, d, dst_across, along_n, across_n, 1, streaming, 0); break;
    case 2: tile(s, src_along, d, dst_across, along_n, across_n, 2, streaming, 0); break;
    case 4: tile(s, src_along, d, dst_across, along_n, across_n, 4, streaming, 0); break;
    case 8: tile(s, src_along, d, dst_across, along_n, across_n, 8, streaming, 0); break;
    default: tile(s, src_along, d, dst_across, along_n, across_n, 16, streaming, 0); break;
    }
}

void rl_store_fence(void) {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

int rl_has_streaming_stores(void) {
#if defined(__SSE2__)
    return 1;
#else
    return 0;
#endif
}
