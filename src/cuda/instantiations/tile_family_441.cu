// The CUDA-core kernels of pairs (4,1): the decode of <4,b,1> and the encode of <4,1,c>.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 4, 1);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 4, 1);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 4, 1);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 4, 1);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 4, 1);

}  // namespace strassentile::cuda::detail
