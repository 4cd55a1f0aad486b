// The wide walk for 1- and 2-byte elements (AVX-512BW, and VBMI for rows that start inside lines;
// elsewhere the 16-byte kernels).
//
// A destination line of E-byte elements takes one element from each of L = 64 / E source rows. L
// source rows by up to 128 bytes are first copied into a contiguous L1 stage: rows of a
// power-of-two stride share one L1 set, and each 16-byte piece of a source line is used at a
// different time, so reading them where they lie would fetch the lines again and again. The next
// step's source lines are fetched into L2 meanwhile. The stage holds, per 16-byte piece of the
// columns, N = 16 / E registers: register k has the piece of rows k, N + k, 2N + k and 3N + k in
// its four 128-bit lanes (a 4 x 4 transpose of lanes as the rows are staged); the in-lane N x N
// interleave then leaves in register i the whole line of destination row i (lane g: source rows
// gN..gN+N-1), one non-temporal store each (ordinary ones for aligned tiles under the streaming
// threshold). Rows that start inside a line join each line from the
// row's previous register and its current one with one byte permute (vpermt2b).
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"
#include "WideBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

// Only the skewed rows' byte permute (permute_bytes2) needs VBMI, checked at run time: the aligned
// walk also runs on CPUs without it.
#define NARROW_TARGET __attribute__((target("avx512f,avx512vl,avx512bw")))

// v[i] = the line of destination row i from one 16-byte piece of L source rows, staged as N
// registers (`slots`, 64 bytes apart) whose lane g holds the piece of source row gN + k (register
// k): the in-lane N x N interleave leaves in register i the whole line of destination row i.
// Every loop over registers is unrolled in full: left rolled, clang kept the registers in stack
// arrays and copied them with memcpy calls each round (u1 4096² 22 GB/s against 23.5-27).
NARROW_TARGET static inline __attribute__((always_inline)) void lines_from_slots(const char *slots, __m512i *v, const int E) {
    const int N = 16 / E;
    __m512i w[16];
#pragma clang loop unroll(full)
    for (int k = 0; k < N; k++) v[k] = _mm512_load_si512((const void *)(slots + k * 64));
#pragma clang loop unroll(full)
    for (int round = 1; round < N; round *= 2) {
#pragma clang loop unroll(full)
        for (int i = 0; i < N / 2; i++) {
            w[2 * i] = E == 1 ? _mm512_unpacklo_epi8(v[i], v[i + N / 2]) : _mm512_unpacklo_epi16(v[i], v[i + N / 2]);
            w[2 * i + 1] = E == 1 ? _mm512_unpackhi_epi8(v[i], v[i + N / 2]) : _mm512_unpackhi_epi16(v[i], v[i + N / 2]);
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < N; i++) v[i] = w[i];
    }
}

// One band of L source rows by one line of their columns (from byte `offset`; the first bytes of
// `mask` where `whole` is not set) into the stage: for each k < N, four registers whose lane g
// holds 16-byte piece j of row gN + k, at slot + (j * N + k) * 64. The choice between whole and
// masked loads is made once per band, not per load (the loop kept a test and a branch per load).
NARROW_TARGET static inline __attribute__((always_inline)) void stage_lines(const char *const *srows, const char *src, ptrdiff_t src_row,
                                                                           ptrdiff_t a, ptrdiff_t offset, __mmask64 mask, char *slot,
                                                                           const int E, const int whole) {
    const int N = 16 / E;
#pragma clang loop unroll_count(2)
    for (int k = 0; k < N; k++) {
        __m512i x[4];
#pragma clang loop unroll(full)
        for (int g = 0; g < 4; g++) {
            const char *row = source_row_at(srows, src, src_row, a + g * N + k) + offset;
            x[g] = whole ? _mm512_loadu_si512((const void *)row) : _mm512_maskz_loadu_epi8(mask, (const void *)row);
        }
        // By 128-bit lanes: afterwards lane g of x[j] is lane j of the g-th register before.
        transpose4x4(x);
#pragma clang loop unroll(full)
        for (int j = 0; j < 4; j++) _mm512_store_si512((void *)(slot + (j * N + k) * 64), x[j]);
    }
}

