// The staged walk: streamed tiles on CPUs without the AVX-512 walks (Skewed.c, Wide.c,
// NarrowWide.c), for row strides that are multiples of 1 KiB, for rows that start inside lines, and
// for 8- and 16-byte tiles (with CopyTuning.stagedTransposesAtAnyStride, all tiles) at every stride.
// Plain 4-byte tiles take its staggered form (see staggered_walk), but where their source rows lie
// near multiples of 4 KiB (see source_rows_near_whole_pages).
//
// Measured on an AMD EPYC (Zen 3, AVX2, 32 KiB 8-way L1, 512 KiB 8-way L2): there the 16-byte line
// walk (Transpose.c) that streams one line into each of 64 / E destination rows per step runs at
// 0.6 of memcpy on power-of-two sides, and its bare access pattern does no better. What helps is
// longer runs per destination row: two lines into each row per step (a copy-only walk of the same
// shape, f4 4096²: 16 rows x 64 bytes 9.8-10.1 GB/s, x 128 bytes 11.0-15.6, x 256 bytes 12.1-16.5).
// Reading twice as many source rows at once, rows that share a few cache sets, is what a stage
// makes safe: each step copies H = STAGED_ROW_BYTES / E source rows by one line each, whole, into
// an L1 buffer, transposes from there into a second buffer of 64 / E destination rows by
// STAGED_ROW_BYTES, and streams each of those rows out in one go. Blocks streamed straight into
// their rows, which leaves 16 / E rows of partial lines open at once, ran at half the speed.
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

#if defined(__SSE2__)
// 128 measured best for 4-byte elements (f4 8192², 2 threads: 64 bytes 10.8 GB/s, 128 15.3, 256
// 13.5, with the step after next's lines all requested before each step) and no worse than 256 for
// the others.
enum { STAGED_ROW_BYTES = 128 };
// 1-byte tiles take four lines of each destination row per step (256 source rows). AMD EPYC Zen 3,
// 2 threads, `relayout bench`, alternating rounds: into aligned rows (3 rounds) u1 4096² 11.1 ->
// 15.2 GB/s, 8192² 13.4 -> 15.3, 4096x4099 11.5 -> 14.7; into rows inside lines (the skewed form,
// 4 rounds) 4097x4099 10.2 -> 12.2, 4097x4096 10.7 -> 12.1, 7263x7265 11.5 -> 12.1. u2 came out
// even (1.12x, 0.95x, 0.97x on the aligned shapes; in one process, Benchmarks/ab-tiles.c,
// 0.96-1.22x), f8 8192² 0.98x, so the others keep two, except plain 2-, 4- and 8-byte tiles whose
// source rows lie near multiples of 4 KiB (see source_rows_near_whole_pages).
enum { FOUR_LINE_STAGED_ROW_BYTES = 256 };
// So do 8- and 16-byte grouped tiles (see wide_staged); the stage and out buffers are sized for the
// 1-byte steps, which these fit.
enum { GROUPED_WIDE_STAGED_ROW_BYTES = 256 };

// Plain 2-, 4- and 8-byte tiles whose source rows (`src_row` bytes apart) lie within a line of a
// multiple of 4 KiB, with rows enough along, take four lines of each destination row per step (256 / E
// source rows) rather than two (4-byte tiles: in the plain staged walk rather than the staggered
// one): with the next step's lines requested over each step's streaming (step_fetch), the rows of a
// step no longer need the stagger to keep them apart in L1. AMD EPYC Zen 3, 2 threads,
// Benchmarks/ab-tiles.c, 9-11 repetitions, B/A: f4 4096² 1.00-1.21, 8192² 0.89-1.08 (even), 4097x4099
// 1.09-1.18, 4097x4096 1.11, 4096x4099 1.09, 2049x4099 1.15, 2049x4100 1.14, 7263x4099 1.18,
// 2049x4111 1.03, 4100x8200 1.00, 6000x4099 0.99, 3000x9216 0.98-1.02; u2 4096² 1.18, 8192² 1.18,
// 4097x4099 1.06, 4097x4096 1.09, 4096x4099 1.26, 2049x4099 1.08; f8 4096² 1.11-1.28, 8192²
// 1.04, 4097x4099 1.10-1.15, 4097x4096 1.16, 2049x2051 1.03-1.15, 4096x2051 1.01. Elsewhere they
// keep two (f4 source rows 388 to 3616 bytes past a multiple of 4 KiB: 7263x7265 0.85-0.88, 5000²
// 0.85, 4097x5000 0.94, 4097x4500 0.94, 4097x7265 1.03, 4097x4200 1.10; u2 at every stride,
// grouped tiles too, in the engine: 0.78-1.14x, even overall; plain u2 tiles whose source rows
// spread over the L1 sets take four since their steps read in place, see staged_row_bytes).
static inline int source_rows_near_whole_pages(ptrdiff_t src_row) {
    const ptrdiff_t past = src_row & 4095;
    return past <= 64 || past >= 4096 - 64;
}

// Whether source rows `src_row` bytes apart put a step's lines into many L1 sets: rows 64 bytes or
// more from a multiple of 1 KiB. Rows nearer share a few sets, and a step that reads them in place
// (step_rows_avx2) loses the lines fetched ahead before it reads them; the stage keeps those.
static inline int lines_spread_over_sets(ptrdiff_t src_row) {
    const ptrdiff_t past_kib = src_row & 1023;
    return past_kib >= 64 && past_kib <= 1024 - 64;
}

// The bytes a step writes into each destination row of a plain tile (source rows `src_row` bytes
// apart) and of a grouped 1-, 2- or 4-byte one (`src_row` 0; grouped 8- and 16-byte ones see
// wide_staged, grouped 4-byte ones at whole-KiB strides grouped_four_lines): four lines for 1-byte
// tiles, for the tiles of source_rows_near_whole_pages and for plain 2-byte ones whose source rows'
// lines spread over the L1 sets, with rows enough along for one, else two. The walks below and the
// shared-line sides a tile can take (rl_staged_skewed_line_sides) both go by it.
//
// Plain 2-byte tiles with spread source rows took two lines until the thirty-sixth session. Since
// their steps read the source rows in place (reads_in_place), the writes are what a two-line step
// waits on (see grouped_four_lines). AMD EPYC Zen 3, Benchmarks/ab-tiles.c, 2 threads, 11
// repetitions, B/A: u2 7263x7265 1.15 and 1.09 (one thread 1.14), 5001x3003 1.18, 4096x5000 1.30,
// 2321x3001 1.20, 43408x1216 1.13, 3001x9000 1.02. In the engine, one build with the rule switched
// on and off, 7 alternating rounds, GB/s on / off: 7263x7265 1.14, 5001x3003 1.25, 43408x1216 1.04,
// 1216x43408 1.00, TTC's 59x384x2320:0,2,1 1.01, 384x355x384:2,1,0 1.00 (4097x4099, untouched,
// 0.95). 8-byte tiles so lost (ab-tiles 7263x7265 0.75, 5001x3003 0.78, 4096x5000 1.15) and keep two.
// Where the walk has no AVX2 step, such tiles go through the stage with four lines, which measured
// even against two before the in-place reads (see FOUR_LINE_STAGED_ROW_BYTES's figures); the rule
// does not ask which, so that a tile's line sides and its walk always agree.
static inline ptrdiff_t staged_row_bytes(ptrdiff_t E, ptrdiff_t along_n, ptrdiff_t src_row) {
    if (along_n < FOUR_LINE_STAGED_ROW_BYTES / E) return STAGED_ROW_BYTES;
    if (E == 1 || (E <= 8 && src_row != 0 && source_rows_near_whole_pages(src_row))) return FOUR_LINE_STAGED_ROW_BYTES;
    if (E == 2 && src_row != 0 && lines_spread_over_sets(src_row)) return FOUR_LINE_STAGED_ROW_BYTES;
    return STAGED_ROW_BYTES;
}

// Whether a step of E-byte elements reads its source rows (`src_row` bytes apart) in place
// (step_in_place): 1- and 2-byte ones (where the walk has their AVX2 steps) and 8- and 16-byte ones,
// whose lines spread over the sets. 4-byte tiles that spread take the staggered walk.
static inline int reads_in_place(ptrdiff_t E, ptrdiff_t src_row) { return (E <= 2 || E >= 8) && lines_spread_over_sets(src_row); }

