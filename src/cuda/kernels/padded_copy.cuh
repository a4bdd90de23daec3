// copy_padded_kernel and zero_columns_kernel: the operands of products whose sides are not multiples of 8 (and Ŵ
// in 16-byte-aligned rows for the fused forward).
//
// cuBLAS/cuBLASLt on the H200 run STL's r products at 203 TFLOP/s for <3,3,3> at K = N = 4096 (k = n = 1366) and
// 131 at 8192³ (k = n = 2731), against 664 and 771 when both k and n are rounded up to 8, with every leading
// dimension a multiple of 8; rounding only one of them, or only padding Ŵ's rows, changes nothing
// (bench_gemm_shapes; research/results/perf/gemm_shapes_h200.log). So the products run on the padded problem: X̂'s padding columns zeroed, Ŵ
// copied into a zero-padded k8 × n8 layout, and dŴ computed k8 × n8 and copied back out.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kPaddedCopyThreads = 128;
constexpr unsigned kMaxGridYZ = 65535;

// One thread per 16 bytes of a destination row (V elements): blockIdx.z walks the batch and blockIdx.y the rows (each
// with a stride, for grids past 65535), so that no thread divides. Loads are element-wise (source rows need not be
// aligned); the store is one 16-byte vector where the destination rows allow it (aligned_dst).
template <class Word>
__global__ void copy_padded_kernel(Word* __restrict__ dst, std::int64_t ld_dst, std::int64_t stride_dst,
                                   std::int64_t rows_dst, std::int64_t cols_dst, const Word* __restrict__ src,
                                   std::int64_t ld_src, std::int64_t stride_src, std::int64_t rows_src,
                                   std::int64_t cols_src, std::int64_t batch, bool aligned_dst) {
  constexpr int V = 16 / sizeof(Word);
  const std::int64_t j0 = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (j0 >= cols_dst) return;
  for (std::int64_t p = blockIdx.z; p < batch; p += gridDim.z)
    for (std::int64_t i = blockIdx.y; i < rows_dst; i += gridDim.y) {
      Word* out = dst + p * stride_dst + i * ld_dst + j0;
      const Word* in = src + p * stride_src + i * ld_src + j0;
      const std::int64_t reach = i < rows_src ? cols_src - j0 : 0;  // source elements left in this row
      alignas(16) Word v[V];
#pragma unroll
      for (int t = 0; t < V; ++t) v[t] = t < reach ? in[t] : Word(0);
      if (aligned_dst && j0 + V <= cols_dst) {
        *reinterpret_cast<uint4*>(out) = *reinterpret_cast<const uint4*>(v);
      } else {
#pragma unroll
        for (int t = 0; t < V; ++t)
          if (j0 + t < cols_dst) out[t] = v[t];
      }
    }
}

// Zeroes columns [cols, ld) of each row: one thread per row (at most 7 elements at 16-bit, 3 at 32-bit from the
// rounding to 8, but any width works).
template <class Word>
__global__ void zero_columns_kernel(Word* __restrict__ ptr, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows;
       row += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    for (std::int64_t j = cols; j < ld; ++j) ptr[row * ld + j] = Word(0);
}

template <std::size_t Bytes>
using CopyWord = std::conditional_t<Bytes == 2, std::uint16_t, std::uint32_t>;

template <std::size_t Bytes>
void launch_copy_padded(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, std::int64_t rows_dst,
                        std::int64_t cols_dst, const void* src, std::int64_t ld_src, std::int64_t stride_src,
                        std::int64_t rows_src, std::int64_t cols_src, std::int64_t batch, cudaStream_t stream) {
  static_assert(Bytes == 2 || Bytes == 4, "2- or 4-byte elements");
  using Word = CopyWord<Bytes>;
  constexpr int V = 16 / sizeof(Word);
  if (batch == 0 || rows_dst == 0 || cols_dst == 0) return;
  const bool aligned_dst = is_aligned(dst, 16) && (ld_dst * static_cast<std::int64_t>(sizeof(Word))) % 16 == 0 &&
                           (batch <= 1 || (stride_dst * static_cast<std::int64_t>(sizeof(Word))) % 16 == 0);
  const dim3 grid(grid_blocks((cols_dst + V - 1) / V, kPaddedCopyThreads),
                  static_cast<unsigned>(std::min<std::int64_t>(rows_dst, kMaxGridYZ)),
                  static_cast<unsigned>(std::min<std::int64_t>(batch, kMaxGridYZ)));
  copy_padded_kernel<Word><<<grid, kPaddedCopyThreads, 0, stream>>>(
      static_cast<Word*>(dst), ld_dst, stride_dst, rows_dst, cols_dst, static_cast<const Word*>(src), ld_src,
      stride_src, rows_src, cols_src, batch, aligned_dst);
  check_launch("copy_padded_kernel");
}

// A kernel, not cudaMemset2DAsync: for 125 000 rows of 4 padding bytes the 2D memset took 0.086 ms on the H200.
template <std::size_t Bytes>
void launch_zero_columns(void* ptr, std::int64_t rows, std::int64_t cols, std::int64_t ld, cudaStream_t stream) {
  static_assert(Bytes == 2 || Bytes == 4, "2- or 4-byte elements");
  using Word = CopyWord<Bytes>;
  if (ld == cols || rows == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((rows + 255) / 256, 65535));
  zero_columns_kernel<Word><<<blocks, 256, 0, stream>>>(static_cast<Word*>(ptr), rows, cols, ld);
  check_launch("zero_columns_kernel");
}

}  // namespace strassentile::cuda::detail
