// The register decode kernel specialised on <a,c>: Z (r × m × n) → Y[row(i,u), j·c+w] = act(Σ_p dec[u·c+w, p]
// · Z[p, i, j] + bias), cropped to M×N. What dispatch.cpp runs when decode_staged.cuh does not fit (Z's rows not
// 16-byte aligned); also the home of the epilogue both CUDA-core decodes share.
//
// One thread owns V side-by-side output tiles (i, j0..j0+V−1), V chosen so that each of its a output row
// slices is whole 16-byte vectors. It walks the products CH at a time: first CH packed loads of V consecutive
// elements of Z[p, i, ·] (coalesced across the warp: j is Z's contiguous index), all in flight together,
// then the a·c·V multiply-adds of each into registers. The epilogue adds the bias, applies the activation
// and writes each row slice with vector stores. dec sits in shared memory transposed (product p's column
// contiguous) and zero-padded to a multiple of CH products, so the arithmetic needs no bounds checks.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "codec_args.cuh"
#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kDecodeThreads = 256;

// Default products' loads in flight (see the top of this file): 4; 8 and 12 measured slower (more registers, fewer
// resident warps).
constexpr int kDecodeChunk = 4;

// The epilogue of both CUDA-core decodes: adds the bias to the accumulators of tiles (i, j0..j0+V−1), applies the
// activation and writes each of the tiles' rows (padding rows cropped) with vector stores where they are whole.
template <class T, int A, int C, int V, Activation ACT>
__device__ __forceinline__ void store_decoded_tiles(const DecodeArgs<T>& args, const float (&acc)[A * C][V],
                                                    std::int64_t i, std::int64_t j0) {
  constexpr int W = V * C;
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

template <class T, int A, int C, int V, int CH, Activation ACT>
__global__ void __launch_bounds__(kDecodeThreads) decode_tiles(const DecodeArgs<T> args) {
  constexpr int Q = A * C;  // outputs of one tile
  const int padded = (args.rank + CH - 1) / CH * CH;
  extern __shared__ float s_dec[];  // s_dec[p·Q + q] = dec[q, p], zero for p >= rank
  for (int t = threadIdx.x; t < padded * Q; t += blockDim.x) {
    const int p = t / Q, q = t - p * Q;
    const bool kept = p < args.rank && causal_allows(args.levels, args.side, p, q / C);
    s_dec[t] = kept ? args.dec[q * args.dec_q + p * args.dec_p] : 0.0f;
  }
  __syncthreads();

  std::int64_t i, j0;
  if (!thread_tiles<V>(args.m, args.n, i, j0)) return;

  float acc[Q][V];
#pragma unroll
  for (int q = 0; q < Q; ++q)
#pragma unroll
    for (int v = 0; v < V; ++v) acc[q][v] = 0.0f;

  const bool full_z = j0 + V <= args.n && args.vec_z;
  const T* src = args.z + i * args.ld_z + j0;
  for (int p0 = 0; p0 < padded; p0 += CH) {
    float zv[CH][V];
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const T* zp = src + (p0 + c) * args.stride_z;
      if (p0 + c < args.rank && full_z) {
        load_packed<T, V>(zp, zv[c]);
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v) zv[c][v] = p0 + c < args.rank && j0 + v < args.n ? to_float(zp[v]) : 0.0f;
      }
    }
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const float* d = s_dec + (p0 + c) * Q;
#pragma unroll
      for (int q = 0; q < Q; ++q) {
        const float coef = d[q];
#pragma unroll
        for (int v = 0; v < V; ++v) acc[q][v] = fmaf(coef, zv[c][v], acc[q][v]);
      }
    }
  }

  store_decoded_tiles<T, A, C, V, ACT>(args, acc, i, j0);
}

// V: by default 16-byte output row slices (vector_tiles).
template <class T, int A, int C, int V = vector_tiles<T>(C), int CH = kDecodeChunk>
void run_decode_tiles(const DecodeParams& p, CoefLayout layout = {},
                      CausalSide causal = CausalSide::at_or_above_level) {
  const StlShape& s = p.shape;
  const std::int64_t threads = s.m() * ((s.n() + V - 1) / V);
  if (threads == 0) return;
  DecodeArgs<T> args = decode_args<T>(p, layout, causal);
  args.vec_z = is_aligned(p.z.data, std::min<std::size_t>(16, V * sizeof(T))) && p.z.ld % V == 0 && p.z.stride % V == 0;
  const std::size_t smem = static_cast<std::size_t>((s.rank + CH - 1) / CH * CH) * A * C * sizeof(float);
  with_activation(p.activation, [&](auto act) {
    const auto kernel = decode_tiles<T, A, C, V, CH, decltype(act)::value>;
    set_dynamic_smem(reinterpret_cast<const void*>(kernel), smem);
    kernel<<<grid_blocks(threads, kDecodeThreads), kDecodeThreads, smem, p.stream>>>(args);
  });
  check_launch("decode_tiles");
}

template <DType D, int A, int C>
void launch_decode_tiles(const DecodeParams& p, CoefLayout dec, CausalSide causal) {
  run_decode_tiles<Storage<D>, A, C>(p, dec, causal);
}

}  // namespace strassentile::cuda::detail
