// AVX-512 transposes that write whole destination lines with non-temporal stores into rows that
// start inside cache lines (aligned rows walked by source rows are Wide.c's). In a skewed strip of
// 4-byte elements, 16 x 16 blocks are transposed in AVX-512 registers; each destination row then
// takes its aligned line from the previous and the current block with one two-table permute,
// shifted by how far that row starts into its line.
// Ordinary stores there would read every destination line in before writing it (1.5x the traffic
// of a copy).
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"
#include "WideBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>


// The source rows 64 ahead of a (on into the next strip's column near the end), into L2: the
// hardware prefetchers do not follow a walk down a column.
static inline __attribute__((always_inline)) void prefetch_ahead(const char *const *srows, ptrdiff_t col, ptrdiff_t a, ptrdiff_t along_n,
                                                                 int next_strip, int rows) {
    const ptrdiff_t ahead = a + 64;
    if (ahead < along_n) {
        for (int k = 0; k < rows; k++) _mm_prefetch(srows[ahead + k] + col + 63, _MM_HINT_T1);
    } else if (next_strip && ahead - along_n < along_n) {
        for (int k = 0; k < rows; k++) _mm_prefetch(srows[ahead - along_n + k] + col + 64 + 63, _MM_HINT_T1);
    }
}

// Table rows a..a+L-1 from byte column col, transposed: r[i] = 64 bytes of the block's row i.
SKEW_TARGET static inline __attribute__((always_inline)) void table_block(const char *const *srows, ptrdiff_t a, ptrdiff_t col, __m512i *r,
                                                                         const int E) {
    for (int i = 0; i < 64 / E; i++) r[i] = _mm512_loadu_si512((const void *)(srows[a + i] + col));
    transpose_block(r, E);
}

// Source rows a..a+L-1 of the strip (srows[i] + col), transposed: cur[r] = 64 bytes of destination
// row r.
SKEW_TARGET static inline __attribute__((always_inline)) void wide_block(const char *const *srows, ptrdiff_t col, ptrdiff_t a, ptrdiff_t along_n,
                                                                        int next_strip, __m512i *cur, const int E) {
    const int L = 64 / E;
    prefetch_ahead(srows, col, a, along_n, next_strip, L);
    table_block(srows, a, col, cur, E);
}

// One strip of E-byte elements: the L = 64 / E destination rows from dst over a in [0, along_n),
// along_n a multiple of L. Lines are handled in lanes of 4 bytes (E = 4) or 8 bytes (E = 8, 16): a
// row that starts s lanes into its line takes lanes W - s.. of the previous block and ..W - s of
// the current one.
SKEW_TARGET static inline __attribute__((always_inline)) void strip(const char *const *srows, ptrdiff_t col, char *const *drows,
                                                                   ptrdiff_t along_n, int next_strip, const int E) {
    const int L = 64 / E, lane = E == 4 ? 4 : 8, W = 64 / lane;
    const unsigned full = (1u << W) - 1;
    __m512i shift[16];
    int skew[16];
    for (int r = 0; r < L; r++) {
        skew[r] = (int)(((uintptr_t)drows[r] & 63) / lane);
        shift[r] = lane == 4 ? _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(16 - skew[r]))
                             : _mm512_add_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi64(8 - skew[r]));
    }
    __m512i prev[16], cur[16];
    wide_block(srows, col, 0, along_n, next_strip, cur, E);
    for (int r = 0; r < L; r++) {
        // The row's first line is shared with the tile before (or lies before the tensor).
        char *line = drows[r] - skew[r] * lane;
        if (lane == 4) _mm512_mask_storeu_epi32(line, (__mmask16)((full << skew[r]) & full), _mm512_permutex2var_epi32(cur[r], shift[r], cur[r]));
        else _mm512_mask_storeu_epi64(line, (__mmask8)((full << skew[r]) & full), _mm512_permutex2var_epi64(cur[r], shift[r], cur[r]));
        prev[r] = cur[r];
    }
    for (ptrdiff_t a = L; a < along_n; a += L) {
        wide_block(srows, col, a, along_n, next_strip, cur, E);
        for (int r = 0; r < L; r++) {
            char *line = drows[r] + a * E - skew[r] * lane;
            _mm512_stream_si512((void *)line, lane == 4 ? _mm512_permutex2var_epi32(prev[r], shift[r], cur[r])
                                                        : _mm512_permutex2var_epi64(prev[r], shift[r], cur[r]));
            prev[r] = cur[r];
        }
    }
    // The last block's elements past the last whole line.
    for (int r = 0; r < L; r++) {
        char *line = drows[r] + along_n * E - skew[r] * lane;
        if (lane == 4) _mm512_mask_storeu_epi32(line, (__mmask16)((1u << skew[r]) - 1), _mm512_permutex2var_epi32(prev[r], shift[r], prev[r]));
        else _mm512_mask_storeu_epi64(line, (__mmask8)((1u << skew[r]) - 1), _mm512_permutex2var_epi64(prev[r], shift[r], prev[r]));
    }
}

