// Internal: strassentile::stl_mlp, two STL layers with an activation between them (a transformer's MLP):
// y = STL₂(act(STL₁(x) + b₁)) + b₂. Where gradients are wanted it is the composition of stl_matmul calls (so
// autograd, autocast and every backend work as for stl_matmul); otherwise it calls stl_mlp_inference, whose CUDA
// kernel fuses layer 1's decode with layer 2's encode (stl_mlp_cuda.cpp).
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>

namespace strassentile::torch_ops {

// The activations between the layers: "none", "relu", "gelu_tanh" (0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))).
enum class MlpActivation { none, relu, gelu_tanh };
MlpActivation parse_mlp_activation(const std::string& name);

// The C++ signature of the stl_mlp and stl_mlp_inference schemas (for typed dispatcher calls).
using StlMlpSignature = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                   const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&,
                                   const at::Tensor&, const std::optional<at::Tensor>&, at::IntArrayRef,
                                   c10::string_view, c10::string_view, std::optional<int64_t>, std::optional<int64_t>,
                                   at::OptionalIntArrayRef, at::OptionalIntArrayRef);

// The arguments of stl_mlp and stl_mlp_inference, as one struct for the C++ side.
struct MlpArgs {
  const at::Tensor& x;
  const at::Tensor &w_hat1, &enc_x1, &dec1;
  const std::optional<at::Tensor>& bias1;
  const at::Tensor &w_hat2, &enc_x2, &dec2;
  const std::optional<at::Tensor>& bias2;
  at::IntArrayRef tile;
  std::string activation, mode;
  std::optional<int64_t> hidden_features, out_features;
  at::OptionalIntArrayRef levels1, levels2;
};

// stl_matmul, the activation, stl_matmul: the reference of stl_mlp and its differentiable form.
at::Tensor stl_mlp_composition(const MlpArgs& a);

// The CompositeImplicitAutograd kernel of stl_mlp: the composition where autograd records (grad mode on and any
// input requiring grad), else the stl_mlp_inference op.
at::Tensor stl_mlp_routed(const MlpArgs& a);

}  // namespace strassentile::torch_ops
