// The conversions between fp32 and each storage dtype.
#include "kernels/store_f32.cuh"

namespace strassentile::cuda::detail {

template void launch_store_f32<DType::f32>(void*, std::int64_t, std::int64_t, const float*, std::int64_t,
                                           std::int64_t, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);
template void launch_store_f32<DType::f16>(void*, std::int64_t, std::int64_t, const float*, std::int64_t,
                                           std::int64_t, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);
template void launch_store_f32<DType::bf16>(void*, std::int64_t, std::int64_t, const float*, std::int64_t,
                                            std::int64_t, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);

template void launch_to_f32<DType::f32>(float*, const void*, std::int64_t, const void*, std::int64_t, cudaStream_t);
template void launch_to_f32<DType::f16>(float*, const void*, std::int64_t, const void*, std::int64_t, cudaStream_t);
template void launch_to_f32<DType::bf16>(float*, const void*, std::int64_t, const void*, std::int64_t, cudaStream_t);

}  // namespace strassentile::cuda::detail
