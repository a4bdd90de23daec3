// A 2:4 structured-sparse linear layer on cuSPARSELt, for stl-lab-bench (stl_compare.cu): bf16 storage, fp32
// accumulation, row-major, Y = X·W and dX = dY·Wᵀ with W (K×N) pruned to 2:4 once, at construction.
//
// The header needs no cuSPARSELt header (the handles live behind a pointer), so code that only times the
// layer compiles without it. Every failing cuSPARSELt or CUDA call throws std::runtime_error naming the call.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>

namespace strassentile::bench {

class Sparse24Linear {
 public:
  // w: the dense weight, K×N row-major bf16 on the device (read only). It is transposed to N×K (the layout of
  // torch's Linear.weight, whose rows cuSPARSELt prunes along K), pruned with CUSPARSELT_PRUNE_SPMMA_TILE
  // (two of every four in each row *and* column of each 4×4 block, so the transpose is 2:4 as well), and
  // compressed. cuSPARSELt then times its kernel configurations for both products on x (M×K) and dy (M×N),
  // and keeps the fastest. Synchronises `stream`.
  Sparse24Linear(std::int64_t rows, std::int64_t in_features, std::int64_t out_features, const void* w,
                 const void* x, const void* dy, cudaStream_t stream);
  ~Sparse24Linear();
  Sparse24Linear(const Sparse24Linear&) = delete;
  Sparse24Linear& operator=(const Sparse24Linear&) = delete;

  // Y (M×N) = X (M×K) · W24, enqueued on the stream given at construction.
  void forward(const void* x, void* y) const;

  // dX (M×K) = dY (M×N) · W24ᵀ with the same pruned weights. Available when a transposed sparse product could
  // be set up; otherwise backward_method() says why not.
  bool has_backward() const;
  void backward_input(const void* dy, void* dx) const;
  const std::string& backward_method() const;

  // The pruned weights, dense, K×N row-major bf16 on the device: for checking results against cuBLAS.
  const void* pruned_weight() const;

  // cuSPARSELt's version (major·1000 + minor·100 + patch) of the library loaded at run time.
  int library_version() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strassentile::bench
