// strassentile::stl_mlp_inference for CUDA tensors: both layers on the torch-free kernels (stl_mlp_forward), layer
// 1's decode, bias and activation fused with layer 2's encode where that kernel applies, so the hidden activations
// never go to memory.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda_operands.hpp"
#include "stl_args.hpp"
#include "stl_mlp.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::torch_ops {

namespace {

namespace sc = strassentile::cuda;

at::Tensor stl_mlp_cuda(const MlpArgs& a) {
  const StlDims d1 =
      stl_dims({a.x, a.w_hat1, a.enc_x1, a.dec1, a.tile, a.bias1, a.mode, a.hidden_features, a.levels1, a.in_features});
  // Layer 2's checks read only the hidden activations' sizes, dtype and device: an expanded view, no memory.
  const at::Tensor hidden_like = at::empty({1}, a.x.options()).expand(output_shape(a.x, d1));
  const StlDims d2 = stl_dims(
      {hidden_like, a.w_hat2, a.enc_x2, a.dec2, a.tile, a.bias2, a.mode, a.out_features, a.levels2, std::nullopt});
  const MlpActivation act = parse_mlp_activation(a.activation);
  // Mode causal: two stl_matmul calls, whose kernels select by the causal levels (the fused MLP kernels do not).
  if (use_aten(d1) || use_aten(d2) || d1.mode == Mode::Causal) return stl_mlp_composition(a);

  const c10::cuda::CUDAGuard guard(a.x.device());
  const at::ScalarType storage = a.x.scalar_type();
  const LayerOperands one = prepare_layer(d1, storage, a.w_hat1, a.enc_x1, a.dec1);
  const LayerOperands two = prepare_layer(d2, storage, a.w_hat2, a.enc_x2, a.dec2);
  const at::Tensor x = kernel_input(a.x, one.shape);
  const auto bias_of = [&](const std::optional<at::Tensor>& b) {
    return b.has_value() && b->defined() ? b->to(storage).contiguous() : at::Tensor();
  };
  const at::Tensor b1 = bias_of(a.bias1), b2 = bias_of(a.bias2);
  at::Tensor y = at::empty(output_shape(hidden_like, d2), a.x.options());
  run_kernels([&] {
    const at::Tensor scratch = workspace(sc::mlp_forward_workspace(one.shape, two.shape, one.dtype), a.x);
    sc::MlpForwardParams p;
    p.first = one.shape;
    p.second = two.shape;
    p.dtype = one.dtype;
    p.x.data = x.data_ptr();
    p.w_hat1 = one.w_hat.data_ptr();
    p.enc_x1 = one.enc_x.data_ptr<float>();
    p.dec1 = one.dec.data_ptr<float>();
    p.bias1 = ptr_or_null(b1);
    p.activation = act == MlpActivation::relu        ? sc::Activation::relu
                   : act == MlpActivation::gelu_tanh ? sc::Activation::gelu_tanh
                                                     : sc::Activation::none;
    p.w_hat2 = two.w_hat.data_ptr();
    p.enc_x2 = two.enc_x.data_ptr<float>();
    p.dec2 = two.dec.data_ptr<float>();
    p.bias2 = ptr_or_null(b2);
    p.y.data = y.data_ptr();
    p.workspace = scratch.data_ptr();
    p.workspace_bytes = static_cast<std::size_t>(scratch.numel());
    p.cublas = at::cuda::getCurrentCUDABlasHandle();
    p.stream = c10::cuda::getCurrentCUDAStream().stream();
    p.gemm = gemm_choice();
    sc::stl_mlp_forward(p);
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, CUDA, m) { m.impl("stl_mlp_inference", &mlp_kernel<&stl_mlp_cuda>); }

}  // namespace strassentile::torch_ops
