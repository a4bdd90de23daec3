// stl_forward: encode → batched products → decode through a caller-provided workspace.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "launchers.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {
namespace {

std::int64_t round_up(std::int64_t v, std::int64_t to) { return (v + to - 1) / to * to; }

}  // namespace

ForwardWorkspace forward_workspace(const StlShape& shape, DType dtype, bool z_f32) {
  validate(shape);
  const auto size = static_cast<std::int64_t>(dtype_size(dtype));
  const std::int64_t z_size = z_f32 ? 4 : size;
  ForwardWorkspace ws;
  ws.ld_x_hat = round_up(shape.k(), 8);
  ws.stride_x_hat = shape.m() * ws.ld_x_hat;
  ws.ld_z = round_up(shape.n(), 8);
  ws.stride_z = shape.m() * ws.ld_z;
  ws.z_offset = static_cast<std::size_t>(round_up(shape.rank * ws.stride_x_hat * size, 256));
  ws.bytes = ws.z_offset + static_cast<std::size_t>(round_up(shape.rank * ws.stride_z * z_size, 256));
  return ws;
}

void stl_forward(const ForwardParams& p) {
  const ForwardWorkspace ws = forward_workspace(p.shape, p.dtype, p.z_f32);
  if (p.workspace_bytes < ws.bytes)
    throw std::invalid_argument("workspace holds " + std::to_string(p.workspace_bytes) + " bytes but " +
                                std::to_string(ws.bytes) + " are needed (forward_workspace)");
  if (ws.bytes > 0 && (p.workspace == nullptr || !detail::is_aligned(p.workspace, 256)))
    throw std::invalid_argument("workspace must be non-null and 256-byte aligned");
  const StlShape& s = p.shape;
  void* x_hat = p.workspace;
  void* z = static_cast<char*>(p.workspace) + ws.z_offset;

  EncodeParams enc;
  enc.shape = s;
  enc.dtype = p.dtype;
  enc.x = p.x;
  enc.ldx = p.ldx;
  enc.enc_x = p.enc_x;
  enc.x_hat = x_hat;
  enc.ld_x_hat = ws.ld_x_hat;
  enc.stride_x_hat = ws.stride_x_hat;
  enc.stream = p.stream;
  enc.kernel = p.kernel;
  launch_encode(enc);

  ProductsParams prod;
  prod.handle = p.cublas;
  prod.dtype = p.dtype;
  prod.batch = s.rank;
  prod.m = s.m();
  prod.k = s.k();
  prod.n = s.n();
  prod.x_hat = x_hat;
  prod.ld_x_hat = ws.ld_x_hat;
  prod.stride_x_hat = ws.stride_x_hat;
  prod.w_hat = p.w_hat;
  prod.ld_w_hat = p.ld_w_hat;
  prod.stride_w_hat = p.stride_w_hat;
  prod.z = z;
  prod.ld_z = ws.ld_z;
  prod.stride_z = ws.stride_z;
  prod.stream = p.stream;
  prod.z_f32 = p.z_f32;
  prod.gemm = p.gemm;
  launch_products(prod);

  DecodeParams dec;
  dec.shape = s;
  dec.dtype = p.dtype;
  dec.z = z;
  dec.ld_z = ws.ld_z;
  dec.stride_z = ws.stride_z;
  dec.dec = p.dec;
  dec.bias = p.bias;
  dec.activation = p.activation;
  dec.y = p.y;
  dec.ldy = p.ldy;
  dec.stream = p.stream;
  dec.kernel = p.kernel;
  dec.z_f32 = p.z_f32;
  launch_decode(dec);
}

}  // namespace strassentile::cuda
