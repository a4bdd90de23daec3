// Internal: STL forward and backward written with ATen ops (reshape, matmul, bmm). It runs on any device;
// it is the CPU implementation and the CUDA baseline that the fused kernels are measured against.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <string>

namespace strassentile::torch_ops {

at::Tensor stl_matmul_aten(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                           at::IntArrayRef tile, const std::optional<at::Tensor>& bias, const std::string& mode,
                           std::optional<int64_t> out_features, at::OptionalIntArrayRef levels = std::nullopt);

// levels: ℓ(p) for mode "causal" (default: strassentile::default_causal_levels); must be absent otherwise.
// Gradients (x, w_hat, enc_x, dec, bias) for grad_y = dL/dY; X̂ and Z are recomputed, not stored.
// Entries not asked for in `needs` come back undefined.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_aten(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
    const at::Tensor& dec, at::IntArrayRef tile, const std::optional<at::Tensor>& bias, const std::string& mode,
    std::optional<int64_t> out_features, at::OptionalIntArrayRef levels, std::array<bool, 5> needs);

// Ŵ = E_W(W) for a dense K×N weight: (rank, ⌈K/b⌉, ⌈N/c⌉).
at::Tensor encode_weight_aten(const at::Tensor& w, const at::Tensor& enc_w, at::IntArrayRef tile);

}  // namespace strassentile::torch_ops
