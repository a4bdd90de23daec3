// Decode with Z staged through shared memory: the same arithmetic as decode_tiles, but a block first copies
// its whole slab of Z — all r products × 512 consecutive tiles of one row-tile i — into shared memory with
// 16-byte asynchronous copies (cp.async, sm_80+), so every product's bytes are in flight at once without
// holding registers. decode_tiles, which loads into registers, was latency-bound at 25–37% occupancy.
// Needs 16-byte aligned Z rows and product strides; launch_decode_fast falls back to decode_tiles otherwise.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "check.hpp"
#include "decode_kernel.cuh"
#include "device_math.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kStagedTiles = 512;  // output tiles (along j) per block

__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, int src_bytes) {
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_bytes));
}

template <class T, int A, int C, int V, Activation ACT>
__global__ void __launch_bounds__(kStagedTiles / V) decode_staged(const DecodeArgs<T> args) {
  constexpr int Q = A * C;
  constexpr int W = V * C;
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
  asm volatile("cp.async.commit_group;\n" ::);
  for (int t = threadIdx.x; t < args.rank * Q; t += blockDim.x) {
    const int p = t / Q, q = t - p * Q;
    s_dec[t] = args.dec[q * args.dec_q + p * args.dec_p];
  }
  asm volatile("cp.async.wait_group 0;\n" ::);
  __syncthreads();

  const std::int64_t j0 = jb + threadIdx.x * V;
  if (j0 >= args.n) return;
  float acc[Q][V];
#pragma unroll
  for (int q = 0; q < Q; ++q)
#pragma unroll
    for (int v = 0; v < V; ++v) acc[q][v] = 0.0f;
  const T* zs = s_z + threadIdx.x * V;
#pragma unroll 4
  for (int p = 0; p < args.rank; ++p) {
    float zv[V];
    load_packed_shared<T, V>(zs + p * kStagedTiles, zv);
    const float* d = s_dec + p * Q;
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      const float coef = d[q];
#pragma unroll
      for (int v = 0; v < V; ++v) acc[q][v] = fmaf(coef, zv[v], acc[q][v]);
    }
  }

  const std::int64_t col0 = j0 * C;
  const bool full_cols = col0 + W <= args.cols;
  float bias[W];
  if (args.bias != nullptr && full_cols && args.vec_bias) {
    load_packed<T, W>(args.bias + col0, bias);
  } else {
#pragma unroll
    for (int e = 0; e < W; ++e)
      bias[e] = args.bias != nullptr && col0 + e < args.cols ? to_float(args.bias[col0 + e]) : 0.0f;
  }
  std::int64_t first;
  int real;
  args.rows.tile(i, A, first, real);
#pragma unroll
  for (int u = 0; u < A; ++u) {
    if (u < real) {
      float out[W];
#pragma unroll
      for (int v = 0; v < V; ++v)
#pragma unroll
        for (int w = 0; w < C; ++w) out[v * C + w] = activate<ACT>(acc[u * C + w][v] + bias[v * C + w]);
      T* dst = args.y + (first + u) * args.ldy + col0;
      if (full_cols && args.vec_y) {
        store_packed<T, W>(dst, out);
      } else {
#pragma unroll
        for (int e = 0; e < W; ++e)
          if (col0 + e < args.cols) dst[e] = from_float<T>(out[e]);
      }
    }
  }
}

template <class T, int A, int C, int V, Activation ACT>
void launch_decode_staged(const DecodeArgs<T>& args, std::int64_t blocks, std::size_t smem, cudaStream_t stream) {
  set_dynamic_smem(reinterpret_cast<const void*>(&decode_staged<T, A, C, V, ACT>), smem);
  decode_staged<T, A, C, V, ACT><<<grid_blocks(blocks, 1), kStagedTiles / V, smem, stream>>>(args);
  check_launch("decode_staged");
}

// Returns false, launching nothing, when Z's layout or the shared-memory size rules the staged kernel out.
template <class T, int A, int C, int V = decode_tiles_per_thread<T, C>()>
bool run_decode_staged(const DecodeParams& p, CoefLayout layout = {}) {
  static_assert(kStagedTiles % V == 0, "tiles per thread must divide the block's tiles");
  const StlShape& s = p.shape;
  const auto e = static_cast<std::int64_t>(sizeof(T));
  if (!is_aligned(p.z, 16) || (p.ld_z * e) % 16 != 0 || (p.stride_z * e) % 16 != 0) return false;
  const std::size_t smem = (static_cast<std::size_t>(s.rank) * A * C * sizeof(float) + 15) / 16 * 16 +
                           static_cast<std::size_t>(s.rank) * kStagedTiles * sizeof(T);
  if (smem > 200 * 1024) return false;
  const std::int64_t blocks = s.m() * ((s.n() + kStagedTiles - 1) / kStagedTiles);
  if (blocks == 0) return true;
  const CoefLayout dec = layout.resolved(s.rank);
  DecodeArgs<T> args{static_cast<const T*>(p.z), p.ld_z, p.stride_z, s.m(), s.n(), p.dec, dec.row_stride,
                     dec.col_stride, s.rank,
                     static_cast<const T*>(p.bias), static_cast<T*>(p.y), p.ldy, s.out_features,
                     make_row_map(s), true, false, false};
  args.vec_y = is_aligned(p.y, 16) && (p.ldy * e) % 16 == 0;
  args.vec_bias = is_aligned(p.bias, 16);
  switch (p.activation) {
    case Activation::relu:
      launch_decode_staged<T, A, C, V, Activation::relu>(args, blocks, smem, p.stream);
      return true;
    case Activation::gelu_tanh:
      launch_decode_staged<T, A, C, V, Activation::gelu_tanh>(args, blocks, smem, p.stream);
      return true;
    case Activation::none:
      break;
  }
  launch_decode_staged<T, A, C, V, Activation::none>(args, blocks, smem, p.stream);
  return true;
}

}  // namespace strassentile::cuda::detail
