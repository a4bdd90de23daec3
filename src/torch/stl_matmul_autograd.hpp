// Internal: the Autograd-key implementation of strassentile::stl_matmul (a C++ autograd::Function whose
// backward calls strassentile::stl_matmul_backward through the dispatcher, so each backend supplies its own).
#pragma once

#include <ATen/ATen.h>
#include <c10/util/string_view.h>

#include <optional>

namespace strassentile::torch_ops {

at::Tensor stl_matmul_autograd(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                               at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                               std::optional<int64_t> out_features, at::OptionalIntArrayRef levels);

// Whether the CUDA forward keeps its X̂ and Z for the backward (stl_matmul_keep / stl_matmul_backward_kept): one
// encode (and for dD one batched product) less per backward, for 1.5× x plus 1.5× y (at <4,4,4>, r = 24) more memory
// held from forward to backward per layer. Off by default; process-wide. Returns the previous setting.
bool set_keep_for_backward(bool keep);

// What stl_matmul_keep returns where nothing is kept (no CUDA kernels, or the ATen composition ran): an empty byte
// tensor on x's device, which stl_matmul_backward_kept takes as "recompute".
inline at::Tensor nothing_kept(const at::Tensor& x) { return at::empty({0}, x.options().dtype(at::kByte)); }

}  // namespace strassentile::torch_ops
