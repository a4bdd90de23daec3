// Encode and decode of <4,4> tiles on tensor cores (bf16 or fp16 storage, rank <= 64), sm_80+ (mma.sync m16n8k16).
//
// Per tile both are small matrix products: encode x̂ = E_X · vec(X_tile) (r×16 · 16), decode
// vec(Y_tile) = D · z (16×r · r). Batched over 8 tiles they are m16n8k16 products with the tiles as the n
// dimension: encode C[p, tile] = E_X[p, :] · x[:, tile] (A = E_X, one m-step per 16 products), decode
// C[q, tile] = D[q, :] · z[:, tile] (A = D, one k-step per 16 products). The fp32 coefficients are split
// into two terms of the storage type, hi = T(c) and lo = T(c − hi), and each product is done twice (hi, then lo,
// accumulating in fp32): the activations are T already, so every partial product is exact and the coefficients
// keep ~16 bits in bf16 (relative error ≤ 2⁻¹⁷; 8 for a plain cast) and ~22 in fp16 (coefficients below fp16's
// smallest subnormal, 6e-8, are lost).
// When every coefficient is a T value already (exact algorithms' 0, ±1, ±1/2, …; a model stored in bf16), all
// lo terms are zero and the block skips their products: half the MMAs, the same result bit for bit.
//
// Work comes in groups of 128 consecutive tiles of one row-tile. A block of 4 warps stays resident (a
// grid-stride loop over the groups), builds the coefficient fragments once, and copies group g+1 into its
// second shared buffer (cp.async, 16-byte) while it computes and stores group g: each warp runs the products
// of 32 tiles, writes them back to shared memory, and the block stores them with 16-byte stores (rows of X̂
// along κ, rows of Y along the columns). The shared rows are padded so that the fragment accesses are free of
// bank conflicts; Z's fragments are read with ldmatrix.trans. Any alignment, ragged K/N, padded sequences
// and coefficient layout (the backward's transposed uses) are handled; unaligned rows take element-wise
// copies.
//
// In the backward, the dZ pass (an encode of dY) and the dX pass (a decode of dX̂) can also sum dD and dE_X from the
// tiles they stage (the Fold kernels; coef_grad_fold.cuh).
//
// Why persistent: with one group per block, Nsight Compute (H200) showed the kernels issue-bound at 52% of DRAM
// bandwidth (72–77% of issue slots busy): per group every thread rebuilt the fragments (16 global loads and their
// splits), redid the index arithmetic and waited at two barriers with nothing in flight. Persistent blocks reach
// 0.80–0.86 of a copy's bandwidth against 0.64–0.70 (docs/PERFORMANCE.md).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>
#include <utility>

#include "codec_args.cuh"
#include "coef_grad_fold.cuh"
#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"
#include "mma16.cuh"
#include "ptx.cuh"

namespace strassentile::cuda::detail {

static_assert(mma_group::kTiles == kMmaGroupTiles, "the host sizes the folds' scratch by kMmaGroupTiles");

// The hi and lo 16-bit halves of two fp32 coefficients, packed as one A-fragment register each.
template <class T>
__device__ __forceinline__ void split_pair(float v0, float v1, unsigned& hi, unsigned& lo) {
  const word16 h0 = Mma16<T>::bits(v0), h1 = Mma16<T>::bits(v1);
  hi = pack_words(h0, h1);
  lo = Mma16<T>::pack2(v0 - Mma16<T>::value(h0), v1 - Mma16<T>::value(h1));
}

// The same arguments as the CUDA-core kernels take (codec_args.cuh), over raw 16-bit words.
using MmaEncodeArgs = EncodeArgs<word16>;
using MmaDecodeArgs = DecodeArgs<word16>;

// Blocks that stay resident for `kernel` on all of the device's SMs, but no more than there are groups. The
// occupancy and SM-count queries cost microseconds of host time, so their product is kept per kernel and device.
template <class Kernel>
unsigned resident_grid(Kernel kernel, std::int64_t groups) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, std::int64_t> resident_blocks;
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  const std::pair<const void*, int> key{reinterpret_cast<const void*>(kernel), device};
  std::int64_t resident = 0;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    auto found = resident_blocks.find(key);
    if (found == resident_blocks.end()) {
      int per_sm = 0, sms = 0;
      check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, mma_group::kThreads, 0),
                 "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
      check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
      found = resident_blocks.emplace(key, static_cast<std::int64_t>(sms) * (per_sm > 0 ? per_sm : 1)).first;
    }
    resident = found->second;
  }
  return static_cast<unsigned>(groups < resident ? groups : resident);
}

