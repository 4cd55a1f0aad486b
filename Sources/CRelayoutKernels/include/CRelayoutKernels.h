#ifndef CRELAYOUT_KERNELS_H
#define CRELAYOUT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Transposes one tile: dst[b * dst_across + a] = src[a * src_along + b] for a < along_n, b < across_n,
/// on elements of `element_size` bytes (1, 2, 4, 8 or 16). Strides are in elements. The source is
/// read along b (its stride-1 side), the destination written along a (its stride-1 side), through
/// 16-byte register transposes. With `streaming` non-zero and 16-byte aligned destination rows, full
/// blocks are written with non-temporal stores (callers end a batch with rl_store_fence), unless rows
/// that start inside cache lines would keep more than 12 partial lines open per strip of blocks.
/// With AVX-512, 4-byte tiles whose destination rows start inside lines stream whole aligned lines
/// instead (each row's lines joined from two register blocks), whatever the rows' alignment.
/// `flags`: RL_TRANSPOSE_STREAMING asks for the non-temporal stores; RL_TRANSPOSE_WIDE lets streamed
/// tiles take, with AVX-512, a walk by source rows with whole 64-byte register blocks, into aligned
/// rows or joined into rows that start inside lines (1- and 2-byte elements through an L1 stage)
/// (CopyTuning.wideTransposes). Streamed 1- and 2-byte tiles whose destination rows lie back to
/// back (dst_across == along_n, a multiple of 4, not whole lines) go to rl_transpose_tile_grouped's
/// packed strips. Tiles with a side of 2 to 15 elements packed on one
/// side (NHWC <-> NCHW with few channels) take register gathers instead, with AVX-512BW (1-byte
/// elements: and VBMI).
/// RL_TRANSPOSE_STAGED_ANY_STRIDE: without the AVX-512 walks, streamed 1-, 2- and 4-byte tiles with
/// RL_TRANSPOSE_WIDE take the staged walk at every row stride, not only where one is a multiple of 1 KiB
/// or the destination's rows start inside lines (CopyTuning.stagedTransposesAtAnyStride); 8- and
/// 16-byte tiles always do.
/// RL_TRANSPOSE_WIDE_SINGLE_BLOCKS: the AVX-512 walks take 4-byte tiles one 16 x 16 block per step
/// (16 source rows, one line into each destination row) instead of two blocks one above the other
/// (32 rows, two lines per row) (CopyTuning.wideFourByteBlockPairs off).
/// RL_TRANSPOSE_ROWS_BEFORE / RL_TRANSPOSE_ROWS_AFTER: at least RL_NEIGHBOUR_ROWS more source rows
/// lie before a = 0 / after a = along_n (src - k * src_along, ...), and the destination rows go on
/// there (the neighbouring tiles of the same plane). Streamed tiles into rows that start inside
/// lines may then read those rows and write the lines they share with the neighbours whole, with
/// the values the neighbours write there too, instead of a masked ordinary store on each side (a
/// read of the line from memory first). Only rl_transpose_tile reads them: one block's rows, 64 / E
/// (1-byte tiles all 64 of RL_NEIGHBOUR_ROWS).
/// RL_TRANSPOSE_FETCH_AHEAD: the source comes from memory, not from cache (the copy outgrows the
/// last-level cache; CopyTuning.fetchAheadThresholdBytes): the AVX-512 walk into rows that start
/// inside lines fetches each source row's line three steps ahead. Its loads start inside lines too
/// (where the source's rows do), and the hardware prefetchers then fetch no further ahead than the
/// line the load itself reaches into.
/// RL_TRANSPOSE_LINES_BEFORE / RL_TRANSPOSE_LINES_AFTER: which tile writes the lines that the rows of
/// two neighbouring tiles of a plane share, so that each byte has one writer. With _BEFORE the tile
/// writes each row's first line whole, its elements before a = 0 read from the source rows before the
/// tile; with _AFTER it leaves each row's last partial line to the tile after. Only for rows that take
/// whole lines (b < across_n - across_n % (64 / E)); the others' shared lines take each tile's own
/// bytes. Set only as rl_transpose_tile_line_flags returns them, for both tiles of a pair.
enum { RL_TRANSPOSE_STREAMING = 1, RL_TRANSPOSE_WIDE = 2, RL_TRANSPOSE_STAGED_ANY_STRIDE = 4, RL_TRANSPOSE_WIDE_SINGLE_BLOCKS = 8,
       RL_TRANSPOSE_ROWS_BEFORE = 16, RL_TRANSPOSE_ROWS_AFTER = 32, RL_TRANSPOSE_FETCH_AHEAD = 64,
       RL_TRANSPOSE_LINES_BEFORE = 128, RL_TRANSPOSE_LINES_AFTER = 256 };