// The source lines of one step (source rows a..a+H-1 from byte `column`, one line each) into
// `stage`, 64 bytes a row. Rows from their table where there is one (grouped tiles), else by stride.
static inline __attribute__((always_inline)) void stage_lines(const char *const *srows, const char *src, ptrdiff_t src_row, ptrdiff_t a,
                                                              ptrdiff_t column, char *stage, ptrdiff_t H) {
    for (ptrdiff_t r = 0; r < H; r++) {
        const char *row = source_row_at(srows, src, src_row, a + r) + column;
#pragma clang loop unroll(full)
        for (int q = 0; q < 4; q++) store16(stage + r * 64 + 16 * q, load16(row + 16 * q), 0);
    }
}

// The source lines the next step will read (rows a..a + L * per_row - 1 from byte `column`, one line
// each, and where a row starts inside a line the next line too), requested a few at a time while a
// step streams its L destination rows: per_row source rows after each (fetch_part). `per_row` is 0
// where there is no later step. Spread so, the requests sit between the streaming stores instead of
// all at once before the step, and take the next step's lines into L2: AMD EPYC Zen 3, 2 threads,
// Benchmarks/ab-tiles.c, B/A against all of the step after next's lines requested into L1 before the
// step: u1 8192² 1.29-1.38, 4096² 1.24, u2 4096² 1.21, 8192² 1.14 (the step after next, spread:
// 1.14-1.16; into L1 or L2, even). `relayout bench`, three alternating rounds: u1 4096², 8192²,
// 4097x4099, 7263x7265, 4096x4099, 4097x4096 1.22-1.45x, u2 1.11-1.35x; f4 TTC's grouped tiles at
// whole-KiB strides (which take this walk; plain f4 tiles take the staggered one) 1.08-1.16x.
typedef struct {
    const char *const *srows;
    const char *src;
    ptrdiff_t src_row, a, column, per_row;
} step_fetch;

static const step_fetch no_fetch = {0, 0, 0, 0, 0, 0};

// The fetch of the step after the one at (a, b): further along these rows, or on the next rows, over
// destination rows [b_start, b_end); none past the tile's last step.
static inline __attribute__((always_inline)) step_fetch next_step_fetch(const char *const *srows, const char *src, ptrdiff_t src_row,
                                                                        ptrdiff_t a, ptrdiff_t b, ptrdiff_t b_start, ptrdiff_t b_end,
                                                                        ptrdiff_t along_steps, const int E, const ptrdiff_t H) {
    const ptrdiff_t L = 64 / E;
    ptrdiff_t next_b = b + L, next_a = a;
    if (next_b >= b_end) { next_b = b_start; next_a += H; }
    if (next_a >= along_steps) return no_fetch;
    return (step_fetch){srows, src, src_row, next_a, next_b * E, H / L};
}

// The part of `fetch` that goes with destination row r of the streaming step.
static inline __attribute__((always_inline)) void fetch_part(const step_fetch *fetch, ptrdiff_t r) {
    for (ptrdiff_t k = 0; k < fetch->per_row; k++) {
        const char *row = source_row_at(fetch->srows, fetch->src, fetch->src_row, fetch->a + r * fetch->per_row + k) + fetch->column;
        __builtin_prefetch(row, 0, 2);
        if (((uintptr_t)row & 63) != 0) __builtin_prefetch(row + 63, 0, 2);
    }
}

// 8- and 16-byte steps (4 to 32 rows) keep all of the step after next's lines requested into L1
// before the step (fetch_step_after_next): spread over the step as for the narrower ones, they ran
// slower (Benchmarks/ab-tiles.c, 2 threads, B/A of this over the spread requests: f8 4096² 1.15,
// 4097x4099 1.13, 7263x7265 1.21; c16 4096² 1.00, 4097x4099 1.15, 7263x7265 1.21).
enum { SPREAD_FETCH_MAX_E = 4 };

// Requests the lines of the step after next (further along these rows, or on the next rows, over
// destination rows [b_start, b_end)): grouped tiles' rows are short and far apart, too short for
// the hardware prefetchers to pick up (one step ahead: f4 352x28x28x4x48:4,3,2,1,0 1.24x,
// 48x28x28x4x352:4,3,2,1,0 1.25x, 48x28x28x28x48:4,3,2,1,0 1.15x; five alternating rounds, 2
// threads). Two steps ahead, and the line of each piece's last byte too, for rows that start inside
// lines: there a step's piece spans two lines, the first already fetched (one thread, f4 source
// rows of 29060 bytes 3.9 -> 8.8 GB/s; 8192² 6.9 -> 8.2, two threads 13.2 -> 14.5).
static inline __attribute__((always_inline)) void fetch_step_after_next(const char *const *srows, const char *src, ptrdiff_t src_row,
                                                                        ptrdiff_t a, ptrdiff_t b, ptrdiff_t b_start, ptrdiff_t b_end,
                                                                        ptrdiff_t along_steps, const int E, const ptrdiff_t H) {
    const ptrdiff_t L = 64 / E;
    ptrdiff_t next_b = b + 2 * L, next_a = a;
    while (next_b >= b_end && next_a < along_steps) { next_b -= b_end - b_start; next_a += H; }
    if (next_a >= along_steps) return;
    for (ptrdiff_t r = 0; r < H; r++) {
        const char *row = source_row_at(srows, src, src_row, next_a + r) + next_b * E;
        __builtin_prefetch(row, 0, 3);
        __builtin_prefetch(row + 63, 0, 3);
    }
}

// What the step at (a, b) requests: the next step's lines, spread over its streaming (E <= 4), or
// the step after next's before it (returning no_fetch).
static inline __attribute__((always_inline)) step_fetch step_fetch_for(const char *const *srows, const char *src, ptrdiff_t src_row, ptrdiff_t a,
                                                                       ptrdiff_t b, ptrdiff_t b_start, ptrdiff_t b_end, ptrdiff_t along_steps,
                                                                       const int E, const ptrdiff_t H) {
    if (E <= SPREAD_FETCH_MAX_E) return next_step_fetch(srows, src, src_row, a, b, b_start, b_end, along_steps, E, H);
    fetch_step_after_next(srows, src, src_row, a, b, b_start, b_end, along_steps, E, H);
    return no_fetch;
}

// The staged rows of one step (64 / E rows, R bytes apart, `piece` bytes of each: R, or one line on
// a tile's last rows) streamed to destination rows b.. from byte `column`, with `fetch`'s requests.
static inline __attribute__((always_inline)) void stream_rows(const char *out, char *const *drows, char *dst, ptrdiff_t dst_row, ptrdiff_t b,
                                                              ptrdiff_t column, ptrdiff_t L, const int piece, const int R, const int stream,
                                                              const step_fetch *fetch) {
    for (ptrdiff_t r = 0; r < L; r++) {
        fetch_part(fetch, r);
        char *row = destination_row_at(drows, dst, dst_row, b + r) + column;
#pragma clang loop unroll(full)
        for (int o = 0; o < piece; o += 64) {
            if (stream) stream_line64(row + o, out + r * R + o);
            else memcpy(row + o, out + r * R + o, 64);
        }
    }
}

// N x N register blocks from `rows` (`pitch` bytes apart: the stage's 64, or source rows read in
// place) into the out buffer (rows R bytes apart): H = piece / E rows, `piece` bytes of each out row.
static inline __attribute__((always_inline)) void step_blocks_from(const char *rows, ptrdiff_t pitch, char *out, const int E, const int piece, const int R) {
    const ptrdiff_t N = 16 / E, L = 64 / E, H = piece / E;
    for (ptrdiff_t j = 0; j < L; j += N)
        for (ptrdiff_t i = 0; i < H; i += N) block(rows + i * pitch + j * E, pitch, out + j * R + i * E, R, E, 0);
}
static inline __attribute__((always_inline)) void step_blocks(const char *stage, char *out, const int E, const int piece, const int R) {
    step_blocks_from(stage, 64, out, E, piece, R);
}

#if defined(__x86_64__)
#include <immintrin.h>
#define STAGED_AVX2 __attribute__((target("avx2")))

// 1- and 2-byte steps with 32-byte registers, for half the interleaves of the 16-byte blocks
// (u1 8192², 2 threads: 9.6 -> 10.2 GB/s; u2 4096² 10.0 -> 11.9): rows g..g+2N-1 (`row_bytes`
// apart) of one 16-byte column group j through interleave_pair_avx2, whose register i is 32 bytes
// of out row j * N + i (lane 0: rows g..g+N-1, lane 1: the next N).
STAGED_AVX2 static inline __attribute__((always_inline)) void interleave_rows_avx2(const char *rows, ptrdiff_t row_bytes, char *out, const int E,
                                                                                     int g, int j, const int R) {
    interleave_pair_avx2(0, rows, row_bytes, g, 16 * j, 0, out + j * (16 / E) * R + g * E, R, 0, E);
}