// Groups of mma_group::kTiles tiles along each of m tile rows, `cols` tiles wide.
struct GroupGrid {
  std::int64_t groups_per_i, groups;
};
inline GroupGrid group_grid(std::int64_t m, std::int64_t cols) {
  const std::int64_t per_i = (cols + mma_group::kTiles - 1) / mma_group::kTiles;
  return {per_i, m * per_i};
}

// Where a group's 4 × 512 slab of X (the encode's input) or Y (the decode's output) lies: row-tile i, its first
// column, and the tile's first row and real rows (fewer than 4 at the end of a padded sequence).
struct Slab {
  std::int64_t i, col0, first;
  int real;
};
__device__ __forceinline__ Slab slab_of(const RowMap& rows, std::int64_t group, std::int64_t groups_per_i) {
  Slab slab{};
  slab.i = index_div(group, groups_per_i);
  slab.col0 = (group - slab.i * groups_per_i) * (mma_group::kTiles * 4);
  rows.tile(slab.i, 4, slab.first, slab.real);
  return slab;
}

// Calls chunk(slab, row, e, col) for each of this thread's 8-element chunks of a group's 4 × 512 slab: tile row
// `row`, elements e.. of its 512, matrix columns col = slab.col0 + e on.
template <class Chunk>
__device__ __forceinline__ void for_each_slab_chunk(const RowMap& rows, std::int64_t group, std::int64_t groups_per_i,
                                                    const Chunk& chunk) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  const Slab slab = slab_of(rows, group, groups_per_i);
#pragma unroll
  for (int j = 0; j < 4 * kTiles * 4 / 8 / kThreads; ++j) {
    const int c = threadIdx.x + j * kThreads;
    const int row = c / (kTiles * 4 / 8), e = (c % (kTiles * 4 / 8)) * 8;
    chunk(slab, row, e, slab.col0 + e);
  }
}

// The 16-byte-aligned dst[0..8) from an unaligned source: src[e] where its index at + e is below end, else zero; one
// 16-byte store.
__device__ __forceinline__ void store_8_words(word16* dst, const word16* src, std::int64_t at, std::int64_t end) {
  word16 h[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) h[e] = at + e < end ? src[e] : word16{0};
  *reinterpret_cast<uint4*>(dst) = make_uint4(pack_words(h[0], h[1]), pack_words(h[2], h[3]), pack_words(h[4], h[5]),
                                              pack_words(h[6], h[7]));
}

// The copy pipeline of the persistent kernels: a block's groups are group = blockIdx.x, then by gridDim.x, and
// stage(group, buf) copies a group's input into shared buffer buf (0 or 1) with cp.async. first_stage starts the
// first group's copies and returns it; await_stage starts the next group's into the other buffer and waits for
// this group's (the next group's stay in flight while this one is computed).
template <class Stage>
__device__ __forceinline__ std::int64_t first_stage(const Stage& stage, std::int64_t groups) {
  const std::int64_t group = blockIdx.x;
  if (group < groups) stage(group, 0);
  cp_async_commit();
  return group;
}
template <class Stage>
__device__ __forceinline__ void await_stage(const Stage& stage, std::int64_t group, std::int64_t groups, int buf) {
  if (group + gridDim.x < groups) stage(group + gridDim.x, buf ^ 1);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
}

// A persistent launch of kernel(args..., groups, groups_per_i): resident_grid blocks of mma_group::kThreads (no more
// than max_blocks), each walking the grid's groups by the grid. Returns the grid.
template <class... Params, class... Args>
unsigned launch_persistent_within(unsigned max_blocks, void (*kernel)(Params...), const GroupGrid& g,
                                  cudaStream_t stream, const Args&... args) {
  const unsigned resident = resident_grid(kernel, g.groups);
  const unsigned grid = resident < max_blocks ? resident : max_blocks;
  kernel<<<grid, mma_group::kThreads, 0, stream>>>(args..., g.groups, g.groups_per_i);
  return grid;
}
template <class... Params, class... Args>
void launch_persistent(void (*kernel)(Params...), const GroupGrid& g, cudaStream_t stream, const Args&... args) {
  launch_persistent_within(~0u, kernel, g, stream, args...);
}

