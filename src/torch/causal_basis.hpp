// Internal: the causal masks (strassentile/causal.hpp) applied to enc_x and dec inside strassentile::stl_matmul.
// Every implementation (ATen, CUDA; forward and backward) calls these first, so a masked coefficient never
// reaches an output whatever its stored value, and scales the basis gradients by the same masks, so masked
// coefficients get exactly zero gradient. For modes other than "causal" they return their input unchanged.
#pragma once

#include <ATen/ATen.h>

#include "stl_args.hpp"

namespace strassentile::torch_ops {

// enc_x ⊙ M_x with M_x[p, u·b + v] = [u <= ℓ(p)].
at::Tensor causal_enc_x(const at::Tensor& enc_x, const StlDims& d);
// dec ⊙ M_d with M_d[u·c + w, p] = [u >= ℓ(p)].
at::Tensor causal_dec(const at::Tensor& dec, const StlDims& d);

}  // namespace strassentile::torch_ops
