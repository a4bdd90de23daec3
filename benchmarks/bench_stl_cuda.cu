// bench_stl_cuda: the STL forward pass and each of its stages against dense cuBLAS, in one run, bf16.
//
//   bench_stl_cuda OUT.json [--reps N] [--warmup N]
//
// Per shape: dense GEMM (cublasGemmEx), the r products alone (one strided batched GEMM), encode alone,
// decode alone (and with bias + GELU fused), the whole unfused pipeline (stl_forward), and dense again to
// show the run-to-run spread. Each repetition is timed on its own with CUDA events after writing a buffer
// twice the L2's size, so no stage finds its inputs in cache; the median is reported. Encode and decode are
// also given as GB/s of their ideal traffic (each input read once, each output written once) and as a
// fraction of the device-to-device copy bandwidth measured at the start.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_options.hpp"
#include "bench_util.cuh"
#include "strassentile/cuda/stl_cuda.hpp"

namespace sc = strassentile::cuda;
using namespace strassentile::bench;  // NOLINT(google-build-using-namespace)

namespace {

struct Config {
  std::int64_t M, K, N;
  int rank;
};

struct Result {
  Config cfg;
  double dense_ms, dense_again_ms, batched_ms, encode_ms, decode_ms, decode_epilogue_ms, pipeline_ms;
  double encode_bytes, decode_bytes;
};

Result run_config(const Config& cfg, const Timer& timer, cublasHandle_t handle) {
  const std::int64_t M = cfg.M, K = cfg.K, N = cfg.N;
  sc::StlShape s;
  s.rows = M;
  s.in_features = K;
  s.out_features = N;
  s.a = s.b = s.c = 4;
  s.rank = cfg.rank;
  const std::int64_t r = cfg.rank, m = s.m(), k = s.k(), n = s.n();
  const sc::DType dt = sc::DType::bf16;
  const sc::ForwardWorkspace ws = sc::forward_workspace(s, dt);
  const std::size_t e = 2;  // bf16

  Buffer x(M * K * e), w(K * N * e), y(M * N * e), w_hat(r * k * n * e), bias(N * e), work(ws.bytes);
  Buffer enc(r * 16 * sizeof(float)), dec(16 * r * sizeof(float));
  random_fill<__nv_bfloat16>(x.ptr, M * K, 1, 1.0f);
  random_fill<__nv_bfloat16>(w.ptr, K * N, 2, 1.0f);
  random_fill<__nv_bfloat16>(w_hat.ptr, r * k * n, 3, 1.0f);
  random_fill<__nv_bfloat16>(bias.ptr, N, 4, 1.0f);
  random_fill<float>(enc.ptr, r * 16, 5, 0.25f);
  random_fill<float>(dec.ptr, 16 * r, 6, 0.25f);
  random_fill<__nv_bfloat16>(work.ptr, ws.bytes / e, 7, 1.0f);  // Z for decode-alone runs
  ok(cudaDeviceSynchronize(), "fill");

  const float alpha = 1.0f, beta = 0.0f;
  auto dense = [&] {  // row-major Y = X·W as column-major Yᵀ = Wᵀ·Xᵀ
    ok(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K),
                    &alpha, w.ptr, CUDA_R_16BF, static_cast<int>(N), x.ptr, CUDA_R_16BF, static_cast<int>(K), &beta,
                    y.ptr, CUDA_R_16BF, static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
       "cublasGemmEx");
  };
  void* x_hat = work.ptr;
  void* z = static_cast<char*>(work.ptr) + ws.z_offset;

  sc::EncodeParams ep;
  ep.shape = s;
  ep.dtype = dt;
  ep.x.data = x.ptr;
  ep.enc_x = static_cast<const float*>(enc.ptr);
  ep.x_hat.data = x_hat;
  ep.x_hat.ld = ws.ld_x_hat;
  ep.x_hat.stride = ws.stride_x_hat;
  ep.stream = timer.stream;

  sc::ProductsParams pp;
  pp.handle = handle;
  pp.dtype = dt;
  pp.batch = r;
  pp.m = m;
  pp.k = k;
  pp.n = n;
  pp.x_hat.data = x_hat;
  pp.x_hat.ld = ws.ld_x_hat;
  pp.x_hat.stride = ws.stride_x_hat;
  pp.w_hat.data = w_hat.ptr;
  pp.z.data = z;
  pp.z.ld = ws.ld_z;
  pp.z.stride = ws.stride_z;
  pp.stream = timer.stream;