// N = 16 / E source rows of 64 bytes: four N x N blocks side by side, one per 128-bit lane, all
// transposed at once by the same interleaving network as the 16-byte kernels (the unpack
// instructions work within lanes). Row k of lane q's block is destination row N * q + k; each goes
// to its slot row as 16 bytes.
SKEW_TARGET_NARROW static inline __attribute__((always_inline)) void four_blocks(const char *const *srows, ptrdiff_t col, char *slot, const int E) {
    const int N = 16 / E;
    __m512i v[16], w[16];
    for (int i = 0; i < N; i++) v[i] = _mm512_loadu_si512((const void *)(srows[i] + col));
    for (int stage = 1; stage < N; stage *= 2) {
        for (int i = 0; i < N / 2; i++) {
            w[2 * i] = E == 1 ? _mm512_unpacklo_epi8(v[i], v[i + N / 2]) : _mm512_unpacklo_epi16(v[i], v[i + N / 2]);
            w[2 * i + 1] = E == 1 ? _mm512_unpackhi_epi8(v[i], v[i + N / 2]) : _mm512_unpackhi_epi16(v[i], v[i + N / 2]);
        }
        for (int i = 0; i < N; i++) v[i] = w[i];
    }
    for (int k = 0; k < N; k++) {
        _mm_store_si128((__m128i *)(slot + k * 64), _mm512_castsi512_si128(v[k]));
        _mm_store_si128((__m128i *)(slot + (N + k) * 64), _mm512_extracti32x4_epi32(v[k], 1));
        _mm_store_si128((__m128i *)(slot + (2 * N + k) * 64), _mm512_extracti32x4_epi32(v[k], 2));
        _mm_store_si128((__m128i *)(slot + (3 * N + k) * 64), _mm512_extracti32x4_epi32(v[k], 3));
    }
}