// launch(grid) for the groups of m tile rows `cols` tiles wide, unless there are none; then checks the launch.
template <class Launch>
void launch_groups(std::int64_t m, std::int64_t cols, const char* name, const Launch& launch) {
  const GroupGrid g = group_grid(m, cols);
  if (g.groups == 0) return;
  launch(g);
  check_launch(name);
}

// ---- The phases of one group, shared by encode_mma, decode_mma and decode_encode_mma (decode_encode_mma.cuh) ----
// T: __nv_bfloat16 or __half. A group is 128 tiles of row-tile i, tile columns 128·(group mod groups_per_i) on.

// A fragments, hi and lo, of the A operand over S steps of 16 products, which run along its rows (ProductsInRows:
// the encode's E_X, m-steps) or its columns (the decode's D, k-steps). Coefficient (row, col) is
// coef[row·row_stride + col·col_stride]; zero for products >= rank and for the tile rows mode causal masks (the
// entries run along the other side, 4 per tile row). Returns whether any lo term is nonzero in the block (a
// barrier: every thread of the block calls it).
template <class T, int S, bool ProductsInRows>
__device__ __forceinline__ bool coefficient_fragments(const float* coef, int row_stride, int col_stride, int rank,
                                                      const int* levels, CausalSide side, unsigned (&a_hi)[S][4],
                                                      unsigned (&a_lo)[S][4]) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  unsigned any_lo = 0;
#pragma unroll
  for (int step = 0; step < S; ++step)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int row = (ProductsInRows ? 16 * step : 0) + g + (r & 1) * 8;
      const int col = (ProductsInRows ? 0 : 16 * step) + 2 * t + (r >> 1) * 8;
      const int p0 = ProductsInRows ? row : col, p1 = ProductsInRows ? row : col + 1;  // the two entries' products
      const int u0 = (ProductsInRows ? col : row) / 4, u1 = (ProductsInRows ? col + 1 : row) / 4;
      const float v0 =
          p0 < rank && causal_allows(levels, side, p0, u0) ? coef[row * row_stride + col * col_stride] : 0.0f;
      const float v1 =
          p1 < rank && causal_allows(levels, side, p1, u1) ? coef[row * row_stride + (col + 1) * col_stride] : 0.0f;
      split_pair<T>(v0, v1, a_hi[step][r], a_lo[step][r]);
      any_lo |= a_lo[step][r];
    }
  return __syncthreads_or(any_lo != 0) != 0;
}

// A fragments of E_X (rows p, columns q); MT = ⌈rank / 16⌉ m-steps.
template <class T, int MT>
__device__ __forceinline__ bool encode_fragments(const MmaEncodeArgs& args, unsigned (&a_hi)[MT][4],
                                                 unsigned (&a_lo)[MT][4]) {
  return coefficient_fragments<T, MT, true>(args.enc, args.enc_p, args.enc_q, args.rank, args.levels, args.side, a_hi,
                                            a_lo);
}

// s_out[p][tile] = Σ_q E_X[p, q] · s_x[tile's element q], for the block's 128 tiles (each warp 32).
template <class T, int MT>
__device__ __forceinline__ void encode_products(const word16* s_x, const unsigned (&a_hi)[MT][4],
                                                const unsigned (&a_lo)[MT][4], bool with_lo, word16* s_out) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const unsigned* sx = reinterpret_cast<const unsigned*>(s_x);
  unsigned* so = reinterpret_cast<unsigned*>(s_out);
#pragma unroll
  for (int ng = 0; ng < 4; ++ng) {
    const int tile = warp * 32 + ng * 8 + g;  // B column g: q = 2t, 2t+1 (row t/2) and q + 8 (row t/2 + 2)
    const unsigned b0 = sx[((t >> 1) * kXStride + 4 * tile + 2 * (t & 1)) / 2];
    const unsigned b1 = sx[(((t >> 1) + 2) * kXStride + 4 * tile + 2 * (t & 1)) / 2];
    const int tc = warp * 32 + ng * 8 + 2 * t;  // C columns 2t, 2t+1
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      Mma16<T>::mma(c, a_hi[mt], b0, b1);
      if (with_lo) Mma16<T>::mma(c, a_lo[mt], b0, b1);
      so[((16 * mt + g) * kOutStride + tc) / 2] = Mma16<T>::pack2(c[0], c[1]);
      so[((16 * mt + g + 8) * kOutStride + tc) / 2] = Mma16<T>::pack2(c[2], c[3]);
    }
  }
}

