// The CUDA-core kernels of the <4,4,4> family: the encode of its (a,b) = (4,4) tiles, the decodes of its (a,c) = (4,4) tiles.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 4, 4);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 4, 4);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 4, 4);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 4, 4);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 4, 4);

}  // namespace strassentile::cuda::detail
