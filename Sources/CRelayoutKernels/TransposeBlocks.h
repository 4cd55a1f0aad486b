// Shared by the transpose kernels: 16-byte vectors, loads and (optionally non-temporal) stores, and
// the in-register transpose of one N x N block. Private to CRelayoutKernels.
#ifndef CRELAYOUT_TRANSPOSE_BLOCKS_H
#define CRELAYOUT_TRANSPOSE_BLOCKS_H
#include "CRelayoutKernels.h"
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef uint8_t v16 __attribute__((vector_size(16)));
typedef uint16_t v8 __attribute__((vector_size(16)));
typedef uint32_t v4 __attribute__((vector_size(16)));
typedef uint64_t v2 __attribute__((vector_size(16)));

static inline v16 load16(const char *p) { v16 v; memcpy(&v, p, 16); return v; }

// Runs the statements `...` once for the flag `built`, under `lock`: index and permute tables built
// on first use (Channels.c, RunTranspose.c, SteppedRows.c). Once the flag is set (a release store
// after the build), callers see the tables through one acquire load and never take the lock.
#define BUILD_ONCE(built, lock, ...)                                    \
    do {                                                                \
        if (!__atomic_load_n((built), __ATOMIC_ACQUIRE)) {              \
            pthread_mutex_lock(lock);                                   \
            if (!__atomic_load_n((built), __ATOMIC_RELAXED)) {          \
                __VA_ARGS__;                                            \
                __atomic_store_n((built), 1, __ATOMIC_RELEASE);         \
            }                                                           \
            pthread_mutex_unlock(lock);                                 \
        }                                                               \
    } while (0)

