// Copies whose both sides are dense blocks of a few elements, each block's elements permuted the
// same way: a batch of small matrices transposed (N x 3 x 3 -> N x 3 x 3 with the last two axes
// swapped), or of small tensors permuted; the batch may be permuted or sliced too. Each block is a
// tile of all tail for the register blocks, and a work item per block paid a call and a walk of the
// loop nest (2 threads: f4 1000000x3x3:0,2,1 0.10 of memcpy, u1 2000000x3x4:0,2,1 0.03). With
// AVX-512 the copy is a stream instead: every L = lcm(P, 64) bytes (P: the block's bytes, at most 64) hold whole blocks, and
// output register j of such a step takes its lanes from input registers j - 1, j and j + 1 (a block
// spans at most two): two two-register permutes and a blend, from a table built at plan time.
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

// One output register of a step: lanes from registers (j - 1, j) through `low`, from (j, j + 1)
// through `high` where `from_high` has their bit.
typedef struct {
    unsigned char low[64];
    unsigned char high[64];
    uint64_t from_high;
} StepRegister;

static ptrdiff_t gcd(ptrdiff_t a, ptrdiff_t b) {
    while (b) { const ptrdiff_t t = a % b; a = b; b = t; }
    return a;
}

// Registers per step: lcm(P, 64) / 64.
static ptrdiff_t step_registers(ptrdiff_t block_bytes) { return block_bytes / gcd(block_bytes, 64); }

size_t rl_block_permute_table_bytes(ptrdiff_t block, ptrdiff_t element_size) {
    const ptrdiff_t P = block * element_size;
    if (block < 2 || element_size > 8 || P > 64) return 0;
    return (size_t)step_registers(P) * sizeof(StepRegister);
}

void rl_block_permute_build(void *table, const int32_t *permutation, ptrdiff_t block, ptrdiff_t element_size) {
    const ptrdiff_t E = element_size, K = 64 / E, R = step_registers(block * E);
    StepRegister *t = (StepRegister *)table;
    memset(t, 0, (size_t)R * sizeof(StepRegister));
    for (ptrdiff_t j = 0; j < R; j++)
        for (ptrdiff_t lane = 0; lane < K; lane++) {
            // Output element g of the step is element i of block b; its source is element s of the step.
            const ptrdiff_t g = j * K + lane, b = g / block, i = g % block, s = b * block + permutation[i];
            const ptrdiff_t reg = s / K, from = s % K;
            // Index `from` picks from the pair's first register, K + `from` from its second.
            const ptrdiff_t index = reg == j - 1 ? from : K + from;
            unsigned char *field = reg == j + 1 ? t[j].high : t[j].low;
            for (ptrdiff_t k = 0; k < E; k++) field[lane * E + k] = k == 0 ? (unsigned char)index : 0;
            if (reg == j + 1) t[j].from_high |= (uint64_t)1 << lane;
        }
}

// Block by block, element by element: the blocks past the last whole step, and every block where
// the register kernel does not run. Block b at src + b * src_step and dst + b * dst_step (bytes).
static inline __attribute__((always_inline)) void permute_blocks_scalar(const char *src, ptrdiff_t src_step, char *dst, ptrdiff_t dst_step,
                                                                         ptrdiff_t blocks, ptrdiff_t block, const int32_t *permutation, const int E) {
    for (ptrdiff_t b = 0; b < blocks; b++, src += src_step, dst += dst_step)
        for (ptrdiff_t i = 0; i < block; i++) memcpy(dst + i * E, src + (ptrdiff_t)permutation[i] * E, E);
}

// Up to 64 bytes with fixed-size moves that overlap where n is not their size (one block between
// its place and a stage). RunTile.c's copy_short does the same for runs up to 256 bytes, 16 bytes
// at a time; sharing one of them moved the short-run copies' loop and measured slower there (u1
// runs of 7 bytes 0.29 -> 0.25 of memcpy, 4 rounds), so each keeps its own.
static inline __attribute__((always_inline)) void move_upto64(char *d, const char *s, size_t n) {
    if (n <= 16) {
        if (n == 16) memcpy(d, s, 16);
        else move_under16(d, s, n);
    } else if (n <= 32) {
        char first[16], last[16];
        memcpy(first, s, 16); memcpy(last, s + n - 16, 16);
        memcpy(d, first, 16); memcpy(d + n - 16, last, 16);
    } else {
        char first[32], last[32];
        memcpy(first, s, 32); memcpy(last, s + n - 32, 32);
        memcpy(d, first, 32); memcpy(d + n - 32, last, 32);
    }
}

