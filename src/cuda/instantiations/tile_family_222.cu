// The CUDA-core kernels of the <2,2,2> family: the encode of its (a,b) = (2,2) tiles, the decodes of its (a,c) = (2,2) tiles.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 2, 2);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 2, 2);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 2, 2);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 2, 2);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 2, 2);

}  // namespace strassentile::cuda::detail
