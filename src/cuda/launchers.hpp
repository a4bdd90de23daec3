// Internal: the host launcher of every kernel, as dispatch.cpp and the stage drivers call them. Each one launches
// exactly the kernel its name says, on resolved parameters (no zero leading dimensions or strides) that dispatch.cpp
// has checked apply; choosing between them is dispatch.cpp's job alone. The definitions sit beside their kernels in
// kernels/*.cuh and are compiled by the files of instantiations/.
//
// Tile formats with CUDA-core kernels, as (a,b) pairs of the encode and (a,c) pairs of the decode: (2,2), (3,3),
// (4,4), (2,4), (1,4), (4,2), (1,2), (2,1), (4,1) — the families <2,2,2>, <3,3,3>, <4,4,4>, <2,4,4>, <1,4,4>, <4,2,4>,
// <1,4,2>, <2,4,1>, <4,4,1>: every a, b, c in {1, 2, 4} but 1×1 tiles, and <3,3,3>. Every other format runs the
// generic kernels.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "params.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

// ---- Encode X → X̂ and decode Z → Y (the backward's transposed passes too, through a CoefLayout) ----

// CUDA-core encode specialised on <A,B> (kernels/encode_tiles.cuh).
template <DType D, int A, int B>
void launch_encode_tiles(const EncodeParams& params, CoefLayout enc, CausalSide causal);
// CUDA-core decode specialised on <A,C>, Z read into registers (kernels/decode_tiles.cuh).
template <DType D, int A, int C>
void launch_decode_tiles(const DecodeParams& params, CoefLayout dec, CausalSide causal);
// CUDA-core decode specialised on <A,C>, Z staged through shared memory (kernels/decode_staged.cuh); needs
// decode_staged_fits.
template <DType D, int A, int C>
void launch_decode_staged(const DecodeParams& params, CoefLayout dec, CausalSide causal);
constexpr int kStagedDecodeTiles = 512;  // output tiles (along j) per block of decode_staged

// Tensor-core <4,4> encode and decode, D bf16 or f16, rank <= kMmaMaxRank (kernels/codec_mma.cuh).
constexpr int kMmaMaxRank = 64;
constexpr int kMmaGroupTiles = 128;  // tiles of one row-tile per group of those kernels (mma_group::kTiles)
template <DType D>
void launch_encode_mma(const EncodeParams& params, CoefLayout enc, CausalSide causal);
template <DType D>
void launch_decode_mma(const DecodeParams& params, CoefLayout dec, CausalSide causal);

// A coefficient gradient summed inside the backward's tensor-core codec pass (kernels/coef_grad_fold.cuh):
// out[p·out_p + q·out_q] (+)= Σ over the pass's tile positions of plane p · tile entry q, where one side is what the
// pass reads and `src` the other: Z's r planes (ld, stride) in dZ = decodeᵀ(dY)'s pass (dD), X (ld) in dX =
// encodeᵀ(dX̂)'s pass (dE_X).
struct CoefGradFold {
  const void* src = nullptr;
  std::int64_t ld = 0, stride = 0;
  float* partials = nullptr;  // coef_grad_fold_scratch(rank) bytes, 16-byte aligned
  float* out = nullptr;
  int out_p = 0, out_q = 0;
  bool add = false;  // sum into out (later row blocks)
  // The dZ pass only: dY's column sums (the bias's gradient) into bias_out, summed inside the pass from the tiles it
  // stages (column_sums after it where its grid cannot hold whole column slabs); bias_scratch:
  // folded_column_sums_scratch bytes. Null: not asked.
  float* bias_out = nullptr;
  void* bias_scratch = nullptr;
};
constexpr int kFoldMaxBlocks = 1024;  // the folding kernels' grid at most: their partials' rows
constexpr int kFoldMaxRank = 32;      // above, the folding kernels' shared memory would pass 48 KB
inline std::size_t coef_grad_fold_scratch(int rank) {
  return static_cast<std::size_t>(kFoldMaxBlocks) * static_cast<std::size_t>(rank) * 16 * sizeof(float);
}
// launch_encode_mma / launch_decode_mma with the gradient folded in (rank <= kFoldMaxRank); then its blocks'
// partials summed into fold.out.
template <DType D>
void launch_encode_mma_folding(const EncodeParams& params, CoefLayout enc, CausalSide causal,
                               const CoefGradFold& fold);
