// launch_decode_encode: the first layer's decode (with bias and activation) feeding the second layer's encode
// through shared memory, one group of 128 tiles at a time, on the phases of codec_mma.cuh.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "codec_mma.cuh"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {
namespace detail {
namespace {

// Ranks <= 32 on both sides: two 16-product steps of Z (KS = 2) and of X̂ (MT = 2), 38.7 KB of shared memory.
template <class T, Activation ACT>
__global__ void __launch_bounds__(mma_group::kThreads)
    decode_encode_mma(const MmaDecodeArgs dec, const MmaEncodeArgs enc, std::int64_t groups, std::int64_t groups_per_i) {
  using namespace mma_group;  // NOLINT(google-build-using-namespace): the block constants
  __shared__ __align__(16) word16 s_z[2][32 * kZStride];
  __shared__ __align__(16) float s_y[4 * kYStride];
  __shared__ __align__(16) word16 s_x[4 * kXStride];
  __shared__ __align__(16) word16 s_out[32 * kOutStride];
  zero_z_padding(s_z[0], 32, dec.rank);
  zero_z_padding(s_z[1], 32, dec.rank);
  std::int64_t group = blockIdx.x;
  if (group < groups) stage_z(dec, group, groups_per_i, s_z[0]);
  cp_async_commit();
  unsigned d_hi[2][4], d_lo[2][4], e_hi[2][4], e_lo[2][4];
  const bool dec_lo = decode_fragments<T, 2>(dec, d_hi, d_lo);
  const bool enc_lo = encode_fragments<T, 2>(enc, e_hi, e_lo);
  const int ksteps = (dec.rank + 15) / 16;
  for (int buf = 0; group < groups; group += gridDim.x, buf ^= 1) {
    if (group + gridDim.x < groups) stage_z(dec, group + gridDim.x, groups_per_i, s_z[buf ^ 1]);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    decode_products<T, 2>(s_z[buf], ksteps, d_hi, d_lo, dec_lo, s_y);
    __syncthreads();
    decode_epilogue<T, ACT>(dec, group, groups_per_i, s_y, s_x);  // Y₁'s 4 × 512 slab, as the encode stages it
    __syncthreads();
    encode_products<T, 2>(s_x, e_hi, e_lo, enc_lo, s_out);
    __syncthreads();
    store_x_hat(enc, group, groups_per_i, s_out);
  }
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("launch_decode_encode: " + what);
}

template <class T>
void run(const DecodeEncodeParams& p, const MmaDecodeArgs& dec, const MmaEncodeArgs& enc, std::int64_t groups,
         std::int64_t groups_per_i) {
  const auto launch = [&](auto kernel) { launch_persistent(kernel, groups, p.stream, dec, enc, groups, groups_per_i); };
  switch (p.activation) {
    case Activation::relu: launch(decode_encode_mma<T, Activation::relu>); break;
    case Activation::gelu_tanh: launch(decode_encode_mma<T, Activation::gelu_tanh>); break;
    case Activation::none: launch(decode_encode_mma<T, Activation::none>); break;
  }
  check_launch("decode_encode_mma");
}

}  // namespace
}  // namespace detail

void launch_decode_encode(const DecodeEncodeParams& p) {
  using detail::require;
  const StlShape &a = p.first, &b = p.second;
  validate(a);
  validate(b);
  require(p.dtype == DType::bf16 || p.dtype == DType::f16,
          std::string("dtype must be bf16 or f16 (tensor cores), got ") + dtype_name(p.dtype));
  require(a.a == 4 && a.b == 4 && a.c == 4 && b.a == 4 && b.b == 4 && b.c == 4,
          "both layers must use <4,4,4> tiles; use launch_decode and launch_encode for others");
  require(a.rank <= 32 && b.rank <= 32, "ranks must be at most 32, got " + std::to_string(a.rank) + " and " +
                                            std::to_string(b.rank) + "; use launch_decode and launch_encode");
  require(a.rows == b.rows && a.sequence_length() == b.sequence_length(),
          "the layers must have the same rows and seq_len");
  require(a.out_features == b.in_features, "second.in_features (" + std::to_string(b.in_features) +
                                               ") must equal first.out_features (" +
                                               std::to_string(a.out_features) + ")");
  require(p.z != nullptr && p.dec != nullptr && p.enc_x != nullptr && p.x_hat != nullptr,
          "z, dec, enc_x and x_hat must not be null");
  // The two halves as launch_decode and launch_encode would see them, strides resolved the same way.
  DecodeParams dp;
  dp.shape = a;
  dp.dtype = p.dtype;
  dp.z = p.z;
  dp.ld_z = detail::resolve_ld(p.ld_z, a.n(), "ld_z");
  dp.stride_z = detail::resolve_stride(p.stride_z, a.m(), dp.ld_z, a.n(), "stride_z");
  dp.dec = p.dec;
  dp.bias = p.bias;
  dp.y = p.y;
  dp.ldy = detail::resolve_ld(p.ldy, a.out_features, "ldy");
  EncodeParams ep;  // reads its input from shared memory: x stays null
  ep.shape = b;
  ep.dtype = p.dtype;
  ep.ldx = b.in_features;
  ep.enc_x = p.enc_x;
  ep.x_hat = p.x_hat;
  ep.ld_x_hat = detail::resolve_ld(p.ld_x_hat, b.k(), "ld_x_hat");
  ep.stride_x_hat = detail::resolve_stride(p.stride_x_hat, b.m(), ep.ld_x_hat, b.k(), "stride_x_hat");
  const detail::GroupGrid g = detail::group_grid(a.m(), a.n());
  if (g.groups == 0) return;
  const detail::MmaDecodeArgs dec = detail::mma_decode_args(dp, {});
  const detail::MmaEncodeArgs enc = detail::mma_encode_args(ep, {});
  if (p.dtype == DType::f16)
    detail::run<__half>(p, dec, enc, g.groups, g.groups_per_i);
  else
    detail::run<__nv_bfloat16>(p, dec, enc, g.groups, g.groups_per_i);
}

}  // namespace strassentile::cuda
