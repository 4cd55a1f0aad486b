// Transposes whose across side is spaced in the source: every k-th column (a downsample, x[:, ::2],
// fused with a change of layout). No register transpose reads such columns, so the tile went element
// by element. Here blocks of the tile's source rows are packed into an L1 stage, a register of
// elements at a time (rl_copy_spaced_rows), and the stage goes through the register transposes.
#include "CRelayoutKernels.h"

#include "TransposeBlocks.h"

int rl_transpose_tile_spaced(const void *src, ptrdiff_t src_along, ptrdiff_t src_across, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int flags) {
    const ptrdiff_t E = element_size;
    if (src_across == 1 || src_across == -1 || src_across == 0 || along_n < 1 || across_n < 1) return 0;
    const char *s = (const char *)src;
    char *d = (char *)dst;
    if (src_across < 0) {
        // Turned round, as a quarter turn's tiles: the columns read forwards, the destination rows
        // written from the last one up.
        s += (across_n - 1) * src_across * E;
        d += (across_n - 1) * dst_across * E;
        src_across = -src_across;
        dst_across = -dst_across;
    }
    // Past a line between columns the packing goes a column at a time and gains nothing.
    if (src_across * E > 64) return 0;
    // The stage holds rows of up to 256 bytes' worth of the along side (whole lines of the
    // destination rows) by as many columns as fit.
    _Alignas(64) char stage[L1_STAGE_BYTES];
    const ptrdiff_t along_block = along_n < 256 / E ? along_n : 256 / E;
    ptrdiff_t across_block = L1_STAGE_BYTES / (along_block * E);
    if (across_block > across_n) across_block = across_n;
    // The stage has no rows around it to complete shared lines with.
    flags &= ~(RL_TRANSPOSE_ROWS_BEFORE | RL_TRANSPOSE_ROWS_AFTER);
    for (ptrdiff_t b0 = 0; b0 < across_n; b0 += across_block) {
        const ptrdiff_t nb = across_n - b0 < across_block ? across_n - b0 : across_block;
        for (ptrdiff_t a0 = 0; a0 < along_n; a0 += along_block) {
            const ptrdiff_t na = along_n - a0 < along_block ? along_n - a0 : along_block;
            rl_copy_spaced_rows(stage, nb * E, s + (a0 * src_along + b0 * src_across) * E, src_along * E, na, nb, (size_t)E, src_across * E);
            rl_transpose_tile(stage, nb, d + (b0 * dst_across + a0) * E, dst_across, na, nb, E, flags);
        }
    }
    return 1;
}
