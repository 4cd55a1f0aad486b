// Rows of units read with a step other than one, packed into the destination's row: backwards (an
// image flipped left to right, x[:, ::-1], the random horizontal flip of every training pipeline)
// or spaced apart (a channel dropped from each pixel, x[..., :3]; every k-th element, x[:, ::k]).
// Moved one unit at a time they ran at 0.03-0.47 of memcpy (2 threads: u1 1080 x 1920 x 3 flipped
// 0.07, f4 1080 x 1920 flipped 0.47, RGBA -> RGB 0.09). Here a register of whole units is loaded
// (from the row's far end, or from two registers' span) and put in order with one byte permute,
// for units of up to 32 bytes, where the CPU has AVX-512BW and VBMI.
#include "CRelayoutKernels.h"

#include <pthread.h>

#include "TransposeBlocks.h"

// Unit k of the destination from unit k of the source counted backwards, one at a time.
static inline __attribute__((always_inline)) void reverse_units(char *d, const char *s, ptrdiff_t count, const ptrdiff_t R) {
    for (ptrdiff_t k = 0; k < count; k++) memcpy(d + k * R, s - k * R, (size_t)R);
}

static void reverse_scalar(char *d, const char *s, ptrdiff_t count, ptrdiff_t R) {
    switch (R) {
    case 1: reverse_units(d, s, count, 1); break;
    case 2: reverse_units(d, s, count, 2); break;
    case 3: reverse_units(d, s, count, 3); break;
    case 4: reverse_units(d, s, count, 4); break;
    case 8: reverse_units(d, s, count, 8); break;
    case 16: reverse_units(d, s, count, 16); break;
    default: reverse_units(d, s, count, R); break;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

// Per unit length R (1 to 32 bytes): the byte permute that reverses the K = 64 / R units of a
// register (byte b of unit k from byte b of unit K - 1 - k). Built once per length on first use.
static _Alignas(64) unsigned char reverse_tables[33][64];
static int reverse_tables_built[33];

static pthread_mutex_t reverse_tables_lock = PTHREAD_MUTEX_INITIALIZER;

static void build_reverse_table(ptrdiff_t R) {
    const ptrdiff_t K = 64 / R;
    memset(reverse_tables[R], 0, 64);
    for (ptrdiff_t m = 0; m < K * R; m++) reverse_tables[R][m] = (unsigned char)((K - 1 - m / R) * R + m % R);
}

static const unsigned char *reverse_table(ptrdiff_t R) {
    BUILD_ONCE(&reverse_tables_built[R], &reverse_tables_lock, build_reverse_table(R));
    return reverse_tables[R];
}

// K units per step: the step's units lie in the source from s - (k + K - 1) * R up, in reverse.
// The last step is the last K units again where the count is not a multiple of K (units written
// twice get the same bytes).
__attribute__((target("avx512f,avx512vl,avx512bw"))) static void reverse_avx512(char *d, const char *s, ptrdiff_t count, ptrdiff_t R) {
    const ptrdiff_t K = 64 / R;
    const __mmask64 mask = first_bytes(K * R);
    const __m512i table = _mm512_load_si512((const void *)reverse_table(R));
    ptrdiff_t k = 0;
    for (;; k += K) {
        if (k + K > count) k = count - K;
        const __m512i units = _mm512_maskz_loadu_epi8(mask, (const void *)(s - (k + K - 1) * R));
        _mm512_mask_storeu_epi8((void *)(d + k * R), mask, permute_bytes2(units, table, units));
        if (k + K >= count) break;
    }
}
#endif

void rl_copy_reversed(void *dst, const void *src, ptrdiff_t count, size_t unit_bytes) {
    char *d = (char *)dst;
    const char *s = (const char *)src;
    const ptrdiff_t R = (ptrdiff_t)unit_bytes;
#if defined(__x86_64__)
    if (R <= 32 && count >= 64 / R && rl_avx512_transposes() && rl_has_avx512_vbmi()) {
        reverse_avx512(d, s, count, R);
        return;
    }
#endif
    reverse_scalar(d, s, count, R);
}

// Runs spaced apart packed together: unit k of dst (R bytes) from src + k * S, S > R, as a channel
// dropped from every pixel (x[..., :3] of RGBA) leaves them. Moved one at a time they ran at 0.09
// of memcpy (u1 1080 x 1920 x 4 -> 3 channels); here K = min(64 / R, (128 - R) / S + 1) runs a step
// from two source registers through one two-register byte permute.
static inline __attribute__((always_inline)) void gather_units(char *d, const char *s, ptrdiff_t count, const ptrdiff_t R, ptrdiff_t S) {
    for (ptrdiff_t k = 0; k < count; k++) memcpy(d + k * R, s + k * S, (size_t)R);
}

static ptrdiff_t gather_step_units(ptrdiff_t R, ptrdiff_t S) {
    const ptrdiff_t by_output = 64 / R, by_source = (128 - R) / S + 1;
    return by_output < by_source ? by_output : by_source;
}

#if defined(__x86_64__)
// `rows` rows of `count` runs each (row i from s + i * s_row into d + i * d_row), the permute's table
// built once for all of them.
__attribute__((target("avx512f,avx512vl,avx512bw"))) static void gather_avx512(char *d, ptrdiff_t d_row, const char *s, ptrdiff_t s_row,
                                                                                ptrdiff_t rows, ptrdiff_t count, ptrdiff_t R, ptrdiff_t S) {
    const ptrdiff_t K = gather_step_units(R, S), span = (K - 1) * S + R;
    _Alignas(64) unsigned char bytes[64] = {0};
    for (ptrdiff_t k = 0, m = 0; k < K; k++)
        for (ptrdiff_t b = 0; b < R; b++, m++) bytes[m] = (unsigned char)(k * S + b);
    const __m512i table = _mm512_load_si512((const void *)bytes);
    const __mmask64 out_mask = first_bytes(K * R), low_mask = first_bytes(span), high_mask = span > 64 ? first_bytes(span - 64) : 0;
    for (ptrdiff_t i = 0; i < rows; i++) {
        const char *row = s + i * s_row;
        char *out = d + i * d_row;
        for (ptrdiff_t k = 0;; k += K) {
            if (k + K > count) k = count - K;
            const char *from = row + k * S;
            const __m512i low = _mm512_maskz_loadu_epi8(low_mask, (const void *)from);
            const __m512i high = _mm512_maskz_loadu_epi8(high_mask, (const void *)(from + 64));
            _mm512_mask_storeu_epi8((void *)(out + k * R), out_mask, permute_bytes2(low, table, high));
            if (k + K >= count) break;
        }
    }
}
#endif

void rl_copy_spaced_rows(void *dst, ptrdiff_t dst_row, const void *src, ptrdiff_t src_row, ptrdiff_t rows, ptrdiff_t count, size_t run_bytes,
                         ptrdiff_t src_step) {
    char *d = (char *)dst;
    const char *s = (const char *)src;
    const ptrdiff_t R = (ptrdiff_t)run_bytes, S = src_step;
#if defined(__x86_64__)
    if (R <= 32 && S > R && S <= 64 && count >= gather_step_units(R, S) && gather_step_units(R, S) >= 2 && rl_avx512_transposes() &&
        rl_has_avx512_vbmi()) {
        gather_avx512(d, dst_row, s, src_row, rows, count, R, S);
        return;
    }
#endif
    // Fixed sizes for the element strides Kernels.strided hands here and for RGB pixels, so that a
    // CPU without the register path moves each unit with fixed moves, not a memcpy call.
    for (ptrdiff_t i = 0; i < rows; i++) {
        char *out = d + i * dst_row;
        const char *row = s + i * src_row;
        switch (R) {
        case 1: gather_units(out, row, count, 1, S); break;
        case 2: gather_units(out, row, count, 2, S); break;
        case 3: gather_units(out, row, count, 3, S); break;
        case 4: gather_units(out, row, count, 4, S); break;
        case 8: gather_units(out, row, count, 8, S); break;
        case 16: gather_units(out, row, count, 16, S); break;
        default: gather_units(out, row, count, R, S); break;
        }
    }
}

void rl_copy_spaced_runs(void *dst, const void *src, ptrdiff_t count, size_t run_bytes, ptrdiff_t src_step) {
    rl_copy_spaced_rows(dst, 0, src, 0, 1, count, run_bytes, src_step);
}