// One strip of 1- or 2-byte elements: L = 64 / E destination rows (32 or 64) over a in
// [0, along_n), along_n a multiple of L. Too many rows for registers: each L x L block is transposed,
// four 16-byte blocks at a time, into one of three L1 slots, and each row's line is joined from two
// slots with a byte permute (vpermt2b) one block later, when the slot's stores have reached L1
// (loading them at once would wait on store forwarding, which fails for a 64-byte load of 16-byte
// stores).
SKEW_TARGET_NARROW static inline __attribute__((always_inline)) void narrow_strip(const char *const *srows, ptrdiff_t col, char *const *drows,
                                                                                 ptrdiff_t along_n, int next_strip, const int E) {
    const int L = 64 / E, N = 16 / E;
    _Alignas(64) char slots[3][64 * 64];
    _Alignas(64) unsigned char shifts[64][64];
    int skew[64];
    for (int r = 0; r < L; r++) {
        skew[r] = (int)((uintptr_t)drows[r] & 63);
        for (int k = 0; k < 64; k++) shifts[r][k] = (unsigned char)(64 - skew[r] + k);
    }
    ptrdiff_t steps = along_n / L;
    for (ptrdiff_t j = 0; j <= steps; j++) {
        if (j < steps) {
            const ptrdiff_t a = j * L;
            prefetch_ahead(srows, col, a, along_n, next_strip, L);
            char *slot = slots[j % 3];
            for (int ab = 0; ab < L; ab += N) four_blocks(srows + a + ab, col, slot + ab * E, E);
        }
        if (j == 0) continue;
        // Lines of block j - 1.
        const char *cur = slots[(j - 1) % 3], *prev = slots[(j + 1) % 3];
        for (int r = 0; r < L; r++) {
            const __m512i c = _mm512_load_si512((const void *)(cur + r * 64));
            const __m512i index = _mm512_load_si512((const void *)shifts[r]);
            char *line = drows[r] + (j - 1) * 64 - skew[r];
            if (j == 1) {
                // The row's first line is shared with the tile before (or lies before the tensor).
                _mm512_mask_storeu_epi8(line, ~(__mmask64)0 << skew[r], _mm512_permutex2var_epi8(c, index, c));
            } else {
                const __m512i p = _mm512_load_si512((const void *)(prev + r * 64));
                _mm512_stream_si512((void *)line, _mm512_permutex2var_epi8(p, index, c));
            }
        }
    }
    // The last block's bytes past the last whole line.
    const char *last = slots[(steps - 1) % 3];
    for (int r = 0; r < L; r++) {
        const __m512i c = _mm512_load_si512((const void *)(last + r * 64));
        const __m512i index = _mm512_load_si512((const void *)shifts[r]);
        _mm512_mask_storeu_epi8(drows[r] + along_n * E - skew[r], ((__mmask64)1 << skew[r]) - 1, _mm512_permutex2var_epi8(c, index, c));
    }
}

// The strips compiled for each element size: the 1- and 2-byte ones need AVX-512 VBMI as well.
typedef void strip_function(const char *const *srows, ptrdiff_t col, char *const *drows, ptrdiff_t along_n, int next_strip);
SKEW_TARGET_NARROW static void strip1(const char *const *s, ptrdiff_t c, char *const *d, ptrdiff_t n, int next) { narrow_strip(s, c, d, n, next, 1); }
SKEW_TARGET_NARROW static void strip2(const char *const *s, ptrdiff_t c, char *const *d, ptrdiff_t n, int next) { narrow_strip(s, c, d, n, next, 2); }
SKEW_TARGET static void strip4(const char *const *s, ptrdiff_t c, char *const *d, ptrdiff_t n, int next) { strip(s, c, d, n, next, 4); }
SKEW_TARGET static void strip8(const char *const *s, ptrdiff_t c, char *const *d, ptrdiff_t n, int next) { strip(s, c, d, n, next, 8); }
SKEW_TARGET static void strip16(const char *const *s, ptrdiff_t c, char *const *d, ptrdiff_t n, int next) { strip(s, c, d, n, next, 16); }

static strip_function *strip_for(ptrdiff_t element_size) {
    if (!rl_avx512_transposes()) return 0;
    switch (element_size) {
    case 1: return rl_has_avx512_vbmi() ? strip1 : 0;
    case 2: return rl_has_avx512_vbmi() ? strip2 : 0;
    case 4: return strip4;
    case 8: return strip8;
    case 16: return strip16;
    default: return 0;
    }
}

// The index that joins a row's aligned line from two registers of its elements, lanes of 4 or 8
// bytes: lanes W - skew.. of the first, then ..W - skew of the second (`iota` = 0, 1, ..., W - 1).
SKEW_TARGET static inline __attribute__((always_inline)) __m512i join_index(__m512i iota, int skew, const int lane) {
    const int W = 64 / lane;
    return lane == 4 ? _mm512_add_epi32(iota, _mm512_set1_epi32(W - skew)) : _mm512_add_epi64(iota, _mm512_set1_epi64(W - skew));
}