// X̂[p, i, kap0 ..] from s_out: 16 chunks of 8 tiles per product.
__device__ __forceinline__ void store_x_hat(const MmaEncodeArgs& args, std::int64_t group, std::int64_t groups_per_i,
                                            const word16* s_out) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  const std::int64_t i = index_div(group, groups_per_i);
  const std::int64_t kap0 = (group - i * groups_per_i) * kTiles;
  word16* out_row = args.x_hat + i * args.ld + kap0;
  for (int c = threadIdx.x; c < args.rank * (kTiles / 8); c += kThreads) {
    const int p = c / (kTiles / 8), e = (c % (kTiles / 8)) * 8;
    const std::int64_t kap = kap0 + e;
    if (kap >= args.k) continue;
    const uint4 v = *reinterpret_cast<const uint4*>(s_out + p * kOutStride + e);
    word16* dst = out_row + p * args.stride + e;
    if (args.vec_store && kap + 8 <= args.k) {
      __stwb(reinterpret_cast<uint4*>(dst), v);
    } else {
      const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2)
        if (kap + e2 < args.k) dst[e2] = static_cast<word16>(w[e2 / 2] >> (16 * (e2 % 2)));
    }
  }
}

// Rows p in [rank, rows) of a Z buffer are zero for good (the products' padding); the stages never touch them.
__device__ __forceinline__ void zero_z_padding(word16* s_z, int rows, int rank) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  for (int c = threadIdx.x; c < (rows - rank) * (kZStride / 8); c += kThreads) {
    const int p = rank + c / (kZStride / 8), e = (c % (kZStride / 8)) * 8;
    *reinterpret_cast<uint4*>(&s_z[p * kZStride + e]) = make_uint4(0, 0, 0, 0);
  }
}

// Copies planes[p, i, jb ..] of `group` for p < rank (n columns, rows ld and planes stride apart) into s_z
// (cp.async where vec; zeros beyond n).
__device__ __forceinline__ void stage_planes(const word16* planes, std::int64_t ld, std::int64_t stride, int rank,
                                             std::int64_t n, bool vec, std::int64_t group, std::int64_t groups_per_i,
                                             word16* s_z) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  const std::int64_t i = index_div(group, groups_per_i);
  const std::int64_t jb = (group - i * groups_per_i) * kTiles;
  const word16* src_row = planes + i * ld + jb;
  for (int c = threadIdx.x; c < rank * (kTiles / 8); c += kThreads) {
    const int p = c / (kTiles / 8), e = (c % (kTiles / 8)) * 8;
    const std::int64_t j = jb + e;
    word16* dst = &s_z[p * kZStride + e];
    const word16* src = src_row + p * stride + e;
    if (j < n && vec) {
      cp_async_16(dst, src, j + 8 <= n ? 16 : static_cast<int>((n - j) * 2));
    } else if (j < n) {
      store_8_words(dst, src, j, n);
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    }
  }
}

// Z[p, i, jb ..] of `group` into s_z.
__device__ __forceinline__ void stage_z(const MmaDecodeArgs& args, std::int64_t group, std::int64_t groups_per_i,
                                        word16* s_z) {
  stage_planes(args.z, args.ld_z, args.stride_z, args.rank, args.n, args.vec_z, group, groups_per_i, s_z);
}

// Copies the 4 × 512 slab of `group` of x (cols columns, rows ld apart, laid out in tiles as `rows` says) into s_x
// (cp.async where vec; zeros beyond cols and for padding rows).
__device__ __forceinline__ void stage_slab(const word16* x, std::int64_t ld, std::int64_t cols, bool vec,
                                           const RowMap& rows, std::int64_t group, std::int64_t groups_per_i,
                                           word16* s_x) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  for_each_slab_chunk(rows, group, groups_per_i, [&](const Slab& slab, int u, int e, std::int64_t col) {
    word16* dst = &s_x[u * kXStride + e];
    if (u < slab.real && col < cols) {
      const word16* src = x + (slab.first + u) * ld + col;
      if (vec) {
        cp_async_16(dst, src, col + 8 <= cols ? 16 : static_cast<int>((cols - col) * 2));
      } else {
        store_8_words(dst, src, col, cols);
      }
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    }
  });
}

