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

#include "stl_matmul_kernels.hpp"  // StlMatmulSignature
#include "stl_mlp.hpp"              // StlMlpSignature

namespace strassentile::torch_ops {
namespace {

// The cast to `device`'s autocast dtype. cached_cast reuses one cast of a leaf fp32 parameter for the whole autocast
// region, as for aten ops.
template <c10::DeviceType device>
struct AutocastCast {
  at::ScalarType to = at::autocast::get_autocast_dtype(device);
  at::Tensor operator()(const at::Tensor& t) const { return at::autocast::cached_cast(to, t, device); }
  std::optional<at::Tensor> operator()(const std::optional<at::Tensor>& t) const {
    return t.has_value() && t->defined() ? std::optional<at::Tensor>((*this)(*t)) : t;
  }
};

template <class Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// Below the autocast key the call goes on to Autograd and the backend kernels, on the cast tensors.
template <c10::DeviceType device, c10::DispatchKey autocast_key>
at::Tensor stl_matmul_autocast(const StlArgs& a) {
  static auto op = find_op<StlMatmulSignature>("strassentile::stl_matmul");
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  const AutocastCast<device> cast;
  return op.call(cast(a.x), cast(a.w_hat), a.enc_x, a.dec, a.tile, cast(a.bias), a.mode, a.out_features, a.levels,
                 a.in_features);
}

template <c10::DeviceType device, c10::DispatchKey autocast_key>
at::Tensor stl_mlp_inference_autocast(const MlpArgs& a) {
  static auto op = find_op<StlMlpSignature>("strassentile::stl_mlp_inference");
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  const AutocastCast<device> cast;
  return op.call(cast(a.x), cast(a.w_hat1), a.enc_x1, a.dec1, cast(a.bias1), cast(a.w_hat2), a.enc_x2, a.dec2,
                 cast(a.bias2), a.tile, a.activation, a.mode, a.hidden_features, a.out_features, a.levels1, a.levels2,
                 a.in_features);
}

template <c10::DeviceType device, c10::DispatchKey autocast_key>
void impl_autocast(torch::Library& m) {
  m.impl("stl_matmul", &forward_kernel<&stl_matmul_autocast<device, autocast_key>>);
  m.impl("stl_mlp_inference", &mlp_kernel<&stl_mlp_inference_autocast<device, autocast_key>>);
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, AutocastCUDA, m) {
  impl_autocast<c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>(m);
}
TORCH_LIBRARY_IMPL(strassentile, AutocastCPU, m) { impl_autocast<c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>(m); }

}  // namespace strassentile::torch_ops
