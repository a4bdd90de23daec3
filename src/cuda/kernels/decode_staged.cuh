// Decode with Z staged through shared memory: the same arithmetic as decode_tiles, but a block first copies
// its whole slab of Z — all r products × 512 consecutive tiles of one row-tile i — into shared memory with
// 16-byte asynchronous copies (cp.async, sm_80+), so every product's bytes are in flight at once without
// holding registers. decode_tiles, which loads into registers, was latency-bound at 25–37% occupancy.
// Needs 16-byte aligned Z rows and product strides and a slab that fits in shared memory (decode_staged_fits in
// dispatch.cpp, which runs decode_tiles otherwise).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "decode_tiles.cuh"
#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"
#include "ptx.cuh"

namespace strassentile::cuda::detail {

constexpr int kStagedTiles = kStagedDecodeTiles;

// One thread's V tiles (i, j0..j0+V−1) from the staged slab: products p at s_z[p·z_stride + (j0 − jb)], the
// transposed decoder at s_dec[p·Q + q]; then the shared epilogue writes them.
template <class T, int A, int C, int V, Activation ACT>
__device__ __forceinline__ void decode_staged_tiles(const DecodeArgs<T>& args, const float* s_dec, const T* zs,
                                                    int z_stride, std::int64_t i, std::int64_t j0) {
  constexpr int Q = A * C;
  float acc[Q][V];
#pragma unroll
  for (int q = 0; q < Q; ++q)
#pragma unroll
    for (int v = 0; v < V; ++v) acc[q][v] = 0.0f;
#pragma unroll 4
  for (int p = 0; p < args.rank; ++p) {
    float zv[V];
    load_packed_shared<T, V>(zs + p * z_stride, zv);
    const float* d = s_dec + p * Q;
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      const float coef = d[q];
#pragma unroll
      for (int v = 0; v < V; ++v) acc[q][v] = fmaf(coef, zv[v], acc[q][v]);
    }
  }
  store_decoded_tiles<T, A, C, V, ACT>(args, acc, i, j0);
}

template <class T, int A, int C, int V, Activation ACT>
__global__ void __launch_bounds__(kStagedTiles / V) decode_staged(const DecodeArgs<T> args) {
  constexpr int Q = A * C;
  constexpr int kPer = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte copy
  constexpr int kChunks = kStagedTiles / kPer;            // copies per product
  extern __shared__ __align__(16) unsigned char smem[];
  float* s_dec = reinterpret_cast<float*>(smem);  // s_dec[p·Q + q] = dec[q, p]
  T* s_z = reinterpret_cast<T*>(smem + ((args.rank * Q * sizeof(float) + 15) / 16) * 16);  // [p][512]

  const std::int64_t blocks_per_i = (args.n + kStagedTiles - 1) / kStagedTiles;
  const std::int64_t i = index_div(blockIdx.x, blocks_per_i);
  const std::int64_t jb = (blockIdx.x - i * blocks_per_i) * kStagedTiles;
  const T* src = args.z + i * args.ld_z + jb;
  for (int c = threadIdx.x; c < args.rank * kChunks; c += blockDim.x) {
    const int p = c / kChunks, e = (c - p * kChunks) * kPer;
    const std::int64_t left = args.n - jb - e;  // real elements from here on; the rest of the copy zero-fills
    const int bytes = left <= 0 ? 0 : left >= kPer ? 16 : static_cast<int>(left * sizeof(T));
    cp_async_16(s_z + p * kStagedTiles + e, bytes ? src + p * args.stride_z + e : args.z, bytes);
  }
  cp_async_commit();
  for (int t = threadIdx.x; t < args.rank * Q; t += blockDim.x) {
    const int p = t / Q, q = t - p * Q;
    s_dec[t] = causal_allows(args.levels, args.side, p, q / C) ? args.dec[q * args.dec_q + p * args.dec_p] : 0.0f;
  }
  cp_async_wait<0>();
  __syncthreads();

  const std::int64_t j0 = jb + threadIdx.x * V;
  if (j0 < args.n) decode_staged_tiles<T, A, C, V, ACT>(args, s_dec, s_z + threadIdx.x * V, kStagedTiles, i, j0);
}

// The caller (dispatch.cpp) has checked decode_staged_fits.
template <class T, int A, int C, int V = vector_tiles<T>(C)>
void run_decode_staged(const DecodeParams& p, CoefLayout layout = {},
                       CausalSide causal = CausalSide::at_or_above_level) {
  static_assert(kStagedTiles % V == 0, "tiles per thread must divide the block's tiles");
  const StlShape& s = p.shape;
  const std::size_t smem = (static_cast<std::size_t>(s.rank) * A * C * sizeof(float) + 15) / 16 * 16 +
                           static_cast<std::size_t>(s.rank) * kStagedTiles * sizeof(T);
  const std::int64_t blocks = s.m() * ((s.n() + kStagedTiles - 1) / kStagedTiles);
  if (blocks == 0) return;
  DecodeArgs<T> args = decode_args<T>(p, layout, causal);
  args.vec_z = true;  // decode_staged_fits
  with_activation(p.activation, [&](auto act) {
    const auto kernel = decode_staged<T, A, C, V, decltype(act)::value>;
    set_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
    kernel<<<grid_blocks(blocks, 1), kStagedTiles / V, smem, p.stream>>>(args);
  });
  check_launch("decode_staged");
}

template <DType D, int A, int C>
void launch_decode_staged(const DecodeParams& p, CoefLayout dec, CausalSide causal) {
  run_decode_staged<Storage<D>, A, C>(p, dec, causal);
}

}  // namespace strassentile::cuda::detail