// The stage of the decodes' pipeline (first_stage, await_stage): Z into s_z[buf], after zeroing both buffers'
// rows past the rank once (16 rows per k-step).
template <int N>
__device__ __forceinline__ auto z_stager(const MmaDecodeArgs& args, std::int64_t groups_per_i, word16 (&s_z)[2][N]) {
  static_assert(N % mma_group::kZStride == 0, "s_z holds whole rows");
  zero_z_padding(s_z[0], N / mma_group::kZStride, args.rank);
  zero_z_padding(s_z[1], N / mma_group::kZStride, args.rank);
  return [a = &args, groups_per_i, z = &s_z](std::int64_t group, int buf) {
    stage_z(*a, group, groups_per_i, (*z)[buf]);
  };
}

// A folded gradient's accumulators (coef_grad_fold.cuh), zeroed.
template <int MT>
struct FoldSums {
  float c[MT][2][4];
  __device__ __forceinline__ FoldSums() {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int r = 0; r < 4; ++r) c[mt][h][r] = 0.0f;
  }
};

// A fragments of D (rows q, columns p in k-steps of 16); KS k-steps at most.
template <class T, int KS>
__device__ __forceinline__ bool decode_fragments(const MmaDecodeArgs& args, unsigned (&a_hi)[KS][4],
                                                 unsigned (&a_lo)[KS][4]) {
  return coefficient_fragments<T, KS, false>(args.dec, args.dec_q, args.dec_p, args.rank, args.levels, args.side, a_hi,
                                             a_lo);
}

// s_y[u][4·tile + w] = Σ_p D[(u, w), p] · s_z[p][tile] in fp32, for the block's 128 tiles.
template <class T, int KS>
__device__ __forceinline__ void decode_products(const word16* s_z, int ksteps, const unsigned (&a_hi)[KS][4],
                                                const unsigned (&a_lo)[KS][4], bool with_lo, float* s_y) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int u = g >> 2, w = g & 3;  // C rows g and g+8 are tile elements (u, w) and (u + 2, w)
#pragma unroll
  for (int ng = 0; ng < 4; ++ng) {
    const int tile0 = warp * 32 + ng * 8;
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < KS / 2; ++h) {
      // Pieces: rows p 32h + 0–7, 8–15, 16–23, 24–31 of tiles tile0..+7 = b0, b1 of k-step 2h, then of 2h + 1.
      if (2 * h >= ksteps) break;  // block-uniform; unrolled so that the fragments stay in registers
      unsigned b[4];
      ldmatrix_x4_trans(b, &s_z[(32 * h + lane) * kZStride + tile0]);
      Mma16<T>::mma(c, a_hi[2 * h], b[0], b[1]);
      if (with_lo) Mma16<T>::mma(c, a_lo[2 * h], b[0], b[1]);
      if (2 * h + 1 < ksteps) {
        Mma16<T>::mma(c, a_hi[2 * h + 1], b[2], b[3]);
        if (with_lo) Mma16<T>::mma(c, a_lo[2 * h + 1], b[2], b[3]);
      }
    }
    const int tc = tile0 + 2 * t;  // C columns 2t, 2t+1
    s_y[u * kYStride + 4 * tc + w] = c[0];
    s_y[u * kYStride + 4 * (tc + 1) + w] = c[1];
    s_y[(u + 2) * kYStride + 4 * tc + w] = c[2];
    s_y[(u + 2) * kYStride + 4 * (tc + 1) + w] = c[3];
  }
}

