// The process-wide switch of the CUDA forward's fused products and decode (strassentile/cuda/stl_cuda.hpp,
// ForwardPath): off by default (opt-in); on, the fused kernel runs where it applies (bf16, rank <= 3, tiles with a·c <= 4, an sm_90 GPU); off, every
// forward runs the pipeline (encode → batched products → decode), for comparisons.
#pragma once

namespace strassentile::torch_ops {

bool fused_forward();

}  // namespace strassentile::torch_ops
