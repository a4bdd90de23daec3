// Internal: the kernel launchers behind launch_encode / launch_decode. Parameters reaching them are
// validated and have their leading dimensions and strides resolved (no zeros).
//
// Specialised kernels exist for the (a,b) pairs of encode and (a,c) pairs of decode that the tile families
// need, one instantiation file each: <2,2,2> (2,2), <3,3,3> (3,3), <4,4,4> (4,4), <2,4,4> (2,4), <1,4,4> (1,4).
// Every other format runs the generic kernels.
//
// The backward pass reuses these kernels: decodeᵀ (dY → dZ) is an encode over the output's (a,c) tiles with
// Dᵀ as encoder, and encodeᵀ (dX̂ → dX) is a decode over the activation's (a,b) tiles with E_Xᵀ as decoder
// (cropping included). The transposed coefficient matrices are read in place through a CoefLayout.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

// Where coefficient (row, col) of the small fp32 matrix a kernel reads sits: row·row_stride + col·col_stride.
// The encode reads enc(p, q), the decode dec(q, p). (0, 0) means as the forward pass stores them: enc_x
// r × a·b and dec a·c × r, row-major.
struct CoefLayout {
  int row_stride = 0, col_stride = 0;
  CoefLayout resolved(int natural_row_stride) const {
    return row_stride == 0 && col_stride == 0 ? CoefLayout{natural_row_stride, 1} : *this;
  }
};

template <int A, int B>
void launch_encode_fast(const EncodeParams& params, CoefLayout enc = {});
template <int A, int C>
void launch_decode_fast(const DecodeParams& params, CoefLayout dec = {});

// The tensor-core <4,4> bf16/fp16 encode/decode (codec_mma.cuh, instantiated in tile_family_444.cu and
// codec_mma_f16.cu); false, with nothing launched, where they do not apply (other dtype, tile or rank > 64).
bool launch_encode_mma(const EncodeParams& params, CoefLayout enc = {});
bool launch_decode_mma(const DecodeParams& params, CoefLayout dec = {});
bool launch_encode_mma_f16(const EncodeParams& params, CoefLayout enc);  // codec_mma_f16.cu
bool launch_decode_mma_f16(const DecodeParams& params, CoefLayout dec);

void launch_encode_generic(const EncodeParams& params, CoefLayout enc = {});
void launch_decode_generic(const DecodeParams& params, CoefLayout dec = {});

// launch_encode / launch_decode with a coefficient layout (parameters validated there).
void encode_with(const EncodeParams& params, CoefLayout enc);
void decode_with(const DecodeParams& params, CoefLayout dec);

// SMs that kernels launched on `stream` may use: the device's, or fewer for a stream of a green context (an SM
// partition, CUDA 12.4+), so that the persistent kernels size their grid to what they will really get. Asked of
// the driver at every launch (stream_sms.cpp).
int stream_sm_count(cudaStream_t stream, int device);

// Products of 16-bit dtypes whose sides k or n are not multiples of 8 run on the sides rounded up to 8, which cuBLAS
// needs for its fast kernels (padded_copy.cu says by how much): X̂ with zeroed padding columns, Ŵ copied into a
// zero-padded r × round8(k) × round8(n) layout, dŴ computed in one and copied back.
inline std::int64_t round_up_8(std::int64_t v) { return (v + 7) / 8 * 8; }
inline bool pads_products(const StlShape& s, DType dtype) {
  return dtype != DType::f32 && (s.k() % 8 != 0 || s.n() % 8 != 0);
}
// `batch` matrices into dst (rows_dst × cols_dst, leading dimension ld_dst, batch stride stride_dst): src's
// rows_src × cols_src where they reach, zeros elsewhere. esize: 2 or 4 bytes. (padded_copy.cu)
void launch_copy_padded(void* dst, std::int64_t ld_dst, std::int64_t stride_dst, std::int64_t rows_dst,
                        std::int64_t cols_dst, const void* src, std::int64_t ld_src, std::int64_t stride_src,
                        std::int64_t rows_src, std::int64_t cols_src, std::int64_t batch, std::size_t esize,
                        cudaStream_t stream);
// Zeroes columns [cols, ld) of `rows` rows of esize-byte elements (nothing when ld == cols).
void zero_columns(void* ptr, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::size_t esize,
                  cudaStream_t stream);

// out[j] = Σ_rows y[row, j] in fp32; y is rows × cols with leading dimension ld. Deterministic (no atomics): blocks of
// rows write partial sums to `scratch`, which a second pass adds in a fixed order. scratch must hold
// column_sums_scratch(rows, cols) bytes, 4-byte aligned (it may be null when that is 0).
std::size_t column_sums_scratch(std::int64_t rows, std::int64_t cols);
void launch_column_sums(DType dtype, const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                        void* scratch, cudaStream_t stream);
// out = the size × size identity, fp32.
void launch_identity(float* out, int size, cudaStream_t stream);

// Leading dimension: 0 means contiguous; anything else must leave room for a row of `need` elements.
inline std::int64_t resolve_ld(std::int64_t ld, std::int64_t need, const char* name) {
  if (ld == 0) return need;
  if (ld < need)
    throw std::invalid_argument(std::string(name) + " " + std::to_string(ld) + " is smaller than the row length " +
                                std::to_string(need));
  return ld;
}

// Batch stride of r matrices of `rows` rows: 0 means packed; anything else at least what one matrix spans.
inline std::int64_t resolve_stride(std::int64_t stride, std::int64_t rows, std::int64_t ld, std::int64_t row_len,
                                   const char* name) {
  if (stride == 0) return rows * ld;
  const std::int64_t span = rows == 0 ? 0 : (rows - 1) * ld + row_len;
  if (stride < span)
    throw std::invalid_argument(std::string(name) + " " + std::to_string(stride) +
                                " makes the products overlap (one spans " + std::to_string(span) + " elements)");
  return stride;
}

inline bool is_aligned(const void* ptr, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

// Throws std::invalid_argument unless `bytes` at `workspace` hold `needed` bytes, 256-byte aligned. `who` prefixes
// the message ("" for none); `sizer` names the function that gives the size.
inline void check_workspace(const char* who, const void* workspace, std::size_t bytes, std::size_t needed,
                            const char* sizer) {
  const std::string prefix = *who != '\0' ? std::string(who) + ": " : std::string();
  if (bytes < needed)
    throw std::invalid_argument(prefix + "workspace holds " + std::to_string(bytes) + " bytes but " +
                                std::to_string(needed) + " are needed (" + sizer + ")");
  if (needed > 0 && (workspace == nullptr || !is_aligned(workspace, 256)))
    throw std::invalid_argument(prefix + "workspace must be non-null and 256-byte aligned");
}

// Kernels whose shared table exceeds the default 48 KB must opt in (large ranks only).
inline void set_dynamic_smem(const void* kernel, std::size_t bytes) {
  if (bytes <= 48 * 1024) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
             "cudaFuncSetAttribute(MaxDynamicSharedMemorySize): rank too large for shared memory");
}

inline unsigned grid_blocks(std::int64_t threads, int block) {
  const std::int64_t blocks = (threads + block - 1) / block;
  if (blocks > std::numeric_limits<int>::max())
    throw std::invalid_argument("problem too large for one launch: " + std::to_string(threads) + " threads");
  return static_cast<unsigned>(blocks);
}

}  // namespace strassentile::cuda::detail
