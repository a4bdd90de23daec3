// Internal: layers of one-row tiles (a = 1, modes "tile" and "token-local") are dense layers in another basis: an
// output row depends on its own input row only, through
//   W[κ·b + v, j·c + w] = Σ_p E_X[p, v] · Ŵ[p, κ, j] · D[w, p]     (K×N once the padding is cut).
// Where one dense GEMM is faster than the STL pipeline (narrow layers, on the speed model's word), the op builds W
// and runs x·W; its backward runs dX = dY·Wᵀ and dW = xᵀ·dY and takes dŴ, dE_X and dD from dW. In exact arithmetic it
// is the same function as the STL pipeline; only the rounding differs.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "path_policy.hpp"
#include "stl_args.hpp"
#include "stl_matmul_kernels.hpp"
#include "strassentile/cost_model.hpp"

namespace strassentile::torch_ops {

// set_dense_equivalent's setting: "auto" (default: on CUDA where the speed model predicts the dense equivalent
// faster, never on the CPU), "always" (wherever one exists) or "never".
PathPolicy dense_equivalent_setting();

// Whether this call has a dense equivalent: one-row tiles outside mode causal, at least one input feature.
bool has_dense_equivalent(const StlDims& d);

// The speed model of x's GPU; null where there is none (the CPU), so that "auto" keeps the STL pipeline.
using GpuOf = GpuSpec (*)(const at::Tensor& x);

// Whether the forward (or the backward, with its needs) runs the dense equivalent: the setting, and under "auto" the
// speed model of gpu_of(x), asked for only when the call has a dense equivalent.
bool forward_as_dense(const StlDims& d, const at::Tensor& x, GpuOf gpu_of);
bool backward_as_dense(const StlDims& d, const at::Tensor& x, Needs needs, GpuOf gpu_of);

at::Tensor stl_matmul_dense_equivalent(const StlArgs& args, const StlDims& d);
Gradients stl_matmul_backward_dense_equivalent(const at::Tensor& grad_y, const StlArgs& args, const StlDims& d,
                                               Needs needs);

}  // namespace strassentile::torch_ops