STAGED_AVX2 static inline __attribute__((always_inline)) void step_blocks_f4_avx2(const char *stage, char *out, const int piece, const int R);

// A step from the stage (rows 64 bytes apart): H = piece / E rows, column group by column group
// (4-byte steps: step_blocks_f4_avx2).
STAGED_AVX2 static inline __attribute__((always_inline)) void step_blocks_avx2(const char *stage, char *out, const int E, const int piece,
                                                                                 const int R) {
    if (E == 4) {
        step_blocks_f4_avx2(stage, out, piece, R);
        return;
    }
    const int N = 16 / E, H = piece / E;
#pragma clang loop unroll(full)
    for (int j = 0; j < 4; j++)
        for (int g = 0; g < H; g += 2 * N) interleave_rows_avx2(stage, 64, out, E, g, j, R);
}

// The same straight from the source rows (`row_bytes` apart, full steps of R bytes), for rows whose
// lines spread over the L1 sets: for each pair of N-row groups its four 16-byte columns, so that
// each row's line is used whole as soon as it is read.
STAGED_AVX2 static inline __attribute__((always_inline)) void step_rows_avx2(const char *rows, ptrdiff_t row_bytes, char *out, const int E,
                                                                               const int R) {
    const int N = 16 / E, H = R / E;
    for (int g = 0; g < H; g += 2 * N)
#pragma clang loop unroll(full)
        for (int j = 0; j < 4; j++) interleave_rows_avx2(rows, row_bytes, out, E, g, j, R);
}
STAGED_AVX2 static void step_rows_u1(const char *rows, ptrdiff_t row_bytes, char *out, int R) {
    if (R == FOUR_LINE_STAGED_ROW_BYTES) step_rows_avx2(rows, row_bytes, out, 1, FOUR_LINE_STAGED_ROW_BYTES);
    else step_rows_avx2(rows, row_bytes, out, 1, STAGED_ROW_BYTES);
}
STAGED_AVX2 static void step_rows_u2(const char *rows, ptrdiff_t row_bytes, char *out, int R) {
    if (R == FOUR_LINE_STAGED_ROW_BYTES) step_rows_avx2(rows, row_bytes, out, 2, FOUR_LINE_STAGED_ROW_BYTES);
    else step_rows_avx2(rows, row_bytes, out, 2, STAGED_ROW_BYTES);
}
#endif

// A full step read straight from its source rows (`row_bytes` apart) instead of the stage (see
// reads_in_place): 1- and 2-byte ones through the AVX2 interleave, the others through the 16-byte
// blocks.
static inline __attribute__((always_inline)) void step_in_place(const char *rows, ptrdiff_t row_bytes, char *out, const int E, const int R) {
#if defined(__x86_64__)
    if (E == 1) {
        step_rows_u1(rows, row_bytes, out, R);
        return;
    }
    if (E == 2) {
        step_rows_u2(rows, row_bytes, out, R);
        return;
    }
#endif
    step_blocks_from(rows, row_bytes, out, E, R, R);
}

#if defined(__x86_64__)
// Each size of step and out row compiled on its own: (piece, R) is (R, R) or (64, R).
STAGED_AVX2 static inline __attribute__((always_inline)) void step_sized_avx2(const char *stage, char *out, int piece, int R, const int E) {
    if (R == FOUR_LINE_STAGED_ROW_BYTES) {
        if (piece == R) step_blocks_avx2(stage, out, E, FOUR_LINE_STAGED_ROW_BYTES, FOUR_LINE_STAGED_ROW_BYTES);
        else step_blocks_avx2(stage, out, E, 64, FOUR_LINE_STAGED_ROW_BYTES);
    } else if (piece == R) {
        step_blocks_avx2(stage, out, E, STAGED_ROW_BYTES, STAGED_ROW_BYTES);
    } else {
        step_blocks_avx2(stage, out, E, 64, STAGED_ROW_BYTES);
    }
}
// 4-byte steps where the CPU has AVX2: 8 x 8 blocks in 32-byte registers (unpacks, shuffles and a
// lane exchange: 24 shuffles and 16 loads and stores per 256 bytes) instead of step_blocks' 4 x 4
// (32 shuffles, 32 loads and stores). Their transposes were 7-18 % of the walk (a timing-only
// build without them, ab-tiles: f4 8192² 1.07-1.08x, 4096² 1.18x). AMD EPYC Zen 3, 2 threads,
// Benchmarks/ab-tiles.c, 13 repetitions, B/A: f4 8192² 1.04 and 1.07, 4096² 1.06, 4097x4099 1.06;
// `relayout bench` (alternate.py, three rounds): 2-D paired GB/s 1.063 (8192² 1.24x, 4096² 1.11x,
// 4097x4099 1.08x), TTC 1.001 (the grouped cases that take it 0.94-1.15x); seven rounds of chosen
// cases read 0.95-1.13x. Plain tiles of other strides take the staggered walk's own 4 x 4 blocks.
STAGED_AVX2 static inline __attribute__((always_inline)) void transpose8x8_f4(const char *stage, char *out, ptrdiff_t R) {
    __m256 r[8], t[8], u[8];
#pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) r[k] = _mm256_load_ps((const float *)(stage + k * 64));
#pragma clang loop unroll(full)
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
    }
#pragma clang loop unroll(full)
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
#pragma clang loop unroll(full)
    for (int k = 0; k < 4; k++) {
        _mm256_store_ps((float *)(out + k * R), _mm256_permute2f128_ps(u[k], u[k + 4], 0x20));
        _mm256_store_ps((float *)(out + (k + 4) * R), _mm256_permute2f128_ps(u[k], u[k + 4], 0x31));
    }
}

STAGED_AVX2 static inline __attribute__((always_inline)) void step_blocks_f4_avx2(const char *stage, char *out, const int piece, const int R) {
    const int H = piece / 4;
#pragma clang loop unroll(full)
    for (int j = 0; j < 16; j += 8)
        for (int i = 0; i < H; i += 8) transpose8x8_f4(stage + i * 64 + j * 4, out + j * R + i * 4, R);
}

STAGED_AVX2 static void step_f4_avx2(const char *stage, char *out, int piece, int R) { step_sized_avx2(stage, out, piece, R, 4); }
STAGED_AVX2 static void step_u1_avx2(const char *stage, char *out, int piece, int R) { step_sized_avx2(stage, out, piece, R, 1); }
STAGED_AVX2 static void step_u2_avx2(const char *stage, char *out, int piece, int R) { step_sized_avx2(stage, out, piece, R, 2); }
#endif

// The staggered walk (4-byte elements, plain tiles, into aligned rows or rows that start inside
// lines): the staged walk's steps, but the H = piece / E rows of a step are read in STAGGER_LAGS
// groups of N = 16 / E rows, group g one step behind group g - 1. At any time the groups read eight different line columns, so the source lines in flight
// spread over eight cache sets instead of all sharing one where rows are 4 KiB multiples apart, and
// each group goes straight from its rows through register blocks into its step's out buffer; a step
// is streamed once its last group has been through, STAGGER_LAGS - 1 steps later, from a ring of
// that many out buffers. Steps run in order across the tile's bands of H rows, so the lag fills and
// drains once a tile, not once a band.
// Measured on an AMD EPYC (Zen 3), C harness, f4, 512 x 512 tiles, 2 threads, the two walks
// alternating in one process, medians of five: 8192² 10.3 -> 14.3 GB/s (one thread 6.1-7.0 ->
// 8.1-8.6), source rows of 36 KiB 10.3 -> 13.9, 32 KiB + 64 bytes 11.0 -> 13.0; `relayout bench`,
// eight rounds alternating per case: f4 8192² 0.76 -> 0.91 of memcpy, 4096² 0.74 -> 0.91. The same
// groups without the lag ran as the staged walk. Not taken where it measured slower: grouped tiles
// (row tables; TTC's 48x28x28x4x352:4,3,2,1,0 tiles in one process: one thread 5.4 -> 4.2 GB/s, two
// 9.5 -> 8.2) and 8- and 16-byte elements, whose steps read 16 and 8 rows (TTC shapes, four
// alternating rounds: f8 0.88x, c16 0.84x).
enum { STAGGER_LAGS = 8 };

