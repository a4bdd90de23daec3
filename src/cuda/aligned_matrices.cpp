// rows_16_byte_aligned and copy_matrices (launchers.hpp): Ŵ and dŴ of rows that cuBLAS cannot load in 16 bytes.
//
// Ŵ is r × k × n contiguous, so with n not a multiple of 8 (16-bit elements) its rows start 2- or 4-byte aligned.
// cuBLAS and cuBLASLt then have only kernels without vector (TMA) loads for every GEMM touching it: at
// <3,3,3>, K = N = 4096 (k = n = 1366) the forward's products ran at 203 TFLOP/s, 8× slower than the same
// GEMMs of <4,4,4>. A copy into rows padded to 8 elements costs one pass over Ŵ (r·k·n elements) per call.
#include "launchers.hpp"

namespace strassentile::cuda::detail {

bool rows_16_byte_aligned(const void* ptr, std::int64_t ld, std::int64_t stride, std::int64_t batch,
                          std::size_t esize) {
  const auto bytes = [esize](std::int64_t elements) { return static_cast<std::size_t>(elements) * esize; };
  return is_aligned(ptr, 16) && bytes(ld) % 16 == 0 && (batch <= 1 || bytes(stride) % 16 == 0);
}

void copy_matrices(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, const void* src, std::int64_t ld_src,
                   std::int64_t stride_src, std::int64_t rows, std::int64_t cols, std::int64_t batch, std::size_t esize,
                   cudaStream_t stream) {
  if (rows == 0 || cols == 0 || batch == 0) return;
  const auto bytes = [esize](std::int64_t elements) { return static_cast<std::size_t>(elements) * esize; };
  // Packed batches are one tall matrix: a single 2D copy.
  const bool one_copy = batch == 1 || (stride_dst == rows * ld_dst && stride_src == rows * ld_src);
  const std::int64_t copies = one_copy ? 1 : batch, height = one_copy ? rows * batch : rows;
  for (std::int64_t i = 0; i < copies; ++i)
    check_cuda(cudaMemcpy2DAsync(static_cast<char*>(dst) + bytes(i * stride_dst), bytes(ld_dst),
                                 static_cast<const char*>(src) + bytes(i * stride_src), bytes(ld_src), bytes(cols),
                                 static_cast<std::size_t>(height), cudaMemcpyDeviceToDevice, stream),
               "cudaMemcpy2DAsync (padding Ŵ's rows)");
}

}  // namespace strassentile::cuda::detail