SKEW_TARGET static inline __attribute__((always_inline)) __m512i join(__m512i first, __m512i index, __m512i second, const int lane) {
    return lane == 4 ? _mm512_permutex2var_epi32(first, index, second) : _mm512_permutex2var_epi64(first, index, second);
}

// The skewed rows walked by source rows, as the wide walk: each L x L block is joined with the
// block before it in the same destination rows (kept in `prev`, 64 bytes per row) into whole
// aligned lines. The line each row shares with what lies before the tile, and the one it shares
// with what lies after it, take masked ordinary stores, unless `before` / `after` say that L more
// source rows lie there (srows[-L..-1], srows[along_n..along_n + L - 1]): then those lines go out
// whole, streamed, their other elements taken from those rows (see RL_TRANSPOSE_ROWS_BEFORE).
//
// With `fetch` (RL_TRANSPOSE_FETCH_AHEAD: the source comes from memory), each step fetches its
// rows' lines FETCH_STEPS steps ahead into L1, and a band's last steps the next band's first. A
// load 4 or 8 bytes into a line leaves the hardware prefetchers a line behind: what they fetch next
// is the line the load already reaches into. 2 threads, alternating: f4 7263x7265 36.7 -> 41.3
// GB/s (8 rounds), c16 5001x3001 41.6 -> 48.3 (5); the next band's lines too, 5 rounds: f4
// 7263x7265 42.4 -> 46.4, 9001x6007 41.2 -> 46.6; aligned source rows into skewed ones (f4
// 7265x7264) 1.05x; 2 to 6 steps ahead alike. Where the source is in the L3 it costs (f4 4097x4099
// and 2047x4099 0.85x), hence the flag; the aligned wide walk loses with it everywhere (Wide.c).
enum { FETCH_STEPS = 3 };

