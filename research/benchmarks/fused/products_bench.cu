// The r batched products of the STL forward, hand-written TMA + WGMMA kernel (wgmma_products.cuh) against cuBLAS's
// strided-batched GEMM on the same operands and the dense GEMM of the layer: CUDA events, 3 warm-up and 25 timed
// launches, median, 256 MiB written before each launch to flush the L2. Checks the kernel's Z against cuBLAS's
// (relative Frobenius error; both round fp32 sums to bf16). Prints a markdown table.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "bench_util.cuh"  // benchmarks/: ok, Buffer, random_fill, Timer
#include "wgmma_products.cuh"

namespace {

using bf16 = __nv_bfloat16;
using strassentile::bench::Buffer;
using strassentile::bench::ok;

constexpr std::size_t bytes_of(std::size_t count) { return count * sizeof(bf16); }

// Uniform values in [-1, 1] on the device.
void fill_operand(const Buffer& buffer, std::size_t count, std::uint64_t seed) {
  strassentile::bench::random_fill<bf16>(buffer.ptr, count, seed, 1.0f);
}

std::vector<float> download(const void* dev, std::size_t count) {
  std::vector<bf16> host(count);
  ok(cudaMemcpy(host.data(), dev, count * sizeof(bf16), cudaMemcpyDeviceToHost), "cudaMemcpy");
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = __bfloat162float(host[i]);
  return out;
}

struct Case {
  int M, K, N, a, b, c, r;
};

}  // namespace

int main() {
  cublasHandle_t handle;
  ok(cublasCreate(&handle), "cublasCreate");
  const std::size_t flush_bytes = 256u << 20;
  const Buffer flush(flush_bytes);
  // On the legacy default stream, where the kernel and cuBLAS run; the L2 flushed by writing 256 MiB.
  const strassentile::bench::Timer timer{nullptr, flush.ptr, flush_bytes, 3, 25, strassentile::bench::Flush::write};
  std::uint64_t seed = 7;
  bool all_match = true;  // every Z within 1e-2 of cuBLAS's (relative Frobenius; NaN: an entry never written)
  const Case cases[] = {{16384, 4096, 4096, 4, 4, 4, 24}, {16384, 4096, 4096, 4, 2, 4, 12},
                        {16384, 2048, 2048, 4, 4, 4, 24}, {16384, 2048, 2048, 4, 2, 4, 12},
                        {16384, 768, 3072, 4, 4, 4, 24},  {16384, 768, 3072, 4, 2, 4, 12},
                        {16384, 3072, 768, 4, 4, 4, 24},  {65536, 384, 1536, 4, 4, 4, 24}};
  std::printf("| M×K×N | format | m, k, n | dense ms | cuBLAS products ms | WGMMA products ms | WGMMA / cuBLAS speed | "
              "dense / WGMMA products | rel. error vs cuBLAS |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const Case& c : cases) {
    const int m = c.M / c.a, k = c.K / c.b, n = c.N / c.c, r = c.r;
    const std::size_t w_count = static_cast<std::size_t>(r) * n * k, x_count = static_cast<std::size_t>(r) * m * k;
    const Buffer w_t(bytes_of(w_count)), x_hat(bytes_of(x_count));
    fill_operand(w_t, w_count, ++seed);
    fill_operand(x_hat, x_count, ++seed);
    const std::size_t z_count = static_cast<std::size_t>(r) * m * n;
    const Buffer z_mine(bytes_of(z_count)), z_cublas(bytes_of(z_count));
    ok(cudaMemset(z_mine.ptr, 0xff, bytes_of(z_count)), "poison");  // NaNs: every entry must be written
    auto* const wt = static_cast<bf16*>(w_t.ptr);
    auto* const xh = static_cast<bf16*>(x_hat.ptr);
    auto* const zm = static_cast<bf16*>(z_mine.ptr);
    const float one = 1.0f, zero = 0.0f;
    // Row-major Z[p] (m×n) is column-major Z[p]ᵀ = Ŵ[p]ᵀ·X̂[p]ᵀ; Ŵ[p]ᵀ is stored n×k row-major, X̂[p] m×k row-major.
    const auto cublas_products = [&] {
      ok(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, wt, CUDA_R_16BF, k,
                                    static_cast<long long>(n) * k, xh, CUDA_R_16BF, k, static_cast<long long>(m) * k,
                                    &zero, z_cublas.ptr, CUDA_R_16BF, n, static_cast<long long>(m) * n, r,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
         "cublasGemmStridedBatchedEx");
    };
    char label[64];
    std::snprintf(label, sizeof label, "<%d,%d,%d> r=%d", c.a, c.b, c.c, r);
    if (!wgmma_products::run_batched_products(r, m, k, n, wt, xh, zm)) {
      std::printf("| %dx%dx%d | %s | %d, %d, %d | | | not run (needs n %% 256, m %% 256, k %% 64 == 0) | | | |\n", c.M,
                  c.K, c.N, label, m, k, n);
      continue;
    }
    ok(cudaDeviceSynchronize(), "products");
    cublas_products();
    ok(cudaDeviceSynchronize(), "cublas");
    const std::vector<float> mine = download(z_mine.ptr, z_count), ref = download(z_cublas.ptr, z_count);
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < z_count; ++i) {
      const double d = static_cast<double>(mine[i]) - ref[i];
      diff += d * d;
      norm += static_cast<double>(ref[i]) * ref[i];
    }
    const double error = std::sqrt(diff / norm);  // NaN where an entry was never written
    if (!(error <= 1e-2)) all_match = false;
    // The dense layer: Y (M×N) = X (M×K) · W, the same TN layout.
    const std::size_t w_dense_count = static_cast<std::size_t>(c.N) * c.K;
    const std::size_t x_dense_count = static_cast<std::size_t>(c.M) * c.K;
    const Buffer w_dense(bytes_of(w_dense_count)), x_dense(bytes_of(x_dense_count));
    const Buffer y_dense(bytes_of(static_cast<std::size_t>(c.M) * c.N));
    fill_operand(w_dense, w_dense_count, ++seed);
    fill_operand(x_dense, x_dense_count, ++seed);
    const double dense = timer.median_ms([&] {
      ok(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, c.N, c.M, c.K, &one, w_dense.ptr, CUDA_R_16BF, c.K, x_dense.ptr,
                      CUDA_R_16BF, c.K, &zero, y_dense.ptr, CUDA_R_16BF, c.N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
         "cublasGemmEx");
    });
    const double theirs = timer.median_ms(cublas_products);
    const double ours = timer.median_ms([&] { wgmma_products::run_batched_products(r, m, k, n, wt, xh, zm); });
    std::printf("| %dx%dx%d | %s | %d, %d, %d | %.4f | %.4f | %.4f | %.2f | %.2f | %.2e |\n", c.M, c.K, c.N, label, m,
                k, n, dense, theirs, ours, theirs / ours, dense / ours, error);
  }
  cublasDestroy(handle);
  if (!all_match) std::fprintf(stderr, "products_bench: the WGMMA kernel's Z differs from cuBLAS's\n");
  return all_match ? 0 : 1;
}
