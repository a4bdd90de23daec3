// Small kernels of the backward pass: the bias gradient (column sums of dY) and the identity encoder that
// gathers tiles for the dE_X and dD reductions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "device_math.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {
namespace {

constexpr int kThreads = 256;

// One thread per column and block row: sums its rows in fp32 (a warp reads consecutive columns of one row),
// then one atomic add per thread.
template <class T>
__global__ void column_sums(const T* __restrict__ y, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                            std::int64_t rows_per_block, float* __restrict__ out) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * rows_per_block;
  const std::int64_t last = first + rows_per_block < rows ? first + rows_per_block : rows;
  float acc = 0.0f;
  for (std::int64_t row = first; row < last; ++row) acc += to_float(y[row * ld + col]);
  atomicAdd(out + col, acc);
}

__global__ void identity_kernel(float* out, int size) {
  const int t = static_cast<int>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < size * size) out[t] = t / size == t % size ? 1.0f : 0.0f;
}

template <class T>
void run_column_sums(const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                     cudaStream_t stream) {
  // 256 rows per block at least; more when needed to keep gridDim.y within its 65535 limit.
  const std::int64_t per_block = std::max<std::int64_t>(256, (rows + 65534) / 65535);
  const std::int64_t blocks_y = (rows + per_block - 1) / per_block;
  const dim3 grid(grid_blocks(cols, kThreads), static_cast<unsigned>(blocks_y));
  column_sums<T><<<grid, kThreads, 0, stream>>>(static_cast<const T*>(y), ld, rows, cols, per_block, out);
  check_launch("column_sums");
}

}  // namespace

void launch_column_sums(DType dtype, const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                        cudaStream_t stream) {
  if (cols == 0) return;
  check_cuda(cudaMemsetAsync(out, 0, static_cast<std::size_t>(cols) * sizeof(float), stream), "cudaMemsetAsync");
  if (rows == 0) return;
  switch (dtype) {
    case DType::f32:
      return run_column_sums<float>(y, ld, rows, cols, out, stream);
    case DType::f16:
      return run_column_sums<__half>(y, ld, rows, cols, out, stream);
    case DType::bf16:
      return run_column_sums<__nv_bfloat16>(y, ld, rows, cols, out, stream);
  }
}

void launch_identity(float* out, int size, cudaStream_t stream) {
  if (size <= 0) return;
  identity_kernel<<<grid_blocks(static_cast<std::int64_t>(size) * size, kThreads), kThreads, 0, stream>>>(out, size);
  check_launch("identity");
}

}  // namespace strassentile::cuda::detail