// How many bytes of each source row's columns a step takes from column c: 128, or what is left
// (a multiple of 16 bytes).
static inline ptrdiff_t column_step(ptrdiff_t columns, ptrdiff_t c) { return columns - c >= 128 ? 128 : columns - c; }

// One band of L source rows from row a by `width` bytes of their columns from byte `col` into the
// stage's band (see narrow_walk): whole lines, and masked loads for the last 16 to 48 bytes of a
// width that is not whole lines, which read nothing past the tile.
NARROW_TARGET static inline __attribute__((always_inline)) void stage_band(const char *const *srows, const char *src, ptrdiff_t src_row,
                                                                          ptrdiff_t a, ptrdiff_t col, ptrdiff_t width, char *band, const int E) {
    const int N = 16 / E;
    for (ptrdiff_t ch = 0; ch < width; ch += 64) {
        const ptrdiff_t left = width - ch;
        if (left >= 64) stage_lines(srows, src, src_row, a, col + ch, ~(__mmask64)0, band + (ch / 16) * N * 64, E, 1);
        else stage_lines(srows, src, src_row, a, col + ch, ((__mmask64)1 << left) - 1, band + (ch / 16) * N * 64, E, 0);
    }
}

// The byte permute that joins a row's previous register with its next one into the aligned line
// of a row that starts `skew` bytes into its line: the previous register's last `skew` bytes, then
// the next one's first 64 - skew (permute_bytes2(previous, index, next)).
NARROW_TARGET static inline __attribute__((always_inline)) __m512i join_index(__m512i iota, int skew) {
    return _mm512_add_epi8(iota, _mm512_set1_epi8((char)(64 - skew)));
}

// The destination lines of one step, from the stage: for each 16-byte piece of the columns, N
// destination rows get their line (two with `pair`), and the next step's source lines are fetched a
// slice of rows per piece, between the transposes, so that the work overlaps the waits for fill
// buffers. `leading`: the step's lines are the rows' first, shared with what lies before the tile
// (a constant where the caller can make it one).
NARROW_TARGET static inline __attribute__((always_inline)) void step_lines(const char *const *srows, const char *src, ptrdiff_t src_row, ptrdiff_t col,
                                                                          char *const *drows, char *dst, ptrdiff_t dst_row, const char *stage,
                                                                          __m512i *prev, __m512i iota, ptrdiff_t a, ptrdiff_t c, ptrdiff_t width,
                                                                          ptrdiff_t next_a, ptrdiff_t next_c, ptrdiff_t next_width, int next_height,
                                                                          const int E, const int skewed, const int pair, const int leading,
                                                                          const int stream) {
    const int N = 16 / E;
    const int fetch_rows = (int)((next_height + width / 16 - 1) / (width / 16));
    for (ptrdiff_t q = 0; q < width; q += 16) {
        __m512i v[16], lead[16];
        const int r0 = (int)(q / 16) * fetch_rows, r1 = r0 + fetch_rows < next_height ? r0 + fetch_rows : next_height;
        for (int r = r0; r < r1; r++) {
            const char *row = source_row_at(srows, src, src_row, next_a + r) + col + next_c;
            for (ptrdiff_t k = 0; k < next_width; k += 64) _mm_prefetch(row + k, _MM_HINT_T1);
            // The line of the last byte, where the row's bytes end past the lines above.
            if ((((uintptr_t)row & 63) + ((next_width - 1) & 63)) >= 64) _mm_prefetch(row + next_width - 1, _MM_HINT_T1);
        }
        lines_from_slots(stage + (q / 16) * N * 64, v, E);
        if (pair) {
#pragma clang loop unroll(full)
            for (int i = 0; i < N; i++) lead[i] = v[i];
            lines_from_slots(stage + (8 + q / 16) * N * 64, v, E);
        }
        const ptrdiff_t b0 = (c + q) / E;
#pragma clang loop unroll(full)
        for (int i = 0; i < N; i++) {
            const __m512i first = pair ? lead[i] : v[i];
            if (!skewed) {
                char *line = destination_row_at(drows, dst, dst_row, b0 + i) + a * E;
                put_line(line, first, stream);
                if (pair) put_line(line + 64, v[i], stream);
                continue;
            }
            const int skew = (int)((uintptr_t)drows[b0 + i] & 63);
            const __m512i index = join_index(iota, skew);
            char *line = drows[b0 + i] + a * E - skew;
            if (leading) _mm512_mask_storeu_epi8(line, ~(__mmask64)0 << skew, permute_bytes2(first, index, first));
            else _mm512_stream_si512((void *)line, permute_bytes2(prev[b0 + i], index, first));
            if (pair) _mm512_stream_si512((void *)(line + 64), permute_bytes2(first, index, v[i]));
            prev[b0 + i] = v[i];
        }
    }
}