enum { RL_NEIGHBOUR_ROWS = 64 };
/// The most channels (elements of the packed side) that the few-channel gathers take (Channels.c);
/// the planner keeps the usual tile for reversed tiles with a side this short. Their cost grows with
/// the channels (one two-register permute per pair of them for every output register), but up to 15
/// they still beat the register blocks, which see such a tile as mostly tail (2 threads, 8 MiB: u1 N
/// x 10 to 10 planes 0.31 -> 0.89 of memcpy, x 15 0.32 -> 0.59; u2 x 12 0.43 -> 0.71; f4 x 14 0.68
/// -> 0.92). At 16, 1- and 2-byte blocks are whole and faster (u2 x 16 1.19 against 0.76).
enum { RL_MAX_CHANNELS = 15 };
void rl_transpose_tile(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t dst_across,
                       ptrdiff_t along_n, ptrdiff_t across_n, ptrdiff_t element_size, int flags);

/// RL_TRANSPOSE_LINES_BEFORE / _AFTER for rl_transpose_tile's call with these arguments (`flags`
/// without them), where the tile before it in its plane has `before_n` rows along (0: none) and the
/// tile after it `after_n` (0: none), each at the same strides, their destination rows going on from
/// this tile's. A side is set where both tiles of the pair take a walk that honours it (the staged
/// walk into rows inside lines, on CPUs without the AVX-512 walks), so that the call for the other
/// tile, asked the same way, gets the matching side.
int rl_transpose_tile_line_flags(ptrdiff_t src_along, const void *dst, ptrdiff_t dst_across, ptrdiff_t along_n, ptrdiff_t across_n,
                                 ptrdiff_t element_size, int flags, ptrdiff_t before_n, ptrdiff_t after_n);

/// Whether 1- and 2-byte transposes (rl_transpose_tile, rl_transpose_tile_grouped) and streamed 4-byte
/// transposes into rows that start inside lines may run the kernels' AVX-512 builds (by default they do
/// where the CPU has AVX-512BW and VL). Tests turn it off to check the baseline builds on such a CPU.
void rl_set_avx512_allowed(int allowed);

/// Whether the kernels that also need AVX-512 VBMI (1- and 2-byte transposes into rows that start
/// inside lines, few-channel gathers of 1-byte elements) may run where the CPU has it (by default
/// they do). Tests turn it off to check, on such a CPU, the paths of one with AVX-512BW but no VBMI.
void rl_set_avx512_vbmi_allowed(int allowed);

/// Whether the AVX-512 walks run (the CPU has AVX-512BW and VL, and rl_set_avx512_allowed has not
/// turned them off): where they do, the staged walk of CPUs without them is not reached, and the
/// tuner leaves its knob alone.
int rl_avx512_walks(void);

/// Whether streamed 1- and 2-byte transposes into rows that start inside lines take the staged wide
/// walk (AVX-512BW and VBMI, neither turned off): the planner groups large 1-byte tiles of such rows
/// only where they do.
int rl_narrow_rows_inside_lines_walk(void);

/// Whether the staged walk (rl_transpose_tile on CPUs without AVX-512) may take its AVX2 build for 1-
/// and 2-byte elements where the CPU has AVX2 (by default it does). Tests turn it off to check the
/// 16-byte build on such a CPU.
void rl_set_avx2_allowed(int allowed);

/// One side of a grouped tile: its rows indexed by up to three dimensions, innermost first, with
/// counts and the strides (in elements) of the side's rows (the source's for the along side, the
/// destination's for the across side). Unused dimensions have count 1 (their stride is ignored).
typedef struct rl_row_group {
    ptrdiff_t count, count2, count3;
    ptrdiff_t stride, stride2, stride3;
} rl_row_group;

/// Transposes a grouped tile: the rows of rl_transpose_tile are indexed by up to three dimensions per
/// side. With a = i + i2 * along.count + i3 * along.count * along.count2 (and b likewise from j, j2, j3):
///   dst[j * across.stride + j2 * across.stride2 + j3 * across.stride3 + a]
///     = src[i * along.stride + i2 * along.stride2 + i3 * along.stride3 + b]
/// (strides in elements): the destination's stride-1 dimension continues into its next ones, and the
/// source's likewise. Requires rl_transpose_grouped_fits(along rows, across rows).
/// `flags` as in rl_transpose_tile; streaming where every destination row is whole aligned lines
/// (there RL_TRANSPOSE_WIDE takes the wide walk through row tables, the staged one for 1- and 2-byte
/// elements), or, with AVX-512, lines joined in registers for rows that start inside lines; 1- and
/// 2-byte rows that lie back to back, where 16 / E of them are whole lines from a line boundary,
/// are staged a strip at a time in L1 and streamed as one stretch. A tile of 2 to 8 packed
/// channels (across.count <= 8, one across group) goes to the few-channel gathers one along group at
/// a time.
void rl_transpose_tile_grouped(const void *src, rl_row_group along, void *dst, rl_row_group across, ptrdiff_t element_size, int flags);

