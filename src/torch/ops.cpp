#include "strassentile/torch/ops.hpp"

#include <ATen/core/dispatch/Dispatcher.h>

#include "stl_mlp.hpp"  // torch_ops::StlMlpSignature

namespace strassentile::ops {

at::Tensor stl_matmul(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                      std::vector<int64_t> tile, const std::optional<at::Tensor>& bias, const std::string& mode,
                      std::optional<int64_t> out_features, const std::optional<std::vector<int64_t>>& levels) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("strassentile::stl_matmul", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         at::IntArrayRef, const std::optional<at::Tensor>&, c10::string_view,
                                         std::optional<int64_t>, at::OptionalIntArrayRef)>();
  return op.call(x, w_hat, enc_x, dec, tile, bias, mode, out_features,
                 levels.has_value() ? at::OptionalIntArrayRef(*levels) : at::OptionalIntArrayRef());
}

at::Tensor stl_mlp(const at::Tensor& x, const StlLayerParams& layer1, const StlLayerParams& layer2,
                   std::vector<int64_t> tile, const std::string& activation, const std::string& mode) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("strassentile::stl_mlp", "")
                       .typed<torch_ops::StlMlpSignature>();
  const auto levels = [](const StlLayerParams& l) {
    return l.levels.has_value() ? at::OptionalIntArrayRef(*l.levels) : at::OptionalIntArrayRef();
  };
  return op.call(x, layer1.w_hat, layer1.enc_x, layer1.dec, layer1.bias, layer2.w_hat, layer2.enc_x, layer2.dec,
                 layer2.bias, tile, activation, mode, layer1.out_features, layer2.out_features, levels(layer1),
                 levels(layer2));
}

bool set_keep_for_backward(bool keep) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("strassentile::set_keep_for_backward", "")
                       .typed<bool(bool)>();
  return op.call(keep);
}

at::Tensor encode_weight(const at::Tensor& w, const at::Tensor& enc_w, std::vector<int64_t> tile) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("strassentile::encode_weight", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef)>();
  return op.call(w, enc_w, tile);
}

}  // namespace strassentile::ops
