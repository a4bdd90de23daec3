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

// Inf and NaN have every exponent bit set: the test on raw bits, 16 bytes at a time.
template <class T>
struct ExponentBits;
template <>
struct ExponentBits<float> {
  static constexpr unsigned value = 0x7f800000u;
};
template <>
struct ExponentBits<__half> {
  static constexpr unsigned value = 0x7c00u;
};
template <>
struct ExponentBits<__nv_bfloat16> {
  static constexpr unsigned value = 0x7f80u;
};

// Bit e set: element e of the 16 bytes (16 / sizeof(T) elements) is Inf or NaN.
template <class T>
__device__ __forceinline__ unsigned nonfinite_lanes(const uint4 v) {
  constexpr unsigned mask = ExponentBits<T>::value;
  const unsigned words[4] = {v.x, v.y, v.z, v.w};
  unsigned lanes = 0;
  if constexpr (sizeof(T) == 4) {
#pragma unroll
    for (int e = 0; e < 4; ++e) lanes |= ((words[e] & mask) == mask ? 1u : 0u) << e;
  } else {
#pragma unroll
    for (int e = 0; e < 8; ++e) lanes |= (((words[e / 2] >> (16 * (e % 2))) & mask) == mask ? 1u : 0u) << e;
  }
  return lanes;
}

// Bit e set: element e of the `count` (< 16 / sizeof(T)) at src is Inf or NaN (a row's ragged end).
template <class T>
__device__ __forceinline__ unsigned nonfinite_lanes(const T* src, std::int64_t count) {
  unsigned lanes = 0;
  for (int e = 0; e < count; ++e) lanes |= (finite(src[e]) ? 0u : 1u) << e;
  return lanes;
}

// x_hat[p][i][κ] for every product p, summing only the rows causal_allows: tile (i, κ) recomputed by selection.
template <class T>
__device__ void recompute_encode_tile(const EncodeArgs<T>& args, int a, int b, std::int64_t i, std::int64_t kap) {
  std::int64_t first;
  int real;
  args.rows.tile(i, a, first, real);
  for (int p = 0; p < args.rank; ++p) {
    float acc = 0.0f;
    for (int u = 0; u < real; ++u) {
      if (!causal_allows(args.levels, args.side, p, u)) continue;
      for (int v = 0; v < b; ++v) {
        const std::int64_t col = kap * b + v;
        if (col < args.cols)
          acc = fmaf(args.enc[p * args.enc_p + (u * b + v) * args.enc_q], to_float(args.x[(first + u) * args.ldx + col]),
                     acc);
      }
    }
    args.x_hat[p * args.stride + i * args.ld + kap] = from_float<T>(acc);
  }
}

// Tile (i, j)'s a × c outputs, each summing only the products causal_allows for its row, then bias and activation
// as the decode kernels apply them.
template <class T>
__device__ void recompute_decode_tile(const DecodeArgs<T>& args, int a, int c, Activation act, std::int64_t i,
                                      std::int64_t j) {
  const T* z = args.z + i * args.ld_z + j;
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

// One thread per tile (i, κ) of x: when the tile holds a non-finite entry, it is recomputed.
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
    if (bad) recompute_encode_tile(args, a, b, i, kap);
  }
}

// The same test 16 bytes at a time over x's rows (16-byte aligned): one thread per 16 / sizeof(T) entries of a row,
// which recomputes the tiles of its non-finite entries. Two threads may recompute the same tile (two rows of it):
// they write the same values.
template <class T>
__global__ void encode_causal_repair_vectorized(const EncodeArgs<T> args, int a, int b) {
  constexpr int G = 16 / static_cast<int>(sizeof(T));
  const std::int64_t groups = (args.cols + G - 1) / G, total = args.rows.rows * groups;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t row = index_div(t, groups), group = t - row * groups, col0 = group * G;
    const T* src = args.x + row * args.ldx + col0;
    const unsigned lanes = col0 + G <= args.cols ? nonfinite_lanes<T>(__ldg(reinterpret_cast<const uint4*>(src)))
                                                 : nonfinite_lanes(src, args.cols - col0);
    if (lanes == 0) continue;
    const std::int64_t i = args.rows.tile_of(row, a);
    std::int64_t done = -1;
    for (int e = 0; e < G; ++e) {
      const std::int64_t kap = (col0 + e) / b;
      if ((lanes >> e & 1u) == 0 || kap == done) continue;
      recompute_encode_tile(args, a, b, i, kap);
      done = kap;
    }
  }
}

