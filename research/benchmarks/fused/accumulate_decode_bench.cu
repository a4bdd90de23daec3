// The fused products + decode kernel of accumulate_decode.cuh against the dense GEMM of the layer and against the
// products alone through cuBLAS's strided-batched GEMM (the middle stage of the unfused pipeline, which still needs a
// decode pass after it). CUDA events, 3 warm-up and 25 timed launches, median, 256 MiB written before each launch to
// flush the L2. Checks every entry of the kernel's Y against an fp32 reference (cuBLAS products with fp32 output,
// decoded in fp32), Y poisoned with NaN first. Prints a markdown table; exits 1 if any Y is off.
// Built with the library (the CMake target accumulate-decode-bench), it also times the library's encode (X → X̂) and
// decode (Z → Y) of each case and prints the whole forward both ways: encode + products + decode (unfused) against
// encode + the fused kernel, each a sum of separately timed medians. The library specialises the decode for (a,c) in
// (2,2) (3,3) (4,4) (2,4) (1,4) (4,2); (1,2) and (4,1) take its generic decode, which flatters the fused column there.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "accumulate_decode.cuh"
#include "cublas_baselines.cuh"
#ifdef STRASSENTILE_BENCH_WITH_LIBRARY
#include "strassentile/cuda/stl_cuda.hpp"
#endif

namespace {

using namespace fused_bench;

struct Case {
  int M, K, N, a, b, c, r;
};

// Y_ref[a·p+i, c·q+j] = Σ_t D[i·c+j, t]·Z[t][p, q] + bias, Z fp32 (r × m × n); and the error sums against Y.
__global__ void check_against_reference(const float* z, const float* decode, const bf16* bias, const bf16* y, int a,
                                        int c, int r, int m, int n, double* sums) {
  const long rows = static_cast<long>(a) * m, cols = static_cast<long>(c) * n;
  double diff2 = 0, ref2 = 0, bad = 0;
  for (long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; idx < rows * cols;
       idx += static_cast<long>(gridDim.x) * blockDim.x) {
    const long row = idx / cols, col = idx % cols;
    const long p = row / a, q = col / c;
    const int slot = static_cast<int>(row % a) * c + static_cast<int>(col % c);
    float ref = __bfloat162float(bias[col]);
    for (int t = 0; t < r; ++t) ref += decode[slot * r + t] * z[(static_cast<long>(t) * m + p) * n + q];
    const float got = __bfloat162float(y[idx]);
    const double d = static_cast<double>(got) - ref;
    if (!(std::fabs(d) <= 1e30)) bad += 1;  // NaN: an entry never written
    diff2 += d * d;
    ref2 += static_cast<double>(ref) * ref;
  }
  atomicAdd(&sums[0], diff2);
  atomicAdd(&sums[1], ref2);
  atomicAdd(&sums[2], bad);
}

// config: 0 = clusters of two along q (X̂ shared), 1 = two along p (Ŵ shared), each with 64 or 128 k per stage;
// 4, 5: the staged kernel (products before the last in shared memory), clusters as 0 and 1.
template <int A, int C>
bool run_fused(int config, const accumulate_decode::Params& params, const bf16* x_hat, const bf16* w_hat_t) {
  switch (config) {
    case 0: return accumulate_decode::run<A, C, 1, 2, 1>(params, x_hat, w_hat_t);
    case 1: return accumulate_decode::run<A, C, 2, 1, 1>(params, x_hat, w_hat_t);
    case 2: return accumulate_decode::run<A, C, 1, 2, 2>(params, x_hat, w_hat_t);
    case 3: return accumulate_decode::run<A, C, 2, 1, 2>(params, x_hat, w_hat_t);
    case 4: return accumulate_decode::run<A, C, 1, 2, 1, true>(params, x_hat, w_hat_t);
    case 5: return accumulate_decode::run<A, C, 2, 1, 1, true>(params, x_hat, w_hat_t);
    default: return false;
  }
}
const char* const kClusterNames[] = {"1×2 (X̂ shared), k 64", "2×1 (Ŵ shared), k 64", "1×2, k 128", "2×1, k 128",
                                     "staged 64×128, 1×2",     "staged 64×128, 2×1"};

bool run_format(int a, int c, int cluster, const accumulate_decode::Params& params, const bf16* x_hat,
                const bf16* w_hat_t) {
  if (a == 2 && c == 2) return run_fused<2, 2>(cluster, params, x_hat, w_hat_t);
  if (a == 1 && c == 4) return run_fused<1, 4>(cluster, params, x_hat, w_hat_t);
  if (a == 4 && c == 1) return run_fused<4, 1>(cluster, params, x_hat, w_hat_t);
  if (a == 1 && c == 2) return run_fused<1, 2>(cluster, params, x_hat, w_hat_t);
  if (a == 2 && c == 1) return run_fused<2, 1>(cluster, params, x_hat, w_hat_t);
  return false;
}

#ifdef STRASSENTILE_BENCH_WITH_LIBRARY
// The library's encode (X → X̂) and decode (Z → Y, bias added) of the case, on their own buffers, and the row of the
// whole-forward table.
std::string whole_forward(const Setup& setup, const Case& cs, const char* label, double dense, double products,
                          double fused, std::uint64_t& seed) {
  namespace sc = strassentile::cuda;
  const sc::StlShape shape{cs.M, cs.K, cs.N, cs.a, cs.b, cs.c, cs.r, 0};
  const std::size_t x_count = std::size_t(cs.M) * cs.K, y_count = std::size_t(cs.M) * cs.N;
  const std::size_t x_hat_count = std::size_t(cs.r) * shape.m() * shape.k(), z_count = std::size_t(cs.r) * shape.m() * shape.n();
  const Buffer x(bytes_of(x_count)), x_hat(bytes_of(x_hat_count)), z(bytes_of(z_count)), y(bytes_of(y_count));
  const Buffer enc(sizeof(float) * cs.r * cs.a * cs.b), dec(sizeof(float) * cs.a * cs.c * cs.r), bias(bytes_of(cs.N));
  fill(x, x_count, ++seed);
  fill(z, z_count, ++seed);
  fill(bias, cs.N, ++seed);
  std::vector<float> coef(std::size_t(cs.r) * cs.a * std::max(cs.b, cs.c));
  for (std::size_t i = 0; i < coef.size(); ++i) coef[i] = std::cos(0.9f * float(i));
  ok(cudaMemcpy(enc.ptr, coef.data(), sizeof(float) * cs.r * cs.a * cs.b, cudaMemcpyHostToDevice), "enc");
  ok(cudaMemcpy(dec.ptr, coef.data(), sizeof(float) * cs.a * cs.c * cs.r, cudaMemcpyHostToDevice), "dec");
  sc::EncodeParams encode;
  encode.shape = shape;
  encode.dtype = sc::DType::bf16;
  encode.x = {x.ptr, 0};
  encode.enc_x = static_cast<const float*>(enc.ptr);
  encode.x_hat = {x_hat.ptr, 0, 0};
  sc::DecodeParams decode;
  decode.shape = shape;
  decode.dtype = sc::DType::bf16;
  decode.z = {z.ptr, 0, 0};
  decode.dec = static_cast<const float*>(dec.ptr);
  decode.bias = bias.ptr;
  decode.y = {y.ptr, 0};
  const double encode_ms = setup.timer.median_ms([&] { sc::launch_encode(encode); });
  const double decode_ms = setup.timer.median_ms([&] { sc::launch_decode(decode); });
  const double unfused = encode_ms + products + decode_ms, fused_forward = encode_ms + fused;
  char row[256];
  std::snprintf(row, sizeof row, "| %dx%dx%d | %s | %.4f | %.4f | %.4f | %.4f | %.2f | %.2f |", cs.M, cs.K, cs.N, label,
                encode_ms, decode_ms, unfused, fused_forward, dense / unfused, dense / fused_forward);
  return row;
}
#endif

}  // namespace