#if defined(__x86_64__)
#define BLOCKS_TARGET __attribute__((target("avx512f,avx512vl,avx512bw")))

BLOCKS_TARGET static inline __attribute__((always_inline)) void permute_steps(const char *src, char *dst, ptrdiff_t steps, ptrdiff_t R,
                                                                              const StepRegister *table, int stream, const int E) {
    for (ptrdiff_t step = 0; step < steps; step++, src += R * 64, dst += R * 64) {
        for (ptrdiff_t j = 0; j < R; j++) {
            // The table never picks from beyond the step, so its edges pair a register with itself.
            const __m512i before = _mm512_loadu_si512((const void *)(src + (j > 0 ? j - 1 : 0) * 64));
            const __m512i here = _mm512_loadu_si512((const void *)(src + j * 64));
            const __m512i after = _mm512_loadu_si512((const void *)(src + (j + 1 < R ? j + 1 : j) * 64));
            const __m512i low = pick2_lanes(before, _mm512_loadu_si512((const void *)table[j].low), here, E);
            const __m512i high = pick2_lanes(here, _mm512_loadu_si512((const void *)table[j].high), after, E);
            const __m512i out = blend_lanes(table[j].from_high, low, high, E);
            if (stream) _mm512_stream_si512((void *)(dst + j * 64), out);
            else _mm512_storeu_si512((void *)(dst + j * 64), out);
        }
    }
}

BLOCKS_TARGET static void permute_steps_avx512(const char *src, char *dst, ptrdiff_t steps, ptrdiff_t R, const StepRegister *table, int stream,
                                               ptrdiff_t element_size) {
    switch (element_size) {
    case 1: permute_steps(src, dst, steps, R, table, stream, 1); break;
    case 2: permute_steps(src, dst, steps, R, table, stream, 2); break;
    case 4: permute_steps(src, dst, steps, R, table, stream, 4); break;
    default: permute_steps(src, dst, steps, R, table, stream, 8); break;
    }
}
#endif

void rl_permute_blocks(const void *src, ptrdiff_t src_step, void *dst, ptrdiff_t dst_step, ptrdiff_t blocks, ptrdiff_t block,
                       const int32_t *permutation, const void *table, ptrdiff_t element_size, int streaming) {
    const char *s = (const char *)src;
    char *d = (char *)dst;
    const ptrdiff_t E = element_size, P = block * E;
    ptrdiff_t done = 0;
#if defined(__x86_64__)
    if (table && rl_avx512_transposes() && (E != 1 || rl_has_avx512_vbmi())) {
        const ptrdiff_t R = step_registers(P), per_step = R * 64 / P, steps = blocks / per_step;
        const StepRegister *t = (const StepRegister *)table;
        if (src_step == P && dst_step == P) {
            // Streamed only where every store is a whole aligned line.
            permute_steps_avx512(s, d, steps, R, t, streaming && ((uintptr_t)d & 63) == 0, E);
        } else {
            // Blocks apart on either side (a batch whose dimensions are permuted too, or sliced):
            // each step's blocks are gathered into an L1 stage, permuted, and put back block by
            // block where the destination's are apart as well.
            _Alignas(64) char in[64 * 64], out[64 * 64];
            for (ptrdiff_t step = 0; step < steps; step++) {
                const char *from = s + step * per_step * src_step;
                char *to = d + step * per_step * dst_step;
                const char *stage = from;
                if (src_step != P) {
                    for (ptrdiff_t b = 0; b < per_step; b++) move_upto64(in + b * P, from + b * src_step, (size_t)P);
                    stage = in;
                }
                if (dst_step == P) {
                    permute_steps_avx512(stage, to, 1, R, t, 0, E);
                } else {
                    permute_steps_avx512(stage, out, 1, R, t, 0, E);
                    for (ptrdiff_t b = 0; b < per_step; b++) move_upto64(to + b * dst_step, out + b * P, (size_t)P);
                }
            }
        }
        done = steps * per_step;
    }
#endif
    s += done * src_step;
    d += done * dst_step;
    switch (E) {
    case 1: permute_blocks_scalar(s, src_step, d, dst_step, blocks - done, block, permutation, 1); break;
    case 2: permute_blocks_scalar(s, src_step, d, dst_step, blocks - done, block, permutation, 2); break;
    case 4: permute_blocks_scalar(s, src_step, d, dst_step, blocks - done, block, permutation, 4); break;
    case 8: permute_blocks_scalar(s, src_step, d, dst_step, blocks - done, block, permutation, 8); break;
    default: permute_blocks_scalar(s, src_step, d, dst_step, blocks - done, block, permutation, 16); break;
    }
}
