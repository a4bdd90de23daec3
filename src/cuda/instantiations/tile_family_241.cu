// The CUDA-core kernels of pairs (2,1): the decode of <2,b,1> and the encode of <2,1,c>.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 2, 1);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 2, 1);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 2, 1);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 2, 1);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 2, 1);

}  // namespace strassentile::cuda::detail
