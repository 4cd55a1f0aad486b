// Tiles of short contiguous runs: a memcpy call per 64-byte run costs more than the copy, so runs up
// to 256 bytes move through 16-byte registers inline.
#include "CRelayoutKernels.h"
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline void copy_short(char *d, const char *s, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        char buffer[16];
        memcpy(buffer, s + i, 16);
        memcpy(d + i, buffer, 16);
    }
    if (i < n) memcpy(d + i, s + i, n - i);
}

void rl_copy_run_tile(const void *src, ptrdiff_t src_outer, ptrdiff_t src_inner,
                      void *dst, ptrdiff_t dst_outer, ptrdiff_t dst_inner,
                      ptrdiff_t n_outer, ptrdiff_t n_inner, size_t run_bytes, int streaming) {
    const char *s = (const char *)src;
    char *d = (char *)dst;
    if (streaming && dst_outer == (ptrdiff_t)run_bytes) {
        // The runs of one `inner` index are contiguous in the destination: write them as one
        // stream, so every destination line is completed at once and streaming stores pay.
#if defined(__SSE2__)
        if ((run_bytes & 15) == 0 && run_bytes <= 256 && (((uintptr_t)d | (uintptr_t)dst_inner) & 15) == 0) {
            // Short aligned runs: 16-byte moves inline (a call per 64-byte run cost more than the move).
            for (ptrdiff_t j = 0; j < n_inner; j++) {
                char *to = d + j * dst_inner;
                for (ptrdiff_t i = 0; i < n_outer; i++, to += run_bytes) {
                    const char *from = s + i * src_outer + j * src_inner;
                    for (size_t k = 0; k < run_bytes; k += 16)
                        _mm_stream_si128((__m128i *)(to + k), _mm_loadu_si128((const __m128i *)(from + k)));
                }
            }
            return;
        }
#endif
        for (ptrdiff_t j = 0; j < n_inner; j++)
            for (ptrdiff_t i = 0; i < n_outer; i++)
                rl_copy_streaming(d + i * dst_outer + j * dst_inner, s + i * src_outer + j * src_inner, run_bytes);
        return;
    }
    for (ptrdiff_t i = 0; i < n_outer; i++) {
        for (ptrdiff_t j = 0; j < n_inner; j++) {
            const char *from = s + i * src_outer + j * src_inner;
            char *to = d + i * dst_outer + j * dst_inner;
            if (streaming) rl_copy_streaming(to, from, run_bytes);
            else if (run_bytes <= 256) copy_short(to, from, run_bytes);
            else memcpy(to, from, run_bytes);
        }
    }
}
