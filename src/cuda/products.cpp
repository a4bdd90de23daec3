// The r products Z[p] = X̂[p] · Ŵ[p] as one strided batched GEMM on cuBLAS.
//
// cuBLAS is column-major; a row-major m×n matrix is its n×m transpose, so Z = X̂·Ŵ is computed as
// Zᵀ = Ŵᵀ·X̂ᵀ with no transposition flags: A = Ŵ (n×k column-major), B = X̂ (k×m column-major). With
// GemmChoice::tuned (the default) bf16/fp16 products go through cuBLASLt's fastest algorithm (tuned_gemm.hpp).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "params.hpp"
#include "row_major_gemm.hpp"
#include "tuned_gemm.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {

void launch_products(const ProductsParams& p) {
  constexpr const char* who = "launch_products";
  if (p.batch < 0 || p.m < 0 || p.k < 0 || p.n < 0)
    throw std::invalid_argument(std::string(who) + ": batch, m, k and n must be >= 0 (got " + std::to_string(p.batch) +
                                ", " + std::to_string(p.m) + ", " + std::to_string(p.k) + ", " + std::to_string(p.n) +
                                ")");
  const std::size_t e = dtype_size(p.dtype);  // rejects unknown dtypes
  const std::int64_t ld_x = detail::resolve_ld(p.x_hat.ld, p.k, "launch_products: x_hat.ld");
  const std::int64_t ld_w = detail::resolve_ld(p.w_hat.ld, p.n, "launch_products: w_hat.ld");
  const std::int64_t ld_z = detail::resolve_ld(p.z.ld, p.n, "launch_products: z.ld");
  const std::int64_t stride_x = detail::resolve_stride(p.x_hat.stride, p.m, ld_x, p.k, "launch_products: x_hat.stride");
  const std::int64_t stride_w = detail::resolve_stride(p.w_hat.stride, p.k, ld_w, p.n, "launch_products: w_hat.stride");
  const std::int64_t stride_z = detail::resolve_stride(p.z.stride, p.m, ld_z, p.n, "launch_products: z.stride");
  if (p.batch == 0 || p.m == 0 || p.n == 0) return;
  if (p.handle == nullptr) throw std::invalid_argument("launch_products: handle (the cuBLAS handle) is null");
  detail::require_elements(p.x_hat.data, e, who, "x_hat");
  detail::require_elements(p.w_hat.data, e, who, "w_hat");
  detail::require_elements(p.z.data, p.z_f32 ? 4 : e, who, "z");

  cublasPointerMode_t mode;
  detail::check_cublas(cublasGetPointerMode(p.handle, &mode), "cublasGetPointerMode");
  if (mode != CUBLAS_POINTER_MODE_HOST)
    throw std::invalid_argument("launch_products: the cuBLAS handle must be in host pointer mode");
  detail::bind_stream(p.handle, p.stream);

  // Z = X̂·Ŵ row-major: rows m, cols n, inner k (row_major_gemm.hpp makes the column-major call).
  detail::RowMajorGemm g;
  g.rows = p.m, g.cols = p.n, g.inner = p.k, g.batch = p.batch;
  g.a = p.x_hat.data, g.lda = ld_x, g.stride_a = stride_x;
  g.b = p.w_hat.data, g.ldb = ld_w, g.stride_b = stride_w;
  g.c = p.z.data, g.ldc = ld_z, g.stride_c = stride_z;
  g.ab_type = detail::cuda_data_type(p.dtype);
  g.c_type = p.z_f32 ? CUDA_R_32F : g.ab_type;
  detail::run_gemm(p.handle, g, p.gemm, p.stream);
}

}  // namespace strassentile::cuda