/// Whether a grouped tile of this many rows on each side fits the kernel's row tables.
int rl_transpose_grouped_fits(ptrdiff_t along_rows, ptrdiff_t across_rows);

/// Whether destination rows of `row_elements` elements that lie back to back can go as packed strips
/// (streamed transposes of 1- and 2-byte elements): 16 / element_size of them make whole 64-byte
/// lines, few enough to stage in L1. The planner streams such tiles; the kernels stage them.
int rl_transpose_strips_pack(ptrdiff_t row_elements, ptrdiff_t element_size);

/// Copies `bytes` bytes with non-temporal stores where the machine has them (memcpy otherwise).
void rl_copy_streaming(void *dst, const void *src, size_t bytes);

/// Orders earlier non-temporal stores before later stores (a no-op where there are none).
void rl_store_fence(void);

/// Whether this build issues real non-temporal stores (x86-64 with SSE2).
int rl_has_streaming_stores(void);

/// Copies `blocks` blocks of `block` elements (`element_size` bytes each), block b at src + b *
/// src_step and dst + b * dst_step (bytes): element i of each destination block is element
/// permutation[i] of the source block (a batch of small matrices transposed, or of small tensors
/// permuted). `table`: NULL, or rl_block_permute_table_bytes(block, element_size) bytes that
/// rl_block_permute_build filled for this permutation; with it, on CPUs with AVX-512BW (1-byte
/// elements: and VBMI), whole steps of lcm(block bytes, 64) bytes move through register permutes
/// (blocks that are not back to back through an L1 stage), streamed where both sides' blocks are
/// back to back, `streaming` is set and the destination is 64-byte aligned (callers end a batch
/// with rl_store_fence). The rest, and everything elsewhere, moves element by element.
void rl_permute_blocks(const void *src, ptrdiff_t src_step, void *dst, ptrdiff_t dst_step, ptrdiff_t blocks, ptrdiff_t block,
                       const int32_t *permutation, const void *table, ptrdiff_t element_size, int streaming);
/// The bytes of rl_permute_blocks' table for blocks of `block` elements: 0 where the register path
/// does not take them (blocks over 64 bytes, 16-byte elements).
size_t rl_block_permute_table_bytes(ptrdiff_t block, ptrdiff_t element_size);
/// Fills `table` (rl_block_permute_table_bytes bytes) for `permutation`.
void rl_block_permute_build(void *table, const int32_t *permutation, ptrdiff_t block, ptrdiff_t element_size);

#endif

/// Copies a tile of contiguous runs: for i < n_outer, j < n_inner, `run_bytes` bytes from
/// src + i * src_outer + j * src_inner to dst + i * dst_outer + j * dst_inner (strides in bytes).
/// Short runs are copied inline with 16-byte moves rather than one memcpy call each. Runs of up to 31
/// bytes that lie back to back in the destination along `outer` take register kernels where the
/// CPU has AVX-512BW and VBMI: across runs back to back in the source along `inner`, forwards or
/// backwards (rl_short_runs_transpose), read backwards along `outer` (rl_copy_reversed), or spaced
/// up to 64 bytes apart along it, unless streaming (rl_copy_spaced_runs).
void rl_copy_run_tile(const void *src, ptrdiff_t src_outer, ptrdiff_t src_inner,
                      void *dst, ptrdiff_t dst_outer, ptrdiff_t dst_inner,
                      ptrdiff_t n_outer, ptrdiff_t n_inner, size_t run_bytes, int streaming);

/// Transposes a tile of runs of 1 to 31 bytes that lie back to back on both sides (RunTranspose.c):
/// run (i, j) from src + i * src_outer + j * src_inner to dst + i * run_bytes + j * dst_inner (bytes),
/// for i < n_outer, j < n_inner, where src_inner is run_bytes or -run_bytes (the source's rows read
/// backwards; single elements of a quarter turn are runs too). With `streaming`, each band of
/// destination rows goes through an L1 stage and out in whole lines (callers end a batch with
/// rl_store_fence). Returns 0, having written nothing, where it does not apply (other lengths or
/// steps, CPUs without AVX-512BW and VBMI).
int rl_transpose_short_runs(const void *src, ptrdiff_t src_outer, ptrdiff_t src_inner, void *dst, ptrdiff_t dst_inner, ptrdiff_t n_outer,
                            ptrdiff_t n_inner, size_t run_bytes, int streaming);