template <DType D>
void launch_decode_mma_folding(const DecodeParams& params, CoefLayout dec, CausalSide causal,
                               const CoefGradFold& fold);
// The CUDA-core passes with the gradient folded in (kernels/staged_fold.cuh), for the specialised tiles the
// tensor-core ones do not cover: the backward's dX pass (decode of dX̂ onto X's (A, C) tiles, dE_X) and dZ pass
// (encode of dY's (A, B) tiles, dD); D bf16 or f16, rank <= kFoldMaxRank, no bias or activation; then the blocks'
// partials summed into fold.out.
template <DType D, int A, int C>
void launch_decode_staged_folding(const DecodeParams& params, CoefLayout dec, CausalSide causal,
                                  const CoefGradFold& fold);
template <DType D, int A, int B>
void launch_encode_staged_folding(const EncodeParams& params, CoefLayout enc, CausalSide causal,
                                  const CoefGradFold& fold);
// out of `fold` from `blocks` rows of rank × entries partials (entries = the tile's a·b or a·c; kernels/backward.cuh).
void launch_sum_fold_partials(const CoefGradFold& fold, int blocks, int rank, int entries, cudaStream_t stream);
// out[col] = Σ_b partial[b, col] over `blocks` rows of `cols` partial column sums (cols < 2^31), in a fixed order
// (kernels/backward.cuh).
void launch_sum_partials(const float* partial, std::int64_t blocks, std::int64_t cols, float* out, cudaStream_t stream);
// Layer 1's decode feeding layer 2's encode through shared memory (kernels/decode_encode_mma.cuh): `dec` and `enc`
// are the two halves as launch_decode_mma and launch_encode_mma would take them (enc.x unused).
template <DType D>
void launch_decode_encode_mma(const DecodeParams& dec, const EncodeParams& enc);

// Any tile format, sizes at run time (kernels/generic.cuh). The decode reads Z in ZD (fp32 for DecodeParams::z_f32)
// and writes Y in D. Every codec kernel applies CodecLaunch::causal_levels on the side `causal` (the forward's by
// default, as in encode_with and decode_with): the generic ones by selection, the specialised ones by reading the
// masked coefficients as zeros, followed by the causal repair below.
template <DType D>
void launch_encode_generic(const EncodeParams& params, CoefLayout enc,
                           CausalSide causal = CausalSide::at_or_below_level);
template <DType D, DType ZD>
void launch_decode_generic(const DecodeParams& params, CoefLayout dec,
                           CausalSide causal = CausalSide::at_or_above_level);

// Mode causal after a specialised kernel (kernels/causal_repair.cuh): recomputes by selection the tiles whose input
// holds a non-finite value; nothing when params.causal_levels is null.
template <DType D>
void launch_encode_causal_repair(const EncodeParams& params, CoefLayout enc, CausalSide causal);
template <DType D>
void launch_decode_causal_repair(const DecodeParams& params, CoefLayout dec, CausalSide causal);

// ---- The forward's products and decode in one kernel (kernels/products_decode_sm90.cuh) ----

// sm_90a only, bf16, rank <= kProductsDecodeMaxRank, tiles with a·c <= kProductsDecodeMaxSlots; dispatch.cpp
// (fused_forward_unavailable) says where it applies.
constexpr int kProductsDecodeMaxRank = 3;
constexpr int kProductsDecodeMaxSlots = 4;
constexpr int kProductsDecodeStages = 5;       // TMA pipeline stages beside the staged products
constexpr int kMaxCachedDevices = 64;  // devices whose facts are cached (compute capability, speed model, opt-ins)
// The products, D, and the rows × out_features bf16 matrix Y the epilogue decodes into.
struct ProductsDecodeArgs {
  int m = 0, n = 0;  // the products' rows (X̂'s) and columns (Ŵ's)
  int k = 0;         // their inner side as X̂ holds it: a multiple of 8, zeros past the layer's k
  int w_rows = 0;    // the layer's k: Ŵ's rows (the kernel reads those past it as zeros)
  int rank = 0;
  const float* dec = nullptr;  // a·c × rank
  std::int64_t ldy = 0, out_features = 0;
  std::int64_t rows = 0, seq = 0, per_seq = 0;  // the row grouping (StlShape's rows, sequence_length, tiles_per_sequence)
  bool vector_store = false;   // Y's rows hold c-element groups at 2·c-byte boundaries
  bool whole_tiles = false;    // every sequence is whole row tiles: product row p is rows a·p .. a·p + a − 1
  const void* bias = nullptr;  // out_features bf16, or null
  Activation activation = Activation::none;
  void* y = nullptr;  // bf16, rows × out_features, leading dimension ldy
};
// x_hat: rank × m × k, contiguous bf16; w_hat: rank × w_rows × n bf16 as products_weight_ready accepts it.
template <int A, int C>
void launch_products_decode_sm90(const ProductsDecodeArgs& args, const void* x_hat, ConstProductTensor w_hat,
                                 cudaStream_t stream);
