// The CUDA-core kernels of the <3,3,3> family: the encode of its (a,b) = (3,3) tiles, the decodes of its (a,c) = (3,3) tiles.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 3, 3);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 3, 3);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 3, 3);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 3, 3);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 3, 3);

}  // namespace strassentile::cuda::detail
