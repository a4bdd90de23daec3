// The encode kernel specialised on <a,b>: X (M×K) → X̂[p, i, κ] = Σ_q enc_x[p, q] · vec(X_{iκ})[q].
//
// One thread owns V side-by-side tiles (i, κ0..κ0+V−1), V chosen so that each of its a row slices is whole
// 16-byte vectors: it reads each input element once, with vector loads that are coalesced across the warp
// (neighbouring threads own neighbouring slices of the same rows), and for each product p writes V
// consecutive elements of X̂[p, i, ·] in one packed store; κ is X̂'s contiguous index, so a warp's stores for
// one p land in one contiguous run. enc_x sits in shared memory, read as warp-wide broadcasts (16 bytes at a
// time); V tiles per thread means each coefficient read feeds V multiply-adds.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "codec_args.cuh"
#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kEncodeThreads = 256;

// The products of one thread's V tiles (i, κ0..κ0+V−1), x[u] holding row u of them: for each p, V consecutive
// elements of X̂[p, i, ·] in one packed store (element by element at the last, partial vector).
template <class T, int A, int B, int V>
__device__ __forceinline__ void encode_thread_tiles(const EncodeArgs<T>& args, const float* s_enc,
                                                    const float (&x)[A][V * B], std::int64_t i, std::int64_t kap0) {
  const bool full_out = kap0 + V <= args.k && args.vec_store;
  T* out = args.x_hat + i * args.ld + kap0;
  for (int p = 0; p < args.rank; ++p) {
    const float* e = s_enc + p * (A * B);
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = 0.0f;
#pragma unroll
    for (int u = 0; u < A; ++u)
#pragma unroll
      for (int w = 0; w < B; ++w) {
        const float coef = e[u * B + w];
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] = fmaf(coef, x[u][v * B + w], acc[v]);
      }
    T* dst = out + p * args.stride;
    if (full_out) {
      store_packed<T, V>(dst, acc);
    } else {
#pragma unroll
      for (int v = 0; v < V; ++v)
        if (kap0 + v < args.k) dst[v] = from_float<T>(acc[v]);
    }
  }
}

template <class T, int A, int B, int V>
__global__ void __launch_bounds__(kEncodeThreads) encode_tiles(const EncodeArgs<T> args) {
  constexpr int W = V * B;  // elements of one row slice
  extern __shared__ float s_enc[];
  for (int t = threadIdx.x; t < args.rank * A * B; t += blockDim.x) {
    const int p = t / (A * B), q = t - p * (A * B);
    s_enc[t] = causal_allows(args.levels, args.side, p, q / B) ? args.enc[p * args.enc_p + q * args.enc_q] : 0.0f;
  }
  __syncthreads();

  std::int64_t i, kap0;
  if (!thread_tiles<V>(args.m, args.k, i, kap0)) return;
  const std::int64_t col0 = kap0 * B;
  std::int64_t first;
  int real;
  args.rows.tile(i, A, first, real);

  // All loads first, so a rows' worth of vectors are in flight together.
  float x[A][W];
  const bool full_cols = col0 + W <= args.cols;
#pragma unroll
  for (int u = 0; u < A; ++u) {
    if (u < real) {
      const T* src = args.x + (first + u) * args.ldx + col0;
      if (full_cols && args.vec_load) {
        load_packed<T, W>(src, x[u]);
      } else {
#pragma unroll
        for (int e = 0; e < W; ++e) x[u][e] = col0 + e < args.cols ? to_float(__ldg(src + e)) : 0.0f;
      }
    } else {
#pragma unroll
      for (int e = 0; e < W; ++e) x[u][e] = 0.0f;
    }
  }

  encode_thread_tiles<T, A, B, V>(args, s_enc, x, i, kap0);
}

// V: by default the fewest tiles whose row slices are whole 16-byte vectors (see the top of this file).
template <class T, int A, int B, int V = vector_tiles<T>(B)>
void run_encode_tiles(const EncodeParams& p, CoefLayout layout = {},
                      CausalSide causal = CausalSide::at_or_below_level) {
  const StlShape& s = p.shape;
  const std::int64_t threads = s.m() * ((s.k() + V - 1) / V);
  if (threads == 0) return;
  EncodeArgs<T> args = encode_args<T>(p, layout, causal);
  args.vec_store = is_aligned(p.x_hat.data, std::min<std::size_t>(16, V * sizeof(T))) && p.x_hat.ld % V == 0 &&
                   p.x_hat.stride % V == 0;
  const std::size_t smem = static_cast<std::size_t>(s.rank) * A * B * sizeof(float);
  set_dynamic_smem(reinterpret_cast<const void*>(&encode_tiles<T, A, B, V>), smem);
  encode_tiles<T, A, B, V><<<grid_blocks(threads, kEncodeThreads), kEncodeThreads, smem, p.stream>>>(args);
  check_launch("encode_tiles");
}

template <DType D, int A, int B>
void launch_encode_tiles(const EncodeParams& p, CoefLayout enc, CausalSide causal) {
  run_encode_tiles<Storage<D>, A, B>(p, enc, causal);
}

}  // namespace strassentile::cuda::detail