#if defined(__SSE2__)
// 64 bytes from `src` (any alignment) to the 16-byte-aligned `dst` with non-temporal stores: one
// whole line where `dst` is 64-byte aligned.
static inline void stream_line64(char *dst, const char *src) {
    __m128i a = _mm_loadu_si128((const __m128i *)src), b = _mm_loadu_si128((const __m128i *)(src + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(src + 32)), e = _mm_loadu_si128((const __m128i *)(src + 48));
    _mm_stream_si128((__m128i *)dst, a);
    _mm_stream_si128((__m128i *)(dst + 16), b);
    _mm_stream_si128((__m128i *)(dst + 32), c);
    _mm_stream_si128((__m128i *)(dst + 48), e);
}
#else
// Without SSE2 (no streaming stores): an ordinary copy, so that the callers compile everywhere.
static inline void stream_line64(char *dst, const char *src) { memcpy(dst, src, 64); }
#endif

static inline void store16(char *p, v16 v, int streaming) {
#if defined(__SSE2__)
    if (streaming) { _mm_stream_si128((__m128i *)p, (__m128i)v); return; }
#endif
    memcpy(p, &v, 16);
}

#define UNPACK8(lo, hi)                                                                                     \
    lo = __builtin_shufflevector(x, y, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);            \
    hi = __builtin_shufflevector(x, y, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

static inline void interleave(v16 a, v16 b, v16 *lo, v16 *hi, int element_size) {
    switch (element_size) {
    case 1: {
        v16 x = a, y = b, l, h;
        UNPACK8(l, h);
        *lo = l; *hi = h;
        break;
    }
    case 2: {
        v8 x = (v8)a, y = (v8)b;
        *lo = (v16)__builtin_shufflevector(x, y, 0, 8, 1, 9, 2, 10, 3, 11);
        *hi = (v16)__builtin_shufflevector(x, y, 4, 12, 5, 13, 6, 14, 7, 15);
        break;
    }
    case 4: {
        v4 x = (v4)a, y = (v4)b;
        *lo = (v16)__builtin_shufflevector(x, y, 0, 4, 1, 5);
        *hi = (v16)__builtin_shufflevector(x, y, 2, 6, 3, 7);
        break;
    }
    default: {
        v2 x = (v2)a, y = (v2)b;
        *lo = (v16)__builtin_shufflevector(x, y, 0, 2);
        *hi = (v16)__builtin_shufflevector(x, y, 1, 3);
        break;
    }
    }
}
// Transposes the N x N block of E-byte elements held in v[0..<N] (N = 16 / E, one row per vector)
// in place: log2(N) stages of interleaving rows i and i + N/2. Fully unrolled so that the vectors
// stay in registers.
static inline __attribute__((always_inline)) void transpose_registers(v16 *v, const int E) {
    const int N = 16 / E;
    v16 w[16];
#pragma clang loop unroll(full)
    for (int stage = 1; stage < N; stage *= 2) {
#pragma clang loop unroll(full)
        for (int i = 0; i < N / 2; i++) interleave(v[i], v[i + N / 2], &w[2 * i], &w[2 * i + 1], E);
#pragma clang loop unroll(full)
        for (int i = 0; i < N; i++) v[i] = w[i];
    }
}

// One N x N block, N = 16 / E: rows of the source (16 bytes each) become rows of the destination.
static inline __attribute__((always_inline)) void block(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row,
                                                        const int E, int streaming) {
    const int N = 16 / E;
    v16 v[16];
#pragma clang loop unroll(full)
    for (int i = 0; i < N; i++) v[i] = load16(src + i * src_row);
    transpose_registers(v, E);
#pragma clang loop unroll(full)
    for (int i = 0; i < N; i++) store16(dst + i * dst_row, v[i], streaming);
}

// At most 16 bytes with fixed-size moves that overlap where n is not their size (8, 4 or 2 bytes
// twice), so that a short piece costs no memcpy call and nothing past it is touched.
static inline __attribute__((always_inline)) void move_under16(char *d, const char *s, size_t n) {
    if (n >= 8) {
        uint64_t first, last;
        memcpy(&first, s, 8); memcpy(&last, s + n - 8, 8);
        memcpy(d, &first, 8); memcpy(d + n - 8, &last, 8);
    } else if (n >= 4) {
        uint32_t first, last;
        memcpy(&first, s, 4); memcpy(&last, s + n - 4, 4);
        memcpy(d, &first, 4); memcpy(d + n - 4, &last, 4);
    } else if (n >= 2) {
        uint16_t first, last;
        memcpy(&first, s, 2); memcpy(&last, s + n - 2, 2);
        memcpy(d, &first, 2); memcpy(d + n - 2, &last, 2);
    } else if (n == 1) {
        *d = *s;
    }
}

// Row i of a walk: from its table where there is one (grouped tiles, rows inside lines), else by
// stride (plain tiles). Inlined with a constant table argument, the test folds away.
static inline __attribute__((always_inline)) const char *source_row_at(const char *const *rows, const char *base, ptrdiff_t stride, ptrdiff_t i) {
    return rows ? rows[i] : base + i * stride;
}
static inline __attribute__((always_inline)) char *destination_row_at(char *const *rows, char *base, ptrdiff_t stride, ptrdiff_t i) {
    return rows ? rows[i] : base + i * stride;
}

// One N x N block, N = 16 / E, as `block` but from source rows i.. found by source_row_at (through
// the table `rows` of a grouped tile, else `stride` bytes apart), bytes from `column`, into N rows
// of `out`, `pitch` bytes apart, with ordinary stores.
static inline __attribute__((always_inline)) void block_from_rows(const char *const *rows, const char *base, ptrdiff_t stride, ptrdiff_t i,
                                                                  ptrdiff_t column, char *out, ptrdiff_t pitch, const int E) {
    v16 v[16];
#pragma clang loop unroll(full)
    for (int k = 0; k < 16 / E; k++) v[k] = load16(source_row_at(rows, base, stride, i + k) + column);
    transpose_registers(v, E);
#pragma clang loop unroll(full)
    for (int k = 0; k < 16 / E; k++) store16(out + k * pitch, v[k], 0);
}

// The last na < N source rows of a strip of N columns, N = 16 / E, past a tile's last whole block:
// one block through a 16 x 16-byte buffer, whose N destination rows go out na elements each with
// move_under16, so nothing past the tile is written. Source row i is source_row_at(srows, src,
// src_row, i) + columns, destination row j destination_row_at(drows, dst, dst_row, j) + offset.
// 1- and 2-byte tiles take it for N / 2 rows or more, which the element loop moved a byte or two
// at a time: C planes into pixels of C elements, 2 threads, 4 rounds alternating, u1 C = 24 0.43
// -> 0.50 of memcpy, 28 0.47 -> 0.53, 40 0.59 -> 0.68, 56 0.64 -> 0.76, u2 C = 20 0.91 -> 0.97,
// 28 1.00 -> 1.07; with 4 rows left of 16 (u1 C = 20) the element loop measured 0.61 against 0.43
// for the block in one run and even in another, so it keeps those.
static inline __attribute__((always_inline)) void edge_block(const char *const *srows, const char *src, ptrdiff_t src_row, ptrdiff_t columns,
                                                             char *const *drows, char *dst, ptrdiff_t dst_row, ptrdiff_t offset,
                                                             ptrdiff_t na, const int E) {
    v16 v[16] = {0};
    for (ptrdiff_t i = 0; i < na; i++) v[i] = load16(source_row_at(srows, src, src_row, i) + columns);
    transpose_registers(v, E);
    _Alignas(16) char out[256];
#pragma clang loop unroll(full)
    for (int j = 0; j < 16 / E; j++) memcpy(out + 16 * j, &v[j], 16);
#pragma clang loop unroll(full)
    for (int j = 0; j < 16 / E; j++) move_under16(destination_row_at(drows, dst, dst_row, j) + offset, out + 16 * j, (size_t)(na * E));
}

// Whether an edge of `rows` rows (fewer than N) takes edge_block rather than single elements.
static inline __attribute__((always_inline)) int edge_takes_blocks(ptrdiff_t rows, const int E) { return E <= 2 && rows * E >= 8; }

// The rows [along_full, along_n) of one strip of N columns from b (fewer than N rows): edge blocks
// or single elements (see edge_takes_blocks); and the columns [across_full, across_n) of rows [a0,
// along_n) (fewer than N columns), single elements: edge blocks there, 16 source rows of the last
// columns in and their destination rows out, measured slower (u1 N x C to C planes, 4 rounds: C =
// 24 0.51 -> 0.39 of memcpy, 28 0.49 -> 0.40, 40 0.55 -> 0.43; u2 C = 20 0.47 -> 0.52).
static inline __attribute__((always_inline)) void tile_along_edge(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row,
                                                                  ptrdiff_t along_full, ptrdiff_t along_n, ptrdiff_t b, const int E) {
    const ptrdiff_t N = 16 / E;
    if (along_full < along_n && edge_takes_blocks(along_n - along_full, E)) {
        edge_block(NULL, src + along_full * src_row, src_row, b * E, NULL, dst + b * dst_row, dst_row, along_full * E, along_n - along_full, E);
        return;
    }
    for (ptrdiff_t a = along_full; a < along_n; a++)
        for (ptrdiff_t k = b; k < b + N; k++) memcpy(dst + k * dst_row + a * E, src + a * src_row + k * E, E);
}

static inline __attribute__((always_inline)) void tile_across_edge(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row,
                                                                   ptrdiff_t a0, ptrdiff_t along_n, ptrdiff_t across_full, ptrdiff_t across_n, const int E) {
    for (ptrdiff_t b = across_full; b < across_n; b++)
        for (ptrdiff_t a = a0; a < along_n; a++) memcpy(dst + b * dst_row + a * E, src + a * src_row + b * E, E);
}

// The remainder path: N x N register blocks, then single elements.
static inline __attribute__((always_inline)) void tile_blocks(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row,
                                                              ptrdiff_t a0, ptrdiff_t along_n, ptrdiff_t b0, ptrdiff_t across_n, const int E) {
    const ptrdiff_t N = 16 / E;
    const ptrdiff_t along_full = a0 + (along_n - a0) - (along_n - a0) % N;
    const ptrdiff_t across_full = b0 + (across_n - b0) - (across_n - b0) % N;
    for (ptrdiff_t b = b0; b < across_full; b += N) {
        for (ptrdiff_t a = a0; a < along_full; a += N)
            block(src + a * src_row + b * E, src_row, dst + b * dst_row + a * E, dst_row, E, 0);
        tile_along_edge(src, src_row, dst, dst_row, along_full, along_n, b, E);
    }
    tile_across_edge(src, src_row, dst, dst_row, a0, along_n, across_full, across_n, E);
}

#if defined(__x86_64__)
// Whether 1- and 2-byte tiles take the kernels' AVX-512 builds (the CPU has AVX-512BW and VL, and
// rl_set_avx512_allowed has not turned them off). Defined in Transpose.c.
int rl_avx512_transposes(void);
// Whether the CPU has AVX-512 VBMI (byte permutes across the register), for the kernels that
// need it on top of rl_avx512_transposes. Defined in Transpose.c.
int rl_has_avx512_vbmi(void);
// Whether kernels without AVX-512 take their AVX2 builds (the CPU has AVX2, and
// rl_set_avx2_allowed has not turned them off): 1- and 2-byte steps and walks, the staged walk's
// 4-byte steps, and its dword-rotated joins of 2-, 4- and 8-byte rows inside lines. (Named for the
// first of them.) Defined in Staged.c.
int rl_avx2_narrow_kernels(void);

// vpermt2b (AVX-512 VBMI): bytes of the pair (a, b) picked by the low 7 bits of index's bytes. In
// assembly, so that a kernel body that permutes bytes only for 1-byte elements can be compiled for
// AVX-512BW and run, for wider elements, on CPUs without VBMI (Skylake-X, Cascade Lake); a call
// with target("avx512vbmi") would not inline into such a body. Callers check rl_has_avx512_vbmi()
// before a path reaches it.
#include <immintrin.h>
static inline __attribute__((always_inline, target("avx512f"))) __m512i permute_bytes2(__m512i a, __m512i index, __m512i b) {
    __asm__("vpermt2b %2, %1, %0" : "+v"(a) : "v"(index), "v"(b));
    return a;
}

// The L1 stage of the kernels that put a tile's output (or input) together before streaming it out
// (RunTranspose.c, SpacedTranspose.c, the channel stage of Grouped.c): a third of a 48 KiB L1d,
// half of a 32 KiB one.
enum { L1_STAGE_BYTES = 16 << 10 };

// The mask of a register's first n bytes (all of them from 64 on), for masked loads and stores.
static inline __mmask64 first_bytes(ptrdiff_t n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); }

// `n` bytes from the stage to `to`: the whole lines streamed, the partial first and last ones stored
// ordinarily (they are shared with the neighbouring tiles).
static inline __attribute__((always_inline, target("avx512f,avx512bw"))) void stream_from_stage(char *to, const char *stage, ptrdiff_t n) {
    const ptrdiff_t head = (ptrdiff_t)((64 - ((uintptr_t)to & 63)) & 63);
    if (head >= n) {
        _mm512_mask_storeu_epi8((void *)to, first_bytes(n), _mm512_maskz_loadu_epi8(first_bytes(n), (const void *)stage));
        return;
    }
    if (head) _mm512_mask_storeu_epi8((void *)to, first_bytes(head), _mm512_maskz_loadu_epi8(first_bytes(head), (const void *)stage));
    ptrdiff_t k = head;
    for (; k + 64 <= n; k += 64) _mm512_stream_si512((void *)(to + k), _mm512_loadu_si512((const void *)(stage + k)));
    if (k < n) _mm512_mask_storeu_epi8((void *)(to + k), first_bytes(n - k), _mm512_maskz_loadu_epi8(first_bytes(n - k), (const void *)(stage + k)));
}

// Per element size E (1 to 8 bytes), for the gather kernels (Channels.c, Blocks.c): the lanes of the
// pair (a, b) that index picks (one two-register permute; 1-byte lanes need VBMI), and a blend that
// takes the lanes of b where mask has a bit.
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx512bw"))) __m512i pick2_lanes(__m512i a, __m512i index, __m512i b,
                                                                                                         const int E) {
    switch (E) {
    case 1: return permute_bytes2(a, index, b);
    case 2: return _mm512_permutex2var_epi16(a, index, b);
    case 4: return _mm512_permutex2var_epi32(a, index, b);
    default: return _mm512_permutex2var_epi64(a, index, b);
    }
}

