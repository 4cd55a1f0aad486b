// HWC → CHW with UInt8 → Float32 conversion for 3-channel images, the data loader's inner loop.
// Scalar Swift runs at about one element per cycle here; 16 pixels per step with byte shuffles and
// vector conversion is what the loader needs to keep up with memory.
#include "CRelayoutKernels.h"
#include <stdint.h>
#include <string.h>

typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef float f32x16 __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) void planes3_body(const unsigned char *src, ptrdiff_t pixels, float *p0, float *p1, float *p2,
                                                                const float *scale, const float *shift) {
    const f32x16 a0 = (f32x16){0} + scale[0], a1 = (f32x16){0} + scale[1], a2 = (f32x16){0} + scale[2];
    const f32x16 b0 = (f32x16){0} + shift[0], b1 = (f32x16){0} + shift[1], b2 = (f32x16){0} + shift[2];
    ptrdiff_t p = 0;
    for (; p + 16 <= pixels; p += 16) {
        u8x16 x, y, z;
        memcpy(&x, src + 3 * p, 16);
        memcpy(&y, src + 3 * p + 16, 16);
        memcpy(&z, src + 3 * p + 32, 16);
        // Channel c of pixel q is byte 3q + c of the 48 loaded: x holds 0-15, y 16-31, z 32-47.
        u8x16 t0 = __builtin_shufflevector(x, y, 0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0);
        u8x16 c0 = __builtin_shufflevector(t0, z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29);
        u8x16 t1 = __builtin_shufflevector(x, y, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0);
        u8x16 c1 = __builtin_shufflevector(t1, z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 21, 24, 27, 30);
        u8x16 t2 = __builtin_shufflevector(x, y, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0);
        u8x16 c2 = __builtin_shufflevector(t2, z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 22, 25, 28, 31);
        f32x16 f0 = __builtin_convertvector(c0, f32x16) * a0 + b0;
        f32x16 f1 = __builtin_convertvector(c1, f32x16) * a1 + b1;
        f32x16 f2 = __builtin_convertvector(c2, f32x16) * a2 + b2;
        memcpy(p0 + p, &f0, 64);
        memcpy(p1 + p, &f1, 64);
        memcpy(p2 + p, &f2, 64);
    }
    for (; p < pixels; p++) {
        p0[p] = (float)src[3 * p] * scale[0] + shift[0];
        p1[p] = (float)src[3 * p + 1] * scale[1] + shift[1];
        p2[p] = (float)src[3 * p + 2] * scale[2] + shift[2];
    }
}

static void planes3_baseline(const unsigned char *src, ptrdiff_t pixels, float *p0, float *p1, float *p2, const float *scale, const float *shift) {
    planes3_body(src, pixels, p0, p1, p2, scale, shift);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void planes3_avx2(const unsigned char *src, ptrdiff_t pixels, float *p0, float *p1, float *p2,
                                                          const float *scale, const float *shift) {
    planes3_body(src, pixels, p0, p1, p2, scale, shift);
}
#endif

void rl_planes3_u8_f32(const unsigned char *src, ptrdiff_t pixels, float *plane0, float *plane1, float *plane2,
                       const float *scale, const float *shift) {
#if defined(__x86_64__)
    // Workers may race to fill the cache; relaxed atomics make that well defined.
    static int has_avx2 = -1;
    int known = __atomic_load_n(&has_avx2, __ATOMIC_RELAXED);
    if (known < 0) {
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&has_avx2, known, __ATOMIC_RELAXED);
    }
    if (known) {
        planes3_avx2(src, pixels, plane0, plane1, plane2, scale, shift);
        return;
    }
#endif
    planes3_baseline(src, pixels, plane0, plane1, plane2, scale, shift);
}
