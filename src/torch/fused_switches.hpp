// The process-wide policies of the CUDA layer's fused kernels (strassentile/cuda/stl_cuda.hpp):
//  - set_fused_forward (ForwardPath): "auto" by default, the fused products and decode where they apply (bf16, rank
//    <= 3, tiles with a·c <= 4, an sm_90 GPU) and the speed model prices them faster than the pipeline; "always",
//    wherever they apply; "never", every forward on the pipeline (encode → batched products → decode);
//  - set_fused_backward (BackwardPath): "auto" by default (BackwardPath::automatic); "always", Z's products and the
//    dZ pass in one kernel wherever that applies; "never", Z recomputed by a batched GEMM and read back by the dZ pass.
// "never" is for comparisons.
#pragma once

#include "path_policy.hpp"

namespace strassentile::torch_ops {

PathPolicy fused_forward_setting();
PathPolicy fused_backward_setting();

}  // namespace strassentile::torch_ops
