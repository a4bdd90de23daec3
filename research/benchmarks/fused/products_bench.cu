// The r batched products of the STL forward, hand-written TMA + WGMMA kernel (wgmma_products.cuh) against cuBLAS's
// strided-batched GEMM on the same operands and the dense GEMM of the layer: CUDA events, 3 warm-up and 25 timed
// launches, median, 256 MiB written before each launch to flush the L2. Checks the kernel's Z against cuBLAS's
// (relative Frobenius error; both round fp32 sums to bf16). Prints a markdown table.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "wgmma_products.cuh"

namespace {

using bf16 = __nv_bfloat16;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: cuBLAS status %d\n", what, static_cast<int>(s));
    std::exit(1);
  }
}

bf16* random_device(std::size_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<bf16> host(count);
  for (auto& v : host) v = __float2bfloat16(uniform(rng));
  bf16* dev = nullptr;
  check(cudaMalloc(&dev, count * sizeof(bf16)), "cudaMalloc");
  check(cudaMemcpy(dev, host.data(), count * sizeof(bf16), cudaMemcpyHostToDevice), "cudaMemcpy");
  return dev;
}

std::vector<float> download(const bf16* dev, std::size_t count) {
  std::vector<bf16> host(count);
  check(cudaMemcpy(host.data(), dev, count * sizeof(bf16), cudaMemcpyDeviceToHost), "cudaMemcpy");
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = __bfloat162float(host[i]);
  return out;
}

// Median milliseconds of `launch`, the L2 flushed before each.
double median_ms(const std::function<void()>& launch, void* flush, std::size_t flush_bytes) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  for (int i = 0; i < 3; ++i) launch();
  std::vector<float> times;
  for (int i = 0; i < 25; ++i) {
    check(cudaMemsetAsync(flush, i, flush_bytes), "flush");
    check(cudaEventRecord(start), "record");
    launch();
    check(cudaEventRecord(stop), "record");
    check(cudaEventSynchronize(stop), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
    times.push_back(ms);
  }
  check(cudaGetLastError(), "launch");
  std::sort(times.begin(), times.end());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return times[times.size() / 2];
}

struct Case {
  int M, K, N, a, b, c, r;
};

}  // namespace

