// bench_products_algos: is there a faster cuBLAS kernel for STL's r products than the one
// cublasGemmStridedBatchedEx picks? For each shape it times dense cublasGemmEx, the batched call that
// src/cuda/products.cpp makes (CUBLAS_GEMM_DEFAULT), and every algorithm cuBLASLt's heuristic offers for the same
// strided batched problem (up to 32, each with a 64 MiB workspace). bf16 in and out, fp32 accumulation; the L2 is
// evicted before each timing; median of the reps.
//
//   bench_products_algos [--reps N]
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.cuh"

using namespace strassentile::bench;  // NOLINT(google-build-using-namespace)
using bf16 = __nv_bfloat16;

namespace {

void lt_ok(cublasStatus_t e, const char* what) { ok(e, what); }

struct Problem {
  std::int64_t M, K, N;
  int rank;
};

// Column-major view of the row-major product: Zᵀ (n×m) = Ŵᵀ (n×k) · X̂ᵀ (k×m), batched over r.
void run_problem(const Problem& pr, const Timer& timer, cublasHandle_t handle, cublasLtHandle_t lt, int max_algos) {
  const std::int64_t m = pr.M / 4, k = pr.K / 4, n = pr.N / 4, r = pr.rank;
  Buffer x(pr.M * pr.K * 2), w(pr.K * pr.N * 2), y(pr.M * pr.N * 2);
  Buffer xh(r * m * k * 2), wh(r * k * n * 2), z(r * m * n * 2);
  const std::size_t workspace_bytes = 64u << 20;
  Buffer workspace(workspace_bytes);
  random_fill<bf16>(x.ptr, pr.M * pr.K, 1, 1.0f);
  random_fill<bf16>(w.ptr, pr.K * pr.N, 2, 1.0f);
  random_fill<bf16>(xh.ptr, r * m * k, 3, 1.0f);
  random_fill<bf16>(wh.ptr, r * k * n, 4, 1.0f);
  ok(cudaDeviceSynchronize(), "fill");
  const float alpha = 1.0f, beta = 0.0f;

  const double dense_ms = timer.median_ms([&] {
    ok(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(pr.N), static_cast<int>(pr.M),
                    static_cast<int>(pr.K), &alpha, w.ptr, CUDA_R_16BF, static_cast<int>(pr.N), x.ptr, CUDA_R_16BF,
                    static_cast<int>(pr.K), &beta, y.ptr, CUDA_R_16BF, static_cast<int>(pr.N), CUBLAS_COMPUTE_32F,
                    CUBLAS_GEMM_DEFAULT),
       "dense");
  });
  const double batched_ms = timer.median_ms([&] {
    ok(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                  static_cast<int>(k), &alpha, wh.ptr, CUDA_R_16BF, static_cast<int>(n), k * n, xh.ptr,
                                  CUDA_R_16BF, static_cast<int>(k), m * k, &beta, z.ptr, CUDA_R_16BF,
                                  static_cast<int>(n), m * n, static_cast<int>(r), CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT),
       "batched");
  });
  const double ideal = 64.0 / r;
  std::printf("%lldx%lldx%lld r=%d (products %d x %lldx%lldx%lld): dense %.3f ms; batched default %.3f ms = %.2fx "
              "(ideal %.2fx)\n",
              static_cast<long long>(pr.M), static_cast<long long>(pr.K), static_cast<long long>(pr.N), pr.rank,
              pr.rank, static_cast<long long>(m), static_cast<long long>(k), static_cast<long long>(n), dense_ms,
              batched_ms, dense_ms / batched_ms, ideal);

  cublasLtMatmulDesc_t op;
  lt_ok(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
  cublasLtMatrixLayout_t la, lb, lc;
  lt_ok(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, n, k, n), "layout a");
  lt_ok(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, m, k), "layout b");
  lt_ok(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, n, m, n), "layout c");
  const int batch = pr.rank;
  const std::int64_t sa = k * n, sb = m * k, sc = m * n;
  for (auto [layout, stride] : {std::pair{la, sa}, std::pair{lb, sb}, std::pair{lc, sc}}) {
    lt_ok(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch), "batch");
    lt_ok(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
          "stride");
  }
  cublasLtMatmulPreference_t pref;
  lt_ok(cublasLtMatmulPreferenceCreate(&pref), "pref");
  lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                             sizeof workspace_bytes),
        "workspace");
  std::vector<cublasLtMatmulHeuristicResult_t> found(max_algos);
  int returned = 0;
  lt_ok(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, max_algos, found.data(), &returned), "heuristic");
  double best = 1e30;
  int best_index = -1;
  for (int a = 0; a < returned; ++a) {
    if (found[a].state != CUBLAS_STATUS_SUCCESS) continue;
    cudaStream_t stream = timer.stream;
    const double ms = timer.median_ms([&] {
      lt_ok(cublasLtMatmul(lt, op, &alpha, wh.ptr, la, xh.ptr, lb, &beta, z.ptr, lc, z.ptr, lc, &found[a].algo,
                           workspace.ptr, workspace_bytes, stream),
            "cublasLtMatmul");
    });
    std::printf("  lt algo %2d (heuristic rank; workspace %6zu KiB, waves %.2f): %.3f ms = %.2fx\n", a,
                found[a].workspaceSize / 1024, found[a].wavesCount, ms, dense_ms / ms);
    if (ms < best) best = ms, best_index = a;
  }
  if (best_index >= 0)
    std::printf("  best lt algo %d: %.3f ms = %.2fx (default batched %.2fx, heuristic's first %s)\n", best_index, best,
                dense_ms / best, dense_ms / batched_ms, best_index == 0 ? "is the best" : "is not the best");
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(op);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20;
  if (argc == 3 && std::string(argv[1]) == "--reps") reps = std::max(1, std::atoi(argv[2]));
  try {
    cudaDeviceProp prop{};
    ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    cudaStream_t stream;
    ok(cudaStreamCreate(&stream), "cudaStreamCreate");
    const L2FlushBuffer flush(prop);
    const Timer timer{stream, flush.buffer.ptr, flush.bytes, 3, reps};
    cublasHandle_t handle;
    ok(cublasCreate(&handle), "cublasCreate");
    ok(cublasSetStream(handle, stream), "cublasSetStream");
    cublasLtHandle_t lt;
    ok(cublasLtCreate(&lt), "cublasLtCreate");
    std::printf("%s; bf16, fp32 accumulation; median of %d, L2 evicted before each\n", prop.name, reps);
    const Problem problems[] = {{16384, 4096, 4096, 24}, {8192, 4096, 4096, 24}, {8192, 2048, 2048, 24},
                                {8192, 8192, 8192, 24},  {16384, 4096, 4096, 48}, {16384, 16384, 16384, 24}};
    for (const Problem& pr : problems) run_problem(pr, timer, handle, lt, 24);
    cublasLtDestroy(lt);
    cublasDestroy(handle);
    cudaStreamDestroy(stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_products_algos: %s\n", e.what());
    return 1;
  }
  return 0;
}
