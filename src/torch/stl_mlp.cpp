#include "stl_mlp.hpp"

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>

#include <optional>
#include <vector>

#include <torch/library.h>

#include "error_message.hpp"
#include "strassentile/torch/ops.hpp"

namespace strassentile::torch_ops {
namespace {

std::optional<std::vector<int64_t>> to_vector(at::OptionalIntArrayRef levels) {
  return levels.has_value() ? std::optional<std::vector<int64_t>>(levels->vec()) : std::nullopt;
}

bool requires_grad(const at::Tensor& t) { return t.defined() && t.requires_grad(); }
bool requires_grad(const std::optional<at::Tensor>& t) { return t.has_value() && requires_grad(*t); }

}  // namespace

MlpActivation parse_mlp_activation(std::string_view name) {
  if (name == "none") return MlpActivation::none;
  if (name == "relu") return MlpActivation::relu;
  if (name == "gelu_tanh") return MlpActivation::gelu_tanh;
  STL_CHECK(false, "strassentile::stl_mlp: activation '", name, "' is unknown: use 'none', 'relu' or 'gelu_tanh' "
            "(for erf GELU, call stl_matmul, torch.nn.functional.gelu and stl_matmul)");
}

at::Tensor stl_mlp_composition(const MlpArgs& a) {
  const MlpActivation act = parse_mlp_activation(a.activation);
  at::Tensor h = ops::stl_matmul(a.x, a.w_hat1, a.enc_x1, a.dec1, a.tile.vec(), a.bias1, std::string(a.mode),
                                 a.hidden_features, to_vector(a.levels1), a.in_features);
  if (act == MlpActivation::relu) h = at::relu(h);
  if (act == MlpActivation::gelu_tanh) h = at::gelu(h, "tanh");
  return ops::stl_matmul(h, a.w_hat2, a.enc_x2, a.dec2, a.tile.vec(), a.bias2, std::string(a.mode), a.out_features,
                         to_vector(a.levels2));
}

namespace {

// The CompositeImplicitAutograd kernel of stl_mlp: the composition where autograd records (grad mode on and any
// input requiring grad), else the stl_mlp_inference op.
at::Tensor stl_mlp_routed(const MlpArgs& a) {
  const bool records = c10::GradMode::is_enabled() &&
                       (requires_grad(a.x) || requires_grad(a.w_hat1) || requires_grad(a.enc_x1) ||
                        requires_grad(a.dec1) || requires_grad(a.bias1) || requires_grad(a.w_hat2) ||
                        requires_grad(a.enc_x2) || requires_grad(a.dec2) || requires_grad(a.bias2));
  if (records) return stl_mlp_composition(a);
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("strassentile::stl_mlp_inference", "").typed<StlMlpSignature>();
  return op.call(a.x, a.w_hat1, a.enc_x1, a.dec1, a.bias1, a.w_hat2, a.enc_x2, a.dec2, a.bias2, a.tile, a.activation,
                 a.mode, a.hidden_features, a.out_features, a.levels1, a.levels2, a.in_features);
}

}  // namespace

// stl_mlp records for autograd through its composition, so it sits above the Autograd key.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) { m.impl("stl_mlp", &mlp_kernel<&stl_mlp_routed>); }

// Every backend without a kernel of its own (CPU, Meta, CUDA without ours): stl_matmul, the activation, stl_matmul.
TORCH_LIBRARY_IMPL(strassentile, CompositeExplicitAutograd, m) {
  m.impl("stl_mlp_inference", &mlp_kernel<&stl_mlp_composition>);
}

}  // namespace strassentile::torch_ops