// Y = act(s_y + bias) of `group`, rounded to T: to args.y when it is set, and, when s_x is given, into s_x in
// encode_mma's staging layout (4 rows × 512 columns, zeros for padding rows and beyond N), as the next layer's
// encode would have loaded it.
template <class T, Activation ACT>
__device__ __forceinline__ void decode_epilogue(const MmaDecodeArgs& args, std::int64_t group,
                                                std::int64_t groups_per_i, const float* s_y, word16* s_x) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  for_each_slab_chunk(args.rows, group, groups_per_i, [&](const Slab& slab, int row, int e, std::int64_t col) {
    if (row >= slab.real || col >= args.cols) {
      if (s_x != nullptr) *reinterpret_cast<uint4*>(s_x + row * kXStride + e) = make_uint4(0, 0, 0, 0);
      return;
    }
    const float4 lo4 = *reinterpret_cast<const float4*>(s_y + row * kYStride + e);
    const float4 hi4 = *reinterpret_cast<const float4*>(s_y + row * kYStride + e + 4);
    float out[8] = {lo4.x, lo4.y, lo4.z, lo4.w, hi4.x, hi4.y, hi4.z, hi4.w};
    const bool full = col + 8 <= args.cols;
    if (args.bias != nullptr) {
      float bv[8];
      if (full && args.vec_bias) {
        load_packed<T, 8>(reinterpret_cast<const T*>(args.bias + col), bv);
      } else {
#pragma unroll
        for (int e2 = 0; e2 < 8; ++e2) bv[e2] = col + e2 < args.cols ? Mma16<T>::value(args.bias[col + e2]) : 0.0f;
      }
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2) out[e2] += bv[e2];
    }
#pragma unroll
    for (int e2 = 0; e2 < 8; ++e2) out[e2] = activate<ACT>(out[e2]);
    uint4 v = make_uint4(Mma16<T>::pack2(out[0], out[1]), Mma16<T>::pack2(out[2], out[3]),
                         Mma16<T>::pack2(out[4], out[5]), Mma16<T>::pack2(out[6], out[7]));
    if (!full) {  // zero what lies beyond N (the next layer's padding), element by element
      unsigned* words = &v.x;
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2)
        if (col + e2 >= args.cols) words[e2 / 2] &= e2 % 2 ? 0x0000ffffu : 0xffff0000u;
    }
    if (s_x != nullptr) *reinterpret_cast<uint4*>(s_x + row * kXStride + e) = v;
    if (args.y == nullptr) return;
    word16* dst = args.y + (slab.first + row) * args.ldy + col;
    if (full && args.vec_y) {
      __stwb(reinterpret_cast<uint4*>(dst), v);
    } else {
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2)
        if (col + e2 < args.cols) dst[e2] = Mma16<T>::bits(out[e2]);
    }
  });
}

// ---- The kernels ----

// Fold: dD folded in (coef_grad_fold.cuh): the staged X is dY, and fold.src Z's planes, staged beside it.
template <class T, int MT, bool Fold>
__global__ void __launch_bounds__(mma_group::kThreads) encode_mma(const MmaEncodeArgs args, const FoldArgs fold,
                                                                  std::int64_t groups, std::int64_t groups_per_i) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  __shared__ __align__(16) word16 s_x[2][4 * kXStride];
  __shared__ __align__(16) word16 s_out[16 * MT * kOutStride];
  __shared__ __align__(16) word16 s_p[2][Fold ? 16 * MT * kZStride : 8];
  if constexpr (Fold) {
    zero_z_padding(s_p[0], 16 * MT, args.rank);
    zero_z_padding(s_p[1], 16 * MT, args.rank);
  }
  const auto stage = [&](std::int64_t group, int buf) {
    stage_slab(args.x, args.ldx, args.cols, args.vec_load, args.rows, group, groups_per_i, s_x[buf]);
    if constexpr (Fold)
      stage_planes(fold.src, fold.ld, fold.stride, args.rank, args.k, fold.vec, group, groups_per_i, s_p[buf]);
  };

  std::int64_t group = first_stage(stage, groups);
  unsigned a_hi[MT][4], a_lo[MT][4];
  const bool with_lo = encode_fragments<T, MT>(args, a_hi, a_lo);  // once per block, while the first copies fly
  FoldSums<Fold ? MT : 1> sums;
  // With fold.column_partials, dY's column sums (the bias's gradient): the grid is a multiple of groups_per_i, so a
  // block's groups share their columns, and each thread sums 4 of the slab's 512 down its 4 rows (zeros past the
  // real rows and columns).
  float column_sums[4] = {};
  for (int buf = 0; group < groups; group += gridDim.x, buf ^= 1) {
    await_stage(stage, group, groups, buf);
    encode_products<T, MT>(s_x[buf], a_hi, a_lo, with_lo, s_out);
    if constexpr (Fold) {
      fold_group<T, MT>(s_p[buf], s_x[buf], args.rank, sums.c);
      if (fold.column_partials != nullptr) {
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          float v[4];
          load_packed_shared<T, 4>(reinterpret_cast<const T*>(s_x[buf] + u * kXStride + 4 * threadIdx.x), v);
#pragma unroll
          for (int w = 0; w < 4; ++w) column_sums[w] += v[w];
        }
      }
    }
    __syncthreads();
    store_x_hat(args, group, groups_per_i, s_out);
  }
  if constexpr (Fold) {
    store_fold_partials<MT>(sums.c, args.rank, fold.partials);
    if (fold.column_partials != nullptr) {
      const std::int64_t row = blockIdx.x / groups_per_i;
      const std::int64_t col0 = (blockIdx.x - row * groups_per_i) * (4 * kTiles) + 4 * threadIdx.x;
#pragma unroll
      for (int w = 0; w < 4; ++w)
        if (col0 + w < args.cols) fold.column_partials[row * args.cols + col0 + w] = column_sums[w];
    }
  }
}

