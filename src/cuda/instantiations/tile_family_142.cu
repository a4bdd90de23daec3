// The CUDA-core kernels of pairs (1,2): the decode of <1,b,2> (token-local, two output columns per tile) and
// the encode of <1,2,c>.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 1, 2);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 1, 2);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 1, 2);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 1, 2);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 1, 2);

}  // namespace strassentile::cuda::detail