// The same for (a, c) known at run time (dispatch.cpp).
void products_decode(int a, int c, const ProductsDecodeArgs& args, const void* x_hat, ConstProductTensor w_hat,
                     cudaStream_t stream);
// Whether the kernel reads Ŵ where it is (its tensor map's terms: 16-byte aligned rows and matrices); else the
// forward copies it into rows of round_up(n, 8) first.
inline bool products_weight_ready(ConstProductTensor w) {
  return is_aligned(w.data, 16) && w.ld % 8 == 0 && w.stride % 8 == 0;
}

// ---- Operands of products on sides rounded up to 8 (params.hpp: pads_products; kernels/padded_copy.cuh) ----

// `batch` matrices of Bytes-byte elements into dst (rows_dst × cols_dst, leading dimension ld_dst, batch stride
// stride_dst): src's rows_src × cols_src where they reach, zeros elsewhere.
template <std::size_t Bytes>
void launch_copy_padded(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, std::int64_t rows_dst,
                        std::int64_t cols_dst, const void* src, std::int64_t ld_src, std::int64_t stride_src,
                        std::int64_t rows_src, std::int64_t cols_src, std::int64_t batch, cudaStream_t stream);
// Zeroes columns [cols, ld) of `rows` rows of Bytes-byte elements.
template <std::size_t Bytes>
void launch_zero_columns(void* ptr, std::int64_t rows, std::int64_t cols, std::int64_t ld, cudaStream_t stream);
// The same for an element size known at run time (2 or 4 bytes; dispatch.cpp). zero_columns does nothing when
// ld == cols.
void copy_padded(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, std::int64_t rows_dst, std::int64_t cols_dst,
                 const void* src, std::int64_t ld_src, std::int64_t stride_src, std::int64_t rows_src,
                 std::int64_t cols_src, std::int64_t batch, std::size_t esize, cudaStream_t stream);
void zero_columns(void* ptr, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::size_t esize,
                  cudaStream_t stream);

// dst[p][i][j] = src[p][i][j] (fp32) rounded to D, for `batch` rows × cols matrices (kernels/store_f32.cuh); the
// run-time-dtype form is in dispatch.cpp.
template <DType D>
void launch_store_f32(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, const float* src, std::int64_t ld_src,
                      std::int64_t stride_src, std::int64_t rows, std::int64_t cols, std::int64_t batch,
                      cudaStream_t stream);
void store_f32(DType dtype, void* dst, std::int64_t ld_dst, std::int64_t stride_dst, const float* src,
               std::int64_t ld_src, std::int64_t stride_src, std::int64_t rows, std::int64_t cols, std::int64_t batch,
               cudaStream_t stream);
// dst[0, n_first) = first, dst[n_first, n_first + n_second) = second, from D to fp32 (kernels/store_f32.cuh); the
// public form is coefficients_to_f32.
template <DType D>
void launch_to_f32(float* dst, const void* first, std::int64_t n_first, const void* second, std::int64_t n_second,
                   cudaStream_t stream);

// ---- The backward's own kernels (kernels/backward.cuh) ----