SKEW_TARGET static inline __attribute__((always_inline)) void wide_skewed(const char *const *srows, char *const *drows, ptrdiff_t along_n,
                                                                         ptrdiff_t across_n, __m512i *prev, const int E, const int pairs,
                                                                         const int before, const int after, const int fetch) {
    const int L = 64 / E, lane = E == 4 ? 4 : 8, W = 64 / lane;
    const unsigned full = (1u << W) - 1;
    const __m512i iota = lane == 4 ? _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
                                   : _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    if (before) {
        for (ptrdiff_t b = 0; b < across_n; b += L) {
            __m512i r[16];
            table_block(srows, -L, b * E, r, E);
#pragma clang loop unroll(full)
            for (int i = 0; i < L; i++) prev[b + i] = r[i];
        }
    }
    // Bands of two blocks where there are two and `pairs` asks for them, as the aligned walk: each
    // row's two lines go out back to back (f4 4097x4099 and the like, see wide_walk).
    for (ptrdiff_t a = 0; a < along_n;) {
        const int pair = pairs && a + 2 * L <= along_n;
        for (ptrdiff_t b = 0; b < across_n; b += L) {
            __m512i first[16], r[16];
            if (fetch) {
                // Near a band's end, the next band's first steps.
                ptrdiff_t fetch_a = a, fetch_b = b + FETCH_STEPS * L;
                int rows = pair ? 2 * L : L;
                if (fetch_b >= across_n) {
                    fetch_b -= across_n;
                    fetch_a += rows;
                    rows = fetch_a >= along_n ? 0 : pairs && fetch_a + 2 * L <= along_n ? 2 * L : L;
                }
                for (int i = 0; i < rows; i++) _mm_prefetch(srows[fetch_a + i] + fetch_b * E + 63, _MM_HINT_T0);
            }
            table_block(srows, a, b * E, r, E);
            if (pair) {
#pragma clang loop unroll(full)
                for (int i = 0; i < L; i++) first[i] = r[i];
                table_block(srows, a + L, b * E, r, E);
            }
#pragma clang loop unroll(full)
            for (int i = 0; i < L; i++) {
                const int skew = (int)(((uintptr_t)drows[b + i] & 63) / lane);
                const __m512i shift = join_index(iota, skew, lane);
                char *line = drows[b + i] + a * E - skew * lane;
                const __m512i lead = pair ? first[i] : r[i];
                if (a == 0 && !before) {
                    // The row's first line is shared with what lies before it.
                    if (lane == 4) _mm512_mask_storeu_epi32(line, (__mmask16)((full << skew) & full), join(lead, shift, lead, lane));
                    else _mm512_mask_storeu_epi64(line, (__mmask8)((full << skew) & full), join(lead, shift, lead, lane));
                } else {
                    _mm512_stream_si512((void *)line, join(prev[b + i], shift, lead, lane));
                }
                if (pair) _mm512_stream_si512((void *)(line + 64), join(lead, shift, r[i], lane));
                prev[b + i] = r[i];
            }
        }
        a += pair ? 2 * L : L;
    }
    if (after) {
        // Each row's last line, completed from the next L source rows (none where the row ends on a
        // line boundary).
        for (ptrdiff_t b = 0; b < across_n; b += L) {
            __m512i r[16];
            table_block(srows, along_n, b * E, r, E);
#pragma clang loop unroll(full)
            for (int i = 0; i < L; i++) {
                const int skew = (int)(((uintptr_t)drows[b + i] & 63) / lane);
                if (skew == 0) continue;
                _mm512_stream_si512((void *)(drows[b + i] + along_n * E - skew * lane), join(prev[b + i], join_index(iota, skew, lane), r[i], lane));
            }
        }
        return;
    }
    // The last block's elements past the last whole line.
    for (ptrdiff_t row = 0; row < across_n; row++) {
        const int skew = (int)(((uintptr_t)drows[row] & 63) / lane);
        const __m512i tail = join(prev[row], join_index(iota, skew, lane), prev[row], lane);
        char *line = drows[row] + along_n * E - skew * lane;
        if (lane == 4) _mm512_mask_storeu_epi32(line, (__mmask16)((1u << skew) - 1), tail);
        else _mm512_mask_storeu_epi64(line, (__mmask8)((1u << skew) - 1), tail);
    }
}

enum { MAX_WIDE_SKEWED_ROWS = 512 };

// wide_skewed compiled per element size, and per `fetch` (a constant in each copy).
SKEW_TARGET static inline __attribute__((always_inline)) void wide_skewed_sized(const char *const *s, char *const *d, ptrdiff_t along_n,
                                                                               ptrdiff_t across_n, __m512i *prev, ptrdiff_t E, int pairs,
                                                                               int before, int after, const int fetch) {
    if (E == 4) wide_skewed(s, d, along_n, across_n, prev, 4, pairs, before, after, fetch);
    else if (E == 8) wide_skewed(s, d, along_n, across_n, prev, 8, 1, before, after, fetch);
    else wide_skewed(s, d, along_n, across_n, prev, 16, 1, before, after, fetch);
}

SKEW_TARGET static void wide_skewed_rows(const char *const *s, char *const *d, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t E,
                                         int pairs, int before, int after, int fetch) {
    __m512i prev[MAX_WIDE_SKEWED_ROWS];
    if (fetch) wide_skewed_sized(s, d, along_n, across_n, prev, E, pairs, before, after, 1);
    else wide_skewed_sized(s, d, along_n, across_n, prev, E, pairs, before, after, 0);
}

