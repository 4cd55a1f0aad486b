// AVX-512 transposes that write whole destination lines with non-temporal stores: into rows that
// start inside cache lines (the skewed strips below), and into aligned rows walked by source rows
// (rl_transpose_tile_wide). In a skewed strip of 4-byte elements, 16 x 16 blocks are transposed in
// AVX-512 registers; each destination row then takes its aligned line from the previous and the
// current block with one two-table permute, shifted by how far that row starts into its line.
// Ordinary stores there would read every destination line in before writing it (1.5x the traffic
// of a copy).
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define SKEW_TARGET __attribute__((target("avx512f,avx512vl,avx512bw")))
#define SKEW_TARGET_NARROW __attribute__((target("avx512f,avx512vl,avx512bw,avx512vbmi")))

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
SKEW_TARGET static inline __attribute__((always_inline)) void wide_skewed(const char *const *srows, char *const *drows, ptrdiff_t along_n,
                                                                         ptrdiff_t across_n, __m512i *prev, const int E, const int pairs,
                                                                         const int before, const int after) {
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

// Whether the walks take 4-byte tiles two blocks per step (RL_TRANSPOSE_WIDE_SINGLE_BLOCKS unset).
static inline int four_byte_pairs(int flags) { return (flags & RL_TRANSPOSE_WIDE_SINGLE_BLOCKS) == 0; }

SKEW_TARGET static void wide_skewed_rows(const char *const *s, char *const *d, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t E,
                                         int pairs, int before, int after) {
    __m512i prev[MAX_WIDE_SKEWED_ROWS];
    if (E == 4) wide_skewed(s, d, along_n, across_n, prev, 4, pairs, before, after);
    else if (E == 8) wide_skewed(s, d, along_n, across_n, prev, 8, 1, before, after);
    else wide_skewed(s, d, along_n, across_n, prev, 16, 1, before, after);
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
    if (wide && E <= 2 && rl_wide_narrow_rows(srows, drows, along_full, across_narrow, E)) {
        if (along_full < along_n) rl_transpose_rows_blocks(srows, drows, along_full, along_n, 0, across_narrow, E);
        return across_narrow;
    }
    if (wide && E > 2 && across_full <= MAX_WIDE_SKEWED_ROWS) {
        // Rows after the tile complete its last lines only where the walk reaches its last row.
        const int before = (flags & RL_TRANSPOSE_ROWS_BEFORE) != 0, after = (flags & RL_TRANSPOSE_ROWS_AFTER) != 0 && along_full == along_n;
        wide_skewed_rows(srows, drows, along_full, across_full, E, four_byte_pairs(flags), before, after);
        if (along_full < along_n) rl_transpose_rows_blocks(srows, drows, along_full, along_n, 0, across_full, E);
        return across_full;
    }
    for (ptrdiff_t b = 0; b < across_full; b += L) {
        one_strip(srows, b * E, drows + b, along_full, b + L < across_full);
        if (along_full < along_n) rl_transpose_rows_blocks(srows, drows, along_full, along_n, b, b + L, E);
    }
    return across_full;
}

// The wide walk: a tile into 64-byte-aligned destination rows, walked by source rows, through row
// tables (grouped tiles) or by stride (plain tiles); along_n a multiple of L = 64 / E (whole lines
// per row), columns past the whole blocks one element at a time. Source rows are read forward 64
// bytes per block (forward streams the hardware prefetchers follow); each transposed L x L block
// goes out as whole destination lines, one non-temporal store each. No staging buffer, no software
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
SKEW_TARGET static inline __attribute__((always_inline)) void wide_walk(const char *const *srows, const char *src, ptrdiff_t src_row,
                                                                       char *const *drows, char *dst, ptrdiff_t dst_row,
                                                                       ptrdiff_t along_n, ptrdiff_t across_n, const int E, const int pairs) {
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
                    _mm512_stream_si512((void *)line, first[i]);
                    _mm512_stream_si512((void *)(line + 64), r[i]);
                } else {
                    _mm512_stream_si512((void *)line, r[i]);
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

SKEW_TARGET static void wide_rows4(const char *const *s, char *const *d, ptrdiff_t a, ptrdiff_t b, int pairs) { wide_walk(s, 0, 0, d, 0, 0, a, b, 4, pairs); }
SKEW_TARGET static void wide_rows8(const char *const *s, char *const *d, ptrdiff_t a, ptrdiff_t b) { wide_walk(s, 0, 0, d, 0, 0, a, b, 8, 1); }
SKEW_TARGET static void wide_rows16(const char *const *s, char *const *d, ptrdiff_t a, ptrdiff_t b) { wide_walk(s, 0, 0, d, 0, 0, a, b, 16, 1); }

int rl_transpose_rows_wide(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size,
                           int flags) {
    const ptrdiff_t E = element_size;
    if (E < 4 || !rl_avx512_transposes() || along_n % (64 / E) != 0 || across_n < 64 / E) return 0;
    for (ptrdiff_t b = 0; b < across_n; b++)
        if (((uintptr_t)drows[b] & 63) != 0) return 0;
    if (E == 4) wide_rows4(srows, drows, along_n, across_n, four_byte_pairs(flags));
    else if (E == 8) wide_rows8(srows, drows, along_n, across_n);
    else wide_rows16(srows, drows, along_n, across_n);
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

SKEW_TARGET static void wide_tile2(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row, ptrdiff_t along_full, ptrdiff_t across_full) {
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
                _mm512_stream_si512((void *)(column + (b + i) * dst_row), first[i]);
                if (pair) _mm512_stream_si512((void *)(column + (b + i) * dst_row + 64), second[i]);
            }
        }
        a += pair ? 64 : 32;
    }
}

