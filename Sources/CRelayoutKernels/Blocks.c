// Copies whose both sides are dense blocks of a few elements, each block's elements permuted the
// same way: a batch of small matrices transposed (N x 3 x 3 -> N x 3 x 3 with the last two axes
// swapped), or of small tensors permuted. Each block is a tile of all tail for the register blocks,
// and a work item per block paid a call and a walk of the loop nest (2 threads: f4
// 1000000x3x3:0,2,1 0.10 of memcpy, u1 2000000x3x4:0,2,1 0.03). With AVX-512 the copy is a stream
// instead: every L = lcm(P, 64) bytes (P: the block's bytes, at most 64) hold whole blocks, and
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
// the register kernel does not run.
static inline __attribute__((always_inline)) void permute_blocks_scalar(const char *src, char *dst, ptrdiff_t blocks, ptrdiff_t block,
                                                                         const int32_t *permutation, const int E) {
    for (ptrdiff_t b = 0; b < blocks; b++, src += block * E, dst += block * E)
        for (ptrdiff_t i = 0; i < block; i++) memcpy(dst + i * E, src + (ptrdiff_t)permutation[i] * E, E);
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

void rl_permute_blocks(const void *src, void *dst, ptrdiff_t blocks, ptrdiff_t block, const int32_t *permutation, const void *table,
                       ptrdiff_t element_size, int streaming) {
    const char *s = (const char *)src;
    char *d = (char *)dst;
    const ptrdiff_t E = element_size;
    ptrdiff_t done = 0;
#if defined(__x86_64__)
    if (table && rl_avx512_transposes() && (E != 1 || rl_has_avx512_vbmi())) {
        const ptrdiff_t R = step_registers(block * E), per_step = R * 64 / (block * E), steps = blocks / per_step;
        // Streamed only where every store is a whole aligned line.
        permute_steps_avx512(s, d, steps, R, (const StepRegister *)table, streaming && ((uintptr_t)d & 63) == 0, E);
        done = steps * per_step;
    }
#endif
    s += done * block * E;
    d += done * block * E;
    switch (E) {
    case 1: permute_blocks_scalar(s, d, blocks - done, block, permutation, 1); break;
    case 2: permute_blocks_scalar(s, d, blocks - done, block, permutation, 2); break;
    case 4: permute_blocks_scalar(s, d, blocks - done, block, permutation, 4); break;
    case 8: permute_blocks_scalar(s, d, blocks - done, block, permutation, 8); break;
    default: permute_blocks_scalar(s, d, blocks - done, block, permutation, 16); break;
    }
}
