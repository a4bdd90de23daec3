// The CUDA-core kernels of the <1,4,4> family: the encode of its (a,b) = (1,4) tiles, the decodes of its (a,c) = (1,4) tiles.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 1, 4);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 1, 4);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 1, 4);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 1, 4);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 1, 4);

}  // namespace strassentile::cuda::detail