int main() {
  cublasHandle_t handle;
  check(cublasCreate(&handle), "cublasCreate");
  const std::size_t flush_bytes = 256u << 20;
  void* flush = nullptr;
  check(cudaMalloc(&flush, flush_bytes), "cudaMalloc");
  std::mt19937 rng(7);
  bool all_match = true;  // every Z within 1e-2 of cuBLAS's (relative Frobenius; NaN: an entry never written)
  const Case cases[] = {{16384, 4096, 4096, 4, 4, 4, 24}, {16384, 4096, 4096, 4, 2, 4, 12},
                        {16384, 2048, 2048, 4, 4, 4, 24}, {16384, 2048, 2048, 4, 2, 4, 12},
                        {16384, 768, 3072, 4, 4, 4, 24},  {16384, 768, 3072, 4, 2, 4, 12},
                        {16384, 3072, 768, 4, 4, 4, 24},  {65536, 384, 1536, 4, 4, 4, 24}};
  std::printf("| M×K×N | format | m, k, n | dense ms | cuBLAS products ms | WGMMA products ms | WGMMA / cuBLAS speed | "
              "dense / WGMMA products | rel. error vs cuBLAS |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const Case& c : cases) {
    const int m = c.M / c.a, k = c.K / c.b, n = c.N / c.c, r = c.r;
    bf16* w_t = random_device(static_cast<std::size_t>(r) * n * k, rng);
    bf16* x_hat = random_device(static_cast<std::size_t>(r) * m * k, rng);
    bf16 *z_mine = nullptr, *z_cublas = nullptr;
    const std::size_t z_count = static_cast<std::size_t>(r) * m * n;
    check(cudaMalloc(&z_mine, z_count * sizeof(bf16)), "cudaMalloc");
    check(cudaMalloc(&z_cublas, z_count * sizeof(bf16)), "cudaMalloc");
    check(cudaMemset(z_mine, 0xff, z_count * sizeof(bf16)), "poison");  // NaNs: every entry must be written
    const float one = 1.0f, zero = 0.0f;
    // Row-major Z[p] (m×n) is column-major Z[p]ᵀ = Ŵ[p]ᵀ·X̂[p]ᵀ; Ŵ[p]ᵀ is stored n×k row-major, X̂[p] m×k row-major.
    const auto cublas_products = [&] {
      check(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w_t, CUDA_R_16BF, k,
                                       static_cast<long long>(n) * k, x_hat, CUDA_R_16BF, k,
                                       static_cast<long long>(m) * k, &zero, z_cublas, CUDA_R_16BF, n,
                                       static_cast<long long>(m) * n, r, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmStridedBatchedEx");
    };
    char label[64];
    std::snprintf(label, sizeof label, "<%d,%d,%d> r=%d", c.a, c.b, c.c, r);
    if (!wgmma_products::run_batched_products(r, m, k, n, w_t, x_hat, z_mine)) {
      std::printf("| %dx%dx%d | %s | %d, %d, %d | | | not run (needs n %% 256, m %% 256, k %% 64 == 0) | | | |\n", c.M,
                  c.K, c.N, label, m, k, n);
    } else {
      check(cudaDeviceSynchronize(), "products");
      cublas_products();
      check(cudaDeviceSynchronize(), "cublas");
      const std::vector<float> mine = download(z_mine, z_count), ref = download(z_cublas, z_count);
      double diff = 0, norm = 0;
      for (std::size_t i = 0; i < z_count; ++i) {
        const double d = static_cast<double>(mine[i]) - ref[i];
        diff += d * d;
        norm += static_cast<double>(ref[i]) * ref[i];
      }
      const double error = std::sqrt(diff / norm);  // NaN where an entry was never written
      if (!(error <= 1e-2)) all_match = false;
      // The dense layer: Y (M×N) = X (M×K) · W, the same TN layout.
      bf16* w_dense = random_device(static_cast<std::size_t>(c.N) * c.K, rng);
      bf16* x_dense = random_device(static_cast<std::size_t>(c.M) * c.K, rng);
      bf16* y_dense = nullptr;
      check(cudaMalloc(&y_dense, static_cast<std::size_t>(c.M) * c.N * sizeof(bf16)), "cudaMalloc");
      const double dense = median_ms(
          [&] {
            check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, c.N, c.M, c.K, &one, w_dense, CUDA_R_16BF, c.K,
                               x_dense, CUDA_R_16BF, c.K, &zero, y_dense, CUDA_R_16BF, c.N, CUBLAS_COMPUTE_32F,
                               CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx");
          },
          flush, flush_bytes);
      const double theirs = median_ms(cublas_products, flush, flush_bytes);
      const double ours =
          median_ms([&] { wgmma_products::run_batched_products(r, m, k, n, w_t, x_hat, z_mine); }, flush, flush_bytes);
      std::printf("| %dx%dx%d | %s | %d, %d, %d | %.4f | %.4f | %.4f | %.2f | %.2f | %.2e |\n", c.M, c.K, c.N, label,
                  m, k, n, dense, theirs, ours, theirs / ours, dense / ours, error);
      cudaFree(w_dense);
      cudaFree(x_dense);
      cudaFree(y_dense);
    }
    cudaFree(w_t);
    cudaFree(x_hat);
    cudaFree(z_mine);
    cudaFree(z_cublas);
  }
  cudaFree(flush);
  cublasDestroy(handle);
  if (!all_match) std::fprintf(stderr, "products_bench: the WGMMA kernel's Z differs from cuBLAS's\n");
  return all_match ? 0 : 1;
}