#if defined(__x86_64__)
// One step into destination rows that start inside lines (the skewed form below), `carry` holding
// the 64 bytes each of its rows left over from the row's previous step.
static void stream_step_skewed(const char *out, char *dst, ptrdiff_t dst_row, ptrdiff_t b, ptrdiff_t a_bytes, ptrdiff_t L, void *carry, int R,
                               int stream, int before, const step_fetch *fetch);
#endif

// Over `bands` bands of H rows from row a0 (destination bytes from a0 * E) and `columns` columns of
// one line each from destination row b0. With `carry` (one 64-byte slot per destination row from b0),
// steps go to rows that start inside lines, joined to what each row's previous step left over (and,
// with `before`, the first step to what the rows before a0 put there).
static inline __attribute__((always_inline)) void staggered_walk(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row, ptrdiff_t a0,
                                                                 ptrdiff_t b0, ptrdiff_t bands, ptrdiff_t columns, const int E, const int piece,
                                                                 char *carry, int before) {
    const ptrdiff_t N = 16 / E, L = 64 / E, H = piece / E, G = H / N;
    const ptrdiff_t steps = bands * columns, step_bytes = L * STAGED_ROW_BYTES;
    if (steps == 0) return;
    // The skewed form's unaligned loads read up to 63 bytes before an out row.
    _Alignas(64) char ring_and_margin[64 + STAGGER_LAGS * 16 * STAGED_ROW_BYTES];
    char *ring = ring_and_margin + 64;
    // Step t's groups: group g works on step t - g, which is (band, column) = (tb, tc - g), wrapped.
    for (ptrdiff_t t = 0, tb = 0, tc = 0; t < steps + STAGGER_LAGS - 1; t++) {
        // The lines of the step after next, into L1 before the step, as the staged walk fetches
        // those of 8- and 16-byte steps. Spread over the streaming of the step before, as for the
        // staged walk's 1- to 4-byte steps (step_fetch), these ran slower (ab-tiles, 2 threads, B/A:
        // f4 4096² 0.95, 8192² 0.97, 4097x4099 0.96, 4097x4096 0.95, 7263x7265 0.77).
        ptrdiff_t fb = tb, fc = tc + 2;
        while (fc >= columns) { fc -= columns; fb++; }
        for (ptrdiff_t g = 0; g < G; g++) {
            ptrdiff_t b = fb, c = fc - g;
            while (c < 0) { c += columns; b--; }
            if (b < 0 || b >= bands) continue;
#pragma clang loop unroll(full)
            for (ptrdiff_t k = 0; k < N; k++) __builtin_prefetch(src + (a0 + b * H + g * N + k) * src_row + (b0 + c * L) * E, 0, 3);
        }
        for (ptrdiff_t g = 0; g < G; g++) {
            ptrdiff_t b = tb, c = tc - g;
            while (c < 0) { c += columns; b--; }
            if (b < 0 || t - g >= steps) continue;
            char *out = ring + ((t - g) % STAGGER_LAGS) * step_bytes;
#pragma clang loop unroll(full)
            for (ptrdiff_t j = 0; j < L; j += N)
                block(src + (a0 + b * H + g * N) * src_row + (b0 + c * L + j) * E, src_row, out + j * STAGED_ROW_BYTES + g * N * E,
                      STAGED_ROW_BYTES, E, 0);
        }
        const ptrdiff_t done = t - (STAGGER_LAGS - 1);
        if (done >= 0) {
            const char *out = ring + (done % STAGGER_LAGS) * step_bytes;
            const ptrdiff_t b = b0 + (done % columns) * L, a_bytes = (a0 + (done / columns) * H) * E;
#if defined(__x86_64__)
            if (carry) stream_step_skewed(out, dst, dst_row, b, a_bytes, L, carry + (b - b0) * 64, STAGED_ROW_BYTES, 1, before, &no_fetch);
            else
#endif
                stream_rows(out, 0, dst, dst_row, b, a_bytes, L, piece, STAGED_ROW_BYTES, 1, &no_fetch);
        }
        if (++tc == columns) { tc = 0; tb++; }
    }
}

// The rows and columns of a tile that make no whole line, by ordinary-store blocks.
static inline __attribute__((always_inline)) void staged_remainders(const char *const *srows, const char *src, ptrdiff_t src_row, char *const *drows,
                                                                    char *dst, ptrdiff_t dst_row, ptrdiff_t along_n, ptrdiff_t along_lines,
                                                                    ptrdiff_t across_n, ptrdiff_t across_lines, const int E) {
    if (srows) {
        if (across_lines < across_n) rl_transpose_rows_blocks(srows, drows, 0, along_lines, across_lines, across_n, E);
        if (along_lines < along_n) rl_transpose_rows_blocks(srows, drows, along_lines, along_n, 0, across_n, E);
    } else {
        if (across_lines < across_n) tile_blocks(src, src_row, dst, dst_row, 0, along_lines, across_lines, across_n, E);
        if (along_lines < along_n) tile_blocks(src, src_row, dst, dst_row, along_lines, along_n, 0, across_n, E);
    }
}

// The walk over a tile: steps along the source's rows (H = R / E rows, then the next line of each),
// then the next H rows. Rows left over that make whole lines of each destination row go in steps of
// one line (else 48-row tiles, TTC's 28x28x48x28x48:1,3,0,4,2, wrote a third of their bytes through
// ordinary stores); the rows and columns that make no whole line take ordinary-store blocks. Plain
// tiles by strides (srows and drows null), grouped ones through row tables.
typedef void step_function(const char *stage, char *out, int piece, int R);
static inline __attribute__((always_inline)) void staged_walk(const char *const *srows, const char *src, ptrdiff_t src_along,
                                                              char *const *drows, char *dst, ptrdiff_t dst_across,
                                                              ptrdiff_t along_n, ptrdiff_t across_n, const int E, const int R,
                                                              step_function *wide_step, const int stream) {
    const ptrdiff_t L = 64 / E, H = R / E;
    const ptrdiff_t src_row = src_along * E, dst_row = dst_across * E;
    const ptrdiff_t along_steps = along_n - along_n % H, across_lines = across_n - across_n % L;
    const ptrdiff_t along_lines = along_n - along_n % L;
    if (E == 4 && !srows && R == STAGED_ROW_BYTES) {
        staggered_walk(src, src_row, dst, dst_row, 0, 0, along_steps / H, across_lines / L, E, STAGED_ROW_BYTES, 0, 0);
        if (along_lines > along_steps) staggered_walk(src, src_row, dst, dst_row, along_steps, 0, 1, across_lines / L, E, 64, 0, 0);
        staged_remainders(srows, src, src_row, drows, dst, dst_row, along_n, along_lines, across_n, across_lines, E);
        return;
    }
    // Sized for the widest step, so that they are no variable-length arrays before inlining.
    _Alignas(64) char stage[FOUR_LINE_STAGED_ROW_BYTES * 64];
    _Alignas(64) char out[FOUR_LINE_STAGED_ROW_BYTES * 64];
    // Plain tiles' steps read the source rows straight into registers where their lines spread over
    // the L1 sets (see reads_in_place), streamed or not (only 1-byte tiles take this walk
    // unstreamed); the stage only keeps rows that share sets apart. AMD EPYC Zen 3,
    // Benchmarks/ab-tiles.c, B/A: u1 (1024² tiles) streamed, 2 threads, 15 repetitions: 4096x4160
    // 1.12, 8192x3001 1.20, 4096x5000 1.21, 6144x4500 1.10 (one thread, 9: 1.13, 1.10, 1.12, 1.19);
    // ordinary stores: 2048x2112 1.10, 2048x3000 1.02, 1024x5000 1.18, 3072x3500 1.13, 1536x1600
    // 1.14. u2 (512² tiles), 2 threads, 15: 8192x3001 1.04, 4096x5000 1.08, 2048x6000 1.05,
    // 6144x4500 1.09 (one thread, 9: 1.13, 1.06, 1.15, 1.13). At rows near whole KiB it lost (u1
    // 4096², 4096x4099, 8192²: 0.54-0.70), as in the skewed walk. 8- and 16-byte steps (16 and 8
    // rows) read in place too, here and in the skewed walk, through the 16-byte blocks: ab-tiles,
    // 2 threads, 15 repetitions, B/A: f8 7263x7265 1.10, 5001x3003 1.10, 2321x3001 1.08,
    // 43408x1216 1.05, 3001x9000 1.13, 4096x5000 (aligned) 1.06; c16 1.13, 1.11, 1.05, 0.96, 1.15,
    // 1.08. `relayout bench`, alternating rounds (5, then 7): f8 7263x7265 1.37x / 1.05x, 5001x3003
    // 1.22x / 1.04x, c16 7263x7265 1.21x / 1.12x, 5001x3003 0.95x / 1.09x, 3001x9000 1.11x / 1.09x
    // (f8 4096², not touched, 0.91x / 1.06x); TTC paired GB/s, two rounds: f8 0.995, c16 1.028.
    const int direct = !srows && (E >= 8 || wide_step) && reads_in_place(E, src_row);
    for (ptrdiff_t a = 0; a < along_steps; a += H) {
        for (ptrdiff_t b = 0; b < across_lines; b += L) {
            // The next steps' lines are requested after this one's are read (staged) or while they
            // are (direct, whose step reads them as it goes).
            step_fetch fetch;
            if (direct) {
                fetch = step_fetch_for(srows, src, src_row, a, b, 0, across_lines, along_steps, E, H);
                step_in_place(src + a * src_row + b * E, src_row, out, E, R);
            } else {
                stage_lines(srows, src, src_row, a, b * E, stage, H);
                fetch = step_fetch_for(srows, src, src_row, a, b, 0, across_lines, along_steps, E, H);
                if (wide_step) wide_step(stage, out, R, R);
                else step_blocks(stage, out, E, R, R);
            }
            stream_rows(out, drows, dst, dst_row, b, a * E, L, R, R, stream, &fetch);
        }
    }
    for (ptrdiff_t a = along_steps; a < along_lines; a += L)
        for (ptrdiff_t b = 0; b < across_lines; b += L) {
            stage_lines(srows, src, src_row, a, b * E, stage, L);
            if (wide_step) wide_step(stage, out, 64, R);
            else step_blocks(stage, out, E, 64, R);
            stream_rows(out, drows, dst, dst_row, b, a * E, L, 64, R, stream, &no_fetch);
        }
    staged_remainders(srows, src, src_row, drows, dst, dst_row, along_n, along_lines, across_n, across_lines, E);
}

