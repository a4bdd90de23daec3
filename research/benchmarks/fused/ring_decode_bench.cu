// The STL forward's products and decode in one launch (wgmma_products.cuh with RingDecode: Z through an L2-resident
// ring, each block decoded in r shares by the warpgroups that stored its products) against the same two stages as
// separate launches: cuBLAS's strided-batched products or the WGMMA products, then the same tensor-core decode
// (block_decode.cuh) over the whole Z. The encode is not part of any column. CUDA events, 3 warm-up and 25 timed
// launches, median, 256 MiB written before each launch to flush the L2. Checks: the fused Y bit for bit equal to
// WGMMA products + decode (same Z, same decode code); Y against an fp32 decode of cuBLAS's Z (relative Frobenius
// error; D rounded to bf16 there too); the ring's counters: every tile counted and every share decoded. Prints a
// markdown table; exit 1 on a mismatch.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "block_decode.cuh"
#include "cublas_baselines.cuh"
#include "wgmma_products.cuh"

namespace {

using namespace fused_bench;

// The reference decode, one thread per output, fp32 sums of bf16-rounded D times Z.
__global__ void reference_decode(const bf16* z, int m, int n, int a, int c, int r, const float* dec, const bf16* bias,
                                 float* y) {
  const std::int64_t total = static_cast<std::int64_t>(m) * a * n * c;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t row = e / (static_cast<std::int64_t>(n) * c), col = e % (static_cast<std::int64_t>(n) * c);
    const std::int64_t i = row / a, j = col / c;
    const int q = static_cast<int>(row % a) * c + static_cast<int>(col % c);
    float sum = 0.f;
    for (int p = 0; p < r; ++p) {
      sum += __bfloat162float(__float2bfloat16_rn(dec[q * r + p])) *
             __bfloat162float(z[(static_cast<std::int64_t>(p) * m + i) * n + j]);
    }
    y[e] = sum + (bias != nullptr ? __bfloat162float(bias[col]) : 0.f);
  }
}

struct Case {
  int M, K, N;
};

struct Errors {
  bool identical = true;
  double relative = 0;
};

