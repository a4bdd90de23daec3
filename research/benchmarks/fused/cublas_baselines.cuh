// products_bench.cu's timing setup (legacy default stream, where the WGMMA kernel and cuBLAS run; the L2 flushed by
// writing 256 MiB before each launch; 3 warm-up, 25 timed, median) and the cuBLAS calls it compares against, all bf16
// with fp32 accumulation in the TN layout WGMMA reads.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bench_util.cuh"  // benchmarks/: ok, Buffer, random_fill, Timer

namespace fused_bench {

using bf16 = __nv_bfloat16;
using strassentile::bench::Buffer;
using strassentile::bench::ok;

constexpr std::size_t bytes_of(std::size_t count) { return count * sizeof(bf16); }

// Uniform values in [-scale, scale] on the device.
inline void fill(const Buffer& buffer, std::size_t count, std::uint64_t seed, float scale = 1.0f) {
  strassentile::bench::random_fill<bf16>(buffer.ptr, count, seed, scale);
}

inline std::vector<float> download(const void* dev, std::size_t count) {
  std::vector<bf16> host(count);
  ok(cudaMemcpy(host.data(), dev, count * sizeof(bf16), cudaMemcpyDeviceToHost), "cudaMemcpy");
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = __bfloat162float(host[i]);
  return out;
}

// The cuBLAS handle, the flush buffer and the timer, for one benchmark program.
struct Setup {
  static constexpr std::size_t kFlushBytes = std::size_t{256} << 20;
  cublasHandle_t handle{};
  Buffer flush{kFlushBytes};
  strassentile::bench::Timer timer{nullptr, flush.ptr, kFlushBytes, 3, 25, strassentile::bench::Flush::write};
  Setup() { ok(cublasCreate(&handle), "cublasCreate"); }
  ~Setup() { cublasDestroy(handle); }
  Setup(const Setup&) = delete;
  Setup& operator=(const Setup&) = delete;
};

// Z[p] = X̂[p]·Ŵ[p] for p < r with cuBLAS's strided-batched GEMM. Row-major Z[p] (m×n) is column-major
// Z[p]ᵀ = Ŵ[p]ᵀ·X̂[p]ᵀ; Ŵ[p]ᵀ is stored n×k row-major, X̂[p] m×k row-major. Z in bf16, or fp32 (z_type) for a
// reference.
inline void cublas_products(cublasHandle_t handle, int r, int m, int k, int n, const bf16* w_hat_t, const bf16* x_hat,
                            void* z, cudaDataType z_type = CUDA_R_16BF) {
  const float one = 1.0f, zero = 0.0f;
  ok(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w_hat_t, CUDA_R_16BF, k,
                                static_cast<long long>(n) * k, x_hat, CUDA_R_16BF, k, static_cast<long long>(m) * k,
                                &zero, z, z_type, n, static_cast<long long>(m) * n, r, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT),
     "cublasGemmStridedBatchedEx");
}

// The dense layer Y (M×N) = X (M×K)·W, W stored N×K row-major: the same TN layout.
inline void cublas_dense(cublasHandle_t handle, int M, int K, int N, const void* w, const void* x, void* y) {
  const float one = 1.0f, zero = 0.0f;
  ok(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, w, CUDA_R_16BF, K, x, CUDA_R_16BF, K, &zero, y,
                  CUDA_R_16BF, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
     "cublasGemmEx");
}

// The dense layer's median time on random operands.
inline double dense_ms(const Setup& setup, int M, int K, int N, std::uint64_t& seed) {
  const Buffer w(bytes_of(std::size_t(N) * K)), x(bytes_of(std::size_t(M) * K)), y(bytes_of(std::size_t(M) * N));
  fill(w, std::size_t(N) * K, ++seed);
  fill(x, std::size_t(M) * K, ++seed);
  return setup.timer.median_ms([&] { cublas_dense(setup.handle, M, K, N, w.ptr, x.ptr, y.ptr); });
}

}  // namespace fused_bench