#if defined(__x86_64__)
static int avx2_allowed = 1;

// Also whether 1-, 2- and 4-byte steps take their AVX2 build (step_u1_avx2, step_u2_avx2, step_f4_avx2).
int rl_avx2_narrow_kernels(void) { return __builtin_cpu_supports("avx2") && __atomic_load_n(&avx2_allowed, __ATOMIC_RELAXED); }
#endif

void rl_set_avx2_allowed(int allowed) {
#if defined(__x86_64__)
    __atomic_store_n(&avx2_allowed, allowed != 0, __ATOMIC_RELAXED);
#else
    (void)allowed;
#endif
}

// Whether every row of a table lies a whole number of KiB from its first.
static int rows_whole_kib_apart(const char *const *rows, ptrdiff_t n) {
    for (ptrdiff_t r = 1; r < n; r++)
        if (((rows[r] - rows[0]) & 1023) != 0) return 0;
    return 1;
}

// Grouped 4-byte tiles whose source rows or destination rows all lie whole KiB apart (TTC's
// 48 x 352 family) take four lines of each destination row per step, with rows enough along for
// one; others keep two. What such a step costs is its destination runs: Benchmarks/walk-pattern.c,
// f4 4096x4096 (rows whole KiB apart), median ratio to memcpy over five alternating rounds, one
// thread / two: 32 rows x 64 bytes a step (two lines a destination row) 0.81 / 0.92, the same with
// the destination written in order 1.05 / 1.16, with the source read in order 0.78 / 0.74; 64 rows
// (four lines) 0.96 / 0.98. In the engine (AMD EPYC Zen 3, 2 threads, alternate_cases.py, 7
// alternating rounds of one build with this rule on and off, GB/s on / off): 48x28x28x4x352:4,3,2,1,0
// 1.14, 352x28x28x4x48:4,3,2,1,0 1.08, 28x352x28x4x48:4,0,3,2,1 1.25, 28x48x28x4x352:4,0,3,2,1 1.12,
// 48x28x28x28x48:4,3,2,1,0 1.11 (ratio to memcpy 0.81-0.89 -> 0.98-1.04), while the grouped cases
// it leaves alone read 0.91-1.04. Four lines for every grouped 4-byte tile (three runs between
// builds): the 15 x 32 x 112 family 0.86-1.02, the 608 x 96 family (rows a multiple of 512 bytes
// apart) 0.89-1.08.
static int grouped_four_lines(ptrdiff_t E, ptrdiff_t along_n, ptrdiff_t across_n, const char *const *srows, char *const *drows) {
    return E == 4 && along_n >= FOUR_LINE_STAGED_ROW_BYTES / E
        && (rows_whole_kib_apart(srows, along_n) || rows_whole_kib_apart((const char *const *)drows, across_n));
}

// The walk with the step staged_row_bytes or grouped_four_lines gives (four lines a destination row
// for 1-byte tiles that have rows enough along for one, for plain 2-, 4- and 8-byte ones with source
// rows near whole pages and for grouped 4-byte ones at whole-KiB strides; else two), each size
// compiled on its own.
static inline __attribute__((always_inline)) void staged_sized(const char *const *srows, const char *src, ptrdiff_t src_along, char *const *drows,
                                                                char *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                                                                const int E, step_function *step, const int stream) {
    if (staged_row_bytes(E, along_n, srows ? 0 : src_along * E) == FOUR_LINE_STAGED_ROW_BYTES
        || (srows && grouped_four_lines(E, along_n, across_n, srows, drows)))
        staged_walk(srows, src, src_along, drows, dst, dst_across, along_n, across_n, E, FOUR_LINE_STAGED_ROW_BYTES, step, stream);
    else
        staged_walk(srows, src, src_along, drows, dst, dst_across, along_n, across_n, E, STAGED_ROW_BYTES, step, stream);
}

// The step of 1-, 2- and 4-byte elements: its AVX2 build where the CPU has it and it is allowed,
// else none (the 16-byte blocks of step_blocks).
static step_function *narrow_step(ptrdiff_t E) {
#if defined(__x86_64__)
    if (rl_avx2_narrow_kernels()) return E == 1 ? step_u1_avx2 : E == 2 ? step_u2_avx2 : step_f4_avx2;
#endif
    (void)E;
    return 0;
}

// 8- and 16-byte grouped tiles (row tables) take four lines of each destination row per step where
// they have rows enough along for one. AMD EPYC Zen 3, 2 threads, four alternating rounds of
// TTC's grouped tiles at whole-KiB strides, GB/s: c16 48x28x28x4x352:4,3,2,1,0 1.29x,
// 28x48x28x4x352:4,0,3,2,1 1.25x, 28x48x28x28x48:4,0,3,2,1 1.11x, 352x28x28x4x48:4,3,2,1,0 1.08x;
// f8 48x28x28x4x352:4,3,2,1,0 1.11x, 28x48x28x28x48:4,0,3,2,1 1.09x, 352x28x28x4x48:4,3,2,1,0
// 1.08x. 4-byte ones measured even then (0.99-1.05x; eight lines a step slower, 0.85-0.92x); they
// take four only at whole-KiB strides (grouped_four_lines).
static inline __attribute__((always_inline)) void wide_staged(const char *const *srows, const char *src, ptrdiff_t src_along, char *const *drows,
                                                              char *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n, const int E) {
    if (srows && along_n >= GROUPED_WIDE_STAGED_ROW_BYTES / E)
        staged_walk(srows, src, src_along, drows, dst, dst_across, along_n, across_n, E, GROUPED_WIDE_STAGED_ROW_BYTES, 0, 1);
    else
        staged_sized(srows, src, src_along, drows, dst, dst_across, along_n, across_n, E, 0, 1);
}

// One build of the walk per element size, streamed; 1-byte tiles also with ordinary stores.
// (`stream` is a constant in each build: a store chosen at run time let the compiler merge the
// streaming store with the ordinary one and drop its non-temporal hint, c16 4097x4099 0.37x.)
static void staged(const char *const *srows, const char *src, ptrdiff_t src_along, char *const *drows, char *dst, ptrdiff_t dst_across,
                   ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t E, int streamed) {
    if (!streamed) {
        staged_sized(srows, src, src_along, drows, dst, dst_across, along_n, across_n, 1, narrow_step(1), 0);
        return;
    }
    switch (E) {
    case 1: staged_sized(srows, src, src_along, drows, dst, dst_across, along_n, across_n, 1, narrow_step(1), 1); break;
    case 2: staged_sized(srows, src, src_along, drows, dst, dst_across, along_n, across_n, 2, narrow_step(2), 1); break;
    case 4: staged_sized(srows, src, src_along, drows, dst, dst_across, along_n, across_n, 4, narrow_step(4), 1); break;
    case 8: wide_staged(srows, src, src_along, drows, dst, dst_across, along_n, across_n, 8); break;
    default: wide_staged(srows, src, src_along, drows, dst, dst_across, along_n, across_n, 16); break;
    }
}

