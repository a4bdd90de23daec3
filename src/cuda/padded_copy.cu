// launch_copy_padded and zero_columns (launchers.hpp): the operands of products whose sides are not multiples of 8.
//
// cuBLAS/cuBLASLt on the H200 run STL's r products at 203 TFLOP/s for <3,3,3> at K = N = 4096 (k = n = 1366) and
// 131 at 8192³ (k = n = 2731), against 664 and 771 when both k and n are rounded up to 8, with every leading
// dimension a multiple of 8; rounding only one of them, or only padding Ŵ's rows, changes nothing
// (docs/perf/gemm_shapes_h200.log). So the products run on the padded problem: X̂'s padding columns zeroed, Ŵ
// copied into a zero-padded k8 × n8 layout, and dŴ computed k8 × n8 and copied back out.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "launchers.hpp"

namespace strassentile::cuda::detail {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxRowBlocks = 65535;

// One block row per destination row (grid-stride over batch · rows_dst), threads along its columns.
template <class Word>
__global__ void copy_padded_kernel(Word* __restrict__ dst, std::int64_t ld_dst, std::int64_t stride_dst,
                                   std::int64_t rows_dst, std::int64_t cols_dst, const Word* __restrict__ src,
                                   std::int64_t ld_src, std::int64_t stride_src, std::int64_t rows_src,
                                   std::int64_t cols_src, std::int64_t batch) {
  const std::int64_t total_rows = batch * rows_dst;
  for (std::int64_t row = blockIdx.y; row < total_rows; row += gridDim.y) {
    const std::int64_t p = row / rows_dst, i = row - p * rows_dst;
    Word* out = dst + p * stride_dst + i * ld_dst;
    const Word* in = src + p * stride_src + i * ld_src;
    const bool inside_rows = i < rows_src;
    for (std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols_dst;
         j += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
      out[j] = inside_rows && j < cols_src ? in[j] : Word(0);
  }
}

template <class Word>
void launch_for(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, std::int64_t rows_dst, std::int64_t cols_dst,
                const void* src, std::int64_t ld_src, std::int64_t stride_src, std::int64_t rows_src,
                std::int64_t cols_src, std::int64_t batch, cudaStream_t stream) {
  const dim3 grid(grid_blocks(cols_dst, kThreads),
                  static_cast<unsigned>(std::min<std::int64_t>(batch * rows_dst, kMaxRowBlocks)));
  copy_padded_kernel<Word><<<grid, kThreads, 0, stream>>>(static_cast<Word*>(dst), ld_dst, stride_dst, rows_dst,
                                                          cols_dst, static_cast<const Word*>(src), ld_src, stride_src,
                                                          rows_src, cols_src, batch);
  check_cuda(cudaGetLastError(), "copy_padded_kernel launch");
}

}  // namespace

void launch_copy_padded(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, std::int64_t rows_dst,
                        std::int64_t cols_dst, const void* src, std::int64_t ld_src, std::int64_t stride_src,
                        std::int64_t rows_src, std::int64_t cols_src, std::int64_t batch, std::size_t esize,
                        cudaStream_t stream) {
  if (batch == 0 || rows_dst == 0 || cols_dst == 0) return;
  if (esize == 2)
    launch_for<std::uint16_t>(dst, ld_dst, stride_dst, rows_dst, cols_dst, src, ld_src, stride_src, rows_src,
                              cols_src, batch, stream);
  else if (esize == 4)
    launch_for<std::uint32_t>(dst, ld_dst, stride_dst, rows_dst, cols_dst, src, ld_src, stride_src, rows_src,
                              cols_src, batch, stream);
  else
    throw std::invalid_argument("launch_copy_padded: element size must be 2 or 4 bytes, got " + std::to_string(esize));
}

void zero_columns(void* ptr, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::size_t esize,
                  cudaStream_t stream) {
  if (ld == cols || rows == 0) return;
  check_cuda(cudaMemset2DAsync(static_cast<char*>(ptr) + static_cast<std::size_t>(cols) * esize,
                               static_cast<std::size_t>(ld) * esize, 0, static_cast<std::size_t>(ld - cols) * esize,
                               static_cast<std::size_t>(rows), stream),
             "cudaMemset2DAsync (row padding)");
}

}  // namespace strassentile::cuda::detail
