// Internal: the C++ signatures of the stl_matmul schemas (op_schemas.cpp), spelled once, and the adapters that turn
// a backend's implementation on StlArgs into a kernel with exactly that signature (what m.impl needs).
//
// A backend implements
//   at::Tensor forward(const StlArgs&)
//   Gradients backward(const at::Tensor& grad_y, const StlArgs&, Needs, const at::Tensor& kept)
// (kept: stl_matmul_keep's workspace, undefined or empty for "recompute") and registers forward_kernel<&forward>,
// forward_kernel<&keep> (keep_nothing<&forward> where nothing is kept), backward_kernel<&backward> and
// backward_kept_kernel<&backward>.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <string_view>
#include <tuple>
#include <utility>

#include "stl_args.hpp"

namespace strassentile::torch_ops {

using Gradients = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;  // x, w_hat, enc_x, dec, bias
using Needs = std::array<bool, 5>;  // which of Gradients are wanted

using StlMatmulSignature = at::Tensor(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
                                      const at::Tensor& dec, at::IntArrayRef tile, const std::optional<at::Tensor>& bias,
                                      std::string_view mode, std::optional<int64_t> out_features,
                                      at::OptionalIntArrayRef levels, std::optional<int64_t> in_features);
using StlMatmulKeepSignature = std::tuple<at::Tensor, at::Tensor>(
    const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec, at::IntArrayRef tile,
    const std::optional<at::Tensor>& bias, std::string_view mode, std::optional<int64_t> out_features,
    at::OptionalIntArrayRef levels, std::optional<int64_t> in_features);
using StlMatmulBackwardSignature = Gradients(const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat,
                                             const at::Tensor& enc_x, const at::Tensor& dec, at::IntArrayRef tile,
                                             const std::optional<at::Tensor>& bias, std::string_view mode,
                                             std::optional<int64_t> out_features, at::OptionalIntArrayRef levels,
                                             Needs needs, std::optional<int64_t> in_features);
using StlMatmulBackwardKeptSignature = Gradients(const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat,
                                                 const at::Tensor& enc_x, const at::Tensor& dec, at::IntArrayRef tile,
                                                 const std::optional<at::Tensor>& bias, std::string_view mode,
                                                 std::optional<int64_t> out_features, at::OptionalIntArrayRef levels,
                                                 Needs needs, const at::Tensor& kept, std::optional<int64_t> in_features);

using BackwardImpl = Gradients (*)(const at::Tensor& grad_y, const StlArgs&, Needs, const at::Tensor& kept);

// stl_matmul and stl_matmul_keep (Impl returns the tensor, or the tensor and the kept workspace).
template <auto Impl>
auto forward_kernel(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, std::string_view mode,
                    std::optional<int64_t> out_features, at::OptionalIntArrayRef levels,
                    std::optional<int64_t> in_features) -> decltype(Impl(std::declval<const StlArgs&>())) {
  return Impl({x, w_hat, enc_x, dec, tile, bias, mode, out_features, levels, in_features});
}

template <BackwardImpl Impl>
Gradients backward_kernel(const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
                          const at::Tensor& dec, at::IntArrayRef tile, const std::optional<at::Tensor>& bias,
                          std::string_view mode, std::optional<int64_t> out_features, at::OptionalIntArrayRef levels,
                          Needs needs, std::optional<int64_t> in_features) {
  return Impl(grad_y, {x, w_hat, enc_x, dec, tile, bias, mode, out_features, levels, in_features}, needs, at::Tensor());
}

template <BackwardImpl Impl>
Gradients backward_kept_kernel(const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat,
                               const at::Tensor& enc_x, const at::Tensor& dec, at::IntArrayRef tile,
                               const std::optional<at::Tensor>& bias, std::string_view mode,
                               std::optional<int64_t> out_features, at::OptionalIntArrayRef levels, Needs needs,
                               const at::Tensor& kept, std::optional<int64_t> in_features) {
  return Impl(grad_y, {x, w_hat, enc_x, dec, tile, bias, mode, out_features, levels, in_features}, needs, kept);
}

// What stl_matmul_keep returns where nothing is kept (no CUDA kernels, or the ATen composition ran): an empty byte
// tensor on x's device, which stl_matmul_backward_kept takes as "recompute".
inline at::Tensor nothing_kept(const at::Tensor& x) { return at::empty({0}, x.options().dtype(at::kByte)); }

// stl_matmul_keep for a backend that keeps nothing: its forward and an empty workspace.
template <at::Tensor (*Forward)(const StlArgs&)>
std::tuple<at::Tensor, at::Tensor> keep_nothing(const StlArgs& args) {
  return {Forward(args), nothing_kept(args.x)};
}

}  // namespace strassentile::torch_ops