// out[j] = Σ_rows y[row, j] in fp32; y is rows × cols with leading dimension ld. Deterministic (no atomics): blocks of
// rows write partial sums to `scratch`, which a second pass adds in a fixed order. scratch holds
// column_sums_scratch(rows, cols) bytes, 4-byte aligned (null when that is 0).
// 256 rows per block at least; more when needed to keep gridDim.y within its 65535 limit.
inline std::int64_t column_sums_rows_per_block(std::int64_t rows) {
  return std::max<std::int64_t>(256, (rows + 65534) / 65535);
}
inline std::int64_t column_sums_row_blocks(std::int64_t rows) {
  return (rows + column_sums_rows_per_block(rows) - 1) / column_sums_rows_per_block(rows);
}
inline std::size_t column_sums_scratch(std::int64_t rows, std::int64_t cols) {
  if (rows <= 0 || cols <= 0 || column_sums_row_blocks(rows) == 1) return 0;
  return static_cast<std::size_t>(column_sums_row_blocks(rows) * cols) * sizeof(float);
}
// The scratch of CoefGradFold::bias_out: per column, a partial sum for each group of the dZ pass's blocks that walk
// the same column slabs (kFoldMaxBlocks blocks at most, ceil(col_tiles / slab_tiles) slabs per row-tile, slab_tiles
// as fold_slab_tiles says), or column_sums' scratch where the pass cannot fold it.
inline std::size_t folded_column_sums_scratch(std::int64_t rows, std::int64_t cols, std::int64_t col_tiles,
                                              int slab_tiles) {
  const std::int64_t slabs_per_row = std::max<std::int64_t>(1, (col_tiles + slab_tiles - 1) / slab_tiles);
  const std::int64_t groups = std::max<std::int64_t>(1, kFoldMaxBlocks / slabs_per_row);
  return std::max(column_sums_scratch(rows, cols), static_cast<std::size_t>(groups * std::max<std::int64_t>(cols, 0)) * sizeof(float));
}
template <DType D>
void launch_column_sums(const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                        float* scratch, cudaStream_t stream);
// A dZ pass's grid for CoefGradFold::bias_out: `blocks` cut to whole groups of `slabs_per_row` (each block then walks
// one column slab), or 0 where not even one group fits (the column sums then run on their own).
inline std::int64_t grid_of_whole_slabs(std::int64_t blocks, std::int64_t slabs_per_row) {
  return blocks >= slabs_per_row ? blocks - blocks % slabs_per_row : 0;
}
// The same for a dtype known at run time (dispatch.cpp); checks the scratch and handles empty sizes.
void column_sums(DType dtype, const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                 void* scratch, cudaStream_t stream);
// The bias's gradient after a dZ pass asked for it (fold.bias_out; nothing otherwise): the `partial_rows` rows of
// column partials its kernel wrote summed, or, where it wrote none (0), dY's column sums by a pass of their own.
inline void finish_folded_bias(const CoefGradFold& fold, std::int64_t partial_rows, DType dtype, const void* dy,
                               std::int64_t ld, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  if (fold.bias_out == nullptr) return;
  if (partial_rows > 0)
    launch_sum_partials(static_cast<const float*>(fold.bias_scratch), partial_rows, cols, fold.bias_out, stream);
  else
    column_sums(dtype, dy, ld, rows, cols, fold.bias_out, fold.bias_scratch, stream);
}
// The tiles of params.x as params.shape cuts them (a × b tiles, rank = a·b planes) into params.x_hat, by copying:
// plane u·b + v holds element (u, v) of every tile.
template <DType D>
void launch_gather_tiles(const EncodeParams& params);

// ---- Encode and decode for any parameters (dispatch.cpp picks the kernel) ----

// launch_encode / launch_decode with a coefficient layout: check, resolve strides, run the kernel that applies.
// `causal`: the rows params.causal_levels allow (the forward's sides by default; the transposed passes flip them).
// `fold`: a coefficient gradient summed in the same pass (folds_coef_grad must hold for it).
void encode_with(const EncodeParams& params, CoefLayout enc, CausalSide causal = CausalSide::at_or_below_level,
                 const CoefGradFold* fold = nullptr);
void decode_with(const DecodeParams& params, CoefLayout dec, CausalSide causal = CausalSide::at_or_above_level,
                 const CoefGradFold* fold = nullptr);

// The backward's transposed passes (launch_decode_backward, launch_encode_backward), with dD or dE_X folded in where
// `fold` is given; a fold needs folds_coef_grad of the pass's tile (dY's (a,c) tiles, X's (a,b) tiles): the
// tensor-core pass for <4,4> tiles, the staged CUDA-core one for the other specialised tiles.
bool folds_coef_grad(DType dtype, KernelChoice kernel, int a, int bc, int rank);
// The tiles of one row-tile that a folding pass's block stages at a time: 128 on the tensor cores (mma_group), 512 on
// the CUDA cores (staged_fold).
int fold_slab_tiles(DType dtype, KernelChoice kernel, int a, int bc, int rank);
void decode_backward_with(const DecodeBackwardParams& params, const CoefGradFold* fold);
void encode_backward_with(const EncodeBackwardParams& params, const CoefGradFold* fold);

}  // namespace strassentile::cuda::detail