// The L source rows from row `a` that lie beside a skewed tile (srows[a..a + L - 1]), transposed
// by the walk's stage band by band: before the tile (`last` 0) they set each destination row's
// previous register; after it (`last` 1) they complete each row's last line, streamed whole (none
// where the row ends on a line boundary).
NARROW_TARGET static inline __attribute__((always_inline)) void neighbour_band(const char *const *srows, ptrdiff_t col, ptrdiff_t a,
                                                                              ptrdiff_t columns, char *const *drows, char *stage,
                                                                              __m512i *prev, __m512i iota, const int E, const int last) {
    const int N = 16 / E;
    for (ptrdiff_t c = 0; c < columns; c += 128) {
        const ptrdiff_t width = column_step(columns, c);
        stage_band(srows, 0, 0, a, col + c, width, stage, E);
        for (ptrdiff_t q = 0; q < width; q += 16) {
            __m512i v[16];
            lines_from_slots(stage + (q / 16) * N * 64, v, E);
#pragma clang loop unroll(full)
            for (int i = 0; i < N; i++) {
                const ptrdiff_t b = (c + q) / E + i;
                if (!last) {
                    prev[b] = v[i];
                    continue;
                }
                const int skew = (int)((uintptr_t)drows[b] & 63);
                if (skew != 0) _mm512_stream_si512((void *)(drows[b] + a * E - skew), permute_bytes2(prev[b], join_index(iota, skew), v[i]));
            }
        }
    }
}

