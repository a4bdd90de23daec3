// Internal: row-major (batched) GEMMs on cuBLASLt with the algorithm chosen by timing.
//
// cuBLAS's default choice for STL's r products was measured 6–19% slower than the fastest of the algorithms its
// own heuristic offers (bench_products_algos, H200: 24 × 4096×4096×4096 5.49 → 4.63 ms,
// 24 × 4096×1024×1024 0.282 → 0.266 ms). So the first call for a problem times each offered algorithm on the
// caller's stream (a few runs each), together with cuBLAS's own choice, and keeps the fastest for that problem
// and device; later calls go straight to it. Like cudnn.benchmark, the choice can differ between processes, and
// so can the last bits of results. While the stream is being captured into a CUDA graph nothing is timed: an
// untuned problem runs on cuBLAS's own choice.
#pragma once

#include <cuda_runtime_api.h>

#include "check.hpp"
#include "row_major_gemm.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

// Runs g on `stream` with the tuned choice and returns true; returns false, with nothing launched, where this
// path does not apply (operands other than bf16/fp16, a null handle, or an untuned problem during graph capture or
// with g.beta != 0, whose timing runs would add into C several times), so that the caller runs cuBLAS itself. A
// problem tuned at beta 0 (the key leaves beta out) runs its choice at any beta. `handle` (host pointer mode) must
// already be on `stream`.
bool run_tuned(cublasHandle_t handle, const RowMajorGemm& g, cudaStream_t stream);

// g with the GEMM choice: GemmChoice::tuned where run_tuned applies, else cublasGemmStridedBatchedEx's default.
inline void run_gemm(cublasHandle_t handle, const RowMajorGemm& g, GemmChoice choice, cudaStream_t stream) {
  if (choice == GemmChoice::tuned && run_tuned(handle, g, stream)) return;
  // fp32 accumulation for every dtype; for f32 the handle's math mode decides whether TF32 may be used.
  check_cublas(run_strided_batched(handle, g), "cublasGemmStridedBatchedEx");
}

}  // namespace strassentile::cuda::detail
