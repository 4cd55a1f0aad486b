// Long contiguous copies with non-temporal stores (bulk copies, long runs, collation's planes).
//
// Two things make them run at glibc memcpy's speed or better (its large copies do the same):
// - The copy is taken four 4 KiB pages at a time, a line from each in turn. The hardware
//   prefetchers follow a stream only inside a page and ramp up again in every new one, so four
//   streams keep four times as many lines in flight (Emerald Rapids VM, 2 threads, 211 MB,
//   medians of 11: one stream 44.7 GB/s, four pages 58.7; 2 and 8 pages alike, 16 slower).
// - Where the CPU has AVX-512, each line is one 64-byte non-temporal store rather than four of 16
//   bytes (one stream 50.0 against 44.7 GB/s; four pages 58.7 against 51.4).
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

enum { PAGE_BYTES = 4096, PAGES_AT_ONCE = 4, INTERLEAVED_BYTES = PAGE_BYTES * PAGES_AT_ONCE };

#if defined(__SSE2__)
// Stretches this short end before the prefetchers have ramped up: the source 8 lines ahead, from
// the start (alternating runs, 2 threads: TTC bulk cases with 1472- to 8576-byte runs 1.03-1.16x
// faster, 320-byte runs unchanged).
#define LINEAR_BODY(STREAM_LINE)                                                                    \
    do {                                                                                            \
        for (size_t i = 0; i < 512 && i < body; i += 64) __builtin_prefetch(s + i, 0, 3);           \
        for (size_t i = 0; i < body; i += 64) {                                                     \
            if (i + 512 < body) __builtin_prefetch(s + i + 512, 0, 3);                              \
            STREAM_LINE(d + i, s + i);                                                              \
        }                                                                                           \
    } while (0)

// `blocks` blocks of four pages from the 64-byte-aligned `d`: line o of each page in turn.
#define INTERLEAVED_BODY(STREAM_LINE)                                                               \
    do {                                                                                            \
        for (size_t b = 0; b < blocks; b++, d += INTERLEAVED_BYTES, s += INTERLEAVED_BYTES)         \
            for (size_t o = 0; o < PAGE_BYTES; o += 64)                                             \
                for (int k = 0; k < PAGES_AT_ONCE; k++) STREAM_LINE(d + k * PAGE_BYTES + o, s + k * PAGE_BYTES + o); \
    } while (0)

static void copy_lines_sse(char *d, const char *s, size_t body) {
    size_t blocks = body / INTERLEAVED_BYTES;
    INTERLEAVED_BODY(stream_line64);
    body -= blocks * INTERLEAVED_BYTES;
    LINEAR_BODY(stream_line64);
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void stream_line_zmm(char *dst, const char *src) {
    _mm512_stream_si512((void *)dst, _mm512_loadu_si512((const void *)src));
}

__attribute__((target("avx512f"))) static void copy_lines_zmm(char *d, const char *s, size_t body) {
    size_t blocks = body / INTERLEAVED_BYTES;
    INTERLEAVED_BODY(stream_line_zmm);
    body -= blocks * INTERLEAVED_BYTES;
    LINEAR_BODY(stream_line_zmm);
}
#endif
#endif

void rl_copy_streaming(void *dst, const void *src, size_t bytes) {
#if defined(__SSE2__)
    char *d = (char *)dst;
    const char *s = (const char *)src;
    // Whole lines only: a line streamed in part waits in a write-combining buffer for bytes that
    // never come.
    size_t head = (64 - ((uintptr_t)d & 63)) & 63;
    if (head > bytes) head = bytes;
    memcpy(d, s, head);
    d += head; s += head; bytes -= head;
    size_t body = bytes & ~(size_t)63;
#if defined(__x86_64__)
    if (rl_avx512_transposes()) copy_lines_zmm(d, s, body);
    else copy_lines_sse(d, s, body);
#else
    copy_lines_sse(d, s, body);
#endif
    memcpy(d + body, s + body, bytes - body);
#else
    memcpy(dst, src, bytes);
#endif
}
