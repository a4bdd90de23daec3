// The process-wide switch of the CUDA forward's fused products and decode (strassentile/cuda/stl_cuda.hpp,
// ForwardPath): on by default, the fused kernel runs where it applies (bf16, rank <= 3, tiles with a·c <= 4, an sm_90
// GPU) and the speed model prices it faster than the pipeline (ForwardPath::automatic); off, every forward runs the
// pipeline (encode → batched products → decode), for comparisons.
#pragma once

namespace strassentile::torch_ops {

bool fused_forward();

}  // namespace strassentile::torch_ops
