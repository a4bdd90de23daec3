// An experiment that lost (docs/PERFORMANCE.md, "Encode/decode beside the products"): stl_forward cut into blocks
// of rows, the products on one stream and the encode/decode on another. Kept in benchmarks/ so that bench_overlap
// can repeat the measurement; not part of the library.
#pragma once

#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::bench {

using strassentile::cuda::ForwardParams;

// stl_forward cut into `chunks` blocks of rows, with the products on one stream and the encode/decode on another,
// so that chunk c's products run beside chunk c+1's encode and chunk c-1's decode. With the streams of an
// SmPartition (sm_partition.hpp) each side keeps its own SMs; on ordinary streams the GPU interleaves them as it
// can. Same workspace and outputs as stl_forward (a chunk's products may take a different cuBLAS kernel: last-bit
// differences). Work is enqueued after what params.stream holds, and params.stream waits for all of it.
struct PipelineStreams {
  cudaStream_t gemm = nullptr;   // the products
  cudaStream_t codec = nullptr;  // encode and decode
  int gemm_sm_count = 0;         // SMs the products plan for (SmPartition::gemm_sms()); 0: the device's
  cublasHandle_t gemm_cublas = nullptr;  // a handle for the products' stream; null: params.cublas
  int chunks = 4;                        // >= 1; fewer when there are fewer tile rows (or sequences)
};
void stl_forward_pipelined(const ForwardParams& params, const PipelineStreams& streams);

}  // namespace strassentile::bench