#if defined(__x86_64__)
// Destination rows that start inside lines: each row's step of R bytes (128, or 256 for 1-byte
// tiles), joined after the 64 bytes its previous step left over, is read at the row's offset into
// its lines and streamed as R / 64 whole lines (stream_step_skewed); the last 64 bytes are carried
// to the row's next step. A tile's first
// and last partial line take ordinary stores: the tile beside it writes the rest of those lines.
// (Joining through memory, bytes copied after the carry and read back shifted, stalled every load on
// store forwarding: 0.3-0.5x of the row walk. The loads now read the carry and the out rows where
// they were written long before, except a step's last group of the staggered walk.)
enum { SKEWED_GROUP_ROWS = 512 };

// Ones in bytes 0-15, zeros in 16-31: loaded from 16 + o, clamped to [0, 16], the mask of the bytes of
// a 16-byte piece that starts o bytes from a step's start that lie before it, in the carry.
static const unsigned char carried_bytes[32] __attribute__((aligned(32))) = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};

// One 16-byte store, streamed or not (`stream` is a constant in each build, see `staged`).
static inline __attribute__((always_inline)) void put16(__m128i *at, __m128i v, const int stream) {
    if (stream) _mm_stream_si128(at, v);
    else _mm_store_si128(at, v);
}

// Row `b` of a step: its first byte `at` in the destination, `skew` bytes into the line `line`, and
// its carry `kept`.
typedef struct {
    char *at, *line, *kept;
    int skew;
} skewed_row;

static inline __attribute__((always_inline)) skewed_row skewed_row_at(char *dst, ptrdiff_t dst_row, ptrdiff_t b, ptrdiff_t a_bytes,
                                                                      char *kept) {
    char *at = dst + b * dst_row + a_bytes;
    const int skew = (int)((uintptr_t)at & 63);
    return (skewed_row){at, at - skew, kept, skew};
}

// With AVX2, rows of 4- and 8-byte elements (which start a whole number of dwords into their
// lines), and of 2-byte ones (see below), take their two or four lines from aligned loads instead
// of join_step_lines' unaligned ones (below): the carry and the step as 32-byte parts (six, or ten
// for four-line steps), each 32-byte piece of the lines joined from the two parts it spans, both
// rotated by the row's dword offset (vpermd) and blended. The unaligned loads cost a fifth of the
// walk on an AMD EPYC (Zen 3): a timing-only build with them aligned (the same
// instructions, wrong bytes) ran f4 4097x4096 1.21-1.25x as fast, and an AVX2 build of the same
// unaligned loads no faster (0.98-1.06x).
// Benchmarks/ab-tiles.c, 2 threads, 9-13 repetitions, B/A: f4 4097x4096 1.14 (one thread 1.22),
// 4097x4099 1.08-1.14, 7263x7265 1.12, 2049x4099 1.09; f8 4097x4099 1.13, 7263x7265 0.99-1.13.
// Four-line steps (source rows near whole pages, see source_rows_near_whole_pages) had kept the
// unaligned loads; rotated, ab-tiles, 13 repetitions, B/A: f4 4097x4099 1.08-1.09, 2049x4099 1.08,
// 4097x4096 0.98, f8 4097x4099 1.04, 2049x2051 1.02; `relayout bench`, 7 alternating rounds, GB/s:
// f4 4097x4099 1.10x, 4097x4096 1.21x, 2049x4099 1.04x, f8 4097x4099 1.08x.
// 2-byte rows (L = 32), which may start 2 bytes past a dword, take the same rotation by the dwords
// below their offset and then, where it is 2 bytes past, a shift of the row's pieces by 2 bytes
// (a lane exchange and alignr each). ab-tiles, B/A against the unaligned loads: u2 4097x4099 1.075
// (13 repetitions) and 1.045 (21), 4097x4096 1.111 and 1.101, 2049x4099 1.024; 4096x4099 (aligned
// rows, not this walk) 1.008; `relayout bench`, 9 alternating rounds, GB/s: 4097x4099 0.95x,
// 4097x4096 1.02x, 2049x4099 1.08x (f4 4097x4099, untouched, 0.99x in the same rounds).
STAGED_AVX2 static inline __attribute__((always_inline)) void step_rotated(const char *out, char *dst, ptrdiff_t dst_row, ptrdiff_t b,
                                                                            ptrdiff_t a_bytes, ptrdiff_t L, void *carry, int before,
                                                                            const step_fetch *fetch, const int R, const int two_byte) {
    // The carry's two 32-byte parts, then the step's R / 32; piece c of the row's lines spans parts
    // c + 1 and c + 2 (the whole dwords of the row's offset under 32 bytes) or c and c + 1.
    enum { MAX_PARTS = FOUR_LINE_STAGED_ROW_BYTES / 32 + 2 };
    const int P = R / 32;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (ptrdiff_t r = 0; r < L; r++) {
        fetch_part(fetch, r);
        const skewed_row row = skewed_row_at(dst, dst_row, b + r, a_bytes, (char *)carry + r * 64);
        char *at = row.at, *line = row.line, *kept = row.kept;
        const char *step = out + r * R;
        const int skew = row.skew;
        __m256i part[MAX_PARTS];
        part[0] = _mm256_loadu_si256((const __m256i *)kept);
        part[1] = _mm256_loadu_si256((const __m256i *)(kept + 32));
#pragma clang loop unroll(full)
        for (int j = 0; j < P; j++) part[2 + j] = _mm256_load_si256((const __m256i *)(step + 32 * j));
        // 2-byte rows can start 2 bytes past a dword: rotate by the dwords below the offset, then
        // shift the whole row's pieces 2 bytes on, each taking its first two from the piece before.
        const int half = two_byte ? (skew & 2) : 0, dwords = skew - half;
        const int k = (dwords & 31) >> 2;
        const __m256i index = _mm256_and_si256(_mm256_sub_epi32(iota, _mm256_set1_epi32(k)), _mm256_set1_epi32(7));
        const __m256i earlier = _mm256_cmpgt_epi32(_mm256_set1_epi32(k), iota);
        __m256i piece[MAX_PARTS - 2], before_first = part[0];
        if (dwords < 32) {
#pragma clang loop unroll(full)
            for (int c = 0; c < P; c++)
                piece[c] = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(part[2 + c], index), _mm256_permutevar8x32_epi32(part[1 + c], index), earlier);
            if (two_byte)
                before_first = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(part[1], index), _mm256_permutevar8x32_epi32(part[0], index), earlier);
        } else {
#pragma clang loop unroll(full)
            for (int c = 0; c < P; c++)
                piece[c] = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(part[1 + c], index), _mm256_permutevar8x32_epi32(part[c], index), earlier);
            // Only its last 2 bytes are used, in its last dword, which comes from part[0] (k < 8).
            if (two_byte) before_first = _mm256_permutevar8x32_epi32(part[0], index);
        }
        if (two_byte && half) {
#pragma clang loop unroll(full)
            for (int c = P - 1; c >= 0; c--) {
                const __m256i previous = c > 0 ? piece[c - 1] : before_first;
                piece[c] = _mm256_alignr_epi8(piece[c], _mm256_permute2x128_si256(previous, piece[c], 0x21), 14);
            }
        }
        if (a_bytes != 0 || skew == 0 || before) {
            _mm256_stream_si256((__m256i *)line, piece[0]);
            _mm256_stream_si256((__m256i *)(line + 32), piece[1]);
        } else {
            memcpy(at, step, (size_t)(64 - skew));
        }
#pragma clang loop unroll(full)
        for (int c = 2; c < P; c++) _mm256_stream_si256((__m256i *)(line + 32 * c), piece[c]);
        _mm256_storeu_si256((__m256i *)kept, part[P]);
        _mm256_storeu_si256((__m256i *)(kept + 32), part[P + 1]);
    }
}