SKEW_TARGET static void wide_tile4(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b, int pairs) {
    wide_walk(0, s, sr, 0, d, dr, a, b, 4, pairs);
}
SKEW_TARGET static void wide_tile8(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b) { wide_walk(0, s, sr, 0, d, dr, a, b, 8, 1); }
SKEW_TARGET static void wide_tile16(const char *s, ptrdiff_t sr, char *d, ptrdiff_t dr, ptrdiff_t a, ptrdiff_t b) { wide_walk(0, s, sr, 0, d, dr, a, b, 16, 1); }

int rl_transpose_tile_wide(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                           ptrdiff_t across_n, ptrdiff_t element_size, int flags) {
    const ptrdiff_t E = element_size;
    if (!rl_avx512_transposes()) return 0;
    // 1-byte steps are 64 rows along by 16 or more across (one 16-byte piece of each source row's
    // columns), 2-byte blocks 32 by 16.
    const ptrdiff_t L = 64 / E, B = E <= 2 ? 16 : L;
    const ptrdiff_t along_full = along_n - along_n % L, across_full = across_n - across_n % B;
    if (along_full == 0 || across_full == 0 || ((((uintptr_t)dst) | (uintptr_t)(dst_across * E)) & 63) != 0) return 0;
    const char *s = (const char *)src;
    char *d = (char *)dst;
    if (E == 1) {
        if (!rl_wide_narrow_tile(s, src_along, d, dst_across, along_full, across_full, 1)) return 0;
    } else if (E == 2) {
        const ptrdiff_t whole = across_full - across_full % 32;
        const ptrdiff_t staged = whole > 0 && rl_wide_narrow_tile(s, src_along * 2, d, dst_across * 2, along_full, whole, 2) ? whole : 0;
        if (staged < across_full) wide_tile2(s + staged * 2, src_along * 2, d + staged * dst_across * 2, dst_across * 2, along_full, across_full - staged);
    }
    else if (E == 4) wide_tile4(s, src_along * E, d, dst_across * E, along_full, across_full, four_byte_pairs(flags));
    else if (E == 8) wide_tile8(s, src_along * E, d, dst_across * E, along_full, across_full);
    else wide_tile16(s, src_along * E, d, dst_across * E, along_full, across_full);
    // The rest with ordinary stores: columns past the whole blocks, then rows past them.
    if (across_full < across_n)
        rl_transpose_tile(s + across_full * E, src_along, d + across_full * dst_across * E, dst_across, along_full, across_n - across_full, E, 0);
    if (along_full < along_n)
        rl_transpose_tile(s + along_full * src_along * E, src_along, d + along_full * E, dst_across, along_n - along_full, across_n, E, 0);
    return 1;
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
