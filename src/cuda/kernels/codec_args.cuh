// The kernel arguments of every specialised encode and decode (CUDA-core and tensor-core alike), built from
// resolved parameters (no zero leading dimensions or strides). T is the storage type the kernel moves: float,
// __half, __nv_bfloat16, or the raw 16-bit word of the tensor-core kernels.
#pragma once

#include <cstdint>

#include "device_math.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

template <class T>
struct EncodeArgs {
  const T* x;
  std::int64_t ldx, cols;  // cols = K
  const float* enc;
  int enc_p, enc_q;  // coefficient (p, q) is enc[p·enc_p + q·enc_q] (CoefLayout)
  int rank;
  T* x_hat;
  std::int64_t ld, stride, m, k;
  RowMap rows;
  bool vec_load, vec_store;
  // Mode causal: the coefficients masked rows would multiply read as zero (causal_allows), so the kernel computes
  // the masked product; a non-finite input in a masked row is then fixed by kernels/causal_repair.cuh.
  const int* levels;
  CausalSide side;
};

template <class T>
struct DecodeArgs {
  const T* z;
  std::int64_t ld_z, stride_z, m, n;
  const float* dec;
  int dec_q, dec_p;  // coefficient (q, p) is dec[q·dec_q + p·dec_p] (CoefLayout)
  int rank;
  const T* bias;
  T* y;
  std::int64_t ldy, cols;  // cols = N
  RowMap rows;
  bool vec_z, vec_y, vec_bias;
  const int* levels;  // as EncodeArgs::levels
  CausalSide side;
};

// vec_store is the caller's to set: how X̂ is stored depends on the kernel.
template <class T>
EncodeArgs<T> encode_args(const EncodeParams& p, CoefLayout layout,
                          CausalSide causal = CausalSide::at_or_below_level) {
  const StlShape& s = p.shape;
  const CoefLayout enc = layout.resolved(s.a * s.b);
  EncodeArgs<T> args{static_cast<const T*>(p.x.data), p.x.ld, s.in_features, p.enc_x, enc.row_stride, enc.col_stride,
                     s.rank, static_cast<T*>(p.x_hat.data), p.x_hat.ld, p.x_hat.stride, s.m(), s.k(), make_row_map(s),
                     false, false, p.causal_levels, causal};
  args.vec_load = is_aligned(p.x.data, 16) && (p.x.ld * static_cast<std::int64_t>(sizeof(T))) % 16 == 0;
  return args;
}

// vec_z is the caller's to set: how Z is read depends on the kernel.
template <class T>
DecodeArgs<T> decode_args(const DecodeParams& p, CoefLayout layout,
                          CausalSide causal = CausalSide::at_or_above_level) {
  const StlShape& s = p.shape;
  const CoefLayout dec = layout.resolved(s.rank);
  DecodeArgs<T> args{static_cast<const T*>(p.z.data), p.z.ld, p.z.stride, s.m(), s.n(), p.dec, dec.row_stride,
                     dec.col_stride, s.rank, static_cast<const T*>(p.bias), static_cast<T*>(p.y.data), p.y.ld,
                     s.out_features, make_row_map(s), false, false, false, p.causal_levels, causal};
  args.vec_y = is_aligned(p.y.data, 16) && (p.y.ld * static_cast<std::int64_t>(sizeof(T))) % 16 == 0;
  args.vec_bias = is_aligned(p.bias, 16);
  return args;
}

}  // namespace strassentile::cuda::detail