int main() {
  const Setup setup;
  std::uint64_t seed = 11;
#ifdef STRASSENTILE_BENCH_WITH_LIBRARY
  std::vector<std::string> forwards;
#endif
  bool all_match = true;
  const Case cases[] = {
      {16384, 4096, 4096, 2, 4, 2, 6}, {16384, 4096, 4096, 2, 2, 2, 3}, {16384, 4096, 4096, 1, 4, 2, 3},
      {16384, 768, 3072, 2, 4, 2, 6},  {16384, 768, 3072, 2, 2, 2, 3},  {16384, 768, 3072, 1, 4, 2, 3},
      {65536, 384, 1536, 2, 2, 2, 3},  {65536, 384, 1536, 1, 4, 2, 3},  {999, 384, 1540, 1, 4, 4, 7},
      {800, 384, 600, 2, 4, 2, 6},  // odd numbers of p and q blocks: a cluster's second CTA past the edge
      {1000, 384, 1544, 2, 2, 2, 3}, {999, 384, 1540, 1, 4, 2, 3},  // ragged blocks for the staged kernel (r ≤ 3)
  };
  std::printf(
      "| M×K×N | format | cluster | dense ms | cuBLAS products ms | fused products+decode ms | dense / fused | "
      "products / fused | rel. error vs fp32 |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const Case& cs : cases) {
    const int m = cs.M / cs.a, k = cs.K / cs.b, n = cs.N / cs.c, r = cs.r, slots = cs.a * cs.c;
    const std::size_t w_count = std::size_t(r) * n * k, x_count = std::size_t(r) * m * k;
    const std::size_t y_count = std::size_t(cs.a) * m * cs.c * n;
    const Buffer w_t(bytes_of(w_count)), x_hat(bytes_of(x_count)), y(bytes_of(y_count)), bias(bytes_of(cs.N));
    const Buffer z_bf16(bytes_of(std::size_t(r) * m * n)), z_f32(sizeof(float) * std::size_t(r) * m * n);
    const Buffer decode(sizeof(float) * slots * r), sums(3 * sizeof(double));
    fill(w_t, w_count, ++seed);
    fill(x_hat, x_count, ++seed);
    fill(bias, cs.N, ++seed);
    std::vector<float> d_host(slots * r);
    for (std::size_t i = 0; i < d_host.size(); ++i) d_host[i] = std::sin(1.7f * float(i) + 0.3f);  // in [-1, 1]
    ok(cudaMemcpy(decode.ptr, d_host.data(), sizeof(float) * d_host.size(), cudaMemcpyHostToDevice), "decode");
    accumulate_decode::Params params;
    params.m = m, params.n = n, params.k = k, params.r = r;
    params.decode = static_cast<const float*>(decode.ptr);
    params.bias = static_cast<const bf16*>(bias.ptr);
    params.y = static_cast<bf16*>(y.ptr);
    params.ldy = cs.N;
    const auto* xh = static_cast<const bf16*>(x_hat.ptr);
    const auto* wt = static_cast<const bf16*>(w_t.ptr);
    char label[64];
    std::snprintf(label, sizeof label, "<%d,%d,%d> r=%d", cs.a, cs.b, cs.c, r);
    cublas_products(setup.handle, r, m, k, n, wt, xh, z_f32.ptr, CUDA_R_32F);  // the reference's products
    const double dense = dense_ms(setup, cs.M, cs.K, cs.N, seed);
    const double products = setup.timer.median_ms([&] {
      cublas_products(setup.handle, r, m, k, n, wt, xh, static_cast<bf16*>(z_bf16.ptr));
    });
    double best_fused = 0;
    for (const int cluster : {0, 1, 2, 3, 4, 5}) {
      ok(cudaMemset(y.ptr, 0xff, bytes_of(y_count)), "poison");
      if (!run_format(cs.a, cs.c, cluster, params, xh, wt)) {
        std::printf("| %dx%dx%d | %s | %s | | | not run (k %% 8, r > 32, or r > 3 staged) | | | |\n", cs.M, cs.K, cs.N, label,
                    kClusterNames[cluster]);
        continue;
      }
      ok(cudaDeviceSynchronize(), "fused kernel");
      ok(cudaMemset(sums.ptr, 0, 3 * sizeof(double)), "sums");
      check_against_reference<<<1024, 256>>>(static_cast<const float*>(z_f32.ptr), params.decode, params.bias,
                                              params.y, cs.a, cs.c, r, m, n, static_cast<double*>(sums.ptr));
      double host_sums[3];
      ok(cudaMemcpy(host_sums, sums.ptr, sizeof host_sums, cudaMemcpyDeviceToHost), "sums");
      const double error = std::sqrt(host_sums[0] / host_sums[1]);
      // bf16 rounds Y once: 2^-9 relative per entry at most, ~2^-10 in the Frobenius norm.
      const bool match = host_sums[2] == 0 && error <= 4e-3;
      all_match = all_match && match;
      const double fused = setup.timer.median_ms([&] { run_format(cs.a, cs.c, cluster, params, xh, wt); });
      if (best_fused == 0 || fused < best_fused) best_fused = fused;
      std::printf("| %dx%dx%d | %s | %s | %.4f | %.4f | %.4f | %.2f | %.2f | %.2e%s |\n", cs.M, cs.K, cs.N, label,
                  kClusterNames[cluster], dense, products, fused, dense / fused, products / fused, error, match ? "" : " **off**");
      std::fflush(stdout);
    }
#ifdef STRASSENTILE_BENCH_WITH_LIBRARY
    if (best_fused > 0) forwards.push_back(whole_forward(setup, cs, label, dense, products, best_fused, seed));
#endif
  }
#ifdef STRASSENTILE_BENCH_WITH_LIBRARY
  std::printf("\nThe whole forward (sums of separately timed medians, ms): encode + products + decode against encode + "
              "the fused kernel (its best cluster shape above).\n\n| M×K×N | format | encode | decode | unfused forward | "
              "fused forward | dense ÷ unfused | dense ÷ fused |\n|---|---|---|---|---|---|---|---|\n");
  for (const std::string& row : forwards) std::printf("%s\n", row.c_str());
#endif
  if (!all_match) std::fprintf(stderr, "accumulate_decode_bench: a fused Y differs from the fp32 reference\n");
  return all_match ? 0 : 1;
}