static inline __attribute__((always_inline, target("avx512f,avx512vl,avx512bw"))) __m512i blend_lanes(uint64_t mask, __m512i a, __m512i b,
                                                                                                         const int E) {
    switch (E) {
    case 1: return _mm512_mask_blend_epi8((__mmask64)mask, a, b);
    case 2: return _mm512_mask_blend_epi16((__mmask32)mask, a, b);
    case 4: return _mm512_mask_blend_epi32((__mmask16)mask, a, b);
    default: return _mm512_mask_blend_epi64((__mmask8)mask, a, b);
    }
}

// Two N x N blocks at once in 32-byte registers (AVX2; for 1- and 2-byte elements, N = 16 / E):
// v[k] holds source rows i + k and i + N + k from byte `column` in its two lanes, so that the
// in-lane interleave leaves in v[k] the 32 bytes of out row k that the 2N rows give (lane 0 from
// rows i.., lane 1 from rows i + N..). Half the interleaves of two 16-byte blocks. Rows by
// source_row_at: from the table `rows`, else `stride` bytes apart.
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void interleave_pair_registers(const char *const *rows,
                                                                                                             const char *base, ptrdiff_t stride,
                                                                                                             ptrdiff_t i, ptrdiff_t column,
                                                                                                             __m256i *v, const int E) {
    const int N = 16 / E;
    __m256i w[16];
#pragma clang loop unroll(full)
    for (int k = 0; k < N; k++)
        v[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(source_row_at(rows, base, stride, i + k) + column))),
                                       _mm_loadu_si128((const __m128i *)(source_row_at(rows, base, stride, i + N + k) + column)), 1);
