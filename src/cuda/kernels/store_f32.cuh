// Conversions between fp32 and the storage dtypes. store_f32_kernel: an fp32 accumulator written out in the storage
// dtype (the backward sums dŴ over row blocks in fp32, one rounding at the end as a single GEMM would give, and
// stores it here). to_f32_kernel: a layer's E_X and D, stored in 16 bits, as the kernels read them (fp32).
#pragma once

#include <cstdint>

#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kStoreThreads = 256;

// dst[p][i][j] = src[p][i][j] for p < batch, i < rows, j < cols, rounded to T. A block per row (one division per
// row, not per element); V consecutive columns per thread, read in one fp32×V load where rows and pointers are
// V-aligned (V = 4: 16-byte loads, the accumulator's full bandwidth), else V = 1.
template <class T, int V>
__global__ void store_f32_kernel(T* __restrict__ dst, std::int64_t ld_dst, std::int64_t stride_dst,
                                 const float* __restrict__ src, std::int64_t ld_src, std::int64_t stride_src,
                                 std::int64_t rows, std::int64_t cols, std::int64_t batch) {
  for (std::int64_t row = blockIdx.x; row < batch * rows; row += gridDim.x) {
    const std::int64_t p = row / rows, i = row - p * rows;
    const float* from = src + p * stride_src + i * ld_src;
    T* to = dst + p * stride_dst + i * ld_dst;
    const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * V;
    for (std::int64_t j = static_cast<std::int64_t>(threadIdx.x) * V; j < cols; j += step) {
      if constexpr (V == 4) {
        if (j + 4 <= cols) {
          const float4 v = *reinterpret_cast<const float4*>(from + j);
          to[j] = from_float<T>(v.x), to[j + 1] = from_float<T>(v.y), to[j + 2] = from_float<T>(v.z),
          to[j + 3] = from_float<T>(v.w);
          continue;
        }
      }
      for (std::int64_t q = j; q < j + V && q < cols; ++q) to[q] = from_float<T>(from[q]);
    }
  }
}

template <DType D>
void launch_store_f32(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, const float* src, std::int64_t ld_src,
                      std::int64_t stride_src, std::int64_t rows, std::int64_t cols, std::int64_t batch,
                      cudaStream_t stream) {
  if (batch * rows * cols == 0) return;
  using T = Storage<D>;
  const unsigned blocks = capped_blocks(batch * rows, 1);
  const bool vector = reinterpret_cast<std::uintptr_t>(src) % 16 == 0 && ld_src % 4 == 0 && stride_src % 4 == 0;
  if (vector)
    store_f32_kernel<T, 4><<<blocks, kStoreThreads, 0, stream>>>(static_cast<T*>(dst), ld_dst, stride_dst, src,
                                                                  ld_src, stride_src, rows, cols, batch);
  else
    store_f32_kernel<T, 1><<<blocks, kStoreThreads, 0, stream>>>(static_cast<T*>(dst), ld_dst, stride_dst, src,
                                                                  ld_src, stride_src, rows, cols, batch);
  check_launch("store_f32");
}

// dst = first, then second, in fp32: two tiny arrays by one launch, since at their size the launch is the cost.
template <class T>
__global__ void to_f32_kernel(float* __restrict__ dst, const T* __restrict__ first, std::int64_t n_first,
                              const T* __restrict__ second, std::int64_t n_second) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_first + n_second;
       i += step)
    dst[i] = to_float(i < n_first ? first[i] : second[i - n_first]);
}

template <DType D>
void launch_to_f32(float* dst, const void* first, std::int64_t n_first, const void* second, std::int64_t n_second,
                   cudaStream_t stream) {
  if (n_first + n_second == 0) return;
  using T = Storage<D>;
  to_f32_kernel<T><<<capped_blocks(n_first + n_second, kStoreThreads), kStoreThreads, 0, stream>>>(
      dst, static_cast<const T*>(first), n_first, static_cast<const T*>(second), n_second);
  check_launch("to_f32");
}

}  // namespace strassentile::cuda::detail
