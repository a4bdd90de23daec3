// The process-wide policy of the CUDA forward's fused products and decode (strassentile/cuda/stl_cuda.hpp,
// ForwardPath): "auto" by default, the fused kernel where it applies (bf16, rank <= 3, tiles with a·c <= 4, an sm_90
// GPU) and the speed model prices it faster than the pipeline (ForwardPath::automatic); "always", wherever it
// applies; "never", every forward on the pipeline (encode → batched products → decode), for comparisons.
#pragma once

#include "path_policy.hpp"

namespace strassentile::torch_ops {

PathPolicy fused_forward_setting();

}  // namespace strassentile::torch_ops
