// Two disjoint groups of a GPU's SMs, each with its own stream (CUDA green contexts, a driver for CUDA 12.5 or newer): one for
// the batched products, one for the memory-bound encode/decode, so that stl_forward_pipelined can run them side by
// side instead of one after the other. Kernels on a group's stream run only on that group's SMs.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>

namespace strassentile::bench {

class SmPartition {
 public:
  // gemm_sms: at least this many SMs for the products (rounded up to the driver's granularity, 8 on Hopper);
  // the rest of the device's SMs go to the encode/decode. Throws std::runtime_error where the driver cannot
  // (no green contexts, or too few SMs left), std::invalid_argument for gemm_sms < 1.
  SmPartition(int device, int gemm_sms);
  ~SmPartition();
  SmPartition(SmPartition&&) noexcept;
  SmPartition& operator=(SmPartition&&) noexcept;
  SmPartition(const SmPartition&) = delete;
  SmPartition& operator=(const SmPartition&) = delete;

  cudaStream_t gemm_stream() const;
  cudaStream_t codec_stream() const;
  int gemm_sms() const;
  int codec_sms() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strassentile::bench