STAGED_AVX2 static void stream_step_rotated(const char *out, char *dst, ptrdiff_t dst_row, ptrdiff_t b, ptrdiff_t a_bytes, ptrdiff_t L,
                                            void *carry, int before, const step_fetch *fetch, int R) {
    const int two_byte = L == 32;
    if (R == FOUR_LINE_STAGED_ROW_BYTES) {
        if (two_byte) step_rotated(out, dst, dst_row, b, a_bytes, L, carry, before, fetch, FOUR_LINE_STAGED_ROW_BYTES, 1);
        else step_rotated(out, dst, dst_row, b, a_bytes, L, carry, before, fetch, FOUR_LINE_STAGED_ROW_BYTES, 0);
    } else {
        if (two_byte) step_rotated(out, dst, dst_row, b, a_bytes, L, carry, before, fetch, STAGED_ROW_BYTES, 1);
        else step_rotated(out, dst, dst_row, b, a_bytes, L, carry, before, fetch, STAGED_ROW_BYTES, 0);
    }
}

// Each row's lines are read at the row's offset into its lines with unaligned loads, from the
// step's out row and, for the first line's bytes before the step, from the 64 bytes the row's previous
// step left (`carry`), the piece that spans both blended by mask. (A shift of registers by the
// row's offset, a palignr per piece from a 16-way switch, ran slower: one thread, f4 4097x4096 5.0-5.5
// -> 6.0-7.4 GB/s, 4097x4099 4.85 -> 5.25, 7263x7265 5.7 -> 6.55, f8 2049x2051 6.6 -> 8.6.) The
// unaligned loads read up to 63 bytes before the out row and 64 past its carry: the callers pad both.
static inline __attribute__((always_inline)) void join_step_lines(const char *out, char *dst, ptrdiff_t dst_row, ptrdiff_t b, ptrdiff_t a_bytes,
                                                                  ptrdiff_t L, void *carry, const int R, const int stream, int before,
                                                                  const step_fetch *fetch) {
    for (ptrdiff_t r = 0; r < L; r++) {
        fetch_part(fetch, r);
        const skewed_row row = skewed_row_at(dst, dst_row, b + r, a_bytes, (char *)carry + r * 64);
        char *at = row.at, *line = row.line, *kept = row.kept;
        const char *step = out + r * R;
        const int skew = row.skew;
        if (a_bytes != 0 || skew == 0 || before) {
            for (int i = 0; i < 4; i++) {
                const int o = 16 * i - skew;
                const __m128i mask = _mm_loadu_si128((const __m128i *)(carried_bytes + (o < -16 ? 0 : o > 0 ? 16 : 16 + o)));
                const __m128i before = _mm_loadu_si128((const __m128i *)(kept + 64 + o)), from = _mm_loadu_si128((const __m128i *)(step + o));
                put16((__m128i *)(line + 16 * i), _mm_or_si128(_mm_and_si128(mask, before), _mm_andnot_si128(mask, from)), stream);
            }
        } else {
            // A row's first step in the tile: its first line starts in the tile before this one,
            // which writes the rest of it.
            memcpy(at, step, (size_t)(64 - skew));
        }
        for (int i = 4; i < R / 16; i++) put16((__m128i *)(line + 16 * i), _mm_loadu_si128((const __m128i *)(step + 16 * i - skew)), stream);
        for (int i = 0; i < 4; i++) _mm_store_si128((__m128i *)(kept + 16 * i), _mm_load_si128((const __m128i *)(step + R - 64 + 16 * i)));
    }
}

// join_step_lines built for each width of step and store (constants, as in `staged`).
static void stream_step_skewed(const char *out, char *dst, ptrdiff_t dst_row, ptrdiff_t b, ptrdiff_t a_bytes, ptrdiff_t L, void *carry, int R,
                               int stream, int before, const step_fetch *fetch) {
    if ((L == 32 || L == 16 || L == 8) && stream && rl_avx2_narrow_kernels()) {
        stream_step_rotated(out, dst, dst_row, b, a_bytes, L, carry, before, fetch, R);
    } else if (R == FOUR_LINE_STAGED_ROW_BYTES) {
        if (stream) join_step_lines(out, dst, dst_row, b, a_bytes, L, carry, FOUR_LINE_STAGED_ROW_BYTES, 1, before, fetch);
        else join_step_lines(out, dst, dst_row, b, a_bytes, L, carry, FOUR_LINE_STAGED_ROW_BYTES, 0, before, fetch);
    } else if (stream) {
        join_step_lines(out, dst, dst_row, b, a_bytes, L, carry, STAGED_ROW_BYTES, 1, before, fetch);
    } else {
        join_step_lines(out, dst, dst_row, b, a_bytes, L, carry, STAGED_ROW_BYTES, 0, before, fetch);
    }
}

static inline __attribute__((always_inline)) void staged_walk_skewed(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across,
                                                                      ptrdiff_t along_n, ptrdiff_t across_n, const int E, const int R,
                                                                      step_function *wide_step, const int stream, int before, int after) {
    const ptrdiff_t N = 16 / E, L = 64 / E, H = R / E;
    const ptrdiff_t src_row = src_along * E, dst_row = dst_across * E;
    const ptrdiff_t along_steps = along_n - along_n % H, across_lines = across_n - across_n % L;
    // The tile after writes the rows' last lines only where this tile's steps reach its end (the
    // planner asks only then, see rl_staged_skewed_line_sides); else this tile writes its bytes of
    // them, which the tile after then writes too, with the same values, rather than none.
    const int leave = after && along_steps == along_n;
    // Streamed steps read the source rows straight into registers where their lines spread over the
    // L1 sets (rows 64 bytes or more from a multiple of 1 KiB), without the stage (step_in_place;
    // 4-byte tiles take the staggered walk); 1-byte ones with ordinary stores keep it (ab-tiles
    // 0.77-1.26, no direction). 8- and 16-byte steps: see staged_walk.
    // AMD EPYC Zen 3, 2 threads, Benchmarks/ab-tiles.c, 1024² tiles, 11 repetitions, B/A: u1
    // 7263x7265 1.09, 2321x3001 1.10, 2320x8000 1.06, 43408x1216 1.07; rows near whole KiB lost
    // (4097x4099, source rows of 4099 bytes, 0.84: the 256 rows of a step share a few sets, and the
    // lines fetched ahead are gone before they are read). 2-byte tiles come here from the joined row
    // walk (see rl_staged_skewed_reads_in_place).
    const int direct = stream && (E >= 8 || wide_step) && reads_in_place(E, src_row);
    _Alignas(64) char stage[FOUR_LINE_STAGED_ROW_BYTES * 64];
    // The out rows, and the 63 bytes before them that stream_step_skewed's loads read.
    _Alignas(64) char out_and_margin[64 + FOUR_LINE_STAGED_ROW_BYTES * 64];
    char *out = out_and_margin + 64;
    // A row's carry, and 64 bytes past the last that its unaligned loads read.
    __m128i carry[SKEWED_GROUP_ROWS * 4 + 4];
    memset(carry + SKEWED_GROUP_ROWS * 4, 0, 64);
    // Destination rows in groups, each walked over every source row, so that the carries of a group
    // stay within 32 KiB.
    for (ptrdiff_t g = 0; g < across_lines; g += SKEWED_GROUP_ROWS) {
        const ptrdiff_t g_end = across_lines - g < SKEWED_GROUP_ROWS ? across_lines : g + SKEWED_GROUP_ROWS;
        // The tile before leaves each row's first line to this one: the row's carry holds the
        // elements the L source rows before the tile put there, and the first lines go out whole.
        if (before)
            for (ptrdiff_t b = g; b < g_end; b += N)
                for (ptrdiff_t i = 0; i < L; i += N) block(src + (i - L) * src_row + b * E, src_row, (char *)(carry + (b - g) * 4) + i * E, 64, E, 0);
        if (E == 4 && R == STAGED_ROW_BYTES)
            staggered_walk(src, src_row, dst, dst_row, 0, g, along_steps / H, (g_end - g) / L, E, STAGED_ROW_BYTES, (char *)carry, before);
        else
            for (ptrdiff_t a = 0; a < along_steps; a += H)
                for (ptrdiff_t b = g; b < g_end; b += L) {
                    const step_fetch fetch = step_fetch_for(0, src, src_row, a, b, g, g_end, along_steps, E, H);
                    if (direct) {
                        step_in_place(src + a * src_row + b * E, src_row, out, E, R);
                    } else {
                        stage_lines(0, src, src_row, a, b * E, stage, H);
                        if (wide_step) wide_step(stage, out, R, R);
                        else step_blocks(stage, out, E, R, R);
                    }
                    // 16-byte steps join their lines in this walk's own build, not through
                    // stream_step_skewed's call, where they always end up: AMD EPYC Zen 3, 2
                    // threads, Benchmarks/ab-tiles.c, 13 repetitions, B/A: c16 7263x7265 1.13,
                    // 5001x3003 1.12, 2321x3001 1.08, 4097x4099 1.03 (clang -O3 inlines the call,
                    // which is why the -O3 builds ran them 1.11-1.17x faster than the engine's).
                    // Only these: stream_step_skewed inlined for every size cost 1-byte rows
                    // inside lines 0.94-0.96 (ab-tiles, 15 repetitions: u1 4097x4099, 7263x7265,
                    // 4097x4096), whose steps are 16 KiB a call, not 512 bytes.
                    if (E == 16) join_step_lines(out, dst, dst_row, b, a * E, L, carry + (b - g) * 4, R, stream, before, &fetch);
                    else stream_step_skewed(out, dst, dst_row, b, a * E, L, carry + (b - g) * 4, R, stream, before, &fetch);
                }
        // Each row's last partial line: the tile's bytes of it, unless the tile after writes it whole.
        if (!leave && along_steps > 0)
            for (ptrdiff_t b = g; b < g_end; b++) {
                char *end = dst + b * dst_row + along_steps * E;
                const ptrdiff_t skew = (ptrdiff_t)((uintptr_t)end & 63);
                memcpy(end - skew, (const char *)(carry + (b - g) * 4) + 64 - skew, (size_t)skew);
            }
    }
    if (across_lines < across_n) tile_blocks(src, src_row, dst, dst_row, 0, along_steps, across_lines, across_n, E);
    if (along_steps < along_n) tile_blocks(src, src_row, dst, dst_row, along_steps, along_n, 0, across_n, E);
}