// One thread per tile (i, j) of Z: when one of its r products is non-finite, the tile is recomputed.
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
    if (bad) recompute_decode_tile(args, a, c, act, i, j);
  }
}

// The same test on 16 / sizeof(T) tiles (i, j..) per thread, each product's values of them in one 16-byte load
// (Z's rows and planes 16-byte aligned).
template <class T>
__global__ void decode_causal_repair_vectorized(const DecodeArgs<T> args, int a, int c, Activation act) {
  constexpr int G = 16 / static_cast<int>(sizeof(T));
  const std::int64_t groups = (args.n + G - 1) / G, total = args.m * groups;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = index_div(t, groups), group = t - i * groups, j0 = group * G;
    const T* z = args.z + i * args.ld_z + j0;
    unsigned lanes = 0;
    if (j0 + G <= args.n) {
#pragma unroll 8
      for (int p = 0; p < args.rank; ++p)
        lanes |= nonfinite_lanes<T>(__ldg(reinterpret_cast<const uint4*>(z + p * args.stride_z)));
    } else {
      for (int p = 0; p < args.rank; ++p) lanes |= nonfinite_lanes(z + p * args.stride_z, args.n - j0);
    }
    for (int e = 0; e < G; ++e)
      if (lanes >> e & 1u) recompute_decode_tile(args, a, c, act, i, j0 + e);
  }
}

template <DType D>
void launch_encode_causal_repair(const EncodeParams& p, CoefLayout enc, CausalSide causal) {
  using T = Storage<D>;
  const StlShape& s = p.shape;
  if (s.m() * s.k() == 0 || p.causal_levels == nullptr) return;
  const EncodeArgs<T> args = encode_args<T>(p, enc, causal);
  if (args.vec_load) {  // x's rows 16-byte aligned
    const std::int64_t groups = s.rows * ((s.in_features + 16 / sizeof(T) - 1) / (16 / sizeof(T)));
    encode_causal_repair_vectorized<T><<<capped_blocks(groups, kRepairThreads), kRepairThreads, 0, p.stream>>>(
        args, s.a, s.b);
    check_launch("encode_causal_repair_vectorized");
    return;
  }
  encode_causal_repair<T><<<capped_blocks(s.m() * s.k(), kRepairThreads), kRepairThreads, 0, p.stream>>>(args, s.a,
                                                                                                         s.b);
  check_launch("encode_causal_repair");
}

template <DType D>
void launch_decode_causal_repair(const DecodeParams& p, CoefLayout dec, CausalSide causal) {
  using T = Storage<D>;
  const StlShape& s = p.shape;
  if (s.m() * s.n() == 0 || p.causal_levels == nullptr) return;
  const DecodeArgs<T> args = decode_args<T>(p, dec, causal);
  const auto e = static_cast<std::int64_t>(sizeof(T));
  if (is_aligned(args.z, 16) && (args.ld_z * e) % 16 == 0 && (args.stride_z * e) % 16 == 0) {
    const std::int64_t groups = s.m() * ((s.n() + 16 / e - 1) / (16 / e));
    decode_causal_repair_vectorized<T><<<capped_blocks(groups, kRepairThreads), kRepairThreads, 0, p.stream>>>(
        args, s.a, s.c, p.activation);
    check_launch("decode_causal_repair_vectorized");
    return;
  }
  decode_causal_repair<T><<<capped_blocks(s.m() * s.n(), kRepairThreads), kRepairThreads, 0, p.stream>>>(
      args, s.a, s.c, p.activation);
  check_launch("decode_causal_repair");
}

}  // namespace strassentile::cuda::detail
