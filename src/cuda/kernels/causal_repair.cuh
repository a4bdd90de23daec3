// Mode causal on the specialised kernels: they run with the masked coefficients read as zeros (EncodeArgs::levels),
// which is the masked product exactly as long as every input is finite. A non-finite input in a masked row would
// meet a zero coefficient (0·Inf = NaN) and reach rows it must not. These kernels run after them, read each tile's
// inputs once, and recompute by selection only the tiles holding a non-finite value; every other tile keeps the
// specialised kernel's result. The cost is one read of the input instead of a generic kernel's r re-reads.
#pragma once

#include <cstdint>

#include "codec_args.cuh"
#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kRepairThreads = 256;

template <class T>
__device__ __forceinline__ bool finite(T v) {
  return isfinite(to_float(v));
}

// One thread per tile (i, κ) of x: when the tile holds a non-finite entry, x_hat[p][i][κ] for every product p,
// summing only the rows causal_allows.
template <class T>
__global__ void encode_causal_repair(const EncodeArgs<T> args, int a, int b) {
  const std::int64_t total = args.m * args.k;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = index_div(t, args.k), kap = t - i * args.k;
    std::int64_t first;
    int real;
    args.rows.tile(i, a, first, real);
    // Every load issued before any test (a short-circuit test would wait on each load in turn).
    bool bad = false;
    for (int u = 0; u < real; ++u)
#pragma unroll 4
      for (int v = 0; v < b; ++v) {
        const std::int64_t col = kap * b + v;
        bad |= col < args.cols && !finite(args.x[(first + u) * args.ldx + col]);
      }
    if (!bad) continue;
    for (int p = 0; p < args.rank; ++p) {
      float acc = 0.0f;
      for (int u = 0; u < real; ++u) {
        if (!causal_allows(args.levels, args.side, p, u)) continue;
        for (int v = 0; v < b; ++v) {
          const std::int64_t col = kap * b + v;
          if (col < args.cols)
            acc = fmaf(args.enc[p * args.enc_p + (u * b + v) * args.enc_q],
                       to_float(args.x[(first + u) * args.ldx + col]), acc);
        }
      }
      args.x_hat[p * args.stride + i * args.ld + kap] = from_float<T>(acc);
    }
  }
}

// One thread per tile (i, j) of Z: when one of its r products is non-finite, the tile's a × c outputs, each summing
// only the products causal_allows for its row, then bias and activation as the decode kernels apply them.
template <class T>
__global__ void decode_causal_repair(const DecodeArgs<T> args, int a, int c, Activation act) {
  const std::int64_t total = args.m * args.n;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = index_div(t, args.n), j = t - i * args.n;
    const T* z = args.z + i * args.ld_z + j;
    bool bad = false;
#pragma unroll 8
    for (int p = 0; p < args.rank; ++p) bad |= !finite(z[p * args.stride_z]);
    if (!bad) continue;
    std::int64_t first;
    int real;
    args.rows.tile(i, a, first, real);
    for (int u = 0; u < real; ++u)
      for (int w = 0; w < c; ++w) {
        const std::int64_t col = j * c + w;
        if (col >= args.cols) continue;
        float acc = 0.0f;
        for (int p = 0; p < args.rank; ++p)
          if (causal_allows(args.levels, args.side, p, u))
            acc = fmaf(args.dec[(u * c + w) * args.dec_q + p * args.dec_p], to_float(z[p * args.stride_z]), acc);
        if (args.bias != nullptr) acc += to_float(args.bias[col]);
        args.y[(first + u) * args.ldy + col] = from_float<T>(activate(acc, act));
      }
  }
}

template <DType D>
void launch_encode_causal_repair(const EncodeParams& p, CoefLayout enc, CausalSide causal) {
  using T = Storage<D>;
  const StlShape& s = p.shape;
  const std::int64_t total = s.m() * s.k();
  if (total == 0 || p.causal_levels == nullptr) return;
  const unsigned blocks = capped_blocks(total, kRepairThreads);
  encode_causal_repair<T><<<blocks, kRepairThreads, 0, p.stream>>>(encode_args<T>(p, enc, causal), s.a, s.b);
  check_launch("encode_causal_repair");
}

template <DType D>
void launch_decode_causal_repair(const DecodeParams& p, CoefLayout dec, CausalSide causal) {
  using T = Storage<D>;
  const StlShape& s = p.shape;
  const std::int64_t total = s.m() * s.n();
  if (total == 0 || p.causal_levels == nullptr) return;
  const unsigned blocks = capped_blocks(total, kRepairThreads);
  decode_causal_repair<T><<<blocks, kRepairThreads, 0, p.stream>>>(decode_args<T>(p, dec, causal), s.a, s.c,
                                                                    p.activation);
  check_launch("decode_causal_repair");
}

}  // namespace strassentile::cuda::detail
