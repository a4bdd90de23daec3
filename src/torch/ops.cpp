#include "strassentile/torch/ops.hpp"

#include <ATen/core/dispatch/Dispatcher.h>

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