// KS = 2 (rank <= 32) or 4 (rank <= 64): the shared rows of Z, 16 per k-step, read 32 at a time by ldmatrix.
// Fold: dE_X folded in (coef_grad_fold.cuh): Z is dX̂, and fold.src X, whose slab is staged beside it.
template <class T, int KS, Activation ACT, bool Fold>
__global__ void __launch_bounds__(mma_group::kThreads) decode_mma(const MmaDecodeArgs args, const FoldArgs fold,
                                                                  std::int64_t groups, std::int64_t groups_per_i) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  __shared__ __align__(16) word16 s_z[2][16 * KS * kZStride];
  __shared__ __align__(16) float s_y[4 * kYStride];
  __shared__ __align__(16) word16 s_x[2][Fold ? 4 * kXStride : 8];
  const auto stage_z_only = z_stager(args, groups_per_i, s_z);
  const auto stage = [&](std::int64_t group, int buf) {
    stage_z_only(group, buf);
    if constexpr (Fold) stage_slab(fold.src, fold.ld, args.cols, fold.vec, args.rows, group, groups_per_i, s_x[buf]);
  };
  std::int64_t group = first_stage(stage, groups);
  unsigned a_hi[KS][4], a_lo[KS][4];
  const bool with_lo = decode_fragments<T, KS>(args, a_hi, a_lo);
  const int ksteps = (args.rank + 15) / 16;
  FoldSums<Fold ? KS : 1> sums;
  for (int buf = 0; group < groups; group += gridDim.x, buf ^= 1) {
    await_stage(stage, group, groups, buf);
    decode_products<T, KS>(s_z[buf], ksteps, a_hi, a_lo, with_lo, s_y);
    if constexpr (Fold) fold_group<T, KS>(s_z[buf], s_x[buf], args.rank, sums.c);
    __syncthreads();
    decode_epilogue<T, ACT>(args, group, groups_per_i, s_y, nullptr);
  }
  if constexpr (Fold) store_fold_partials<KS>(sums.c, args.rank, fold.partials);
}

// The kernels' arguments from resolved parameters (no zero leading dimensions or strides): 16-byte copies where
// the pointers and strides allow them.
inline MmaEncodeArgs mma_encode_args(const EncodeParams& p, CoefLayout layout,
                                     CausalSide causal = CausalSide::at_or_below_level) {
  MmaEncodeArgs args = encode_args<word16>(p, layout, causal);
  args.vec_store = is_aligned(p.x_hat.data, 16) && p.x_hat.ld % 8 == 0 && p.x_hat.stride % 8 == 0;
  return args;
}

inline MmaDecodeArgs mma_decode_args(const DecodeParams& p, CoefLayout layout,
                                     CausalSide causal = CausalSide::at_or_above_level) {
  MmaDecodeArgs args = decode_args<word16>(p, layout, causal);
  args.vec_z = is_aligned(p.z.data, 16) && p.z.ld % 8 == 0 && p.z.stride % 8 == 0;
  return args;
}

inline FoldArgs fold_args(const CoefGradFold& fold, bool vec) {
  return {static_cast<const word16*>(fold.src), fold.ld, fold.stride, vec, fold.partials, nullptr};
}

