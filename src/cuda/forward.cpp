// stl_forward: encode → batched products → decode through a caller-provided workspace, or encode → the fused products
// and decode (ForwardPath); the stages themselves (layer_stages.hpp), which stl_mlp_forward shares.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "layer_stages.hpp"
#include "params.hpp"
#include "launchers.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {
using detail::round_up;

ForwardWorkspace forward_workspace(const StlShape& shape, DType dtype, bool z_f32) {
  validate(shape);
  const auto size = static_cast<std::int64_t>(dtype_size(dtype));
  const std::int64_t z_size = z_f32 ? 4 : size;
  ForwardWorkspace ws;
  ws.ld_x_hat = round_up(shape.k(), 8);
  ws.stride_x_hat = shape.m() * ws.ld_x_hat;
  ws.ld_z = round_up(shape.n(), 8);
  ws.stride_z = shape.m() * ws.ld_z;
  // X̂ | padded Ŵ | Z: Z last, so that a forward writing Z elsewhere (ForwardParams::z_out) needs only z_offset bytes.
  ws.w_hat_offset = static_cast<std::size_t>(round_up(shape.rank * ws.stride_x_hat * size, 256));
  ws.ld_w_hat = round_up(shape.n(), 8);
  if (detail::pads_products(shape, dtype))
    ws.w_hat_bytes = static_cast<std::size_t>(round_up(shape.rank * round_up(shape.k(), 8) * ws.ld_w_hat * size, 256));
  ws.z_offset = ws.w_hat_offset + ws.w_hat_bytes;
  ws.z_bytes = static_cast<std::size_t>(round_up(shape.rank * ws.stride_z * z_size, 256));
  if (dtype == DType::bf16 && shape.rank <= detail::kProductsDecodeMaxRank)  // the fused forward's aligned Ŵ copy
    ws.z_bytes = std::max(ws.z_bytes, static_cast<std::size_t>(round_up(shape.rank * shape.k() *
                                                                         round_up(shape.n(), 8) * size, 256)));
  ws.bytes = ws.z_offset + ws.z_bytes;
  return ws;
}

