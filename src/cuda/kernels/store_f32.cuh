// store_f32_kernel: an fp32 accumulator written out in the storage dtype. The backward sums dŴ over row blocks in
// fp32 (one rounding at the end, as a single GEMM would give) and stores it here.
#pragma once

#include <cstdint>

#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kStoreThreads = 256;

// dst[p][i][j] = src[p][i][j] for p < batch, i < rows, j < cols, rounded to T.
template <class T>
__global__ void store_f32_kernel(T* __restrict__ dst, std::int64_t ld_dst, std::int64_t stride_dst,
                                 const float* __restrict__ src, std::int64_t ld_src, std::int64_t stride_src,
                                 std::int64_t rows, std::int64_t cols, std::int64_t batch) {
  const std::int64_t total = batch * rows * cols;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t rest = index_div(t, cols), j = t - rest * cols;
    const std::int64_t p = index_div(rest, rows), i = rest - p * rows;
    dst[p * stride_dst + i * ld_dst + j] = from_float<T>(src[p * stride_src + i * ld_src + j]);
  }
}

template <DType D>
void launch_store_f32(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, const float* src, std::int64_t ld_src,
                      std::int64_t stride_src, std::int64_t rows, std::int64_t cols, std::int64_t batch,
                      cudaStream_t stream) {
  const std::int64_t total = batch * rows * cols;
  if (total == 0) return;
  store_f32_kernel<Storage<D>><<<capped_blocks(total, kStoreThreads), kStoreThreads, 0, stream>>>(
      static_cast<Storage<D>*>(dst), ld_dst, stride_dst, src, ld_src, stride_src, rows, cols, batch);
  check_launch("store_f32");
}

}  // namespace strassentile::cuda::detail
