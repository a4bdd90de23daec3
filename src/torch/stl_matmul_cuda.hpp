// Internal: the CUDA-key implementations of strassentile::stl_matmul and stl_matmul_backward on the
// torch-free kernels of src/cuda (built only with STRASSENTILE_WITH_CUDA and a CUDA-enabled torch).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <optional>
#include <string>

namespace strassentile::torch_ops {

at::Tensor stl_matmul_cuda(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                           at::IntArrayRef tile, const std::optional<at::Tensor>& bias, const std::string& mode,
                           std::optional<int64_t> out_features, at::OptionalIntArrayRef levels);

// stl_matmul_cuda that also returns its workspace (X̂ and Z), for stl_matmul_backward_cuda to skip recomputing
// them; an empty byte tensor where the ATen composition ran (nothing to keep).
std::tuple<at::Tensor, at::Tensor> stl_matmul_keep_cuda(const at::Tensor& x, const at::Tensor& w_hat,
                                                        const at::Tensor& enc_x, const at::Tensor& dec,
                                                        at::IntArrayRef tile, const std::optional<at::Tensor>& bias,
                                                        const std::string& mode, std::optional<int64_t> out_features,
                                                        at::OptionalIntArrayRef levels);

// kept: undefined or empty (recompute X̂ and Z), or stl_matmul_keep_cuda's second output for the same inputs.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_cuda(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
    const at::Tensor& dec, at::IntArrayRef tile, const std::optional<at::Tensor>& bias, const std::string& mode,
    std::optional<int64_t> out_features, at::OptionalIntArrayRef levels, std::array<bool, 5> needs,
    const at::Tensor& kept = at::Tensor());

}  // namespace strassentile::torch_ops