namespace detail {

LayerStages::LayerStages(const StlShape& shape, DType dtype, bool z_f32, void* base, void* z_out)
    : shape_(shape), dtype_(dtype), z_f32_(z_f32), base_(base), ws_(forward_workspace(shape, dtype, z_f32)),
      z_(z_out != nullptr ? z_out : static_cast<char*>(base) + ws_.z_offset) {
  // The products' sides: k and n, or both rounded up to 8 with zeros in the padding (params.hpp).
  padded_ = ws_.w_hat_bytes > 0 && shape.rows > 0;
  k_run_ = padded_ ? round_up(shape.k(), 8) : shape.k();
  n_run_ = padded_ ? ws_.ld_w_hat : shape.n();
}

void LayerStages::set_w_hat(ConstProductTensor w_hat, cudaStream_t stream) {
  w_hat_ = w_hat;
  if (!padded_ || w_hat.data == nullptr) return;
  const std::int64_t ld_src = w_hat.ld == 0 ? shape_.n() : w_hat.ld;
  const std::int64_t stride_src = w_hat.stride == 0 ? shape_.k() * ld_src : w_hat.stride;
  if (ld_src < shape_.n() || stride_src < (shape_.k() - 1) * ld_src + shape_.n())
    throw std::invalid_argument("w_hat.ld / w_hat.stride are smaller than Ŵ's rows / matrices");
  void* w_padded = static_cast<char*>(base_) + ws_.w_hat_offset;
  copy_padded(w_padded, ws_.ld_w_hat, k_run_ * ws_.ld_w_hat, k_run_, n_run_, w_hat.data, ld_src, stride_src,
                     shape_.k(), shape_.n(), shape_.rank, dtype_size(dtype_), stream);
  w_hat_ = {w_padded, ws_.ld_w_hat, k_run_ * ws_.ld_w_hat};
}

void LayerStages::encode(ConstTileMatrix x, const float* enc_x, KernelChoice kernel, cudaStream_t stream,
                         const int* causal_levels) const {
  launch_encode({{shape_, dtype_, stream, kernel, causal_levels}, x, enc_x, x_hat()});
}

void LayerStages::zero_x_hat_padding(cudaStream_t stream) const {
  if (padded_) zero_columns(base_, shape_.rank * shape_.m(), shape_.k(), ws_.ld_x_hat, dtype_size(dtype_), stream);
}

void LayerStages::products(cublasHandle_t cublas, GemmChoice gemm, cudaStream_t stream) const {
  launch_products({cublas, dtype_, shape_.rank, shape_.m(), k_run_, n_run_,  // r products of m×k times k×n
                   x_hat(), w_hat_, z(), stream, z_f32_, gemm});
}

void LayerStages::products_decode(ConstProductTensor w_hat, const float* dec, const void* bias,
                                  Activation activation, TileMatrix y, cudaStream_t stream) const {
  const StlShape& s = shape_;
  const std::int64_t ld_w = resolve_ld(w_hat.ld, s.n(), "w_hat.ld");
  const std::int64_t stride_w = resolve_stride(w_hat.stride, s.k(), ld_w, s.n(), "w_hat.stride");
  const std::int64_t ldy = resolve_ld(y.ld, s.out_features, "y.ld");
  require_elements(w_hat.data, 2, "stl_forward", "w_hat");
  require_elements(y.data, 2, "stl_forward", "y");
  require_aligned(bias, 2, "stl_forward", "bias");
  require_pointer(dec, "stl_forward", "dec");
  ConstProductTensor w{w_hat.data, ld_w, stride_w};
  if (!products_weight_ready(w)) {  // rows of round_up(n, 8) in Z's region, which is free: Z never leaves the kernel
    const std::int64_t ld = round_up(s.n(), 8);
    copy_padded(z_, ld, s.k() * ld, s.k(), s.n(), w.data, ld_w, stride_w, s.k(), s.n(), s.rank, 2, stream);
    w = {z_, ld, s.k() * ld};
  }
  ProductsDecodeArgs args;
  args.m = static_cast<int>(s.m());
  args.n = static_cast<int>(s.n());
  args.k = static_cast<int>(round_up(s.k(), 8));
  args.w_rows = static_cast<int>(s.k());
  args.rank = s.rank;
  args.dec = dec;
  args.bias = bias;
  args.activation = activation;
  args.y = y.data;
  args.ldy = ldy;
  args.out_features = s.out_features;
  args.rows = s.rows;
  args.seq = s.sequence_length();
  args.per_seq = s.tiles_per_sequence();
  args.vector_store = is_aligned(y.data, 2 * static_cast<std::size_t>(s.c)) && ldy % s.c == 0;
  args.whole_tiles = s.sequence_length() % s.a == 0;
  detail::products_decode(s.a, s.c, args, base_, w, stream);
}

void LayerStages::decode(const float* dec, const void* bias, Activation activation, TileMatrix y, KernelChoice kernel,
                         cudaStream_t stream, const int* causal_levels) const {
  launch_decode({{shape_, dtype_, stream, kernel, causal_levels}, z(), dec, bias, activation, y, z_f32_});
}

}  // namespace detail

namespace {

// ForwardPath: automatic takes the fused kernel where it applies and the speed model prices it faster.
bool runs_fused(const ForwardParams& p) {
  switch (p.path) {
    case ForwardPath::unfused:
      return false;
    case ForwardPath::fused:
      if (const std::string why = fused_forward_unavailable(p); !why.empty())
        throw std::invalid_argument("stl_forward: path is ForwardPath::fused but " + why +
                                    " (use ForwardPath::automatic or unfused)");
      return true;
    case ForwardPath::automatic:
      return fused_forward_chosen(p);
  }
  throw std::invalid_argument("stl_forward: path " + std::to_string(static_cast<int>(p.path)) + " is not a ForwardPath");
}

}  // namespace

void stl_forward(const ForwardParams& p) {
  const bool fused = runs_fused(p);
  detail::LayerStages layer(p.shape, p.dtype, p.z_f32, p.workspace, p.z_out);
  const ForwardWorkspace& ws = layer.workspace();
  detail::check_workspace("", p.workspace, p.workspace_bytes, p.z_out != nullptr ? ws.z_offset : ws.bytes,
                          p.z_out != nullptr ? "forward_workspace(...).z_offset (z_out given)" : "forward_workspace");
  if (p.z_out != nullptr && !detail::is_aligned(p.z_out, 256))
    throw std::invalid_argument("z_out must be 256-byte aligned (cudaMalloc's pointers are)");
  layer.encode(p.x, p.enc_x, p.kernel, p.stream, p.causal_levels);
  layer.zero_x_hat_padding(p.stream);
  if (fused) {
    layer.products_decode(p.w_hat, p.dec, p.bias, p.activation, p.y, p.stream);
    return;
  }
  layer.set_w_hat(p.w_hat, p.stream);
  layer.products(p.cublas, p.gemm, p.stream);
  layer.decode(p.dec, p.bias, p.activation, p.y, p.kernel, p.stream, p.causal_levels);
}

}  // namespace strassentile::cuda
