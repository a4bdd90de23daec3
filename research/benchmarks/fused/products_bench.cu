// The r batched products of the STL forward, hand-written TMA + WGMMA kernel (wgmma_products.cuh) against cuBLAS's
// strided-batched GEMM on the same operands and the dense GEMM of the layer: CUDA events, 3 warm-up and 25 timed
// launches, median, 256 MiB written before each launch to flush the L2. Checks the kernel's Z against cuBLAS's
// (relative Frobenius error; both round fp32 sums to bf16). Prints a markdown table.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "cublas_baselines.cuh"
#include "wgmma_products.cuh"

namespace {

using namespace fused_bench;

struct Case {
  int M, K, N, a, b, c, r;
};

}  // namespace

int main() {
  const Setup setup;
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
    fill(w_t, w_count, ++seed);
    fill(x_hat, x_count, ++seed);
    const std::size_t z_count = static_cast<std::size_t>(r) * m * n;
    const Buffer z_mine(bytes_of(z_count)), z_cublas(bytes_of(z_count));
    ok(cudaMemset(z_mine.ptr, 0xff, bytes_of(z_count)), "poison");  // NaNs: every entry must be written
    auto* const wt = static_cast<bf16*>(w_t.ptr);
    auto* const xh = static_cast<bf16*>(x_hat.ptr);
    auto* const zm = static_cast<bf16*>(z_mine.ptr);
    auto* const zc = static_cast<bf16*>(z_cublas.ptr);
    const auto products = [&] { cublas_products(setup.handle, r, m, k, n, wt, xh, zc); };
    char label[64];
    std::snprintf(label, sizeof label, "<%d,%d,%d> r=%d", c.a, c.b, c.c, r);
    if (!wgmma_products::run_batched_products(r, m, k, n, wt, xh, zm)) {
      std::printf("| %dx%dx%d | %s | %d, %d, %d | | | not run (needs n %% 256, m %% 256, k %% 64 == 0) | | | |\n", c.M,
                  c.K, c.N, label, m, k, n);
      continue;
    }
    ok(cudaDeviceSynchronize(), "products");
    products();
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
    const double dense = dense_ms(setup, c.M, c.K, c.N, seed);
    const double theirs = setup.timer.median_ms(products);
    const double ours = setup.timer.median_ms([&] { wgmma_products::run_batched_products(r, m, k, n, wt, xh, zm); });
    std::printf("| %dx%dx%d | %s | %d, %d, %d | %.4f | %.4f | %.4f | %.2f | %.2f | %.2e |\n", c.M, c.K, c.N, label, m,
                k, n, dense, theirs, ours, theirs / ours, dense / ours, error);
  }
  if (!all_match) std::fprintf(stderr, "products_bench: the WGMMA kernel's Z differs from cuBLAS's\n");
  return all_match ? 0 : 1;
}
