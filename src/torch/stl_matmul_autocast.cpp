// strassentile::stl_matmul under autocast (torch.autocast in Python, at::autocast in C++): like nn.Linear, the op
// runs in the autocast dtype (bf16/fp16). x, w_hat (the operands of the batched products) and bias are cast on the
// way in and the result has the autocast dtype; the fp32 master parameters stay fp32 (autograd sends the
// gradients back through the casts). The change of basis enc_x and dec keeps its own dtype: the CUDA kernels read
// it in fp32 and the CPU composition computes in fp32, so a 16-bit copy would only round a fitted basis.
// float64 tensors are left alone, as autocast does for aten ops. stl_mlp_inference (two layers, stl_mlp.hpp) casts
// the same operands of both layers, so that it equals its composition of two autocast stl_matmul calls.
//
// CPU autocast (torch.autocast("cpu"), bf16 by default) does the same as on CUDA, which is what it does for
// nn.Linear: the CPU kernels accumulate in fp32 and return the autocast dtype.
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include "stl_mlp.hpp"  // StlMlpSignature

namespace strassentile::torch_ops {
namespace {

using ForwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef,
                              const std::optional<at::Tensor>&, c10::string_view, std::optional<int64_t>,
                              at::OptionalIntArrayRef);

template <c10::DeviceType device, c10::DispatchKey autocast_key>
at::Tensor stl_matmul_autocast(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                               at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                               std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("strassentile::stl_matmul", "").typed<ForwardSig>();
  // Below this key the call goes on to Autograd and the backend kernels, on the cast tensors.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  const at::ScalarType to = at::autocast::get_autocast_dtype(device);
  // cached_cast reuses one cast of a leaf fp32 parameter for the whole autocast region, as for aten ops.
  const auto cast = [&](const at::Tensor& t) { return at::autocast::cached_cast(to, t, device); };
  const std::optional<at::Tensor> b =
      (bias.has_value() && bias->defined()) ? std::optional<at::Tensor>(cast(*bias)) : bias;
  return op.call(cast(x), cast(w_hat), enc_x, dec, tile, b, mode, out_features, levels);
}

template <c10::DeviceType device, c10::DispatchKey autocast_key>
at::Tensor stl_mlp_inference_autocast(const at::Tensor& x, const at::Tensor& w_hat1, const at::Tensor& enc_x1,
                                      const at::Tensor& dec1, const std::optional<at::Tensor>& bias1,
                                      const at::Tensor& w_hat2, const at::Tensor& enc_x2, const at::Tensor& dec2,
                                      const std::optional<at::Tensor>& bias2, at::IntArrayRef tile,
                                      c10::string_view activation, c10::string_view mode,
                                      std::optional<int64_t> hidden_features, std::optional<int64_t> out_features,
                                      at::OptionalIntArrayRef levels1, at::OptionalIntArrayRef levels2) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("strassentile::stl_mlp_inference", "").typed<StlMlpSignature>();
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  const at::ScalarType to = at::autocast::get_autocast_dtype(device);
  const auto cast = [&](const at::Tensor& t) { return at::autocast::cached_cast(to, t, device); };
  const auto cast_bias = [&](const std::optional<at::Tensor>& b) {
    return (b.has_value() && b->defined()) ? std::optional<at::Tensor>(cast(*b)) : b;
  };
  return op.call(cast(x), cast(w_hat1), enc_x1, dec1, cast_bias(bias1), cast(w_hat2), enc_x2, dec2, cast_bias(bias2),
                 tile, activation, mode, hidden_features, out_features, levels1, levels2);
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, AutocastCUDA, m) {
  m.impl("stl_matmul", &stl_matmul_autocast<c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>);
  m.impl("stl_mlp_inference", &stl_mlp_inference_autocast<c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>);
}

TORCH_LIBRARY_IMPL(strassentile, AutocastCPU, m) {
  m.impl("stl_matmul", &stl_matmul_autocast<c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>);
  m.impl("stl_mlp_inference", &stl_mlp_inference_autocast<c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>);
}

}  // namespace strassentile::torch_ops
