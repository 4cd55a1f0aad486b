// Transposes of short runs that are not a power of two long: an image's 3-byte RGB pixels with its
// rows and columns swapped (u1 H x W x 3 -> W x H x 3), 12-byte f4 RGB pixels, 6-byte u2 ones.
// Runs of 2, 4 and 8 bytes become elements of that size (CopyPlan.unitSize); these stay tiles of
// runs, and moved one at a time they cost a few cycles each (2 threads: u1 1080 x 1920 x 3 with
// H and W swapped 0.16 of memcpy, f4 RGB 0.22). Here N = 64 / P runs of each of N source rows (P:
// the run padded to 4, 8, 16 or 32 bytes) are loaded as they lie and transposed as a 16 x 16, 8 x 8,
// 4 x 4 or 2 x 2 block of P-byte elements whose first and last stages are two-register byte permutes
// that widen the runs to P bytes and narrow them back, so the padding never reaches memory (2 x 2:
// one permute per output row, straight from the two packed rows). Masked
// loads and stores make every tail exact and read nothing past it. With AVX-512BW and VBMI only.
#include "CRelayoutKernels.h"

#include <pthread.h>

#include "TransposeBlocks.h"
#include "WideBlocks.h"

#if defined(__x86_64__)
// The byte permutes of one run length R (1 to 31) padded to P: the first stage of the block
// transpose, which takes pairs of packed rows (`first_low`, `first_high`), and the last, which
// leaves packed rows (`last_low`, `last_high`; the 128-bit lane shuffles 0x88 and 0xdd with the
// narrowing folded in). Built once per length on first use.
typedef struct {
    _Alignas(64) unsigned char first_low[64];
    _Alignas(64) unsigned char first_high[64];
    _Alignas(64) unsigned char last_low[64];
    _Alignas(64) unsigned char last_high[64];
} RunTables;

// [reversed][flip][R]: `reversed` tables read each source row's runs from the far end of its
// window; `flip` ones (1 to 4: units of 1, 2, 4 or 8 bytes) reverse the units within each run (BGR
// pixels into RGB ones).
enum { FLIPS = 5 };
static RunTables run_tables[2][FLIPS][32];
static int run_tables_built[2][FLIPS][32];

static ptrdiff_t padded(ptrdiff_t R) { return R <= 4 ? 4 : R <= 8 ? 8 : R <= 16 ? 16 : 32; }

// Byte b of unit `unit` of the packed row `second` (0: the pair's first row) as a two-register
// permute index; bytes of the padding repeat the unit's first byte. Reversed, the row's units lie
// in its register from the last to the first (a source read backwards along its rows). Flipped
// (units of F bytes), byte b of the run is byte b % F of its unit R / F - 1 - b / F.
static unsigned char packed_byte(ptrdiff_t R, ptrdiff_t unit, ptrdiff_t b, int second, int reversed, ptrdiff_t F) {
    const ptrdiff_t at = reversed ? 64 / padded(R) - 1 - unit : unit;
    const ptrdiff_t from = b >= R ? 0 : F ? (R / F - 1 - b / F) * F + b % F : b;
    return (unsigned char)((second ? 64 : 0) + at * R + from);
}

static void build_run_tables(RunTables *t, ptrdiff_t R, int reversed, ptrdiff_t F) {
    const ptrdiff_t P = padded(R);
    if (P == 32) {
        // Two rows of two runs: output row j (first_low: 0, first_high: 1) is run j of each.
        memset(t, 0, sizeof *t);
        for (ptrdiff_t pos = 0; pos < 2 * R; pos++) {
            t->first_low[pos] = packed_byte(R, 0, pos % R, pos >= R, reversed, F);
            t->first_high[pos] = packed_byte(R, 1, pos % R, pos >= R, reversed, F);
        }
        return;
    }
    const ptrdiff_t per_lane = 16 / P;
    for (ptrdiff_t pos = 0; pos < 64; pos++) {
        const ptrdiff_t q = pos / 16, e = pos % 16 / P, b = pos % P;
        for (int high = 0; high < 2; high++) {
            ptrdiff_t unit;
            int second;
            if (P == 4) {        // unpacklo_ps / unpackhi_ps of the widened pair
                unit = 4 * q + 2 * high + e / 2;
                second = (int)(e & 1);
            } else if (P == 8) { // unpacklo_epi64 / unpackhi_epi64
                unit = 2 * q + high;
                second = (int)e;
            } else {             // shuffle_i64x2 0x88 / 0xdd: lanes 0, 2 (1, 3) of the first, then of the second
                unit = 2 * (q & 1) + high;
                second = q >= 2;
            }
            (high ? t->first_high : t->first_low)[pos] = packed_byte(R, unit, b, second, reversed, F);
        }
        // The last stage: packed byte pos is byte b of unit u, held in lane u / per_lane at
        // element u % per_lane; that lane comes from lane 0 or 2 (0x88; 1 or 3 for 0xdd) of the
        // first register (lanes 0, 1) or of the second (lanes 2, 3).
        const ptrdiff_t u = pos / R, ub = pos % R;
        const ptrdiff_t lane = u / per_lane < 4 ? u / per_lane : 0, element = u % per_lane;
        const int second = lane >= 2;
        for (int high = 0; high < 2; high++) {
            const ptrdiff_t from_lane = 2 * (lane & 1) + high;
            (high ? t->last_high : t->last_low)[pos] = (unsigned char)((second ? 64 : 0) + from_lane * 16 + element * P + ub);
        }
    }
}