#pragma clang loop unroll(full)
    for (int round = 1; round < N; round *= 2) {
#pragma clang loop unroll(full)
        for (int k = 0; k < N / 2; k++) {
            w[2 * k] = E == 1 ? _mm256_unpacklo_epi8(v[k], v[k + N / 2]) : _mm256_unpacklo_epi16(v[k], v[k + N / 2]);
            w[2 * k + 1] = E == 1 ? _mm256_unpackhi_epi8(v[k], v[k + N / 2]) : _mm256_unpackhi_epi16(v[k], v[k + N / 2]);
        }
#pragma clang loop unroll(full)
        for (int k = 0; k < N; k++) v[k] = w[k];
    }
}

// The pair stored to its N out rows, 32 bytes each from byte `offset`: rows from the table
// `out_rows` where there is one (grouped tiles' destination rows), else `pitch` bytes apart from
// `out` (a stage, or a plain tile's destination rows), as destination_row_at finds them.
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void interleave_pair_avx2(const char *const *rows, const char *base,
                                                                                                        ptrdiff_t stride, ptrdiff_t i,
                                                                                                        ptrdiff_t column, char *const *out_rows,
                                                                                                        char *out, ptrdiff_t pitch,
                                                                                                        ptrdiff_t offset, const int E) {
    __m256i v[16];
    interleave_pair_registers(rows, base, stride, i, column, v, E);
#pragma clang loop unroll(full)
    for (int k = 0; k < 16 / E; k++) _mm256_storeu_si256((__m256i *)(destination_row_at(out_rows, out, pitch, k) + offset), v[k]);
}
#endif

