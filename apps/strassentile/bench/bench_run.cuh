// What a run of `strassentile bench` and of the lab's stl-lab-bench share: its GPU context, the environment it reports,
// and the loop over the shapes, which keeps going after a shape fails until the CUDA context itself is lost.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.cuh"  // benchmarks/: StreamBench, the L2-evicting timer
#include "dense_vs_stl.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::bench {

// The STL layer both benchmarks time for a shape: tile <4,4,4>, rank shape.rank (checked).
inline cuda::StlShape stl_layer_444(const LayerShape& shape) {
  cuda::StlShape s;
  s.rows = shape.M;
  s.in_features = shape.K;
  s.out_features = shape.N;
  s.a = s.b = s.c = 4;
  s.rank = shape.rank;
  cuda::validate(s);
  return s;
}

constexpr std::size_t kCublasWorkspaceBytes = 32u << 20;  // what cuBLAS recommends on Hopper

// Device 0 with a stream (blocking, like the work the benchmarks enqueue) and cuBLAS on it, and what env reports of
// them.
inline std::unique_ptr<StreamBench> start_run(BenchEnv& env, int warmup, int reps) {
  auto gpu = std::make_unique<StreamBench>(reps, warmup, cudaStreamDefault, kCublasWorkspaceBytes);
  env.device = gpu->prop.name;
  env.sm_count = gpu->prop.multiProcessorCount;
  env.l2_bytes = gpu->prop.l2CacheSize;
  cudaRuntimeGetVersion(&env.cuda_runtime);
  cudaDriverGetVersion(&env.cuda_driver);
  cublasGetVersion(gpu->handle, &env.cublas);
  env.flush_bytes = gpu->flush_bytes();
  return gpu;
}

// For every shape, run_shape(shape) measures it, appends its row and returns the rest of its progress line. A shape
// that throws is listed in `failures`; after a sticky CUDA error (the context is lost) the remaining shapes are
// skipped with that reason. `progress` gets "[i/n] MxKxN r=R" and the line.
template <class RunShape>
void for_each_shape(const std::vector<LayerShape>& shapes, std::vector<std::string>& failures,
                    const std::function<void(const std::string&)>& progress, RunShape&& run_shape) {
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const LayerShape& sh = shapes[i];
    char name[96];
    std::snprintf(name, sizeof name, "%lldx%lldx%lld r=%d", static_cast<long long>(sh.M),
                  static_cast<long long>(sh.K), static_cast<long long>(sh.N), sh.rank);
    std::string line;
    bool context_lost = false;
    try {
      line = name + run_shape(sh);
    } catch (const std::exception& e) {
      failures.push_back(std::string(name) + ": " + e.what());
      line = std::string(name) + " FAILED: " + e.what();
      const cudaError_t err = cudaDeviceSynchronize();
      if (err != cudaSuccess) {
        failures.push_back(std::string("remaining shapes skipped, CUDA context lost: ") + cudaGetErrorString(err));
        context_lost = true;
      }
    }
    if (progress) progress("[" + std::to_string(i + 1) + "/" + std::to_string(shapes.size()) + "] " + line);
    if (context_lost) return;
  }
}

}  // namespace strassentile::bench
