#include "strassentile/torch/ops.hpp"

#include <ATen/core/dispatch/Dispatcher.h>

#include "error_message.hpp"
#include "stl_matmul_kernels.hpp"  // torch_ops::StlMatmulSignature
#include "stl_mlp.hpp"             // torch_ops::StlMlpSignature

namespace strassentile::ops {
namespace {

// The registered op `name` with its C++ signature; each caller keeps it in a static (a look-up per process).
template <class Signature>
c10::TypedOperatorHandle<Signature> typed_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

}  // namespace

at::Tensor stl_matmul(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                      std::vector<int64_t> tile, const std::optional<at::Tensor>& bias, const std::string& mode,
                      std::optional<int64_t> out_features, const std::optional<std::vector<int64_t>>& levels,
                      std::optional<int64_t> in_features) {
  static auto op = typed_op<torch_ops::StlMatmulSignature>("strassentile::stl_matmul");
  return op.call(x, w_hat, enc_x, dec, tile, bias, mode, out_features,
                 levels.has_value() ? at::OptionalIntArrayRef(*levels) : at::OptionalIntArrayRef(), in_features);
}

at::Tensor stl_mlp(const at::Tensor& x, const StlLayerParams& layer1, const StlLayerParams& layer2,
                   std::vector<int64_t> tile, const std::string& activation, const std::string& mode) {
  static auto op = typed_op<torch_ops::StlMlpSignature>("strassentile::stl_mlp");
  const auto levels = [](const StlLayerParams& l) {
    return l.levels.has_value() ? at::OptionalIntArrayRef(*l.levels) : at::OptionalIntArrayRef();
  };
  STL_CHECK(!layer1.out_features || !layer2.in_features || *layer1.out_features == *layer2.in_features,
            "strassentile::stl_mlp: layer2.in_features=", *layer2.in_features, " but layer1.out_features=",
            *layer1.out_features, ": layer 2 reads layer 1's output, so they must be equal");
  const std::optional<int64_t> hidden = layer1.out_features ? layer1.out_features : layer2.in_features;
  return op.call(x, layer1.w_hat, layer1.enc_x, layer1.dec, layer1.bias, layer2.w_hat, layer2.enc_x, layer2.dec,
                 layer2.bias, tile, activation, mode, hidden, layer2.out_features, levels(layer1), levels(layer2),
                 layer1.in_features);
}

bool set_keep_for_backward(bool keep) {
  static auto op = typed_op<bool(bool)>("strassentile::set_keep_for_backward");
  return op.call(keep);
}

bool set_keep_z_for_backward(bool keep) {
  static auto op = typed_op<bool(bool)>("strassentile::set_keep_z_for_backward");
  return op.call(keep);
}

bool set_lean_backward(bool lean) {
  static auto op = typed_op<bool(bool)>("strassentile::set_lean_backward");
  return op.call(lean);
}

std::string set_dense_equivalent(const std::string& policy) {
  static auto op = typed_op<std::string(std::string)>("strassentile::set_dense_equivalent");
  return op.call(policy);
}

std::string set_fused_forward(const std::string& policy) {
  static auto op = typed_op<std::string(std::string)>("strassentile::set_fused_forward");
  return op.call(policy);
}

at::Tensor encode_weight(const at::Tensor& w, const at::Tensor& enc_w, std::vector<int64_t> tile) {
  static auto op = typed_op<at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef)>("strassentile::encode_weight");
  return op.call(w, enc_w, tile);
}

}  // namespace strassentile::ops