// Transposes a tile with whole-line non-temporal stores whatever the alignment of its destination
// rows (AVX-512 only; Skewed.c). Returns 0, having written nothing, where it does not apply.
// `flags` as rl_transpose_tile's: with RL_TRANSPOSE_WIDE the tile walks by source rows, as
// rl_transpose_tile_wide, each row's lines joined from the block before (4- to 16-byte elements:
// tiles up to 512 destination rows; 1- and 2-byte ones staged, NarrowWide.c, any tile), and
// RL_TRANSPOSE_WIDE_SINGLE_BLOCKS holds there too.
int rl_transpose_tile_skewed(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int flags);

// Transposes a tile into 64-byte-aligned destination rows by source rows, one whole line per store:
// non-temporal with RL_TRANSPOSE_STREAMING, ordinary without (tiles under the streaming threshold,
// where the 16-byte row walk was slower: 2 threads, f4 720x1280 14.3 -> 22.5 GB/s, u1 1024² 13.1 ->
// 17.9). AVX-512, 1- to 16-byte elements; Wide.c; `flags` as rl_transpose_tile's, also for
// RL_TRANSPOSE_WIDE_SINGLE_BLOCKS. 0, having written nothing, where it does not apply.
int rl_transpose_tile_wide(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                           ptrdiff_t across_n, ptrdiff_t element_size, int flags);

