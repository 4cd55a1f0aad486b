// Tiles of short contiguous runs: a memcpy call per 64-byte run costs more than the copy, so runs up
// to 256 bytes move through 16-byte registers inline.
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

static inline void copy_short(char *d, const char *s, size_t n) {
    // Under 16 bytes: a memcpy with a variable length is a call per run (u1 runs of 7 bytes: 0.13 of
    // memcpy).
    if (n < 16) {
        move_under16(d, s, n);
        return;
    }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        char buffer[16];
        memcpy(buffer, s + i, 16);
        memcpy(d + i, buffer, 16);
    }
    // The last 16 bytes again, overlapping what the loop wrote.
    if (i < n) {
        char buffer[16];
        memcpy(buffer, s + n - 16, 16);
        memcpy(d + n - 16, buffer, 16);
    }
}

// Copies `n` bytes of a stretch of back-to-back runs (run k at s + k * src_outer, `run_bytes`
// each), starting `off` bytes into run `k`, to `out` with ordinary stores.
static inline void gather_runs(char *out, const char *s, ptrdiff_t src_outer, size_t run_bytes,
                               ptrdiff_t k, size_t off, size_t n) {
    while (n > 0) {
        size_t take = run_bytes - off;
        if (take > n) take = n;
        memcpy(out, s + k * src_outer + off, take);
        out += take; n -= take; k++; off = 0;
    }
}

#if defined(__SSE2__)
// Writes `n_runs` runs back to back from `d` as whole aligned 64-byte lines with non-temporal
// stores, whatever the runs' length and alignment: a line that lies in one run is loaded from it
// directly, one that spans runs is gathered on the stack first. Only the stretch's partial first
// and last lines take ordinary stores. Streaming each run on its own left a partial line at every
// run's end, written around the cache next to streamed lines (u1 368-byte runs: 0.13 of memcpy).
static void stream_runs(char *d, const char *s, ptrdiff_t src_outer, ptrdiff_t n_runs, size_t run_bytes) {
    size_t total = (size_t)n_runs * run_bytes;
    size_t head = (64 - ((uintptr_t)d & 63)) & 63;
    if (head >= total) {
        gather_runs(d, s, src_outer, run_bytes, 0, 0, total);
        return;
    }
    size_t body_end = head + ((total - head) & ~(size_t)63);
    gather_runs(d, s, src_outer, run_bytes, 0, 0, head);
    ptrdiff_t k = (ptrdiff_t)(head / run_bytes);
    size_t off = head - (size_t)k * run_bytes;
    for (size_t p = head; p < body_end; p += 64) {
        _Alignas(64) char line[64];
        const char *from = s + k * src_outer + off;
        if (off + 64 > run_bytes) {
            gather_runs(line, s, src_outer, run_bytes, k, off, 64);
            from = line;
        }
        stream_line64(d + p, from);
        off += 64;
        while (off >= run_bytes) { off -= run_bytes; k++; }
    }
    size_t rest = total - body_end;
    if (rest > 0) {
        ptrdiff_t kk = (ptrdiff_t)(body_end / run_bytes);
        gather_runs(d + body_end, s, src_outer, run_bytes, kk, body_end - (size_t)kk * run_bytes, rest);
    }
}
#endif

#if defined(__SSE2__)
// n_runs runs of run_bytes (a multiple of 16) from s (run i at s + i * src_outer) to the 16-byte
// aligned stretch at `to`, 16 bytes at a time, streamed; with `edges`, the stretch's partial first
// and last lines with ordinary stores, as stream_runs writes them (which gathers each line first,
// too slow for runs this short).
// Runs [begin, end) of a stretch, each 16-byte piece streamed, or with `edges` stored ordinarily
// where it lies outside [whole_from, whole_to).
static inline __attribute__((always_inline)) void stretch_runs(char *to, const char *s, ptrdiff_t src_outer, ptrdiff_t begin, ptrdiff_t end,
                                                               size_t run_bytes, int fetch, uintptr_t whole_from, uintptr_t whole_to,
                                                               const int edges) {
    for (ptrdiff_t i = begin; i < end; i++) {
        const char *from = s + i * src_outer;
        char *run = to + i * (ptrdiff_t)run_bytes;
        if (fetch) __builtin_prefetch(from + 64);
        for (size_t k = 0; k < run_bytes; k += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(from + k));
            if (edges && ((uintptr_t)(run + k) < whole_from || (uintptr_t)(run + k) >= whole_to)) _mm_storeu_si128((__m128i *)(run + k), v);
            else _mm_stream_si128((__m128i *)(run + k), v);
        }
    }
}

