// Small kernels of the backward pass: the bias gradient (column sums of dY, deterministic) and the identity encoder
// that gathers tiles for the dE_X and dD reductions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "device_math.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {
namespace {

constexpr int kThreads = 256;

// One thread per column and block of rows: sums its rows in fp32 (a warp reads consecutive columns of one row) and
// writes the partial sum of that block (row blockIdx.y of `partial`, cols wide).
template <class T>
__global__ void column_partials(const T* __restrict__ y, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                                std::int64_t rows_per_block, float* __restrict__ partial) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * rows_per_block;
  const std::int64_t last = first + rows_per_block < rows ? first + rows_per_block : rows;
  float acc = 0.0f;
  for (std::int64_t row = first; row < last; ++row) acc += to_float(y[row * ld + col]);
  partial[static_cast<std::int64_t>(blockIdx.y) * cols + col] = acc;
}

// out[col] = Σ_b partial[b, col], b in order: the same bits on every run.
__global__ void sum_partials(const float* __restrict__ partial, std::int64_t blocks, std::int64_t cols,
                             float* __restrict__ out) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  float acc = 0.0f;
  for (std::int64_t b = 0; b < blocks; ++b) acc += partial[b * cols + col];
  out[col] = acc;
}

// 256 rows per block at least; more when needed to keep gridDim.y within its 65535 limit.
std::int64_t rows_per_block(std::int64_t rows) { return std::max<std::int64_t>(256, (rows + 65534) / 65535); }
std::int64_t row_blocks(std::int64_t rows) { return (rows + rows_per_block(rows) - 1) / rows_per_block(rows); }

__global__ void identity_kernel(float* out, int size) {
  const int t = static_cast<int>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < size * size) out[t] = t / size == t % size ? 1.0f : 0.0f;
}

template <class T>
void run_column_sums(const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out, float* scratch,
                     cudaStream_t stream) {
  const std::int64_t per_block = rows_per_block(rows), blocks_y = row_blocks(rows);
  // One block of rows: its partial sums are the result.
  float* partial = blocks_y == 1 ? out : scratch;
  const dim3 grid(grid_blocks(cols, kThreads), static_cast<unsigned>(blocks_y));
  column_partials<T><<<grid, kThreads, 0, stream>>>(static_cast<const T*>(y), ld, rows, cols, per_block, partial);
  check_launch("column_partials");
  if (blocks_y == 1) return;
  sum_partials<<<grid_blocks(cols, kThreads), kThreads, 0, stream>>>(scratch, blocks_y, cols, out);
  check_launch("sum_partials");
}

}  // namespace

std::size_t column_sums_scratch(std::int64_t rows, std::int64_t cols) {
  if (rows <= 0 || cols <= 0 || row_blocks(rows) == 1) return 0;
  return static_cast<std::size_t>(row_blocks(rows) * cols) * sizeof(float);
}

void launch_column_sums(DType dtype, const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                        void* scratch, cudaStream_t stream) {
  if (cols == 0) return;
  if (rows == 0) {
    check_cuda(cudaMemsetAsync(out, 0, static_cast<std::size_t>(cols) * sizeof(float), stream), "cudaMemsetAsync");
    return;
  }
  if (column_sums_scratch(rows, cols) > 0 && scratch == nullptr)
    throw std::invalid_argument("launch_column_sums: scratch is null but " +
                                std::to_string(column_sums_scratch(rows, cols)) + " bytes are needed");
  auto* partial = static_cast<float*>(scratch);
  switch (dtype) {
    case DType::f32:
      return run_column_sums<float>(y, ld, rows, cols, out, partial, stream);
    case DType::f16:
      return run_column_sums<__half>(y, ld, rows, cols, out, partial, stream);
    case DType::bf16:
      return run_column_sums<__nv_bfloat16>(y, ld, rows, cols, out, partial, stream);
  }
}

void launch_identity(float* out, int size, cudaStream_t stream) {
  if (size <= 0) return;
  identity_kernel<<<grid_blocks(static_cast<std::int64_t>(size) * size, kThreads), kThreads, 0, stream>>>(out, size);
  check_launch("identity");
}

}  // namespace strassentile::cuda::detail