// Transposes a tile through L1 stages, two (1-byte tiles: four) whole lines into each destination
// row per step, into 64-byte-aligned rows or, joined to each row's previous step, rows that start
// inside lines (Staged.c; the walk for CPUs without the AVX-512 ones), with non-temporal stores
// where `stream` says, else (1-byte tiles only) ordinary ones. Streamed into rows inside lines, it
// writes the lines each row shares with the tiles beside it as `lines` says (RL_TRANSPOSE_LINES_BEFORE
// / _AFTER, as rl_transpose_tile's flags, only where rl_staged_skewed_line_sides allows them). 0,
// having written nothing, where it does not apply.
int rl_transpose_tile_staged(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int stream, int lines);

// Which of RL_TRANSPOSE_LINES_BEFORE / _AFTER rl_transpose_tile_staged can honour for a streamed tile:
// none where it does not take the tile into rows inside lines; else _BEFORE, and _AFTER where its
// steps reach the tile's end (the tile's rows along a whole number of steps).
int rl_staged_skewed_line_sides(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                                ptrdiff_t element_size);

// Whether rl_transpose_tile_staged, streaming a tile of 1- or 2-byte elements from source rows
// `src_along` elements apart into rows inside lines, reads the source rows in place (with its AVX2
// steps, rows whose lines spread over the L1 sets) rather than through its stage; 0 for other sizes
// (8- and 16-byte steps read in place too, but no other walk asks for them).
int rl_staged_skewed_reads_in_place(ptrdiff_t src_along, ptrdiff_t element_size);

// The same through row tables (grouped tiles; every drows[b] 64-byte aligned, along_n * E whole
// lines): 1, or 0, having written nothing, where it does not apply.
int rl_transpose_rows_staged(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size);

// Transposes a tile of 2-byte elements into destination rows that start inside lines (a whole
// number of elements into them) by the row walk, streamed in whole lines, each joined from two steps
// along its row (JoinedRows.c; AVX2, and rl_set_avx2_allowed not turned off). Its rows' first and
// last partial lines take ordinary stores of its own bytes: streaming them whole from the
// neighbours' source rows, as the AVX-512 skewed walk does, measured no faster here (u2 43408x1216,
// 2320x8000, 2321x3001 0.95-0.96x, 7263x7265 1.03x; one process, Benchmarks/ab-tiles.c), and two
// tiles would write the same bytes. 0, having written nothing, where it does not apply.
int rl_transpose_tile_joined(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                             ptrdiff_t element_size);

// The same through row tables for grouped tiles of 1-byte elements: 1, or 0, having written
// nothing, where it does not apply.
int rl_transpose_rows_joined(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size);

// Whether a streamed tile without the AVX-512 walks takes the staged walk at every row stride, not
// only where a stride is a multiple of 1 KiB: 8- and 16-byte tiles always (AMD EPYC Zen 3, 2
// threads, TTC shapes, two alternating rounds of the staged walk at every stride against only at
// 1 KiB multiples: f8 1.175x GB/s, c16 1.134x, every round and both by GB/s and ratio to memcpy; the
// Intel VM with AVX-512 off, f8 1.135x), the others where RL_TRANSPOSE_STAGED_ANY_STRIDE asks (the
// same rounds: f4 1.01x, u1 1.01x, u2 0.96x, per case 0.6-1.9x either way, so the tuner decides).
static inline int rl_staged_at_any_stride(ptrdiff_t element_size, int flags) {
    return element_size >= 8 || (flags & RL_TRANSPOSE_STAGED_ANY_STRIDE) != 0;
}