// 1 and 2 bytes with the AVX2 steps only. While a palignr switch joined the lines, 1-, 2- and
// 16-byte tiles measured slower skewed than by the row walk's ordinary stores (2 threads, three
// alternating rounds: u1 7263x7265 10.1 -> 7.7 GB/s, u2 10.8 -> 9.5, c16 4097x4099 16.5 -> 9.8; f4
// 7263x7265 13.8 -> 17.1, f8 10.0 -> 14.9); with the unaligned loads of stream_step_skewed (and the
// AVX2 steps) they gain (C harness, 2 threads, one process, six alternating rounds, medians: u1
// 4097x4099 3.95 -> 4.8 GB/s, 7263x7265 4.85 -> 5.05, 2049x4097 3.2 -> 4.55; u2 6.35 -> 6.45, 6.3
// -> 7.0, 4.2 -> 5.6; c16 1025x1027 15.6 -> 22.2, 1815x1817 14.0 -> 21.0, 2049x2051 14.5 -> 20.0).
// The skewed walk with the step staged_row_bytes gives (four lines a row for 1-byte tiles with rows
// enough along, and for 2-, 4- and 8-byte ones with source rows near whole pages; else two), each
// size compiled on its own.
static inline __attribute__((always_inline)) void skewed_sized(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across,
                                                               ptrdiff_t along_n, ptrdiff_t across_n, const int E, step_function *step,
                                                               const int stream, int before, int after) {
    if (staged_row_bytes(E, along_n, src_along * E) == FOUR_LINE_STAGED_ROW_BYTES)
        staged_walk_skewed(src, src_along, dst, dst_across, along_n, across_n, E, FOUR_LINE_STAGED_ROW_BYTES, step, stream, before, after);
    else
        staged_walk_skewed(src, src_along, dst, dst_across, along_n, across_n, E, STAGED_ROW_BYTES, step, stream, before, after);
}

// Streamed tiles write the lines their rows share with the tiles beside them as the planner
// says (`lines`: RL_TRANSPOSE_LINES_BEFORE / _AFTER): the line shared with the tile before whole,
// its elements before the tile read from the source rows before it, and of the line shared with the
// tile after nothing. Without them, a row's first and last partial lines take ordinary stores of the
// tile's bytes: a read of each such line from memory first, two in every 32 lines of a 512-row tile
// of 4-byte elements. Bound, timing-only (those lines streamed with wrong bytes), AMD EPYC Zen 3, 2
// threads, Benchmarks/ab-tiles.c: f4 4097x4099 1.11x, 7263x7265 1.21x, 4097x4096 1.18x; f8
// 4097x4099 1.10x, 7263x7265 1.17x.
static int staged_skewed(const char *src, ptrdiff_t src_along, char *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                         ptrdiff_t E, int streamed, int lines) {
    if (((uintptr_t)dst & (uintptr_t)(E - 1)) != 0) return 0;
    if (E <= 2 && !rl_avx2_narrow_kernels()) return 0;
    if (!streamed) {
        skewed_sized(src, src_along, dst, dst_across, along_n, across_n, 1, step_u1_avx2, 0, 0, 0);
        return 1;
    }
    const int before = (lines & RL_TRANSPOSE_LINES_BEFORE) != 0, after = (lines & RL_TRANSPOSE_LINES_AFTER) != 0;
    switch (E) {
    case 1: skewed_sized(src, src_along, dst, dst_across, along_n, across_n, 1, step_u1_avx2, 1, before, after); break;
    case 2: skewed_sized(src, src_along, dst, dst_across, along_n, across_n, 2, step_u2_avx2, 1, before, after); break;
    case 4: skewed_sized(src, src_along, dst, dst_across, along_n, across_n, 4, narrow_step(4), 1, before, after); break;
    case 8: skewed_sized(src, src_along, dst, dst_across, along_n, across_n, 8, 0, 1, before, after); break;
    default: skewed_sized(src, src_along, dst, dst_across, along_n, across_n, 16, 0, 1, before, after); break;
    }
    return 1;
}
#endif

static int staged_applies(ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t E) {
    return E >= 1 && E <= 16 && (E & (E - 1)) == 0 && along_n >= STAGED_ROW_BYTES / E && across_n >= 64 / E;
}

int rl_staged_skewed_reads_in_place(ptrdiff_t src_along, ptrdiff_t element_size) {
#if defined(__x86_64__)
    return element_size <= 2 && reads_in_place(element_size, src_along * element_size) && rl_avx2_narrow_kernels();
#else
    (void)src_along;
    (void)element_size;
    return 0;
#endif
}

int rl_staged_skewed_line_sides(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                                ptrdiff_t element_size) {
    const ptrdiff_t E = element_size;
    if (!staged_applies(along_n, across_n, E) || ((((uintptr_t)dst) | (uintptr_t)(dst_across * E)) & 63) == 0) return 0;
#if defined(__x86_64__)
    // staged_skewed's own conditions, and the rows of its steps.
    if (((uintptr_t)dst & (uintptr_t)(E - 1)) != 0 || (E <= 2 && !rl_avx2_narrow_kernels())) return 0;
    const ptrdiff_t H = staged_row_bytes(E, along_n, src_along * E) / E;
    return RL_TRANSPOSE_LINES_BEFORE | (along_n % H == 0 ? RL_TRANSPOSE_LINES_AFTER : 0);
#else
    return 0;
#endif
}

int rl_transpose_tile_staged(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int stream, int lines) {
    if (!staged_applies(along_n, across_n, element_size) || (!stream && element_size != 1)) return 0;
    if (((((uintptr_t)dst) | (uintptr_t)(dst_across * element_size)) & 63) != 0) {
#if defined(__x86_64__)
        return staged_skewed((const char *)src, src_along, (char *)dst, dst_across, along_n, across_n, element_size, stream, lines);
#else
        return 0;
#endif
    }
    staged(0, (const char *)src, src_along, 0, (char *)dst, dst_across, along_n, across_n, element_size, stream);
    return 1;
}

int rl_transpose_rows_staged(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size) {
    if (!staged_applies(along_n, across_n, element_size)) return 0;
    for (ptrdiff_t b = 0; b < across_n; b++)
        if (((uintptr_t)drows[b] & 63) != 0) return 0;
    staged(srows, 0, 0, drows, 0, 0, along_n, across_n, element_size, 1);
    return 1;
}
#else
void rl_set_avx2_allowed(int allowed) { (void)allowed; }

int rl_staged_skewed_reads_in_place(ptrdiff_t src_along, ptrdiff_t element_size) {
    (void)src_along; (void)element_size;
    return 0;
}

int rl_staged_skewed_line_sides(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                                ptrdiff_t element_size) {
    (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size;
    return 0;
}

int rl_transpose_tile_staged(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int stream, int lines) {
    (void)stream; (void)lines;
    (void)src; (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size;
    return 0;
}

int rl_transpose_rows_staged(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size) {
    (void)srows; (void)drows; (void)along_n; (void)across_n; (void)element_size;
    return 0;
}
#endif
