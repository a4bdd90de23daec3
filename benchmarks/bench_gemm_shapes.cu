// bench_gemm_shapes: which part of a batched GEMM's shape makes cuBLAS slow? STL's products at <3,3,3>
// (Laderman's tile) have sides like k = n = ⌈4096/3⌉ = 1366, and ran at 203 TFLOP/s where <4,4,4>'s (k = n = 1024)
// run near 700. For each problem (r, m, k, n) this times, through the library's GEMM path (the faster of cuBLAS's
// choice and cuBLASLt's timed candidates, tuned_gemm.cpp), the problem as stl_forward lays it out and with each
// side or leading dimension rounded up to 8 or 64, and reports TFLOP/s of the *original* problem's work, so that a
// padded variant that wins is a real gain. bf16, fp32 accumulation; the L2 evicted before each; median of --reps.
//
//   bench_gemm_shapes OUT.json [--reps N] [--problems r:m:k:n,...]
#include <cuda_bf16.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_options.hpp"
#include "bench_util.cuh"
#include "row_major_gemm.hpp"  // src/cuda
#include "tuned_gemm.hpp"      // src/cuda

namespace sc = strassentile::cuda;
using namespace strassentile::bench;  // NOLINT(google-build-using-namespace)
using bf16 = __nv_bfloat16;

namespace {

std::int64_t up(std::int64_t v, std::int64_t to) { return (v + to - 1) / to * to; }

struct Variant {
  std::string name;
  std::int64_t k, n, lda, ldb, ldc;  // inner and output width run, and the leading dimensions
};

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!opts.parse(argc, argv, {"--reps", "--problems"}, "OUT.json [--reps N] [--problems r:m:k:n,...]")) return 2;
  const int reps = opts.integer("--reps", 15, 1);
  const std::string problems = opts.text("--problems", "23:5462:1366:1366,23:2731:2731:2731,24:4096:1024:1024");
  try {
    const StreamBench bench(reps);
    std::printf("%s; bf16 batched GEMMs Z[p] = X^[p] (m x k) . W^[p] (k x n); median of %d, L2 evicted before each\n",
                bench.prop.name, reps);
    std::FILE* json = std::fopen(opts.out().c_str(), "w");
    if (json == nullptr) throw std::runtime_error("cannot write " + opts.out());
    std::fprintf(json, "{\"device\": \"%s\", \"reps\": %d, \"results\": [\n", bench.prop.name, reps);
    bool first = true;
    for (const std::string& text : split(problems)) {
      const std::vector<std::int64_t> d = split_numbers(text, ':');
      if (d.size() != 4) throw std::invalid_argument("--problems wants r:m:k:n, got " + text);
      const std::int64_t r = d[0], m = d[1], k = d[2], n = d[3];
      const std::vector<Variant> variants = {
          {"as stl_forward: lda=ld8(k), W^ ldb=n, ldc=ld8(n)", k, n, up(k, 8), n, up(n, 8)},
          {"W^ rows padded: ldb=ld8(n)", k, n, up(k, 8), up(n, 8), up(n, 8)},
          {"inner k rounded to 8 (zero rows/cols)", up(k, 8), n, up(k, 8), n, up(n, 8)},
          {"inner k to 8, W^ ldb=ld8(n)", up(k, 8), n, up(k, 8), up(n, 8), up(n, 8)},
          {"width n rounded to 8", k, up(n, 8), up(k, 8), up(n, 8), up(n, 8)},
          {"k and n rounded to 8", up(k, 8), up(n, 8), up(k, 8), up(n, 8), up(n, 8)},
          {"k and n rounded to 64", up(k, 64), up(n, 64), up(k, 64), up(n, 64), up(n, 64)},
      };
      std::int64_t most_a = 0, most_b = 0, most_c = 0;
      for (const Variant& v : variants)
        most_a = std::max(most_a, m * v.lda), most_b = std::max(most_b, v.k * v.ldb),
        most_c = std::max(most_c, m * v.ldc);
      Buffer a(r * most_a * 2), b(r * most_b * 2), c(r * most_c * 2);
      random_fill<bf16>(a.ptr, r * most_a, 1, 1.0f);
      random_fill<bf16>(b.ptr, r * most_b, 2, 1.0f);
      ok(cudaDeviceSynchronize(), "fill");
      const double useful = 2.0 * r * m * k * n;
      std::printf("\nr=%lld m=%lld k=%lld n=%lld (%.1f GFLOP of useful work)\n", static_cast<long long>(r),
                  static_cast<long long>(m), static_cast<long long>(k), static_cast<long long>(n), useful / 1e9);
      for (const Variant& v : variants) {
        sc::detail::RowMajorGemm g;
        g.rows = m, g.cols = v.n, g.inner = v.k, g.batch = r;
        g.a = a.ptr, g.lda = v.lda, g.stride_a = m * v.lda;
        g.b = b.ptr, g.ldb = v.ldb, g.stride_b = v.k * v.ldb;
        g.c = c.ptr, g.ldc = v.ldc, g.stride_c = m * v.ldc;
        const double ms = bench.timer.median_ms([&] {
          if (!sc::detail::run_tuned(bench.handle, g, bench.stream))
            ok(sc::detail::run_strided_batched(bench.handle, g), "gemm");
        });
        std::printf("  %-48s k %5lld n %5lld lda %5lld ldb %5lld ldc %5lld  %8.3f ms  %6.1f TFLOP/s useful\n",
                    v.name.c_str(), static_cast<long long>(v.k), static_cast<long long>(v.n),
                    static_cast<long long>(v.lda), static_cast<long long>(v.ldb), static_cast<long long>(v.ldc), ms,
                    useful / (ms * 1e9));
        std::fprintf(json,
                     "%s{\"r\": %lld, \"m\": %lld, \"k\": %lld, \"n\": %lld, \"variant\": \"%s\", \"run_k\": %lld, "
                     "\"run_n\": %lld, \"lda\": %lld, \"ldb\": %lld, \"ldc\": %lld, \"ms\": %.4f, "
                     "\"useful_tflops\": %.1f}",
                     first ? "" : ",\n", static_cast<long long>(r), static_cast<long long>(m),
                     static_cast<long long>(k), static_cast<long long>(n), v.name.c_str(),
                     static_cast<long long>(v.k), static_cast<long long>(v.n), static_cast<long long>(v.lda),
                     static_cast<long long>(v.ldb), static_cast<long long>(v.ldc), ms, useful / (ms * 1e9));
        first = false;
      }
    }
    std::fprintf(json, "\n]}\n");
    std::fclose(json);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gemm_shapes: %s\n", e.what());
    return 1;
  }
  return 0;
}
