// Generic encode and decode for any tile format: one thread per output element, sizes at run time.
// Slower than the specialised kernels (inputs are re-read once per product, through the caches), but
// simple, so they also serve as the second opinion in the tests. They apply mode causal's levels by selection in
// their inner loop (kernels/causal_repair.cuh does the same for the specialised kernels, tile by tile).
#pragma once

#include <cstdint>

#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kGenericThreads = 256;

template <class T>
__global__ void encode_generic(const T* __restrict__ x, std::int64_t ldx, std::int64_t cols,
                               const float* __restrict__ enc, int enc_p, int enc_q, int rank, int a, int b,
                               T* __restrict__ x_hat,
                               std::int64_t ld, std::int64_t stride, std::int64_t m, std::int64_t k, RowMap rows,
                               const int* __restrict__ levels, CausalSide side) {
  const std::int64_t total = rank * m * k;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t kap = t % k, rest = t / k;  // κ fastest: coalesced stores
    const std::int64_t i = rest % m;
    const int p = static_cast<int>(rest / m);
    std::int64_t first;
    int real;
    rows.tile(i, a, first, real);
    float acc = 0.0f;
    for (int u = 0; u < real; ++u) {
      if (!causal_allows(levels, side, p, u)) continue;  // a masked row is never read: 0·Inf would be NaN
      for (int v = 0; v < b; ++v) {
        const std::int64_t col = kap * b + v;
        if (col < cols) acc = fmaf(enc[p * enc_p + (u * b + v) * enc_q], to_float(x[(first + u) * ldx + col]), acc);
      }
    }
    x_hat[p * stride + i * ld + kap] = from_float<T>(acc);
  }
}

template <class TZ, class T>
__global__ void decode_generic(const TZ* __restrict__ z, std::int64_t ld_z, std::int64_t stride_z,
                               const float* __restrict__ dec, int dec_q, int dec_p, int rank, int a, int c,
                               const T* __restrict__ bias,
                               Activation act, T* __restrict__ y, std::int64_t ldy, std::int64_t rows_total,
                               std::int64_t cols, RowMap rows, const int* __restrict__ levels, CausalSide side) {
  const std::int64_t total = rows_total * cols;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t row = t / cols, col = t % cols;  // column fastest: coalesced stores
    const std::int64_t s = row / rows.seq, pos = row % rows.seq;
    const std::int64_t i = s * rows.per_seq + pos / a;
    const int u = static_cast<int>(pos % a);
    const std::int64_t j = col / c;
    const int w = static_cast<int>(col % c);
    const float* d = dec + static_cast<std::int64_t>(u * c + w) * dec_q;
    float acc = 0.0f;
    for (int p = 0; p < rank; ++p)
      if (causal_allows(levels, side, p, u)) acc = fmaf(d[p * dec_p], to_float(z[p * stride_z + i * ld_z + j]), acc);
    if (bias != nullptr) acc += to_float(bias[col]);
    y[row * ldy + col] = from_float<T>(activate(acc, act));
  }
}

template <DType D>
void launch_encode_generic(const EncodeParams& p, CoefLayout layout, CausalSide causal) {
  using T = Storage<D>;
  const StlShape& s = p.shape;
  const std::int64_t total = s.rank * s.m() * s.k();
  if (total == 0) return;
  const CoefLayout enc = layout.resolved(s.a * s.b);
  encode_generic<T><<<capped_blocks(total, kGenericThreads), kGenericThreads, 0, p.stream>>>(
      static_cast<const T*>(p.x.data), p.x.ld, s.in_features, p.enc_x, enc.row_stride, enc.col_stride, s.rank, s.a, s.b,
      static_cast<T*>(p.x_hat.data), p.x_hat.ld, p.x_hat.stride, s.m(), s.k(), make_row_map(s), p.causal_levels,
      causal);
  check_launch("encode_generic");
}

template <DType D, DType ZD>
void launch_decode_generic(const DecodeParams& p, CoefLayout layout, CausalSide causal) {
  using T = Storage<D>;
  using TZ = Storage<ZD>;
  const StlShape& s = p.shape;
  const std::int64_t total = s.rows * s.out_features;
  if (total == 0) return;
  const CoefLayout dec = layout.resolved(s.rank);
  decode_generic<TZ, T><<<capped_blocks(total, kGenericThreads), kGenericThreads, 0, p.stream>>>(
      static_cast<const TZ*>(p.z.data), p.z.ld, p.z.stride, p.dec, dec.row_stride, dec.col_stride, s.rank, s.a, s.c,
      static_cast<const T*>(p.bias), p.activation, static_cast<T*>(p.y.data), p.y.ld, s.rows, s.out_features,
      make_row_map(s), p.causal_levels, causal);
  check_launch("decode_generic");
}

}  // namespace strassentile::cuda::detail
