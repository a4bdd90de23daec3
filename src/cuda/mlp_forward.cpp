// stl_mlp_forward: two STL layers with an activation between them, layer 1's decode fused with layer 2's encode
// (launch_decode_encode) where that kernel applies. At 8192 rows, 4096 → 16384 → 4096 features (bf16, r = 24, bias
// and GELU) the fused pass takes 0.433 ms where the decode then the encode take 0.503 ms (H200, docs/PERFORMANCE.md).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "layer_stages.hpp"
#include "launchers.hpp"
#include "params.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {
namespace {

std::size_t round_up_256(std::size_t v) { return (v + 255) / 256 * 256; }

// The workspace: layer 1's, then layer 2's, then (unfused) Y₁, each 256-byte aligned.
struct MlpLayout {
  std::size_t second_offset = 0, hidden_offset = 0, bytes = 0;
  bool fused = false;
};

MlpLayout mlp_layout(const StlShape& first, const StlShape& second, DType dtype) {
  if (second.in_features != first.out_features)
    throw std::invalid_argument("stl_mlp_forward: second.in_features (" + std::to_string(second.in_features) +
                                ") must equal first.out_features (" + std::to_string(first.out_features) + ")");
  if (second.rows != first.rows || second.sequence_length() != first.sequence_length())
    throw std::invalid_argument("stl_mlp_forward: the layers must have the same rows and seq_len");
  MlpLayout l;
  l.fused = mlp_forward_fuses(first, second, dtype);
  l.second_offset = round_up_256(forward_workspace(first, dtype).bytes);
  l.hidden_offset = l.second_offset + round_up_256(forward_workspace(second, dtype).bytes);
  const std::size_t hidden =
      l.fused ? 0 : static_cast<std::size_t>(first.rows * first.out_features) * dtype_size(dtype);
  l.bytes = l.hidden_offset + round_up_256(hidden);
  return l;
}

// Every operand up front, before the first kernel is enqueued: a bad one must not leave layer 1 half run.
void check_operands(const MlpForwardParams& p) {
  constexpr const char* who = "stl_mlp_forward";
  const std::size_t e = dtype_size(p.dtype);
  const bool rows = p.first.rows > 0;
  if (rows && p.first.in_features > 0) {
    detail::require_elements(p.x.data, e, who, "x");
    detail::resolve_ld(p.x.ld, p.first.in_features, "stl_mlp_forward: x.ld");
  }
  if (rows && p.second.out_features > 0) {
    detail::require_elements(p.y.data, e, who, "y");
    detail::resolve_ld(p.y.ld, p.second.out_features, "stl_mlp_forward: y.ld");
  }
  detail::require_elements(p.w_hat1, e, who, "w_hat1");
  detail::require_elements(p.w_hat2, e, who, "w_hat2");
  detail::require_elements(p.enc_x1, sizeof(float), who, "enc_x1");
  detail::require_elements(p.dec1, sizeof(float), who, "dec1");
  detail::require_elements(p.enc_x2, sizeof(float), who, "enc_x2");
  detail::require_elements(p.dec2, sizeof(float), who, "dec2");
  detail::require_aligned(p.bias1, e, who, "bias1");  // the biases are optional
  detail::require_aligned(p.bias2, e, who, "bias2");
  if (rows) detail::require_pointer(p.cublas, who, "cublas");
}

}  // namespace

std::size_t mlp_forward_workspace(const StlShape& first, const StlShape& second, DType dtype) {
  return mlp_layout(first, second, dtype).bytes;
}

void stl_mlp_forward(const MlpForwardParams& p) {
  const MlpLayout l = mlp_layout(p.first, p.second, p.dtype);
  detail::check_workspace("stl_mlp_forward", p.workspace, p.workspace_bytes, l.bytes, "mlp_forward_workspace");
  check_operands(p);
  char* base = static_cast<char*>(p.workspace);
  detail::LayerStages one(p.first, p.dtype, false, base), two(p.second, p.dtype, false, base + l.second_offset);
  one.set_w_hat({p.w_hat1, 0, 0}, p.stream);
  two.set_w_hat({p.w_hat2, 0, 0}, p.stream);
  one.encode(p.x, p.enc_x1, KernelChoice::automatic, p.stream);
  one.zero_x_hat_padding(p.stream);
  one.products(p.cublas, p.gemm, p.stream);
  if (l.fused) {
    launch_decode_encode({p.first, p.second, p.dtype,
                          one.z(), p.dec1, p.bias1, p.activation,  // layer 1's decode
                          {},                                      // Y₁: not written
                          p.enc_x2, two.x_hat(),                   // layer 2's encode
                          p.stream});
  } else {
    void* hidden = base + l.hidden_offset;
    one.decode(p.dec1, p.bias1, p.activation, {hidden, p.first.out_features}, KernelChoice::automatic, p.stream);
    two.encode(TileMatrix{hidden, p.second.in_features}, p.enc_x2, KernelChoice::automatic, p.stream);
  }
  two.zero_x_hat_padding(p.stream);
  two.products(p.cublas, p.gemm, p.stream);
  two.decode(p.dec2, p.bias2, Activation::none, p.y, KernelChoice::automatic, p.stream);
}

}  // namespace strassentile::cuda
