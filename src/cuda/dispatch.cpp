// launch_encode / launch_decode and the backward's transposed passes: check the parameters, fill in default
// strides, pick a kernel.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "launchers.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {
namespace {

using detail::resolve_ld;
using detail::resolve_stride;

void require(const void* ptr, const char* name) {
  if (ptr == nullptr) throw std::invalid_argument(std::string(name) + " is null");
}

bool encode_specialised(const EncodeParams& p, detail::CoefLayout enc) {
  using detail::launch_encode_fast;
  switch (p.shape.a * 16 + p.shape.b) {  // (a,b) pairs listed in launchers.hpp
    case 2 * 16 + 2: launch_encode_fast<2, 2>(p, enc); return true;
    case 3 * 16 + 3: launch_encode_fast<3, 3>(p, enc); return true;
    case 4 * 16 + 4: launch_encode_fast<4, 4>(p, enc); return true;
    case 2 * 16 + 4: launch_encode_fast<2, 4>(p, enc); return true;
    case 1 * 16 + 4: launch_encode_fast<1, 4>(p, enc); return true;
    default: return false;
  }
}

bool decode_specialised(const DecodeParams& p, detail::CoefLayout dec) {
  using detail::launch_decode_fast;
  switch (p.shape.a * 16 + p.shape.c) {  // (a,c) pairs listed in launchers.hpp
    case 2 * 16 + 2: launch_decode_fast<2, 2>(p, dec); return true;
    case 3 * 16 + 3: launch_decode_fast<3, 3>(p, dec); return true;
    case 4 * 16 + 4: launch_decode_fast<4, 4>(p, dec); return true;
    case 2 * 16 + 4: launch_decode_fast<2, 4>(p, dec); return true;
    case 1 * 16 + 4: launch_decode_fast<1, 4>(p, dec); return true;
    default: return false;
  }
}

// Whether KernelChoice::automatic takes the tensor-core encode/decode where it applies (codec_mma.cuh).
constexpr bool kTensorCoreCodecDefault = true;

bool use_mma(KernelChoice k) {
  return k == KernelChoice::tensor_core || (k == KernelChoice::automatic && kTensorCoreCodecDefault);
}

}  // namespace

namespace detail {

void encode_with(const EncodeParams& params, CoefLayout enc) {
  EncodeParams p = params;
  validate(p.shape);
  dtype_size(p.dtype);  // rejects unknown values
  const StlShape& s = p.shape;
  if (s.b > 15 || s.a > 15) p.kernel = KernelChoice::generic;  // keeps the pair switch unambiguous
  p.ldx = resolve_ld(p.ldx, s.in_features, "ldx");
  p.ld_x_hat = resolve_ld(p.ld_x_hat, s.k(), "ld_x_hat");
  p.stride_x_hat = resolve_stride(p.stride_x_hat, s.m(), p.ld_x_hat, s.k(), "stride_x_hat");
  if (s.m() == 0 || s.k() == 0) return;
  require(p.x, "x");
  require(p.enc_x, "enc_x");
  require(p.x_hat, "x_hat");
  if (use_mma(p.kernel) && launch_encode_mma(p, enc)) return;
  if (p.kernel != KernelChoice::generic && encode_specialised(p, enc)) return;
  launch_encode_generic(p, enc);
}

void decode_with(const DecodeParams& params, CoefLayout dec) {
  DecodeParams p = params;
  validate(p.shape);
  dtype_size(p.dtype);
  const StlShape& s = p.shape;
  if (s.c > 15 || s.a > 15 || p.z_f32) p.kernel = KernelChoice::generic;  // fp32 Z: the generic kernel only
  p.ld_z = resolve_ld(p.ld_z, s.n(), "ld_z");
  p.stride_z = resolve_stride(p.stride_z, s.m(), p.ld_z, s.n(), "stride_z");
  p.ldy = resolve_ld(p.ldy, s.out_features, "ldy");
  if (s.rows == 0 || s.out_features == 0) return;
  require(p.z, "z");
  require(p.dec, "dec");
  require(p.y, "y");
  if (use_mma(p.kernel) && launch_decode_mma(p, dec)) return;
  if (p.kernel != KernelChoice::generic && decode_specialised(p, dec)) return;
  launch_decode_generic(p, dec);
}

}  // namespace detail

void launch_encode(const EncodeParams& params) { detail::encode_with(params, {}); }

void launch_decode(const DecodeParams& params) { detail::decode_with(params, {}); }

// dZ = decodeᵀ(dY) is the encode of dY's (a,c) tiles with Dᵀ as encoder: enc(p, q) = dec[q, p].
void launch_decode_backward(const DecodeBackwardParams& p) {
  validate(p.shape);
  EncodeParams e;
  e.shape = p.shape;
  e.shape.in_features = p.shape.out_features;
  e.shape.b = p.shape.c;
  e.dtype = p.dtype;
  e.x = p.dy;
  e.ldx = p.ldy;
  e.enc_x = p.dec;
  e.x_hat = p.dz;
  e.ld_x_hat = p.ld_dz;
  e.stride_x_hat = p.stride_dz;
  e.stream = p.stream;
  e.kernel = p.kernel;
  detail::encode_with(e, detail::CoefLayout{1, p.shape.rank});
}

// dX = encodeᵀ(dX̂) is the decode of dX̂ onto X's (a,b) tiles with E_Xᵀ as decoder: dec(q, p) = enc_x[p, q].
void launch_encode_backward(const EncodeBackwardParams& p) {
  validate(p.shape);
  DecodeParams d;
  d.shape = p.shape;
  d.shape.out_features = p.shape.in_features;
  d.shape.c = p.shape.b;
  d.dtype = p.dtype;
  d.z = p.dx_hat;
  d.ld_z = p.ld_dx_hat;
  d.stride_z = p.stride_dx_hat;
  d.dec = p.enc_x;
  d.y = p.dx;
  d.ldy = p.ldx;
  d.stream = p.stream;
  d.kernel = p.kernel;
  detail::decode_with(d, detail::CoefLayout{1, p.shape.a * p.shape.b});
}

}  // namespace strassentile::cuda
