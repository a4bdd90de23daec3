// Small kernels of the backward pass: the bias gradient (column sums of dY, deterministic) and the identity encoder
// that gathers tiles for the dE_X and dD reductions.
#pragma once

#include <cstdint>

#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kBackwardThreads = 256;

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

template <class T>
__global__ void identity_kernel(T* out, int size) {
  const int t = static_cast<int>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < size * size) out[t] = t / size == t % size ? T(1) : T(0);
}

// scratch: column_sums_scratch(rows, cols) bytes (null when 0); rows and cols > 0.
template <DType D>
void launch_column_sums(const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                        float* scratch, cudaStream_t stream) {
  using T = Storage<D>;
  const std::int64_t per_block = column_sums_rows_per_block(rows), blocks_y = column_sums_row_blocks(rows);
  // One block of rows: its partial sums are the result.
  float* partial = blocks_y == 1 ? out : scratch;
  const dim3 grid(grid_blocks(cols, kBackwardThreads), static_cast<unsigned>(blocks_y));
  column_partials<T><<<grid, kBackwardThreads, 0, stream>>>(static_cast<const T*>(y), ld, rows, cols, per_block,
                                                            partial);
  check_launch("column_partials");
  if (blocks_y == 1) return;
  sum_partials<<<grid_blocks(cols, kBackwardThreads), kBackwardThreads, 0, stream>>>(scratch, blocks_y, cols, out);
  check_launch("sum_partials");
}

template <class T>
void launch_identity(T* out, int size, cudaStream_t stream) {
  if (size <= 0) return;
  identity_kernel<T><<<grid_blocks(static_cast<std::int64_t>(size) * size, kBackwardThreads), kBackwardThreads, 0,
                       stream>>>(out, size);
  check_launch("identity");
}

}  // namespace strassentile::cuda::detail
