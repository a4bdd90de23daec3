// Host-side helpers for launching the kernels: the storage type of a DType, grid sizes, and the opt-in to more than
// 48 KB of dynamic shared memory.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "check.hpp"
#include "constant_dispatch.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

// The element type the kernels use for DType D.
template <DType D>
struct StorageOf;
template <>
struct StorageOf<DType::f32> {
  using type = float;
};
template <>
struct StorageOf<DType::f16> {
  using type = __half;
};
template <>
struct StorageOf<DType::bf16> {
  using type = __nv_bfloat16;
};
template <DType D>
using Storage = typename StorageOf<D>::type;

// Calls f(std::integral_constant<Activation, act>{}): the activation as a template argument of the kernel f launches.
// Any other value runs as none.
template <class F>
void with_activation(Activation act, F&& f) {
  if (!with_constant<Activation, Activation::relu, Activation::gelu_tanh>(act, f))
    f(std::integral_constant<Activation, Activation::none>{});
}

// Kernels whose shared table exceeds the default 48 KB must opt in (large ranks only).
inline void set_dynamic_smem(const void* kernel, std::size_t bytes) {
  if (bytes <= 48 * 1024) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
             "cudaFuncSetAttribute(MaxDynamicSharedMemorySize): rank too large for shared memory");
}

// Blocks for a grid-stride loop over `total` items of `block` threads each: at most 2^20, the loop covers the rest.
inline unsigned capped_blocks(std::int64_t total, int block) {
  const std::int64_t blocks = (total + block - 1) / block;
  return static_cast<unsigned>(blocks < (1 << 20) ? blocks : (1 << 20));
}

inline unsigned grid_blocks(std::int64_t threads, int block) {
  const std::int64_t blocks = (threads + block - 1) / block;
  if (blocks > std::numeric_limits<int>::max())
    throw std::invalid_argument("problem too large for one launch: " + std::to_string(threads) + " threads");
  return static_cast<unsigned>(blocks);
}

}  // namespace strassentile::cuda::detail