// The walk over source rows [0, along_n) (a multiple of L) and destination rows [0, across_n) (a
// multiple of N = 16 / E), in steps of L source rows by 128 bytes of their columns from `col` (the
// last step what is left, a multiple of 16 bytes). Aligned: destination row b at dst + b * dst_row,
// 64-byte aligned. Skewed: at drows[b], anywhere; prev holds each row's previous register, and the
// first and last line of each row, which are shared with what lies beside the tile, take masked
// ordinary stores, unless `before` / `after` say that L more source rows lie there (srows[-L..-1],
// srows[along_n..along_n + L - 1]): then those lines go out whole, streamed, their other elements
// taken from those rows, as the neighbouring tiles write them (see RL_TRANSPOSE_ROWS_BEFORE). A
// masked store reads the line from memory first: u2 and u1 4097x4099 with both lines streamed
// whole whatever they held (a timing-only bound) 1.10-1.19x; with the neighbours' rows read, u2
// 4097x4099 1.065-1.08x, u1 1.03-1.10x, u2 and u1 7263x7265 1.10x (2 threads, one process,
// Benchmarks/ab-tiles.c, 15 repetitions each).
NARROW_TARGET static inline __attribute__((always_inline)) void narrow_walk(const char *const *srows, const char *src, ptrdiff_t src_row, ptrdiff_t col,
                                                                           char *const *drows, char *dst, ptrdiff_t dst_row,
                                                                           ptrdiff_t along_n, ptrdiff_t across_n, __m512i *prev, const int E,
                                                                           const int skewed, const int stream, const int before, const int after) {
    const int L = 64 / E, N = 16 / E;
    const ptrdiff_t columns = across_n * E;
    _Alignas(64) char stage[2 * 8 * 16 * 64]; // bands x 16-byte pieces x registers (N <= 16) x 64 bytes
    __m512i iota = _mm512_setzero_si512();
    if (skewed) {
        _Alignas(64) unsigned char bytes[64];
        for (int k = 0; k < 64; k++) bytes[k] = (unsigned char)k;
        iota = _mm512_load_si512((const void *)bytes);
    }
    // Each row's previous register from the L rows before the tile.
    if (skewed && before) neighbour_band(srows, col, -L, columns, drows, stage, prev, iota, E, 0);
    // Bands of 2L source rows where there are that many: each destination row gets two lines per
    // step, back to back, as in the wider elements' walk (Wide.c, wide_walk).
    for (ptrdiff_t a = 0; a < along_n;) {
        const int pair = a + 2 * L <= along_n, height = pair ? 2 * L : L;
        for (ptrdiff_t c = 0; c < columns; c += 128) {
            const ptrdiff_t width = column_step(columns, c);
            // The stage: for each band of L rows (h), 16-byte piece (p) and k < N, the register whose
            // lane g is piece p of row gN + k, made from whole-line loads of those four rows by a
            // 4 x 4 transpose of lanes and stored whole. Rows staged as they lie and gathered into
            // registers later took a load and three inserts per register: more instructions
            // between the walk's memory accesses (one thread, alternating rounds: u1 TTC 1.03x,
            // u2 7264² 1.2x). The last columns of a tile whose width is not whole lines (16 to 112
            // bytes) take masked loads, which read nothing past the tile.
            for (int h = 0; h < height / L; h++) stage_band(srows, src, src_row, a + h * L, col + c, width, stage + h * 8 * N * 64, E);
            ptrdiff_t next_a = a, next_c = c + width, next_width = 0;
            int next_height = 0;
            if (next_c >= columns) { next_a += height; next_c = 0; }
            if (next_a < along_n) {
                next_width = column_step(columns, next_c);
                next_height = next_a + 2 * L <= along_n ? 2 * L : L;
            }
            // The first band (its lines shared with what lies before the tile) gets its own copy of
            // the loop, so that the common one tests nothing per row. Single bands (the last of a
            // tile with an odd number of them) are rare and keep the test: the skewed walk's callers
            // start every tile with a pair (rl_transpose_rows_streamed takes 2L rows or more).
            const int leading = skewed && a == 0 && !before;
            if (pair && !leading)
                step_lines(srows, src, src_row, col, drows, dst, dst_row, stage, prev, iota, a, c, width, next_a, next_c, next_width, next_height, E, skewed, 1, 0, stream);
            else if (pair)
                step_lines(srows, src, src_row, col, drows, dst, dst_row, stage, prev, iota, a, c, width, next_a, next_c, next_width, next_height, E, skewed, 1, 1, stream);
            else
                step_lines(srows, src, src_row, col, drows, dst, dst_row, stage, prev, iota, a, c, width, next_a, next_c, next_width, next_height, E, skewed, 0, leading, stream);
        }
        a += height;
    }
    if (!skewed) return;
    if (after) {
        // Each row's last line, completed from the next L source rows.
        neighbour_band(srows, col, along_n, columns, drows, stage, prev, iota, E, 1);
        return;
    }
    // The last register's elements past each row's last whole line.
    for (ptrdiff_t b = 0; b < across_n; b++) {
        const int skew = (int)((uintptr_t)drows[b] & 63);
        const __m512i index = join_index(iota, skew);
        _mm512_mask_storeu_epi8(drows[b] + along_n * E - skew, ((__mmask64)1 << skew) - 1, permute_bytes2(prev[b], index, prev[b]));
    }
}

NARROW_TARGET static void aligned1(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b) { narrow_walk(0, s, sr, 0, 0, d, dr, a, b, 0, 1, 0, 1, 0, 0); }
NARROW_TARGET static void aligned2(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b) { narrow_walk(0, s, sr, 0, 0, d, dr, a, b, 0, 2, 0, 1, 0, 0); }
// The same with ordinary stores (tiles under the streaming threshold).
NARROW_TARGET static void aligned1_stored(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b) { narrow_walk(0, s, sr, 0, 0, d, dr, a, b, 0, 1, 0, 0, 0, 0); }
NARROW_TARGET static void aligned2_stored(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b) { narrow_walk(0, s, sr, 0, 0, d, dr, a, b, 0, 2, 0, 0, 0, 0); }