static inline __attribute__((always_inline)) void stream_stretch(char *to, const char *s, ptrdiff_t src_outer, ptrdiff_t n_runs,
                                                                 size_t run_bytes, int fetch, const int edges) {
    const uintptr_t whole_from = ((uintptr_t)to + 63) & ~(uintptr_t)63;
    const uintptr_t whole_to = ((uintptr_t)to + (uintptr_t)n_runs * run_bytes) & ~(uintptr_t)63;
    if (!edges || whole_to <= whole_from) {
        stretch_runs(to, s, src_outer, 0, n_runs, run_bytes, fetch, whole_from, whole_to, edges);
        return;
    }
    // Only the runs that reach the partial first or last line compare each piece against the
    // whole lines; the runs between them stream without (a compare per store in every run measured
    // 33 against 40 GB/s on u1 48x28x28x48x32:1,3,2,0,4, 32-byte runs in stretches of 768 bytes).
    const ptrdiff_t first = (ptrdiff_t)((whole_from - (uintptr_t)to + run_bytes - 1) / run_bytes);
    const ptrdiff_t last = (ptrdiff_t)((whole_to - (uintptr_t)to) / run_bytes);
    stretch_runs(to, s, src_outer, 0, first, run_bytes, fetch, whole_from, whole_to, 1);
    stretch_runs(to, s, src_outer, first, last, run_bytes, fetch, whole_from, whole_to, 0);
    stretch_runs(to, s, src_outer, last > first ? last : first, n_runs, run_bytes, fetch, whole_from, whole_to, 1);
}
#endif

void rl_copy_run_tile(const void *src, ptrdiff_t src_outer, ptrdiff_t src_inner,
                      void *dst, ptrdiff_t dst_outer, ptrdiff_t dst_inner,
                      ptrdiff_t n_outer, ptrdiff_t n_inner, size_t run_bytes, int streaming) {
    const char *s = (const char *)src;
    char *d = (char *)dst;
    // Runs read backwards along `outer` into runs back to back (a flipped image's pixels): each
    // stretch reversed a register at a time (SteppedRows.c).
    if (dst_outer == (ptrdiff_t)run_bytes && src_outer == -(ptrdiff_t)run_bytes && run_bytes < 32) {
        for (ptrdiff_t j = 0; j < n_inner; j++) rl_copy_reversed(d + j * dst_inner, s + j * src_inner, n_outer, run_bytes);
        return;
    }
    // Runs spaced apart along `outer` into runs back to back (a channel dropped from each pixel).
    // Streamed tiles keep the stretch streaming below (16-byte runs spaced apart that are not units).
    if (dst_outer == (ptrdiff_t)run_bytes && src_outer > (ptrdiff_t)run_bytes && src_outer <= 64 && run_bytes < 32 && !streaming) {
        rl_copy_spaced_rows(d, dst_inner, s, src_inner, n_inner, n_outer, run_bytes, src_outer);
        return;
    }
    // Runs back to back on both sides, the destination's along `outer`, the source's along `inner`
    // (forwards or backwards): a transpose of runs, which moves them through registers rather than
    // one at a time.
    if (dst_outer == (ptrdiff_t)run_bytes && rl_transpose_short_runs(s, src_outer, src_inner, d, dst_inner, n_outer, n_inner, run_bytes, streaming))
        return;
    if (streaming && dst_outer == (ptrdiff_t)run_bytes) {
        // The runs of one `inner` index are contiguous in the destination: write them as one
        // stream, so every destination line is completed at once and streaming stores pay.
#if defined(__SSE2__)
        if ((run_bytes & 15) == 0 && run_bytes <= 256 && (((uintptr_t)d | (uintptr_t)dst_inner) & 15) == 0) {
            // Short aligned runs: 16-byte moves inline (a call per 64-byte run cost more than the move).
            // Runs side by side in the source (src_inner under a line) share their source lines
            // across several stretches, and their rows lie src_outer apart, often pages, where the
            // hardware prefetchers do not follow: each run asks for the next line of its row
            // (TTC's 15x15x103x15x10x16:4,1,0,3,2,5, 16-byte u1 runs 2400 bytes apart: one thread
            // 5.9-8.8 -> 8.0-10.4 GB/s).
            const int fetch = src_inner > 0 && src_inner < 64;
            // Stretches under 1 KiB write their partial first and last lines with ordinary stores:
            // streamed, such lines wait in the write-combining buffers for bytes that never come,
            // and in stretches this short they are a fifth of the lines or more. Emerald Rapids VM,
            // 2 threads, 3 alternating rounds: u1 15x15x103x15x10x16:4,1,0,3,2,5 (16-byte runs in
            // stretches of 560 bytes) 0.63 -> 0.83 of memcpy, 15x15x32x15x10x48:4,1,0,3,2,5 (768
            // bytes) 1.13 -> 1.24; u2's 1120-byte stretches of the first case measured 0.88x on one
            // thread with them, so longer stretches stream whole.
            const int edges = n_outer * (ptrdiff_t)run_bytes < 1024;
            for (ptrdiff_t j = 0; j < n_inner; j++) {
                if (edges) stream_stretch(d + j * dst_inner, s + j * src_inner, src_outer, n_outer, run_bytes, fetch, 1);
                else stream_stretch(d + j * dst_inner, s + j * src_inner, src_outer, n_outer, run_bytes, fetch, 0);
            }
            return;
        }
#endif
#if defined(__SSE2__)
        if (((run_bytes | (uintptr_t)d | (uintptr_t)dst_inner) & 63) != 0) {
            for (ptrdiff_t j = 0; j < n_inner; j++)
                stream_runs(d + j * dst_inner, s + j * src_inner, src_outer, n_outer, run_bytes);
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
