// Internal: row-major (batched) GEMMs on cuBLAS, shared by the products, the backward pass and the benchmarks.
#pragma once

#include <cublas_v2.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

inline cudaDataType_t cuda_data_type(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::f16:
      return CUDA_R_16F;
    case DType::bf16:
      return CUDA_R_16BF;
  }
  throw std::invalid_argument("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

// Puts the handle on `stream`. cublasSetStream also resets a workspace the handle's owner may have set (PyTorch
// does), so it is called only when the stream changes.
inline void bind_stream(cublasHandle_t handle, cudaStream_t stream) {
  cudaStream_t current = nullptr;
  check_cublas(cublasGetStream(handle, &current), "cublasGetStream");
  if (current != stream) check_cublas(cublasSetStream(handle, stream), "cublasSetStream");
}

// cuBLAS takes int sizes: refuse what does not fit instead of truncating.
inline int cublas_int(std::int64_t v, const char* name) {
  if (v < 0 || v > INT_MAX)
    throw std::invalid_argument(std::string(name) + " " + std::to_string(v) + " is out of cuBLAS's int range");
  return static_cast<int>(v);
}

// Row-major C[i] = op(A[i]) · op(B[i]) for i < batch: rows × cols, inner dimension `inner`, fp32
// accumulation. cuBLAS is column-major, so it computes Cᵀ = op(B)ᵀ · op(A)ᵀ with the operands swapped.
struct RowMajorGemm {
  std::int64_t rows = 0, cols = 0, inner = 0, batch = 1;
  const void* a = nullptr;
  std::int64_t lda = 0, stride_a = 0;
  bool trans_a = false;
  const void* b = nullptr;
  std::int64_t ldb = 0, stride_b = 0;
  bool trans_b = false;
  void* c = nullptr;
  std::int64_t ldc = 0, stride_c = 0;
  cudaDataType_t ab_type = CUDA_R_16BF, c_type = CUDA_R_16BF;
  float beta = 0.0f;  // 1: C += op(A)·op(B), for sums over several calls
};

// One cublasGemmStridedBatchedEx call (also for batch = 1); returns its status for the caller's error policy.
inline cublasStatus_t run_strided_batched(cublasHandle_t handle, const RowMajorGemm& g) {
  const float alpha = 1.0f, beta = g.beta;
  return cublasGemmStridedBatchedEx(
      handle, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, cublas_int(g.cols, "cols"),
      cublas_int(g.rows, "rows"), cublas_int(g.inner, "inner"), &alpha, g.b, g.ab_type, cublas_int(g.ldb, "ldb"),
      g.stride_b, g.a, g.ab_type, cublas_int(g.lda, "lda"), g.stride_a, &beta, g.c, g.c_type, cublas_int(g.ldc, "ldc"),
      g.stride_c, cublas_int(g.batch, "batch"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

// A single GEMM (batch must be 1) through cublasGemmEx.
inline cublasStatus_t run_single(cublasHandle_t handle, const RowMajorGemm& g) {
  const float alpha = 1.0f, beta = g.beta;
  return cublasGemmEx(handle, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                      cublas_int(g.cols, "cols"), cublas_int(g.rows, "rows"), cublas_int(g.inner, "inner"), &alpha, g.b,
                      g.ab_type, cublas_int(g.ldb, "ldb"), g.a, g.ab_type, cublas_int(g.lda, "lda"), &beta, g.c, g.c_type,
                      cublas_int(g.ldc, "ldc"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

}  // namespace strassentile::cuda::detail
