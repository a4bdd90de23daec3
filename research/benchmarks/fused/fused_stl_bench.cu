// Checks and times the fused STL forward (fused_stl_forward.cuh) and the whole forward a caller runs (the activation
// encode, stl_encode.cuh, then the fused kernel; Ŵ is a parameter, encoded once) against cuBLAS: the dense bf16 GEMM
// it replaces and the batched products alone (the unfused pipeline's GEMM stage, without its encode and decode).
//
// Reference: X̂ from the encode kernel is compared with a one-thread-per-entry encode; Z = X̂·Ŵ by cuBLAS in fp32
// (bf16 inputs), decoded in double on the GPU; error = ‖Y − Y_ref‖_F / ‖Y_ref‖_F with Y poisoned with NaN before the
// fused run. Timing: CUDA events around each launch, 256 MiB written between launches to flush the L2, warm-up
// first, median of the timed launches.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "fused_stl_forward.cuh"
#include "stl_encode.cuh"

namespace {

void check_cuda(cudaError_t status, char const* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

void check_cublas(cublasStatus_t status, char const* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cuBLAS error %d in %s\n", int(status), what);
    std::exit(1);
  }
}

template <class T>
T* device_alloc(size_t count) {
  T* ptr = nullptr;
  check_cuda(cudaMalloc(&ptr, count * sizeof(T)), "cudaMalloc");
  return ptr;
}

__global__ void fill_uniform(__nv_bfloat16* out, size_t count, uint64_t seed) {
  for (size_t t = blockIdx.x * size_t(blockDim.x) + threadIdx.x; t < count; t += size_t(gridDim.x) * blockDim.x) {
    uint64_t h = (t + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    out[t] = __float2bfloat16(float(h >> 40) / float(1 << 24) * 2.f - 1.f);
  }
}

// Y_ref[i·A + u, j·C + w] = Σ_p D[u·C + w, p] · Z[p, i, j], in double.
__global__ void decode_reference(float const* z, double const* dec, double* y, int a, int c, int r, int m, int n) {
  size_t const positions = size_t(m) * n;
  for (size_t t = blockIdx.x * size_t(blockDim.x) + threadIdx.x; t < positions; t += size_t(gridDim.x) * blockDim.x) {
    int const i = int(t / n);
    int const j = int(t % n);
    for (int q = 0; q < a * c; ++q) {
      double sum = 0;
      for (int p = 0; p < r; ++p) sum += dec[q * r + p] * double(z[size_t(p) * positions + t]);
      y[(size_t(i) * a + q / c) * (size_t(n) * c) + size_t(j) * c + q % c] = sum;
    }
  }
}

// X̂[p, i, κ] = Σ_q E_X[p, q] · X[i·A + q / B, κ·B + q % B], one thread per entry, rounded to bf16 once.
__global__ void encode_reference(__nv_bfloat16 const* x, float const* enc, __nv_bfloat16* x_hat, int a, int b, int r,
                                 int m, int k) {
  size_t const count = size_t(r) * m * k;
  for (size_t t = blockIdx.x * size_t(blockDim.x) + threadIdx.x; t < count; t += size_t(gridDim.x) * blockDim.x) {
    int const p = int(t / (size_t(m) * k));
    int const i = int(t / k % m);
    int const kappa = int(t % k);
    double sum = 0;
    for (int q = 0; q < a * b; ++q)
      sum += double(enc[p * a * b + q]) *
             double(__bfloat162float(x[(size_t(i) * a + q / b) * (size_t(k) * b) + size_t(kappa) * b + q % b]));
    x_hat[t] = __float2bfloat16(float(sum));
  }
}

template <class Reference>
__global__ void error_sums(__nv_bfloat16 const* y, Reference const* ref, size_t count, double* sums) {
  double diff = 0, norm = 0;
  for (size_t t = blockIdx.x * size_t(blockDim.x) + threadIdx.x; t < count; t += size_t(gridDim.x) * blockDim.x) {
    double const d = double(__bfloat162float(y[t])) - double(ref[t]);
    diff += d * d;  // a NaN left in Y makes the error NaN
    norm += double(ref[t]) * double(ref[t]);
  }
  atomicAdd(&sums[0], diff);
  atomicAdd(&sums[1], norm);
}

struct Timer {
  cudaStream_t stream;
  void* flush;
  size_t flush_bytes;
  int warmup = 3;
  int reps = 25;

  template <class F>
  double median_ms(F&& launch) const {
    cudaEvent_t start, stop;
    check_cuda(cudaEventCreate(&start), "event");
    check_cuda(cudaEventCreate(&stop), "event");
    std::vector<float> times;
    for (int rep = 0; rep < warmup + reps; ++rep) {
      check_cuda(cudaMemsetAsync(flush, rep & 0xff, flush_bytes, stream), "flush");
      check_cuda(cudaEventRecord(start, stream), "record");
      launch();
      check_cuda(cudaEventRecord(stop, stream), "record");
      check_cuda(cudaEventSynchronize(stop), "sync");
      float ms = 0;
      check_cuda(cudaEventElapsedTime(&ms, start, stop), "elapsed");
      if (rep >= warmup) times.push_back(ms);
    }
    check_cuda(cudaGetLastError(), "timed launch");
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }
};

struct Row {
  std::string shape, format;
  double fused_ms, dense_ms, products_ms, error, encode_error;
  double encode_ms, forward_ms;  // the activation encode alone; encode then fused kernel (the whole forward)
  // Breakdown of the fused kernel: its products alone (into shared memory, cluster handshakes kept), its decode
  // alone, and the whole kernel and its products alone with one cluster per block (a grid of every block instead of
  // the resident clusters).
  double fused_products_ms, fused_decode_ms, one_block_per_cluster_ms, products_one_block_per_cluster_ms;
};

// Z[p] = X̂[p]·Ŵ[p], all row-major, as the column-major product Zᵀ = Ŵᵀ·X̂ᵀ.
void batched_products(cublasHandle_t handle, __nv_bfloat16 const* x_hat, __nv_bfloat16 const* w_hat, void* z,
                      cudaDataType z_type, int r, int m, int k, int n) {
  float const one = 1.f, zero = 0.f;
  check_cublas(cublasGemmStridedBatchedEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, w_hat, CUDA_R_16BF, n,
                                          int64_t(k) * n, x_hat, CUDA_R_16BF, k, int64_t(m) * k, &zero, z, z_type, n,
                                          int64_t(m) * n, r, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "batched products");
}

template <int A, int B, int C, int R, int PPC>
Row run_case(cublasHandle_t handle, Timer const& timer, int sm_count, int M, int K, int N, double dense_ms) {
  int const m = M / A, k = K / B, n = N / C;
  if (M % A || K % B || N % C || k % 8 || n % 8) {
    std::fprintf(stderr, "shape %dx%dx%d does not divide into <%d,%d,%d> with k, n multiples of 8\n", M, K, N, A, B,
                 C);
    std::exit(1);
  }
  size_t const x_count = size_t(R) * m * k, w_count = size_t(R) * k * n, z_count = size_t(R) * m * n;
  size_t const y_count = size_t(M) * N;
  auto* x = device_alloc<__nv_bfloat16>(size_t(M) * K);
  auto* x_hat = device_alloc<__nv_bfloat16>(x_count);
  auto* w_hat = device_alloc<__nv_bfloat16>(w_count);
  auto* y = device_alloc<__nv_bfloat16>(y_count);
  fill_uniform<<<1024, 256, 0, timer.stream>>>(x, size_t(M) * K, 11);
  fill_uniform<<<1024, 256, 0, timer.stream>>>(w_hat, w_count, 22);

  std::mt19937 rng(33);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<float> dec(A * C * R), enc(R * A * B);
  for (float& d : dec) d = __bfloat162float(__float2bfloat16(uniform(rng)));  // D and E_X are bf16 parameters
  for (float& e : enc) e = __bfloat162float(__float2bfloat16(uniform(rng) * 0.5f));
  std::vector<double> dec_double(dec.begin(), dec.end());

  // Encode, checked against the one-thread-per-entry encode.
  auto* sums = device_alloc<double>(2);
  auto* enc_device = device_alloc<float>(enc.size());
  auto* x_hat_ref = device_alloc<__nv_bfloat16>(x_count);
  check_cuda(cudaMemcpy(enc_device, enc.data(), enc.size() * sizeof(float), cudaMemcpyHostToDevice), "E_X");
  encode_reference<<<2048, 256, 0, timer.stream>>>(x, enc_device, x_hat_ref, A, B, R, m, k);
  check_cuda(cudaMemsetAsync(x_hat, 0xff, x_count * sizeof(__nv_bfloat16), timer.stream), "poison");
  check_cuda(fused::launch_stl_encode<A, B, R>(x, enc.data(), x_hat, m, k, sm_count, timer.stream), "encode");
  check_cuda(cudaMemsetAsync(sums, 0, 2 * sizeof(double), timer.stream), "sums");
  error_sums<<<1024, 256, 0, timer.stream>>>(x_hat, x_hat_ref, x_count, sums);
  double host_sums[2];
  check_cuda(cudaMemcpy(host_sums, sums, sizeof(host_sums), cudaMemcpyDeviceToHost), "sums");
  double const encode_error = std::sqrt(host_sums[0] / host_sums[1]);
  cudaFree(x_hat_ref);
  cudaFree(enc_device);

  // Reference.
  auto* z_ref = device_alloc<float>(z_count);
  auto* y_ref = device_alloc<double>(y_count);
  auto* dec_device = device_alloc<double>(dec.size());
  check_cuda(cudaMemcpy(dec_device, dec_double.data(), dec.size() * sizeof(double), cudaMemcpyHostToDevice), "D");
  batched_products(handle, x_hat, w_hat, z_ref, CUDA_R_32F, R, m, k, n);
  decode_reference<<<2048, 256, 0, timer.stream>>>(z_ref, dec_device, y_ref, A, C, R, m, n);

  // Fused, checked.
  check_cuda(cudaMemsetAsync(y, 0xff, y_count * sizeof(__nv_bfloat16), timer.stream), "poison");
  check_cuda(fused::launch_fused_stl_forward<A, C, R, PPC>(x_hat, w_hat, dec.data(), nullptr, y, m, k, n, timer.stream),
             "fused launch");
  check_cuda(cudaStreamSynchronize(timer.stream), "fused run");
  check_cuda(cudaMemsetAsync(sums, 0, 2 * sizeof(double), timer.stream), "sums");
  error_sums<<<1024, 256, 0, timer.stream>>>(y, y_ref, y_count, sums);
  check_cuda(cudaMemcpy(host_sums, sums, sizeof(host_sums), cudaMemcpyDeviceToHost), "sums");
  double const error = std::sqrt(host_sums[0] / host_sums[1]);
  cudaFree(z_ref);
  cudaFree(y_ref);

  // Timed.
  auto* z = device_alloc<__nv_bfloat16>(z_count);
  double const fused_ms = timer.median_ms([&] {
    fused::launch_fused_stl_forward<A, C, R, PPC>(x_hat, w_hat, dec.data(), nullptr, y, m, k, n, timer.stream);
  });
  double const products_ms =
      timer.median_ms([&] { batched_products(handle, x_hat, w_hat, z, CUDA_R_16BF, R, m, k, n); });
  double const fused_products_ms = timer.median_ms([&] {
    fused::launch_fused_stl_forward<A, C, R, PPC>(x_hat, w_hat, dec.data(), nullptr, y, m, k, n, timer.stream,
                                                  fused::Parts::products);
  });
  double const fused_decode_ms = timer.median_ms([&] {
    fused::launch_fused_stl_forward<A, C, R, PPC>(x_hat, w_hat, dec.data(), nullptr, y, m, k, n, timer.stream,
                                                  fused::Parts::decode);
  });
  int const blocks = ((m + fused::kBlock - 1) / fused::kBlock) * ((n + fused::kBlock - 1) / fused::kBlock);
  double const one_block_per_cluster_ms = timer.median_ms([&] {
    fused::launch_fused_stl_forward<A, C, R, PPC>(x_hat, w_hat, dec.data(), nullptr, y, m, k, n, timer.stream,
                                                  fused::Parts::all, 0, blocks);
  });
  double const products_one_block_per_cluster_ms = timer.median_ms([&] {
    fused::launch_fused_stl_forward<A, C, R, PPC>(x_hat, w_hat, dec.data(), nullptr, y, m, k, n, timer.stream,
                                                  fused::Parts::products, 0, blocks);
  });
  double const encode_ms = timer.median_ms(
      [&] { fused::launch_stl_encode<A, B, R>(x, enc.data(), x_hat, m, k, sm_count, timer.stream); });
  double const forward_ms = timer.median_ms([&] {
    fused::launch_stl_encode<A, B, R>(x, enc.data(), x_hat, m, k, sm_count, timer.stream);
    fused::launch_fused_stl_forward<A, C, R, PPC>(x_hat, w_hat, dec.data(), nullptr, y, m, k, n, timer.stream);
  });
  cudaFree(z);
  cudaFree(x);
  cudaFree(x_hat);
  cudaFree(w_hat);
  cudaFree(y);
  cudaFree(dec_device);
  cudaFree(sums);

  char shape[64], format[32];
  std::snprintf(shape, sizeof(shape), "%dx%dx%d", M, K, N);
  std::snprintf(format, sizeof(format), "<%d,%d,%d> r=%d", A, B, C, R);
  return {shape,     format,         fused_ms,          dense_ms,        products_ms,
          error,     encode_error,   encode_ms,         forward_ms,      fused_products_ms,
          fused_decode_ms, one_block_per_cluster_ms, products_one_block_per_cluster_ms};
}

double dense_ms(cublasHandle_t handle, Timer const& timer, int M, int K, int N) {
  auto* x = device_alloc<__nv_bfloat16>(size_t(M) * K);
  auto* w = device_alloc<__nv_bfloat16>(size_t(K) * N);
  auto* y = device_alloc<__nv_bfloat16>(size_t(M) * N);
  fill_uniform<<<1024, 256, 0, timer.stream>>>(x, size_t(M) * K, 44);
  fill_uniform<<<1024, 256, 0, timer.stream>>>(w, size_t(K) * N, 55);
  float const one = 1.f, zero = 0.f;
  double const ms = timer.median_ms([&] {
    check_cublas(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, w, CUDA_R_16BF, N, x, CUDA_R_16BF, K,
                              &zero, y, CUDA_R_16BF, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "dense");
  });
  cudaFree(x);
  cudaFree(w);
  cudaFree(y);
  return ms;
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, 0), "device properties");
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::time_t now = std::time(nullptr);
  std::printf("GPU %s, %d SMs, CUDA driver %d, runtime %d, %s", prop.name, prop.multiProcessorCount, driver, runtime,
              std::ctime(&now));