template <int A, int B, int C, int R>
bool run_case(const Case& shape, const Setup& setup, std::uint64_t& seed) {
  const int m = shape.M / A, k = shape.K / B, n = shape.N / C;
  char label[64];
  std::snprintf(label, sizeof label, "<%d,%d,%d> r=%d", A, B, C, R);
  if (!wgmma_products::shape_supported(m, k, n)) {
    std::printf("| %dx%dx%d | %s | %d, %d, %d | not run (needs n %% 256, m %% 256, k %% 64 == 0) | | | | | | |\n",
                shape.M, shape.K, shape.N, label, m, k, n);
    return true;
  }
  const std::size_t w_count = std::size_t(R) * n * k, x_count = std::size_t(R) * m * k, z_count = std::size_t(R) * m * n;
  const std::size_t y_count = std::size_t(shape.M) * shape.N;
  const Buffer w_t(bytes_of(w_count)), x_hat(bytes_of(x_count)), z(bytes_of(z_count)), bias(bytes_of(shape.N));
  const Buffer y_fused(bytes_of(y_count)), y_unfused(bytes_of(y_count)), y_ref(y_count * sizeof(float));
  const Buffer dec(std::size_t(A) * C * R * sizeof(float));
  const Buffer ring(wgmma_products::ring_bytes(R)), counters(wgmma_products::counter_bytes(R));
  fill(w_t, w_count, ++seed);
  fill(x_hat, x_count, ++seed);
  fill(bias, shape.N, ++seed);
  strassentile::bench::random_fill<float>(dec.ptr, std::size_t(A) * C * R, ++seed, 1.0f / std::sqrt(float(R)));
  ok(cudaMemset(y_fused.ptr, 0xff, bytes_of(y_count)), "poison");  // NaNs: every entry must be written
  ok(cudaMemset(y_unfused.ptr, 0xff, bytes_of(y_count)), "poison");
  auto* const wt = static_cast<bf16*>(w_t.ptr);
  auto* const xh = static_cast<bf16*>(x_hat.ptr);
  auto* const zp = static_cast<bf16*>(z.ptr);
  const auto* const dp = static_cast<const float*>(dec.ptr);
  const auto* const bp = static_cast<const bf16*>(bias.ptr);
  const auto products = [&] { cublas_products(setup.handle, R, m, k, n, wt, xh, zp); };
  constexpr int staging = block_decode::staging_bytes_per_warpgroup<A, C>();
  const auto decode = [&] {
    block_decode::decode_kernel<A, C, R><<<(m / block_decode::kRows) * (n / block_decode::kColumns), 128, staging>>>(
        zp, m, n, dp, bp, static_cast<bf16*>(y_unfused.ptr));
  };
  const auto wgmma_products = [&] { wgmma_products::run_batched_products(R, m, k, n, wt, xh, zp); };
  const char* stages_env = std::getenv("RING_DECODE_STAGES");  // a subset of kRingAll's bits, to isolate a fault
  const int stages = stages_env != nullptr ? std::atoi(stages_env) : wgmma_products::kRingAll;
  const auto fused = [&] {
    wgmma_products::run_fused_forward<A, C, R>(m, k, n, wt, xh, dp, bp, static_cast<bf16*>(y_fused.ptr),
                                               static_cast<bf16*>(ring.ptr), static_cast<unsigned*>(counters.ptr),
                                               stages);
  };

  // Correctness: the fused Y against WGMMA products + decode (bit for bit), and against the fp32 reference decode.
  fused();
  ok(cudaDeviceSynchronize(), "fused forward");
  if (stages != wgmma_products::kRingAll) {  // a subset: Y is not complete; its time shows what each part costs
    if (std::getenv("RING_DECODE_CHECK_ONLY") != nullptr) {
      std::printf("| %dx%dx%d | %s | stages %d ran (Y not checked) |\n", shape.M, shape.K, shape.N, label, stages);
    } else {
      std::printf("| %dx%dx%d | %s | stages %d: %.4f ms; WGMMA products alone (Hilbert order) %.4f ms |\n", shape.M,
                  shape.K, shape.N, label, stages, setup.timer.median_ms(fused), setup.timer.median_ms(wgmma_products));
    }
    return true;
  }
  // The ring's counters after the launch: the stall record, and the protocol's books (every block's r tiles
  // counted and its r shares decoded, over all slots).
  const int slots = wgmma_products::ring_slots(R);
  std::vector<unsigned> words(wgmma_products::counter_bytes(R) / sizeof(unsigned));
  ok(cudaMemcpy(words.data(), counters.ptr, words.size() * sizeof(unsigned), cudaMemcpyDeviceToHost), "cudaMemcpy");
  const unsigned* const stall = words.data() + wgmma_products::stall_words_offset(R);
  if (stall[0] != 0) {
    std::fprintf(stderr, "%s %dx%dx%d: RingDecode stalled: warpgroup %u waited seconds for slot %u generation %u "
                 "(shares decoded %u, of %d a generation)\n",
                 label, shape.M, shape.K, shape.N, stall[1], stall[2], stall[3], stall[4], R);
  }
  unsigned long long tiles_counted = 0, shares_decoded = 0;
  for (int i = 0; i < slots; ++i) tiles_counted += words[i], shares_decoded += words[slots + i];
  const unsigned long long expected = std::size_t(m / block_decode::kRows) * (n / block_decode::kColumns) * R;
  if (tiles_counted != expected || shares_decoded != expected) {
    std::fprintf(stderr, "%s %dx%dx%d: RingDecode counted %llu tiles and decoded %llu shares, expected %llu each\n",
                 label, shape.M, shape.K, shape.N, tiles_counted, shares_decoded, expected);
    return false;
  }
  wgmma_products();
  decode();
  ok(cudaDeviceSynchronize(), "products + decode");
  const std::vector<float> got = download(y_fused.ptr, y_count), unfused = download(y_unfused.ptr, y_count);
  products();
  reference_decode<<<1024, 256>>>(zp, m, n, A, C, R, dp, bp, static_cast<float*>(y_ref.ptr));
  ok(cudaDeviceSynchronize(), "reference");
  std::vector<float> ref(y_count);
  ok(cudaMemcpy(ref.data(), y_ref.ptr, y_count * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  Errors errors;
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < y_count; ++i) {
    if (std::memcmp(&got[i], &unfused[i], sizeof(float)) != 0) errors.identical = false;
    const double d = double(got[i]) - ref[i];
    diff += d * d;
    norm += double(ref[i]) * ref[i];
  }
  errors.relative = std::sqrt(diff / norm);  // NaN where an entry was never written

  if (std::getenv("RING_DECODE_CHECK_ONLY") != nullptr) {  // correctness alone (compute-sanitizer runs)
    std::printf("| %dx%dx%d | %s | check only: %s, %.2e |\n", shape.M, shape.K, shape.N, label,
                errors.identical ? "identical" : "DIFFERS", errors.relative);
    return errors.identical && errors.relative <= 1e-2;
  }
  const double dense = dense_ms(setup, shape.M, shape.K, shape.N, seed);
  const double cublas_ms = setup.timer.median_ms(products);
  const double decode_ms = setup.timer.median_ms(decode);
  const double wgmma_ms = setup.timer.median_ms(wgmma_products);
  const double fused_ms = setup.timer.median_ms(fused);
  std::printf("| %dx%dx%d | %s | %.4f | %.4f + %.4f = %.4f | %.4f + %.4f = %.4f | %.4f | %.2f | %.2f | %s, %.2e |\n",
              shape.M, shape.K, shape.N, label, dense, cublas_ms, decode_ms, cublas_ms + decode_ms, wgmma_ms,
              decode_ms, wgmma_ms + decode_ms, fused_ms, (cublas_ms + decode_ms) / fused_ms, dense / fused_ms,
              errors.identical ? "identical" : "DIFFERS", errors.relative);
  return errors.identical && errors.relative <= 1e-2;
}

}  // namespace

int main() {
  const Setup setup;
  std::uint64_t seed = 11;
  std::printf("| M×K×N | format | dense ms | cuBLAS products + decode ms | WGMMA products + decode ms | fused ms | "
              "unfused (cuBLAS) / fused | dense / fused | fused Y vs WGMMA + decode; rel. error vs fp32 |\n"
              "|---|---|---|---|---|---|---|---|---|\n");
  bool all_ok = true;
  const Case shapes[] = {{16384, 4096, 4096}, {16384, 2048, 2048}, {16384, 768, 3072}};
  const char* only = std::getenv("RING_DECODE_SHAPE");  // e.g. 2: the third shape alone
  for (int s = 0; s < 3; ++s) {
    if (only != nullptr && std::atoi(only) != s) continue;
    const Case& shape = shapes[s];
    all_ok &= run_case<4, 4, 4, 24>(shape, setup, seed);
    all_ok &= run_case<4, 2, 4, 12>(shape, setup, seed);
  }
  if (!all_ok) std::fprintf(stderr, "ring_decode_bench: the fused Y differs (see the last column)\n");
  return all_ok ? 0 : 1;
}