static pthread_mutex_t run_tables_lock = PTHREAD_MUTEX_INITIALIZER;

// `flip`: 0, or 1 to 4 for units of 1, 2, 4 or 8 bytes reversed within each run.
static const RunTables *tables_for(ptrdiff_t R, int reversed, int flip) {
    BUILD_ONCE(&run_tables_built[reversed][flip][R], &run_tables_lock,
               build_run_tables(&run_tables[reversed][flip][R], R, reversed, flip ? (ptrdiff_t)1 << (flip - 1) : 0));
    return &run_tables[reversed][flip][R];
}

// Transposes N packed rows of N runs into N packed rows, the padding never written out: the first
// and last stages of transpose16x16 / transpose8x8 / transpose4x4 (WideBlocks.h) are byte permutes
// of pairs that widen and narrow the runs on the way (16 x 16: 64 permutes and shuffles instead of
// 96).
typedef struct { __m512i first_low, first_high, last_low, last_high; } RunPermutes;

SKEW_TARGET static inline __attribute__((always_inline)) void transpose_packed(__m512i *r, const RunPermutes *m, const int P) {
    __m512i t[16], u[16];
    const int N = 64 / P;
#pragma clang loop unroll(full)
    for (int i = 0; i < N; i += 2) {
        t[i] = permute_bytes2(r[i], m->first_low, r[i + 1]);
        t[i + 1] = permute_bytes2(r[i], m->first_high, r[i + 1]);
    }
    if (P == 4) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 16; i += 4) {
            u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
            u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
            u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
            u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
        }
#pragma clang loop unroll(full)
        for (int h = 0; h < 2; h++)
#pragma clang loop unroll(full)
            for (int c = 0; c < 4; c++) {
                t[8 * h + c] = _mm512_shuffle_i32x4(u[8 * h + c], u[8 * h + 4 + c], 0x88);
                t[8 * h + 4 + c] = _mm512_shuffle_i32x4(u[8 * h + c], u[8 * h + 4 + c], 0xdd);
            }
#pragma clang loop unroll(full)
        for (int c = 0; c < 8; c++) {
            r[c] = permute_bytes2(t[c], m->last_low, t[8 + c]);
            r[8 + c] = permute_bytes2(t[c], m->last_high, t[8 + c]);
        }
    } else if (P == 8) {
#pragma clang loop unroll(full)
        for (int p = 0; p < 8; p += 4)
#pragma clang loop unroll(full)
            for (int c = 0; c < 2; c++) {
                u[p + c] = _mm512_shuffle_i64x2(t[p + c], t[p + 2 + c], 0x88);
                u[p + 2 + c] = _mm512_shuffle_i64x2(t[p + c], t[p + 2 + c], 0xdd);
            }
#pragma clang loop unroll(full)
        for (int c = 0; c < 2; c++) {
            r[c] = permute_bytes2(u[c], m->last_low, u[4 + c]);
            r[4 + c] = permute_bytes2(u[c], m->last_high, u[4 + c]);
            r[2 + c] = permute_bytes2(u[2 + c], m->last_low, u[6 + c]);
            r[6 + c] = permute_bytes2(u[2 + c], m->last_high, u[6 + c]);
        }
    } else if (P == 32) {
        r[0] = t[0];
        r[1] = t[1];
    } else {
        r[0] = permute_bytes2(t[0], m->last_low, t[2]);
        r[2] = permute_bytes2(t[0], m->last_high, t[2]);
        r[1] = permute_bytes2(t[1], m->last_low, t[3]);
        r[3] = permute_bytes2(t[1], m->last_high, t[3]);
    }
}