ptrdiff_t rl_transpose_rows_streamed(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n,
                                     ptrdiff_t element_size, int flags) {
    const int wide = (flags & RL_TRANSPOSE_WIDE) != 0;
    const ptrdiff_t E = element_size, L = 64 / E, lane = E <= 2 ? 1 : E == 4 ? 4 : 8;
    strip_function *one_strip = strip_for(E);
    const ptrdiff_t along_full = along_n - along_n % L, across_full = across_n - across_n % L;
    if (!one_strip || along_full < 2 * L || across_full < L) return 0;
    // Lines are joined in lanes of 4 bytes (E = 4), 8 bytes (E = 8, 16) or bytes.
    for (ptrdiff_t r = 0; r < across_full; r++)
        if (((uintptr_t)drows[r] & (lane - 1)) != 0) return 0;
    // The 1- and 2-byte walk takes destination rows in groups of 16 / E (one 16-byte piece of each
    // source row's columns), so only the last few go to the ordinary stores after it.
    const ptrdiff_t across_narrow = E <= 2 ? across_n - across_n % (16 / E) : 0;
    // Rows after the tile complete its last lines only where the walk reaches its last row (both
    // walks below).
    const int before = (flags & RL_TRANSPOSE_ROWS_BEFORE) != 0, after = (flags & RL_TRANSPOSE_ROWS_AFTER) != 0 && along_full == along_n;
    if (wide && E <= 2 && rl_wide_narrow_rows(srows, drows, along_full, across_narrow, E, before, after)) {
        if (along_full < along_n) rl_transpose_rows_blocks(srows, drows, along_full, along_n, 0, across_narrow, E);
        return across_narrow;
    }
    if (wide && E > 2 && across_full <= MAX_WIDE_SKEWED_ROWS) {
        wide_skewed_rows(srows, drows, along_full, across_full, E, four_byte_pairs(flags), before, after, (flags & RL_TRANSPOSE_FETCH_AHEAD) != 0);
        if (along_full < along_n) rl_transpose_rows_blocks(srows, drows, along_full, along_n, 0, across_full, E);
        return across_full;
    }
    for (ptrdiff_t b = 0; b < across_full; b += L) {
        one_strip(srows, b * E, drows + b, along_full, b + L < across_full);
        if (along_full < along_n) rl_transpose_rows_blocks(srows, drows, along_full, along_n, b, b + L, E);
    }
    return across_full;
}

enum { MAX_SKEWED_ROWS = 2048 };

int rl_transpose_tile_skewed(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int flags) {
    const ptrdiff_t E = element_size;
    if (!strip_for(E) || along_n > MAX_SKEWED_ROWS || across_n > MAX_SKEWED_ROWS) return 0;
    // The table reaches RL_NEIGHBOUR_ROWS rows either side where the flags say they are there.
    enum { N = RL_NEIGHBOUR_ROWS };
    const char *row_table[MAX_SKEWED_ROWS + 2 * N];
    const char **srows = row_table + N;
    char *drows[MAX_SKEWED_ROWS];
    const ptrdiff_t first = (flags & RL_TRANSPOSE_ROWS_BEFORE) ? -N : 0, end = along_n + ((flags & RL_TRANSPOSE_ROWS_AFTER) ? N : 0);
    for (ptrdiff_t a = first; a < end; a++) srows[a] = (const char *)src + a * src_along * E;
    for (ptrdiff_t b = 0; b < across_n; b++) drows[b] = (char *)dst + b * dst_across * E;
    const ptrdiff_t done = rl_transpose_rows_streamed(srows, drows, along_n, across_n, E, flags);
    if (done == 0) return 0;
    if (done < across_n)
        rl_transpose_tile((const char *)src + done * E, src_along, drows[done], dst_across, along_n, across_n - done, E, 0);
    return 1;
}
#else
int rl_transpose_tile_skewed(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int flags) {
    (void)src; (void)src_along; (void)dst; (void)dst_across; (void)along_n; (void)across_n; (void)element_size; (void)flags;
    return 0;
}

ptrdiff_t rl_transpose_rows_streamed(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n,
                                     ptrdiff_t element_size, int flags) {
    (void)srows; (void)drows; (void)along_n; (void)across_n; (void)element_size; (void)flags;
    return 0;
}
#endif
