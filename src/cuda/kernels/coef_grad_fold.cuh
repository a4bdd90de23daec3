// A coefficient gradient summed inside a tensor-core codec pass of the backward (codec_mma.cuh), from the tiles the
// pass stages anyway, so that no tile gather and no flat GEMM over every position runs:
//   dD[q, p]   = Σ_positions tile entry q of dY · Z[p]     in dZ = decodeᵀ(dY)'s pass (the encode of dY with Dᵀ),
//   dE_X[p, q] = Σ_positions dX̂[p] · tile entry q of X     in dX = encodeᵀ(dX̂)'s pass (the decode of dX̂ with E_Xᵀ).
// Both are G[p][q] = Σ_tiles P[p][tile] · E[tile][q] over each group: P the r product planes as the decode stages
// them (rows kZStride apart, zero past the rank and past the last tile), E the group's 4 × 512 slab of <4,4> tiles
// as the encode stages it (entry q = 4u + w of tile t at row u, column 4t + w). The pass loads one of the two; the
// fold stages the other beside it in the same cp.async group.
//
// m16n8k16 with M = products, N = tile entries (two 8-wide halves), K = tiles: each warp adds its own 32 tiles of every
// group into registers for the whole persistent block; both operands are 16-bit values already, so no hi/lo split.
// At the end each block writes its sum (its warps added in order) and sum_fold_partials (backward.cuh) adds the
// blocks in order: the same bits on every run.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "mma16.cuh"
#include "ptx.cuh"

namespace strassentile::cuda::detail {

// The operand the pass does not load itself, and where the blocks' sums go (CoefGradFold, launchers.hpp).
struct FoldArgs {
  const word16* src = nullptr;   // Z's planes (in dZ's pass) or X (in dX's pass)
  std::int64_t ld = 0, stride = 0;  // stride: between Z's planes (unused for X)
  bool vec = false;              // 16-byte copies
  float* partials = nullptr;     // gridDim.x × rank × 16
  // The dZ pass only (staged_fold.cuh): dY's column sums, row blockIdx.x / slabs-per-row-tile of a
  // (gridDim.x / slabs-per-row-tile) × cols matrix; null: not asked.
  float* column_partials = nullptr;
};

// c[mt][half] += P[16·mt .., tiles of this warp] · E[those tiles, 8·half ..] for one staged group.
template <class T, int MT>
__device__ __forceinline__ void fold_group(const word16* s_p, const word16* s_e, int rank, float (&c)[MT][2][4]) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int ks = 0; ks < 2; ++ks) {
    const int tile0 = warp * 32 + ks * 16;
    // B fragments: column g of each half is entry q = 8·half + g; rows (tiles) 2t, 2t+1 and 2t+8, 2t+9.
    unsigned b[2][2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int q = 8 * half + g;
      const word16* e = s_e + (q >> 2) * kXStride + 4 * (tile0 + 2 * t) + (q & 3);
      b[half][0] = pack_words(e[0], e[4]);
      b[half][1] = pack_words(e[32], e[36]);
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      if (16 * mt >= rank) break;  // block-uniform
      unsigned a[4];
      ldmatrix_x4(a, s_p + (16 * mt + (lane & 15)) * kZStride + tile0 + 8 * (lane >> 4));
      Mma16<T>::mma(c[mt][0], a, b[0][0], b[0][1]);
      Mma16<T>::mma(c[mt][1], a, b[1][0], b[1][1]);
    }
  }
}

// The block's G (rank × 16) into partials[blockIdx.x], its warps added in order (a barrier: every thread calls it).
template <int MT>
__device__ __forceinline__ void store_fold_partials(const float (&c)[MT][2][4], int rank, float* partials) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  float* out = partials + static_cast<std::int64_t>(blockIdx.x) * rank * 16;
  for (int w = 0; w < mma_group::kThreads / 32; ++w) {
    if (warp == w) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int half = 0; half < 2; ++half)
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const int p = 16 * mt + g + 8 * (r >> 1), q = 8 * half + 2 * t + (r & 1);
            if (p < rank) out[p * 16 + q] = (w == 0 ? 0.0f : out[p * 16 + q]) + c[mt][half][r];
          }
    }
    __syncthreads();
  }
}

}  // namespace strassentile::cuda::detail