// One block: N source rows' runs from `from` (row i at from + i * src_outer), N runs each, to N
// destination rows (row j at to + j * dst_inner). A `whole` block moves all N x N runs; otherwise
// `ni` rows and `nj` runs per row, the rows past `ni` repeating the last one (their lanes are never
// stored). Unrolled whole, so that the block stays in registers.
SKEW_TARGET static inline __attribute__((always_inline)) void run_block(const char *from, ptrdiff_t src_outer, char *to, ptrdiff_t dst_inner,
                                                                     ptrdiff_t ni, ptrdiff_t nj, __mmask64 load_mask, __mmask64 store_mask,
                                                                     const RunPermutes *m, const int P, const int whole) {
    const int N = 64 / P;
    __m512i r[16];
#pragma clang loop unroll(full)
    for (int i = 0; i < N; i++) {
        const char *row = from + (whole || i < ni ? i : ni - 1) * src_outer;
        r[i] = _mm512_maskz_loadu_epi8(load_mask, (const void *)row);
    }
    transpose_packed(r, m, P);
#pragma clang loop unroll(full)
    for (int j = 0; j < N; j++)
        if (whole || j < nj) _mm512_mask_storeu_epi8((void *)(to + j * dst_inner), store_mask, r[j]);
}

// Run (i, j) from s + i * src_outer + j * R (`reversed`: s + i * src_outer - j * R) to d + i * R + j *
// dst_inner, for i < n_outer, j < n_inner: the source's runs lie back to back along j (or backwards,
// as in an image rotated a quarter turn), the destination's along i. Streamed, each
// band of N destination rows is first put together in an L1 stage, a stretch of up to
// L1_STAGE_BYTES / N bytes per row, and then streamed out a row at a time in whole lines.
SKEW_TARGET static inline __attribute__((always_inline)) void transpose_runs(const char *s, ptrdiff_t src_outer, char *d, ptrdiff_t dst_inner,
                                                                          ptrdiff_t n_outer, ptrdiff_t n_inner, ptrdiff_t R, int streaming,
                                                                          int reversed, int flip, const int P) {
    const int N = 64 / P;
    const RunTables *tables = tables_for(R, reversed, flip);
    const RunPermutes m = {_mm512_load_si512((const void *)tables->first_low), _mm512_load_si512((const void *)tables->first_high),
                           _mm512_load_si512((const void *)tables->last_low), _mm512_load_si512((const void *)tables->last_high)};
    const __mmask64 whole_mask = first_bytes(N * R);
    _Alignas(64) char stage[L1_STAGE_BYTES];
    const ptrdiff_t stage_row = L1_STAGE_BYTES / N;
    // Units per stretch: whole blocks that fit a stage row.
    const ptrdiff_t stretch = streaming ? stage_row / R / N * N : n_outer;
    for (ptrdiff_t j0 = 0; j0 < n_inner; j0 += N) {
        const ptrdiff_t nj = n_inner - j0 < N ? n_inner - j0 : N;
        // Reversed, a row's window of N runs starts at run j0 + N - 1, and a last window of fewer
        // leaves out its first bytes (masked, so nothing before the row is read).
        const __mmask64 load_mask = reversed ? whole_mask & ~first_bytes((N - nj) * R) : first_bytes(nj * R);
        for (ptrdiff_t a0 = 0; a0 < n_outer; a0 += stretch) {
            const ptrdiff_t na = n_outer - a0 < stretch ? n_outer - a0 : stretch;
            const char *from = s + (reversed ? -(j0 + N - 1) : j0) * R + a0 * src_outer;
            char *to = d + j0 * dst_inner + a0 * R;
            char *out = streaming ? stage : to;
            const ptrdiff_t out_row = streaming ? stage_row : dst_inner;
            // Along the destination's rows, so that each row's lines fill one after another.
            ptrdiff_t i0 = 0;
            if (nj == N)
                for (; i0 + N <= na; i0 += N)
                    run_block(from + i0 * src_outer, src_outer, out + i0 * R, out_row, N, N, whole_mask, whole_mask, &m, P, 1);
            for (; i0 < na; i0 += N) {
                const ptrdiff_t ni = na - i0 < N ? na - i0 : N;
                run_block(from + i0 * src_outer, src_outer, out + i0 * R, out_row, ni, nj, load_mask, first_bytes(ni * R), &m, P, 0);
            }
            if (streaming)
                for (ptrdiff_t j = 0; j < nj; j++) stream_from_stage(to + j * dst_inner, stage + j * stage_row, na * R);
        }
    }
}

