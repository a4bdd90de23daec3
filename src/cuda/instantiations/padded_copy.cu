// The padded copy and the padding zeroing, for 2- and 4-byte elements.
#include "kernels/padded_copy.cuh"

namespace strassentile::cuda::detail {

template void launch_copy_padded<2>(void*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, const void*,
                                    std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);
template void launch_copy_padded<4>(void*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, const void*,
                                    std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);
template void launch_zero_columns<2>(void*, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);
template void launch_zero_columns<4>(void*, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);

}  // namespace strassentile::cuda::detail
