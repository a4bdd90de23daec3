// decode_encode_mma: the first layer's decode (with bias and activation) feeding the second layer's encode through
// shared memory, one group of 128 tiles at a time, on the phases of codec_mma.cuh. Y₁ is rounded to the storage
// type before the encode, exactly as decode_mma followed by encode_mma would do.
#pragma once

#include <cstdint>

#include "codec_mma.cuh"

namespace strassentile::cuda::detail {

// Ranks <= 32 on both sides: two 16-product steps of Z (KS = 2) and of X̂ (MT = 2), 38.7 KB of shared memory.
template <class T, Activation ACT>
__global__ void __launch_bounds__(mma_group::kThreads)
    decode_encode_mma(const MmaDecodeArgs dec, const MmaEncodeArgs enc, std::int64_t groups, std::int64_t groups_per_i) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  __shared__ __align__(16) word16 s_z[2][32 * kZStride];
  __shared__ __align__(16) float s_y[4 * kYStride];
  __shared__ __align__(16) word16 s_x[4 * kXStride];
  __shared__ __align__(16) word16 s_out[32 * kOutStride];
  const auto stage = z_stager(dec, groups_per_i, s_z);
  std::int64_t group = first_stage(stage, groups);
  unsigned d_hi[2][4], d_lo[2][4], e_hi[2][4], e_lo[2][4];
  const bool dec_lo = decode_fragments<T, 2>(dec, d_hi, d_lo);
  const bool enc_lo = encode_fragments<T, 2>(enc, e_hi, e_lo);
  const int ksteps = (dec.rank + 15) / 16;
  for (int buf = 0; group < groups; group += gridDim.x, buf ^= 1) {
    await_stage(stage, group, groups, buf);
    decode_products<T, 2>(s_z[buf], ksteps, d_hi, d_lo, dec_lo, s_y);
    __syncthreads();
    decode_epilogue<T, ACT>(dec, group, groups_per_i, s_y, s_x);  // Y₁'s 4 × 512 slab, as the encode stages it
    __syncthreads();
    encode_products<T, 2>(s_x, e_hi, e_lo, enc_lo, s_out);
    __syncthreads();
    store_x_hat(enc, group, groups_per_i, s_out);
  }
}

// `dec` and `enc` resolved as launch_decode_mma and launch_encode_mma take them; the caller (dispatch.cpp) has
// checked that the fused kernel applies (bf16/fp16, <4,4,4> on both sides, ranks <= 32).
template <DType D>
void launch_decode_encode_mma(const DecodeParams& dp, const EncodeParams& ep) {
  launch_groups(dp.shape.m(), dp.shape.n(), "decode_encode_mma", [&](const GroupGrid& g) {
    const MmaDecodeArgs dec = mma_decode_args(dp, {});
    const MmaEncodeArgs enc = mma_encode_args(ep, {});
    with_activation(dp.activation, [&](auto act) {
      launch_persistent(decode_encode_mma<Storage<D>, decltype(act)::value>, g, dp.stream, dec, enc);
    });
  });
}

}  // namespace strassentile::cuda::detail