SKEW_TARGET static void transpose_runs_avx512(const char *s, ptrdiff_t src_outer, char *d, ptrdiff_t dst_inner, ptrdiff_t n_outer,
                                               ptrdiff_t n_inner, ptrdiff_t R, int streaming, int reversed, int flip) {
    if (R <= 4) transpose_runs(s, src_outer, d, dst_inner, n_outer, n_inner, R, streaming, reversed, flip, 4);
    else if (R <= 8) transpose_runs(s, src_outer, d, dst_inner, n_outer, n_inner, R, streaming, reversed, flip, 8);
    else if (R <= 16) transpose_runs(s, src_outer, d, dst_inner, n_outer, n_inner, R, streaming, reversed, flip, 16);
    else transpose_runs(s, src_outer, d, dst_inner, n_outer, n_inner, R, streaming, reversed, flip, 32);
}
#endif

int rl_interleave_reversed_planes(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t along_n, ptrdiff_t across_n,
                                  ptrdiff_t element_size, int streaming) {
    const ptrdiff_t E = element_size;
    // Pixels of a line or more are not the channel gathers' (the tile is then turned round instead).
    if (along_n < 2 || along_n > RL_MAX_CHANNELS || along_n * E >= 64) return 0;
    if (E <= 8 && rl_short_runs_transpose((size_t)E)) {
        // Each stretch of the planes' rows reversed into an L1 stage, then interleaved by the
        // channel gathers.
        _Alignas(64) char stage[L1_STAGE_BYTES];
        const ptrdiff_t chunk = (ptrdiff_t)sizeof stage / along_n / E / 64 * 64;
        const char *s = (const char *)src;
        char *d = (char *)dst;
        for (ptrdiff_t b0 = 0; b0 < across_n; b0 += chunk) {
            const ptrdiff_t nb = across_n - b0 < chunk ? across_n - b0 : chunk;
            for (ptrdiff_t a = 0; a < along_n; a++) rl_copy_reversed(stage + a * chunk * E, s + (a * src_along - b0) * E, nb, (size_t)E);
            if (!rl_transpose_tile_channels(stage, chunk, d + b0 * along_n * E, along_n, along_n, nb, E, streaming))
                for (ptrdiff_t b = 0; b < nb; b++)
                    for (ptrdiff_t a = 0; a < along_n; a++) memcpy(d + ((b0 + b) * along_n + a) * E, stage + (a * chunk + b) * E, (size_t)E);
        }
        return 1;
    }
    return 0;
}

int rl_short_runs_transpose(size_t run_bytes) {
#if defined(__x86_64__)
    return run_bytes >= 1 && run_bytes <= 31 && rl_avx512_transposes() && rl_has_avx512_vbmi();
#else
    (void)run_bytes;
    return 0;
#endif
}

int rl_transpose_short_runs(const void *src, ptrdiff_t src_outer, ptrdiff_t src_inner, void *dst, ptrdiff_t dst_inner, ptrdiff_t n_outer,
                            ptrdiff_t n_inner, size_t run_bytes, int streaming) {
    return rl_transpose_flipped_runs(src, src_outer, src_inner, dst, dst_inner, n_outer, n_inner, run_bytes, 0, streaming);
}

int rl_transpose_flipped_runs(const void *src, ptrdiff_t src_outer, ptrdiff_t src_inner, void *dst, ptrdiff_t dst_inner, ptrdiff_t n_outer,
                              ptrdiff_t n_inner, size_t run_bytes, size_t unit_bytes, int streaming) {
#if defined(__x86_64__)
    if (!rl_short_runs_transpose(run_bytes) || (src_inner != (ptrdiff_t)run_bytes && src_inner != -(ptrdiff_t)run_bytes)) return 0;
    const int flip = unit_bytes == 0 ? 0 : unit_bytes == 1 ? 1 : unit_bytes == 2 ? 2 : unit_bytes == 4 ? 3 : unit_bytes == 8 ? 4 : -1;
    if (flip < 0 || (unit_bytes && (run_bytes % unit_bytes != 0 || run_bytes / unit_bytes < 2))) return 0;
    transpose_runs_avx512((const char *)src, src_outer, (char *)dst, dst_inner, n_outer, n_inner, (ptrdiff_t)run_bytes, streaming, src_inner < 0, flip);
    return 1;
#else
    (void)src; (void)src_outer; (void)src_inner; (void)dst; (void)dst_inner; (void)n_outer; (void)n_inner; (void)run_bytes; (void)unit_bytes;
    (void)streaming;
    return 0;
#endif
}
