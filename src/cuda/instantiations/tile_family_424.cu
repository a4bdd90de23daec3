// The CUDA-core kernels of the <4,2,4> family: the encode of its (a,b) = (4,2) tiles (its (a,c) = (4,4) decodes are
// the <4,4,4> family's), and the decodes over (4,2) tiles that its backward's dX = encodeᵀ(dX̂) runs.
#include "tile_family.cuh"

namespace strassentile::cuda::detail {

STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f32, 4, 2);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::f16, 4, 2);
STRASSENTILE_INSTANTIATE_TILE_FAMILY(DType::bf16, 4, 2);

STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::f16, 4, 2);
STRASSENTILE_INSTANTIATE_STAGED_FOLDING(DType::bf16, 4, 2);

}  // namespace strassentile::cuda::detail
