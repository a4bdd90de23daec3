// Internal: STL forward and backward written with ATen ops (reshape, matmul, bmm). It runs on any device;
// it is the CPU implementation and the CUDA baseline that the fused kernels are measured against.
#pragma once

#include <ATen/ATen.h>

#include "stl_matmul_kernels.hpp"

namespace strassentile::torch_ops {

at::Tensor stl_matmul_aten(const StlArgs& args);
at::Tensor stl_matmul_aten(const StlArgs& args, const StlDims& d);  // d: stl_dims(args), checked already

// Gradients (x, w_hat, enc_x, dec, bias) for grad_y = dL/dY; X̂ and Z are recomputed (`kept` is ignored).
// Entries not asked for in `needs` come back undefined.
Gradients stl_matmul_backward_aten(const at::Tensor& grad_y, const StlArgs& args, Needs needs,
                                   const at::Tensor& kept = at::Tensor());
Gradients stl_matmul_backward_aten(const at::Tensor& grad_y, const StlArgs& args, const StlDims& d, Needs needs);

// Ŵ = E_W(W) for a dense K×N weight: (rank, ⌈K/b⌉, ⌈N/c⌉).
at::Tensor encode_weight_aten(const at::Tensor& w, const at::Tensor& enc_w, at::IntArrayRef tile);

}  // namespace strassentile::torch_ops
