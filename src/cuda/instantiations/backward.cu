// The backward's own kernels for every dtype: column sums of dY, the tile gathers.
#include "kernels/backward.cuh"

namespace strassentile::cuda::detail {

template void launch_column_sums<DType::f32>(const void*, std::int64_t, std::int64_t, std::int64_t, float*, float*,
                                             cudaStream_t);
template void launch_column_sums<DType::f16>(const void*, std::int64_t, std::int64_t, std::int64_t, float*, float*,
                                             cudaStream_t);
template void launch_column_sums<DType::bf16>(const void*, std::int64_t, std::int64_t, std::int64_t, float*, float*,
                                              cudaStream_t);
template void launch_gather_tiles<DType::f32>(const EncodeParams&);
template void launch_gather_tiles<DType::f16>(const EncodeParams&);
template void launch_gather_tiles<DType::bf16>(const EncodeParams&);

}  // namespace strassentile::cuda::detail