// Tiles with a side of 2 to RL_MAX_CHANNELS elements packed on one side (Channels.c; AVX-512BW,
// and VBMI for 1-byte elements): source rows of across_n elements in pixels of |src_along| >=
// across_n elements, read forwards or (src_along < 0) backwards, of which the first across_n go into
// the planes; or destination rows of along_n elements back to back (dst_across == along_n). 1- to
// 8-byte elements; whole aligned lines stream where `streaming` asks. Returns 1, or 0, having
// written nothing, where it does not apply.
int rl_transpose_tile_channels(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                               ptrdiff_t across_n, ptrdiff_t element_size, int streaming);

// The staged wide walk (NarrowWide.c; AVX-512BW), 1- or 2-byte elements: a tile of along_n
// source rows by across_n destination rows (along_n a multiple of 64 / element_size, across_n of
// 16 / element_size; row strides in bytes) into 64-byte-aligned rows, each line one non-temporal
// store or, without `streaming`, one ordinary store. Returns 1, or 0, having written nothing, where
// it does not apply.
int rl_wide_narrow_tile(const char *src, ptrdiff_t src_row, char *dst, ptrdiff_t dst_row, ptrdiff_t along_n, ptrdiff_t across_n,
                        ptrdiff_t element_size, int streaming);

// The same for 1- or 2-byte elements through row tables, for destination rows anywhere (AVX-512BW
// and VBMI; along_n a multiple of 64 / element_size, across_n of 16 / element_size): returns 1, or
// 0, having written nothing, where it does not apply. `before` / `after`: L = 64 / element_size
// more source rows lie before row 0 / after row along_n - 1 (srows[-L..-1], srows[along_n..]), and
// each row's first / last line, shared with the neighbouring tile, goes out whole, streamed.
int rl_wide_narrow_rows(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size,
                        int before, int after);

// The staged walk through row tables into 64-byte-aligned rows (grouped tiles of 1- or 2-byte
// elements; AVX-512BW; along_n a multiple of 64 / element_size, across_n of 16 / element_size):
// returns 1, or 0, having written nothing, where it does not apply.
int rl_wide_narrow_rows_aligned(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size);

// The wide walk through row tables (grouped tiles; every drows[b] 64-byte aligned, along_n whole
// lines): transposes the whole tile and returns 1, or 0, having written nothing, where it does not
// apply. `flags` as rl_transpose_tile's, for RL_TRANSPOSE_WIDE_SINGLE_BLOCKS.
int rl_transpose_rows_wide(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size,
                           int flags);

// Ordinary-store transposes through row tables over source rows [a0, along_n) and destination rows
// [b0, across_n): 16-byte register blocks, then single elements (Grouped.c). For the remainders
// of the streamed walks, which one element at a time cost a memcpy call each.
void rl_transpose_rows_blocks(const char *const *srows, char *const *drows, ptrdiff_t a0, ptrdiff_t along_n, ptrdiff_t b0, ptrdiff_t across_n,
                              ptrdiff_t element_size);

// The skewed strips through row tables: dst row b is drows[b], source row a is srows[a] (each
// contiguous), for a < along_n, b < across_n. Transposes the first across rows that make whole
// strips and returns how many (0 where it does not apply; the caller transposes the rest). `flags` as
// rl_transpose_tile_skewed's.
ptrdiff_t rl_transpose_rows_streamed(const char *const *srows, char *const *drows, ptrdiff_t along_n, ptrdiff_t across_n,
                                     ptrdiff_t element_size, int flags);

// Where a walk down columns of source lines will be 64 rows from now, for fetching ahead: rows
// a + 64 of column b, or, once those run past the rows walked (rows_end), rows of a later column,
// `step` further on per column (tiles shorter than 64 rows wrap more than once). Zero when that lies
// outside the tile; `rows` rows from there are fetched.
static inline int rows_ahead(ptrdiff_t a, ptrdiff_t b, ptrdiff_t rows, ptrdiff_t rows_end, ptrdiff_t step, ptrdiff_t columns_end,
                             ptrdiff_t *ahead_a, ptrdiff_t *ahead_b) {
    if (rows_end < rows) return 0;
    ptrdiff_t na = a + 64, nb = b;
    while (na + rows > rows_end) { na -= rows_end; nb += step; }
    *ahead_a = na;
    *ahead_b = nb;
    return na >= 0 && na + rows <= rows_end && nb < columns_end;
}

#endif
