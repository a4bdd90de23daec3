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
  ws.w_hat_offset = ws.z_offset + static_cast<std::size_t>(round_up(shape.rank * ws.stride_z * z_size, 256));
  ws.ld_w_hat = round_up(shape.n(), 8);
  if (detail::pads_products(shape, dtype))
    ws.w_hat_bytes = static_cast<std::size_t>(round_up(shape.rank * round_up(shape.k(), 8) * ws.ld_w_hat * size, 256));
  ws.bytes = ws.w_hat_offset + ws.w_hat_bytes;
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
  // The products' sides: k and n, or both rounded up to 8 with zeros in the padding (launchers.hpp).
  const bool padded = ws.w_hat_bytes > 0 && s.rows > 0;
  const std::int64_t k_run = padded ? round_up(s.k(), 8) : s.k(), n_run = padded ? ws.ld_w_hat : s.n();
  const void* w_hat = p.w_hat;
  std::int64_t ld_w = p.ld_w_hat, stride_w = p.stride_w_hat;
  if (padded && p.w_hat != nullptr) {
    const std::int64_t ld_src = p.ld_w_hat == 0 ? s.n() : p.ld_w_hat;
    const std::int64_t stride_src = p.stride_w_hat == 0 ? s.k() * ld_src : p.stride_w_hat;
    if (ld_src < s.n() || stride_src < (s.k() - 1) * ld_src + s.n())
      throw std::invalid_argument("ld_w_hat / stride_w_hat are smaller than Ŵ's rows / matrices");
    void* w_padded = static_cast<char*>(p.workspace) + ws.w_hat_offset;
    detail::launch_copy_padded(w_padded, ws.ld_w_hat, k_run * ws.ld_w_hat, k_run, n_run, p.w_hat, ld_src, stride_src,
                               s.k(), s.n(), s.rank, dtype_size(p.dtype), p.stream);
    w_hat = w_padded, ld_w = ws.ld_w_hat, stride_w = k_run * ws.ld_w_hat;
  }

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
  // After the encode, which leaves them alone: X̂'s padding columns are the padded inner dimension's zeros.
  if (padded) detail::zero_columns(x_hat, s.rank * s.m(), s.k(), ws.ld_x_hat, dtype_size(p.dtype), p.stream);

  ProductsParams prod;
  prod.handle = p.cublas;
  prod.dtype = p.dtype;
  prod.batch = s.rank;
  prod.m = s.m();
  prod.k = k_run;
  prod.n = n_run;
  prod.x_hat = x_hat;
  prod.ld_x_hat = ws.ld_x_hat;
  prod.stride_x_hat = ws.stride_x_hat;
  prod.w_hat = w_hat;
  prod.ld_w_hat = ld_w;
  prod.stride_w_hat = stride_w;
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
