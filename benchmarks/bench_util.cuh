// Shared by the benchmarks: error checks, device buffers, random fills and the event timer.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace strassentile::bench {

inline void ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
inline void ok(cublasStatus_t e, const char* what) {
  if (e != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cublasGetStatusString(e));
}

struct Buffer {
  void* ptr = nullptr;
  explicit Buffer(std::size_t bytes) { ok(cudaMalloc(&ptr, bytes), "cudaMalloc"); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { cudaFree(ptr); }
};

// Uniform values in [-scale, scale] from a hash of the index: random data, never zeros.
template <class T>
__global__ void fill_random(T* out, std::size_t count, std::uint64_t seed, float scale) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    std::uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    out[i] = static_cast<T>((2.0f * u - 1.0f) * scale);
  }
}

template <class T>
inline void random_fill(void* p, std::size_t count, std::uint64_t seed, float scale) {
  fill_random<T><<<4096, 256>>>(static_cast<T*>(p), count, seed, scale);
  ok(cudaGetLastError(), "fill_random");
}

// Evicts the L2 by reading `words` 16-byte words: the lines it leaves behind are clean, so the timed work does
// not pay for writing back the flush's own data (a memset flush leaves up to one L2 of dirty lines, which cost a
// bandwidth-bound kernel of a few hundred MB up to ~20% of its time).
template <class Word>  // a template, so that every translation unit may include this header
__global__ void read_to_evict(const Word* data, std::size_t words, unsigned* sink) {
  unsigned acc = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < words;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const Word v = data[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;  // data-dependent store: the loads cannot be dropped
}

enum class Flush { read, write };

// The buffer a Timer evicts the L2 with: max(2 × L2, 64 MiB), zeroed once (its values never matter).
struct L2FlushBuffer {
  std::size_t bytes;
  Buffer buffer;
  explicit L2FlushBuffer(const cudaDeviceProp& prop)
      : bytes(std::max<std::size_t>(2 * static_cast<std::size_t>(prop.l2CacheSize), 64u << 20)), buffer(bytes) {
    ok(cudaMemset(buffer.ptr, 0, bytes), "memset");
  }
};

struct Timer {
  cudaStream_t stream;
  void* flush;
  std::size_t flush_bytes;
  int warmup, reps;
  Flush mode = Flush::read;

  void evict_l2(int rep) const {
    if (mode == Flush::write) {
      ok(cudaMemsetAsync(flush, rep & 0xFF, flush_bytes, stream), "flush L2");
      return;
    }
    // The last 16 bytes of the buffer are the sink; they are never read.
    auto* words = static_cast<const uint4*>(flush);
    read_to_evict<<<1024, 256, 0, stream>>>(words, flush_bytes / 16 - 1,
                                            static_cast<unsigned*>(flush) + (flush_bytes / 16 - 1) * 4);
    ok(cudaGetLastError(), "flush L2");
  }

  // Median milliseconds of fn over `reps` runs, each after evicting the L2.
  double median_ms(const std::function<void()>& fn) const {
    for (int i = 0; i < warmup; ++i) fn();
    std::vector<cudaEvent_t> ev(2 * reps);
    for (auto& e : ev) ok(cudaEventCreate(&e), "cudaEventCreate");
    for (int i = 0; i < reps; ++i) {
      evict_l2(i);
      ok(cudaEventRecord(ev[2 * i], stream), "cudaEventRecord");
      fn();
      ok(cudaEventRecord(ev[2 * i + 1], stream), "cudaEventRecord");
    }
    ok(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    ok(cudaGetLastError(), "timed work");
    std::vector<float> ms(reps);
    for (int i = 0; i < reps; ++i) ok(cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]), "elapsed");
    for (auto& e : ev) cudaEventDestroy(e);
    std::sort(ms.begin(), ms.end());
    return reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
  }
};

// What a single-stream benchmark of GEMMs and the STL pipeline sets up: device 0's properties, a stream (non-blocking
// unless `stream_flags` says otherwise), a cuBLAS handle on it (with a workspace of `cublas_workspace` bytes where
// that is not 0), and a timer that evicts the L2 before each run.
struct StreamBench {
  cudaDeviceProp prop{};
  cudaStream_t stream = nullptr;
  cublasHandle_t handle = nullptr;
  explicit StreamBench(int reps, int warmup = 3, unsigned stream_flags = cudaStreamNonBlocking,
                       std::size_t cublas_workspace = 0)
      : prop(properties()), flush(prop) {
    ok(cudaStreamCreateWithFlags(&stream, stream_flags), "cudaStreamCreate");
    ok(cublasCreate(&handle), "cublasCreate");
    ok(cublasSetStream(handle, stream), "cublasSetStream");
    if (cublas_workspace > 0) {
      cublas_ws = std::make_unique<Buffer>(cublas_workspace);
      ok(cublasSetWorkspace(handle, cublas_ws->ptr, cublas_workspace), "cublasSetWorkspace");
    }
    timer = Timer{stream, flush.buffer.ptr, flush.bytes, warmup, reps};
  }
  StreamBench(const StreamBench&) = delete;
  StreamBench& operator=(const StreamBench&) = delete;
  ~StreamBench() {
    cublasDestroy(handle);
    cudaStreamDestroy(stream);
  }

 private:
  static cudaDeviceProp properties() {
    int devices = 0;
    ok(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    if (devices == 0) throw std::runtime_error("no CUDA device");
    cudaDeviceProp p{};
    ok(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
    return p;
  }
  L2FlushBuffer flush;
  std::unique_ptr<Buffer> cublas_ws;  // outlives the handle that uses it: destroyed after ~StreamBench's body

 public:
  Timer timer{};
  std::size_t flush_bytes() const { return flush.bytes; }
};

// Device-to-device copy bandwidth, counting bytes read plus written, of a copy that moves `traffic` bytes in
// all (1 GiB by default): the ceiling for encode and decode. Compare a kernel with a copy of its own traffic,
// since the fixed costs (launch, tail, the L2 state) weigh more on small transfers.
inline double copy_bandwidth_gbps(const Timer& timer, std::size_t traffic = std::size_t{2} << 30) {
  const std::size_t bytes = traffic / 2 / 256 * 256;
  Buffer a(bytes), b(bytes);
  ok(cudaMemset(a.ptr, 1, bytes), "memset");
  const double ms = timer.median_ms(
      [&] { ok(cudaMemcpyAsync(b.ptr, a.ptr, bytes, cudaMemcpyDeviceToDevice, timer.stream), "copy"); });
  return 2.0 * static_cast<double>(bytes) / (ms * 1e6);
}

}  // namespace strassentile::bench
