// Internal: the CUDA-key implementation of strassentile::stl_mlp_inference on the torch-free kernels (built only
// with STRASSENTILE_WITH_CUDA and a CUDA-enabled torch).
#pragma once

#include <ATen/ATen.h>

#include "stl_mlp.hpp"

namespace strassentile::torch_ops {

at::Tensor stl_mlp_cuda(const MlpArgs& args);

}  // namespace strassentile::torch_ops
