// The backward's own kernels: column sums of dY for every dtype, and the fp32 identity.
#include "kernels/backward.cuh"

namespace strassentile::cuda::detail {

template void launch_column_sums<DType::f32>(const void*, std::int64_t, std::int64_t, std::int64_t, float*, float*,
                                             cudaStream_t);
template void launch_column_sums<DType::f16>(const void*, std::int64_t, std::int64_t, std::int64_t, float*, float*,
                                             cudaStream_t);
template void launch_column_sums<DType::bf16>(const void*, std::int64_t, std::int64_t, std::int64_t, float*, float*,
                                              cudaStream_t);
template void launch_identity<float>(float*, int, cudaStream_t);

}  // namespace strassentile::cuda::detail
