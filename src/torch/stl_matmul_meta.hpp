// Internal: shape-only strassentile::stl_matmul / stl_matmul_backward for the Meta key. They read sizes as SymInts,
// so the same kernels serve meta tensors, FakeTensor and torch.compile with dynamic shapes (checks become guards).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <tuple>

#include <c10/util/string_view.h>

namespace strassentile::torch_ops {

at::Tensor stl_matmul_meta(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                           at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                           std::optional<int64_t> out_features, at::OptionalIntArrayRef levels);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_meta(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    at::OptionalIntArrayRef levels, std::array<bool, 5> needs);

}  // namespace strassentile::torch_ops