NARROW_TARGET static void aligned_rows(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t E) {
    // Tables given: the walk's per-row tests for them fold away.
    if (!srows || !drows) return;
    if (E == 1) narrow_walk(srows, 0, 0, 0, drows, 0, 0, along_n, across_n, 0, 1, 0, 1, 0, 0);
    else narrow_walk(srows, 0, 0, 0, drows, 0, 0, along_n, across_n, 0, 2, 0, 1, 0, 0);
}

enum { NARROW_GROUP_ROWS = 512 };

NARROW_TARGET static void skewed_rows(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t E,
                                     int before, int after) {
    // Destination rows in groups, each walked over every source row, so that the previous
    // registers of a group stay within 32 KiB.
    __m512i prev[NARROW_GROUP_ROWS];
    if (!srows || !drows) return;
    for (ptrdiff_t g = 0; g < across_n; g += NARROW_GROUP_ROWS) {
        const ptrdiff_t rows = across_n - g < NARROW_GROUP_ROWS ? across_n - g : NARROW_GROUP_ROWS;
        if (E == 1) narrow_walk(srows, 0, 0, g, drows + g, 0, 0, along_n, rows, prev, 1, 1, 1, before, after);
        else narrow_walk(srows, 0, 0, g * 2, drows + g, 0, 0, along_n, rows, prev, 2, 1, 1, before, after);
    }
}

int rl_wide_narrow_tile(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row, ptrdiff_t along_n, ptrdiff_t across_n,
                        ptrdiff_t element_size, int streaming) {
    if (element_size > 2 || (across_n * element_size) % 16 != 0 || !rl_avx512_transposes() || ((((uintptr_t)dst) | (uintptr_t)dst_row) & 63) != 0)
        return 0;
    if (element_size == 1) (streaming ? aligned1 : aligned1_stored)(src, src_row, dst, dst_row, along_n, across_n);
    else (streaming ? aligned2 : aligned2_stored)(src, src_row, dst, dst_row, along_n, across_n);
    return 1;
}

int rl_wide_narrow_rows_aligned(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size) {
    const ptrdiff_t L = element_size <= 2 ? 64 / element_size : 1, N = element_size <= 2 ? 16 / element_size : 1;
    if (element_size > 2 || along_n % L != 0 || across_n % N != 0 || along_n == 0 || across_n == 0 || !rl_avx512_transposes()) return 0;
    for (ptrdiff_t b = 0; b < across_n; b++)
        if (((uintptr_t)drows[b] & 63) != 0) return 0;
    aligned_rows(srows, drows, along_n, across_n, element_size);
    return 1;
}

int rl_avx512_walks(void) { return rl_avx512_transposes(); }

int rl_narrow_rows_inside_lines_walk(void) { return rl_avx512_transposes() && rl_has_avx512_vbmi(); }

int rl_wide_narrow_rows(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size,
                        int before, int after) {
    if (element_size > 2 || !rl_narrow_rows_inside_lines_walk()) return 0;
    skewed_rows(srows, drows, along_n, across_n, element_size, before, after);
    return 1;
}
#else
int rl_avx512_walks(void) { return 0; }

int rl_narrow_rows_inside_lines_walk(void) { return 0; }

int rl_wide_narrow_tile(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row, ptrdiff_t along_n, ptrdiff_t across_n,
                        ptrdiff_t element_size, int streaming) {
    (void)src; (void)src_row; (void)dst; (void)dst_row; (void)along_n; (void)across_n; (void)element_size; (void)streaming;
    return 0;
}

int rl_wide_narrow_rows_aligned(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size) {
    (void)srows; (void)drows; (void)along_n; (void)across_n; (void)element_size;
    return 0;
}

int rl_wide_narrow_rows(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size,
                        int before, int after) {
    (void)srows; (void)drows; (void)along_n; (void)across_n; (void)element_size; (void)before; (void)after;
    return 0;
}
#endif
