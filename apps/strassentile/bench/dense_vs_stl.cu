// run_dense_vs_stl: see dense_vs_stl.hpp. One shape at a time: allocate, fill with random data, time each side,
// free.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>

#include "bench_util.cuh"      // benchmarks/: buffers, random fills, the L2-evicting event timer
#include "dense_vs_stl.hpp"
#include "bench_run.cuh"
#include "row_major_gemm.hpp"  // src/cuda
#include "tuned_gemm.hpp"      // src/cuda
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::bench {
namespace {

namespace sc = strassentile::cuda;
using bf16 = __nv_bfloat16;
using Gemm = sc::detail::RowMajorGemm;  // bf16 operands by default
constexpr int kTile = 4;                // <4,4,4>
constexpr int kTileElems = kTile * kTile;

std::size_t bytes_bf16(std::int64_t count) { return static_cast<std::size_t>(count) * sizeof(bf16); }

// Runs `fn` under the timer, or records why it could not.
void measure(Timing& out, const Timer& timer, const std::function<void()>& fn) {
  try {
    out.ms = timer.median_ms(fn);
    out.ok = true;
  } catch (const std::exception& e) {
    out.ok = false;
    out.why_not = e.what();
    cudaGetLastError();  // clear a non-sticky error so the next measurement gets its own chance
  }
}

// The dense layer's GEMMs, each on cuBLAS's own choice or on the tuned choice.
void run_dense(cublasHandle_t handle, cudaStream_t stream, const Gemm& g, sc::GemmChoice choice) {
  if (choice == sc::GemmChoice::tuned)
    sc::detail::run_gemm(handle, g, choice, stream);
  else
    ok(sc::detail::run_single(handle, g), "cublasGemmEx");
}

BenchRow run_shape(const LayerShape& shape, const Timer& timer, cublasHandle_t handle) {
  const std::int64_t M = shape.M, K = shape.K, N = shape.N, r = shape.rank;
  const cudaStream_t stream = timer.stream;
  BenchRow row;
  row.shape = shape;

  const sc::StlShape s = stl_layer_444(shape);
  const std::int64_t k = s.k(), n = s.n();
  const sc::DType dt = sc::DType::bf16;

  Buffer x(bytes_bf16(M * K)), w(bytes_bf16(K * N)), y(bytes_bf16(M * N)), dy(bytes_bf16(M * N)),
      dx(bytes_bf16(M * K)), dw(bytes_bf16(K * N));
  random_fill<bf16>(x.ptr, M * K, 1, 1.0f);
  random_fill<bf16>(w.ptr, K * N, 2, 1.0f);
  random_fill<bf16>(dy.ptr, M * N, 3, 1.0f);
  // STL's parameters: Ŵ and random fp32 coefficients, as a trained layer has.
  Buffer w_hat(bytes_bf16(r * k * n)), dw_hat(bytes_bf16(r * k * n));
  Buffer enc(sizeof(float) * r * kTileElems), dec(sizeof(float) * kTileElems * r);
  random_fill<bf16>(w_hat.ptr, r * k * n, 4, 1.0f);
  random_fill<float>(enc.ptr, r * kTileElems, 5, 0.25f);
  random_fill<float>(dec.ptr, kTileElems * r, 6, 0.25f);
  ok(cudaDeviceSynchronize(), "random fill");

  // ---- dense: Y = X·W; dX = dY·Wᵀ, dW = Xᵀ·dY ----
  Gemm fwd_g;
  fwd_g.rows = M, fwd_g.cols = N, fwd_g.inner = K;
  fwd_g.a = x.ptr, fwd_g.lda = K, fwd_g.b = w.ptr, fwd_g.ldb = N, fwd_g.c = y.ptr, fwd_g.ldc = N;
  Gemm dx_g;
  dx_g.rows = M, dx_g.cols = K, dx_g.inner = N;
  dx_g.a = dy.ptr, dx_g.lda = N, dx_g.b = w.ptr, dx_g.ldb = N, dx_g.trans_b = true, dx_g.c = dx.ptr, dx_g.ldc = K;
  Gemm dw_g;
  dw_g.rows = K, dw_g.cols = N, dw_g.inner = M;
  dw_g.a = x.ptr, dw_g.lda = K, dw_g.trans_a = true, dw_g.b = dy.ptr, dw_g.ldb = N, dw_g.c = dw.ptr, dw_g.ldc = N;
  double dense_fwd = 0, dense_fb = 0;
  for (const sc::GemmChoice choice : {sc::GemmChoice::cublas_default, sc::GemmChoice::tuned}) {
    const double fwd = timer.median_ms([&] { run_dense(handle, stream, fwd_g, choice); });
    const double fb = timer.median_ms([&] {
      for (const Gemm* g : {&fwd_g, &dx_g, &dw_g}) run_dense(handle, stream, *g, choice);
    });
    dense_fwd = dense_fwd == 0 ? fwd : std::min(dense_fwd, fwd);
    dense_fb = dense_fb == 0 ? fb : std::min(dense_fb, fb);
  }
  row.dense_fwd_ms = dense_fwd;
  row.dense_fwd_bwd_ms = dense_fb;

  // ---- STL: stl_forward; stl_forward + stl_backward for x and w_hat ----
  const sc::ForwardWorkspace fws = sc::forward_workspace(s, dt);
  sc::BackwardNeeds needs;
  needs.x = needs.w_hat = true;
  const std::size_t bws_bytes = sc::backward_workspace(s, dt, needs);
  Buffer fwd_ws(fws.bytes), bwd_ws(bws_bytes);

  // The layer's operands and the run's settings, which stl_forward and stl_backward both take.
  const auto set_layer = [&](auto& params, const Buffer& workspace, std::size_t workspace_bytes) {
    params.shape = s;
    params.dtype = dt;
    params.x.data = x.ptr;
    params.w_hat.data = w_hat.ptr;
    params.enc_x = static_cast<const float*>(enc.ptr);
    params.dec = static_cast<const float*>(dec.ptr);
    params.workspace = workspace.ptr;
    params.workspace_bytes = workspace_bytes;
    params.cublas = handle;
    params.stream = stream;
  };
  sc::ForwardParams fp;
  set_layer(fp, fwd_ws, fws.bytes);
  fp.y.data = y.ptr;
  sc::BackwardParams bp;
  set_layer(bp, bwd_ws, bws_bytes);
  bp.dy.data = dy.ptr;
  bp.dx.data = dx.ptr;
  bp.dw_hat.data = dw_hat.ptr;

  measure(row.stl_fwd, timer, [&] { sc::stl_forward(fp); });
  measure(row.stl_fwd_bwd, timer, [&] {
    sc::stl_forward(fp);
    sc::stl_backward(bp);
  });
  return row;
}

}  // namespace

const char* dense_description() {
  return "one dense layer on cuBLAS, bf16 in and out, fp32 compute, 32 MiB cuBLAS workspace: the faster of "
         "cublasGemmEx with CUBLAS_GEMM_DEFAULT and cuBLASLt with the fastest of its heuristic's algorithms, timed "
         "on first use (the choice STL's GEMMs get). fwd: Y = X·W; fwd+bwd: also dX = dY·Wᵀ and dW = Xᵀ·dY.";
}

const char* stl_description() {
  return "one STL layer of rank r, tile <4,4,4>, bf16 (strassentile::cuda, default kernel and GEMM choices). "
         "fwd: stl_forward (encode, r batched products, decode through its workspace); fwd+bwd: stl_forward + "
         "stl_backward with the gradients of x and w_hat.";
}

const char* timing_description() {
  return "each repetition timed alone with CUDA events after reading a buffer of max(2×L2, 64 MiB) to evict the "
         "L2; warm-up runs first; median reported. Speedup = dense ms / STL ms (above 1: STL is faster), forward "
         "against dense forward, fwd+bwd against dense fwd+bwd.";
}

BenchReport run_dense_vs_stl(const BenchOptions& options, const std::function<void(const std::string&)>& progress) {
  BenchReport report;
  report.options = options;
  BenchEnv& env = report.env;
  const std::unique_ptr<StreamBench> gpu = start_run(env, options.warmup, options.reps);
  const Timer& timer = gpu->timer;

  for_each_shape(options.shapes, report.failures, progress, [&](const LayerShape& sh) {
    report.rows.push_back(run_shape(sh, timer, gpu->handle));
    const BenchRow& r = report.rows.back();
    const auto cell = [](const Timing& t, double dense) {
      char buf[48];
      if (t.ok)
        std::snprintf(buf, sizeof buf, "%.3f ms (%.2fx)", t.ms, dense / t.ms);
      else
        std::snprintf(buf, sizeof buf, "not measured");
      return std::string(buf);
    };
    char dense[96];
    std::snprintf(dense, sizeof dense, ": dense fwd %.3f ms, fwd+bwd %.3f ms", r.dense_fwd_ms, r.dense_fwd_bwd_ms);
    return std::string(dense) + "; STL fwd " + cell(r.stl_fwd, r.dense_fwd_ms) + ", fwd+bwd " +
           cell(r.stl_fwd_bwd, r.dense_fwd_bwd_ms);
  });
  return report;
}

}  // namespace strassentile::bench