  cudaStream_t stream;
  check_cuda(cudaStreamCreate(&stream), "stream");
  cublasHandle_t handle;
  check_cublas(cublasCreate(&handle), "cublasCreate");
  check_cublas(cublasSetStream(handle, stream), "cublasSetStream");
  size_t const flush_bytes = size_t(256) << 20;
  Timer timer{stream, device_alloc<char>(flush_bytes), flush_bytes};

  std::printf("shared memory per CTA: %d bytes (<4,4,4> r=24), %d bytes (<4,2,4> r=12)\n",
              fused::shared_bytes<4, 4, 24, 3>(), fused::shared_bytes<4, 4, 12, 3>());

  int clusters24 = 0, clusters12 = 0;
  check_cuda(fused::max_active_clusters<4, 4, 24, 3>(&clusters24), "occupancy");
  check_cuda(fused::max_active_clusters<4, 4, 12, 3>(&clusters12), "occupancy");
  std::printf("clusters resident at once: %d of 8 CTAs (<4,4,4> r=24), %d of 4 CTAs (<4,2,4> r=12)\n", clusters24,
              clusters12);

  struct Shape {
    int M, K, N;
  };
  std::vector<Shape> shapes{{16384, 4096, 4096}, {8192, 4096, 11008}, {16384, 768, 3072}, {65536, 384, 1536}};
  // FUSED_FIRST_SHAPE_ONLY=1: the first shape alone, for a profiler run.
  char const* first_only = std::getenv("FUSED_FIRST_SHAPE_ONLY");
  if (first_only != nullptr && std::string(first_only) == "1") shapes.resize(1);
  std::vector<Row> rows;
  auto print_breakdown = [](Row const& row) {
    std::printf("breakdown | %s | %s | %.4f | %.4f | %.4f | %.4f | %.4f |\n", row.shape.c_str(), row.format.c_str(),
                row.fused_ms, row.fused_products_ms, row.fused_decode_ms, row.one_block_per_cluster_ms,
                row.products_one_block_per_cluster_ms);
    std::fflush(stdout);
  };
  std::printf("breakdown | M×K×N | format | fused ms | its products alone | its decode alone | "
              "one block per cluster | its products alone, one block per cluster |\n");
  for (Shape s : shapes) {
    double const dense = dense_ms(handle, timer, s.M, s.K, s.N);
    rows.push_back(run_case<4, 4, 4, 24, 3>(handle, timer, prop.multiProcessorCount, s.M, s.K, s.N, dense));
    print_breakdown(rows.back());
    rows.push_back(run_case<4, 2, 4, 12, 3>(handle, timer, prop.multiProcessorCount, s.M, s.K, s.N, dense));
    print_breakdown(rows.back());
  }

  std::printf("\n| M×K×N | format | dense ms | products-only ms | fused ms | encode ms | encode + fused ms | "
              "dense/fused | dense/(encode + fused) | rel. error Y | rel. error X̂ |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (Row const& row : rows) {
    std::printf("| %s | %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.2f | %.2f | %.2e | %.2e |\n", row.shape.c_str(),
                row.format.c_str(), row.dense_ms, row.products_ms, row.fused_ms, row.encode_ms, row.forward_ms,
                row.dense_ms / row.fused_ms, row.dense_ms / row.forward_ms, row.error, row.encode_error);
  }
  return 0;
}
