// Internal: strassentile::stl_mlp, two STL layers with an activation between them (a transformer's MLP):
// y = STL₂(act(STL₁(x) + b₁)) + b₂. Where gradients are wanted it is the composition of stl_matmul calls (so
// autograd, autocast and every backend work as for stl_matmul); otherwise it calls stl_mlp_inference, whose CUDA
// kernel fuses layer 1's decode with layer 2's encode (stl_mlp_cuda.cpp).
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string_view>

namespace strassentile::torch_ops {

// The activations between the layers: "none", "relu", "gelu_tanh" (0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))).
enum class MlpActivation { none, relu, gelu_tanh };
MlpActivation parse_mlp_activation(std::string_view name);

// The C++ signature of the stl_mlp and stl_mlp_inference schemas (for typed dispatcher calls).
using StlMlpSignature = at::Tensor(const at::Tensor& x, const at::Tensor& w_hat1, const at::Tensor& enc_x1,
                                   const at::Tensor& dec1, const std::optional<at::Tensor>& bias1,
                                   const at::Tensor& w_hat2, const at::Tensor& enc_x2, const at::Tensor& dec2,
                                   const std::optional<at::Tensor>& bias2, at::IntArrayRef tile,
                                   std::string_view activation, std::string_view mode,
                                   std::optional<int64_t> hidden_features, std::optional<int64_t> out_features,
                                   at::OptionalIntArrayRef levels1, at::OptionalIntArrayRef levels2,
                                   std::optional<int64_t> in_features);

// The arguments of stl_mlp and stl_mlp_inference, as one struct for the C++ side.
struct MlpArgs {
  const at::Tensor& x;
  const at::Tensor &w_hat1, &enc_x1, &dec1;
  const std::optional<at::Tensor>& bias1;
  const at::Tensor &w_hat2, &enc_x2, &dec2;
  const std::optional<at::Tensor>& bias2;
  at::IntArrayRef tile;
  std::string_view activation, mode;
  std::optional<int64_t> hidden_features, out_features;
  at::OptionalIntArrayRef levels1, levels2;
  std::optional<int64_t> in_features;  // layer 1's (layer 2's is hidden_features, which layer 1's output has)
};

// The kernel (StlMlpSignature) of an implementation on MlpArgs.
template <at::Tensor (*Impl)(const MlpArgs&)>
at::Tensor mlp_kernel(const at::Tensor& x, const at::Tensor& w_hat1, const at::Tensor& enc_x1, const at::Tensor& dec1,
                      const std::optional<at::Tensor>& bias1, const at::Tensor& w_hat2, const at::Tensor& enc_x2,
                      const at::Tensor& dec2, const std::optional<at::Tensor>& bias2, at::IntArrayRef tile,
                      std::string_view activation, std::string_view mode, std::optional<int64_t> hidden_features,
                      std::optional<int64_t> out_features, at::OptionalIntArrayRef levels1,
                      at::OptionalIntArrayRef levels2, std::optional<int64_t> in_features) {
  return Impl(MlpArgs{x, w_hat1, enc_x1, dec1, bias1, w_hat2, enc_x2, dec2, bias2, tile, activation, mode,
                      hidden_features, out_features, levels1, levels2, in_features});
}

// stl_matmul, the activation, stl_matmul: the reference of stl_mlp and its differentiable form.
at::Tensor stl_mlp_composition(const MlpArgs& a);

}  // namespace strassentile::torch_ops