  sc::DecodeParams dp;
  dp.shape = s;
  dp.dtype = dt;
  dp.z.data = z;
  dp.z.ld = ws.ld_z;
  dp.z.stride = ws.stride_z;
  dp.dec = static_cast<const float*>(dec.ptr);
  dp.y.data = y.ptr;
  dp.stream = timer.stream;
  sc::DecodeParams dp_epi = dp;
  dp_epi.bias = bias.ptr;
  dp_epi.activation = sc::Activation::gelu_tanh;

  sc::ForwardParams fp;
  fp.shape = s;
  fp.dtype = dt;
  fp.x.data = x.ptr;
  fp.w_hat.data = w_hat.ptr;
  fp.enc_x = static_cast<const float*>(enc.ptr);
  fp.dec = static_cast<const float*>(dec.ptr);
  fp.y.data = y.ptr;
  fp.workspace = work.ptr;
  fp.workspace_bytes = ws.bytes;
  fp.cublas = handle;
  fp.stream = timer.stream;

  Result res{};
  res.cfg = cfg;
  res.dense_ms = timer.median_ms(dense);
  res.batched_ms = timer.median_ms([&] { sc::launch_products(pp); });
  res.encode_ms = timer.median_ms([&] { sc::launch_encode(ep); });
  res.decode_ms = timer.median_ms([&] { sc::launch_decode(dp); });
  res.decode_epilogue_ms = timer.median_ms([&] { sc::launch_decode(dp_epi); });
  res.pipeline_ms = timer.median_ms([&] { sc::stl_forward(fp); });
  res.dense_again_ms = timer.median_ms(dense);
  res.encode_bytes = static_cast<double>(e) * (M * K + r * m * k);
  res.decode_bytes = static_cast<double>(e) * (r * m * n + M * N);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!opts.parse(argc, argv, {"--reps", "--warmup"}, "OUT.json [--reps N] [--warmup N]")) return 2;
  const std::string out_path = opts.out();
  const int reps = opts.integer("--reps", 30, 1), warmup = opts.integer("--warmup", 5, 0);
  try {
    cudaDeviceProp prop{};
    ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    int runtime = 0, driver = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    cudaStream_t stream;
    ok(cudaStreamCreate(&stream), "cudaStreamCreate");
    cublasHandle_t handle;
    ok(cublasCreate(&handle), "cublasCreate");
    int cublas_version = 0;
    cublasGetVersion(handle, &cublas_version);
    ok(cublasSetStream(handle, stream), "cublasSetStream");
    const std::size_t cublas_ws_bytes = 32u << 20;  // what cuBLAS recommends on Hopper
    Buffer cublas_ws(cublas_ws_bytes);
    ok(cublasSetWorkspace(handle, cublas_ws.ptr, cublas_ws_bytes), "cublasSetWorkspace");

    const L2FlushBuffer flush(prop);
    const std::size_t flush_bytes = flush.bytes;
    const Timer timer{stream, flush.buffer.ptr, flush_bytes, warmup, reps};

    const double copy_gbps = copy_bandwidth_gbps(timer);

    const std::vector<Config> configs = {
        {8192, 8192, 8192, 24},   {16384, 16384, 16384, 24}, {16384, 4096, 4096, 24}, {16384, 4096, 16384, 24},
        {8192, 4096, 4096, 24},   {8192, 4096, 11008, 24},   {8192, 11008, 4096, 24}, {16384, 4096, 4096, 48},
    };
    std::vector<Result> results;
    for (const Config& c : configs) {
      results.push_back(run_config(c, timer, handle));
      std::fprintf(stderr, "done %lldx%lldx%lld r=%d\n", static_cast<long long>(c.M), static_cast<long long>(c.K),
                   static_cast<long long>(c.N), c.rank);
    }

    FILE* f = std::fopen(out_path.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + out_path);
    std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"sm_count\": %d,\n  \"l2_bytes\": %d,\n", prop.name,
                 prop.multiProcessorCount, prop.l2CacheSize);
    std::fprintf(f, "  \"cuda_runtime\": %d,\n  \"cuda_driver\": %d,\n  \"cublas\": %d,\n", runtime, driver,
                 cublas_version);
    std::fprintf(f, "  \"dtype\": \"bf16\",\n  \"tile\": \"<4,4,4>\",\n  \"reps\": %d,\n  \"warmup\": %d,\n", reps,
                 warmup);
    std::fprintf(f,
                 "  \"timing\": \"median of reps, CUDA events per rep, L2 evicted before each by reading %zu bytes\",\n",
                 flush_bytes);
    std::fprintf(f, "  \"copy_bandwidth_GBps\": %.1f,\n  \"results\": [\n", copy_gbps);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      const double flop = 2.0 * r.cfg.M * r.cfg.K * r.cfg.N;
      const double ideal = 64.0 / r.cfg.rank;
      std::fprintf(f,
                   "    {\"M\": %lld, \"K\": %lld, \"N\": %lld, \"rank\": %d, \"flop_ratio_abc_over_r\": %.4f,\n"
                   "     \"dense_ms\": %.4f, \"dense_again_ms\": %.4f, \"dense_tflops\": %.1f,\n"
                   "     \"batched_ms\": %.4f, \"batched_speedup\": %.3f,\n"
                   "     \"encode_ms\": %.4f, \"encode_GBps\": %.1f, \"encode_fraction_of_copy\": %.3f,\n"
                   "     \"decode_ms\": %.4f, \"decode_GBps\": %.1f, \"decode_fraction_of_copy\": %.3f,\n"
                   "     \"decode_bias_gelu_ms\": %.4f,\n"
                   "     \"pipeline_ms\": %.4f, \"pipeline_speedup\": %.3f, \"stage_sum_ms\": %.4f,\n"
                   "     \"pipeline_floor_ms\": %.4f, \"pipeline_floor_speedup\": %.3f}%s\n",
                   static_cast<long long>(r.cfg.M), static_cast<long long>(r.cfg.K), static_cast<long long>(r.cfg.N),
                   r.cfg.rank, ideal, r.dense_ms, r.dense_again_ms, flop / (r.dense_ms * 1e9), r.batched_ms,
                   r.dense_ms / r.batched_ms, r.encode_ms, r.encode_bytes / (r.encode_ms * 1e6),
                   r.encode_bytes / (r.encode_ms * 1e6) / copy_gbps, r.decode_ms,
                   r.decode_bytes / (r.decode_ms * 1e6), r.decode_bytes / (r.decode_ms * 1e6) / copy_gbps,
                   r.decode_epilogue_ms, r.pipeline_ms, r.dense_ms / r.pipeline_ms,
                   r.encode_ms + r.batched_ms + r.decode_ms,
                   r.batched_ms + (r.encode_bytes + r.decode_bytes) / (copy_gbps * 1e6),
                   r.dense_ms / (r.batched_ms + (r.encode_bytes + r.decode_bytes) / (copy_gbps * 1e6)),
                   i + 1 < results.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);

    std::printf("%s, %d SMs, copy %.0f GB/s, bf16 <4,4,4>, median of %d\n", prop.name, prop.multiProcessorCount,
                copy_gbps, reps);
    std::printf("%-20s %3s %9s %7s %9s %6s %9s %6s %9s %6s %9s %6s\n", "MxKxN", "r", "dense ms", "TFLOP/s",
                "bmm ms", "x", "enc ms", "GB/s", "dec ms", "GB/s", "STL ms", "x");
    for (const Result& r : results) {
      char shape[32];
      std::snprintf(shape, sizeof shape, "%lldx%lldx%lld", static_cast<long long>(r.cfg.M),
                    static_cast<long long>(r.cfg.K), static_cast<long long>(r.cfg.N));
      std::printf("%-20s %3d %9.3f %7.0f %9.3f %6.2f %9.3f %6.0f %9.3f %6.0f %9.3f %6.2f\n", shape, r.cfg.rank,
                  r.dense_ms, 2.0 * r.cfg.M * r.cfg.K * r.cfg.N / (r.dense_ms * 1e9), r.batched_ms,
                  r.dense_ms / r.batched_ms, r.encode_ms, r.encode_bytes / (r.encode_ms * 1e6), r.decode_ms,
                  r.decode_bytes / (r.decode_ms * 1e6), r.pipeline_ms, r.dense_ms / r.pipeline_ms);
    }
    cublasDestroy(handle);
    cudaStreamDestroy(stream);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bench_stl_cuda: %s\n", ex.what());
    return 1;
  }
  return 0;
}