/// rl_transpose_short_runs with the units of `unit_bytes` bytes (1, 2, 4 or 8; 0: none) reversed
/// within each run, in the same pass (the first stage's permute picks them in reverse): an RGB
/// image's pixels turned a quarter and made BGR. Returns 0, having written nothing, where it does
/// not apply (as rl_transpose_short_runs, or runs that are not two or more whole units).
int rl_transpose_flipped_runs(const void *src, ptrdiff_t src_outer, ptrdiff_t src_inner, void *dst, ptrdiff_t dst_inner, ptrdiff_t n_outer,
                              ptrdiff_t n_inner, size_t run_bytes, size_t unit_bytes, int streaming);

/// Planes into pixels with the planes' rows read backwards (an NCHW batch flipped into NHWC):
/// dst[b * along_n + a] = src[a * src_along - b] for a < along_n (2 to RL_MAX_CHANNELS planes of 1-
/// to 8-byte elements, pixels narrower than a line), b < across_n (strides in elements of
/// `element_size` bytes). Each stretch of the rows is reversed into an L1 stage and interleaved by
/// the channel gathers. Other transposes whose source rows are read backwards (a quarter turn,
/// x.T[::-1]; BGR pixels into RGB planes) are rl_transpose_tile's with the tile turned round: its
/// source columns read forwards, its destination rows written from the last one up. Returns 0,
/// having written nothing, where it does not apply (other shapes, 16-byte elements, CPUs without
/// AVX-512BW and VBMI): the caller then turns the tile round too.
int rl_interleave_reversed_planes(const void *src, ptrdiff_t src_along, void *dst, ptrdiff_t along_n, ptrdiff_t across_n,
                                  ptrdiff_t element_size, int streaming);

/// Whether rl_copy_run_tile moves runs of `run_bytes` bytes that lie back to back on both sides
/// (dst_outer and src_inner equal to run_bytes) through register transposes: 1 to 31 bytes, on CPUs
/// with AVX-512BW and VBMI (neither turned off). The planner shapes such tiles for it and lets them
/// stream: each band of destination rows goes through an L1 stage and out in whole lines.
int rl_short_runs_transpose(size_t run_bytes);

/// Copies `count` units of `unit_bytes` bytes in reverse order: unit k of dst is the unit at src - k *
/// unit_bytes (src points at the first unit read, the highest in memory), for k < count: a row
/// flipped (x[:, ::-1]). Units up to 32 bytes go a register at a time through one byte permute where
/// the CPU has AVX-512BW and VBMI; one at a time elsewhere. dst and src must not overlap.
void rl_copy_reversed(void *dst, const void *src, ptrdiff_t count, size_t unit_bytes);

/// Transposes a tile whose across side is spaced in the source: dst[b * dst_across + a] = src[a *
/// src_along + b * src_across] for a < along_n, b < across_n (strides in elements of `element_size`
/// bytes), |src_across| from 2 up to 64 bytes' worth of elements (every k-th column, forwards or
/// backwards). Blocks of the source rows are packed into an L1 stage (rl_copy_spaced_runs), which
/// rl_transpose_tile then transposes with `flags`. Returns 0, having written nothing, for other
/// strides.
int rl_transpose_tile_spaced(const void *src, ptrdiff_t src_along, ptrdiff_t src_across, void *dst, ptrdiff_t dst_across, ptrdiff_t along_n,
                             ptrdiff_t across_n, ptrdiff_t element_size, int flags);

/// Copies `count` runs of `run_bytes` bytes spaced `src_step` bytes apart in the source (src_step >
/// run_bytes) back to back into dst: x[..., :3] of RGBA pixels. Runs up to 32 bytes with steps up to
/// 64 go a register at a time through one two-register byte permute where the CPU has AVX-512BW and
/// VBMI; one at a time elsewhere.
void rl_copy_spaced_runs(void *dst, const void *src, ptrdiff_t count, size_t run_bytes, ptrdiff_t src_step);

/// rl_copy_spaced_runs for `rows` rows: row i from src + i * src_row into dst + i * dst_row (bytes),
/// the register path's table built once for all of them.
void rl_copy_spaced_rows(void *dst, ptrdiff_t dst_row, const void *src, ptrdiff_t src_row, ptrdiff_t rows, ptrdiff_t count, size_t run_bytes,
                         ptrdiff_t src_step);

/// Interleaved 3-channel UInt8 pixels to three Float32 planes: plane_c[p] = src[3p + c] * scale[c]
/// + shift[c]. Vectorised 16 pixels at a time (AVX2 when the CPU has it, checked at run time; the
/// same code for the baseline instruction set otherwise).
void rl_planes3_u8_f32(const unsigned char *src, ptrdiff_t pixels, float *plane0, float *plane1, float *plane2,
                       const float *scale, const float *shift);