// The caller (dispatch.cpp) has checked that the tensor-core kernels apply: bf16 or fp16, <4,4> tiles, rank <= 64;
// and, with a fold, that it is the backward's dZ pass (Z's planes as wide as dY's tile columns).
template <class T>
void run_encode_mma(const EncodeParams& p, CoefLayout layout = {}, CausalSide causal = CausalSide::at_or_below_level,
                    const CoefGradFold* fold = nullptr) {
  unsigned blocks = 0;
  std::int64_t column_rows = 0;  // rows of the bias's column partials where the kernel summed them
  launch_groups(p.shape.m(), p.shape.k(), "encode_mma", [&](const GroupGrid& g) {
    const MmaEncodeArgs args = mma_encode_args(p, layout, causal);
    const auto launch = [&](auto plain, auto folding) {
      if (fold == nullptr) return launch_persistent(plain, g, p.stream, args, FoldArgs{});
      if constexpr (!std::is_null_pointer_v<decltype(folding)>) {
        const bool vec = is_aligned(fold->src, 16) && fold->ld % 8 == 0 && fold->stride % 8 == 0;
        FoldArgs f = fold_args(*fold, vec);
        unsigned max_blocks = kFoldMaxBlocks;
        if (fold->bias_out != nullptr) {  // the column sums need whole column groups per block
          const std::int64_t whole = grid_of_whole_slabs(
              std::min<unsigned>(resident_grid(folding, g.groups), kFoldMaxBlocks), g.groups_per_i);
          if (whole > 0) {
            max_blocks = static_cast<unsigned>(whole);
            f.column_partials = static_cast<float*>(fold->bias_scratch);
            column_rows = whole / g.groups_per_i;
          }
        }
        blocks = launch_persistent_within(max_blocks, folding, g, p.stream, args, f);
      }
    };
    switch ((p.shape.rank + 15) / 16) {  // folding up to kFoldMaxRank only (shared memory)
      case 1: launch(encode_mma<T, 1, false>, encode_mma<T, 1, true>); break;
      case 2: launch(encode_mma<T, 2, false>, encode_mma<T, 2, true>); break;
      case 3: launch(encode_mma<T, 3, false>, nullptr); break;
      default: launch(encode_mma<T, 4, false>, nullptr); break;
    }
  });
  if (fold == nullptr) return;
  launch_sum_fold_partials(*fold, static_cast<int>(blocks), p.shape.rank, 16, p.stream);  // <4,4> tiles: 16 entries
  finish_folded_bias(*fold, column_rows, p.dtype, p.x.data, p.x.ld, p.shape.rows, p.shape.in_features, p.stream);
}

// KS = 2 k-steps of 16 products up to rank 32, 4 up to 64. With a fold (rank <= kFoldMaxRank): the backward's dX
// pass (no bias, no activation), fold->src X.
template <class T>
void run_decode_mma(const DecodeParams& p, CoefLayout layout = {}, CausalSide causal = CausalSide::at_or_above_level,
                    const CoefGradFold* fold = nullptr) {
  unsigned blocks = 0;
  launch_groups(p.shape.m(), p.shape.n(), "decode_mma", [&](const GroupGrid& g) {
    const MmaDecodeArgs args = mma_decode_args(p, layout, causal);
    if (fold != nullptr) {
      const bool vec = is_aligned(fold->src, 16) && fold->ld % 8 == 0;
      blocks = launch_persistent_within(kFoldMaxBlocks, decode_mma<T, 2, Activation::none, true>, g, p.stream, args,
                                        fold_args(*fold, vec));
      return;
    }
    with_activation(p.activation, [&](auto act) {
      constexpr Activation kAct = decltype(act)::value;
      launch_persistent(p.shape.rank > 32 ? decode_mma<T, 4, kAct, false> : decode_mma<T, 2, kAct, false>, g,
                        p.stream, args, FoldArgs{});
    });
  });
  if (fold != nullptr)  // <4,4> tiles: 16 entries
    launch_sum_fold_partials(*fold, static_cast<int>(blocks), p.shape.rank, 16, p.stream);
}

template <DType D>
void launch_encode_mma(const EncodeParams& p, CoefLayout enc, CausalSide causal) {
  run_encode_mma<Storage<D>>(p, enc, causal, nullptr);
}

template <DType D>
void launch_decode_mma(const DecodeParams& p, CoefLayout dec, CausalSide causal) {
  run_decode_mma<Storage<D>>(p, dec, causal, nullptr);
}

template <DType D>
void launch_encode_mma_folding(const EncodeParams& p, CoefLayout enc, CausalSide causal, const CoefGradFold& fold) {
  run_encode_mma<Storage<D>>(p, enc, causal, &fold);
}

template <DType D>
void launch_decode_mma_folding(const DecodeParams& p, CoefLayout dec, CausalSide causal, const CoefGradFold& fold) {
  run_decode_mma<Storage<D>>(p, dec, causal, &fold);
}

}  // namespace strassentile::cuda::detail
