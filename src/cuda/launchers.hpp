// Internal: the kernel launchers behind launch_encode / launch_decode. Parameters reaching them are
// validated and have their leading dimensions and strides resolved (no zeros).
//
// Specialised kernels exist for the (a,b) pairs of encode and (a,c) pairs of decode that the tile families
// need, one instantiation file each: <2,2,2> (2,2), <3,3,3> (3,3), <4,4,4> (4,4), <2,4,4> (2,4), <1,4,4> (1,4).
// Every other format runs the generic kernels.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

template <int A, int B>
void launch_encode_fast(const EncodeParams& params);
template <int A, int C>
void launch_decode_fast(const DecodeParams& params);

void launch_encode_generic(const EncodeParams& params);
void launch_decode_generic(const DecodeParams& params);

inline bool is_aligned(const void* ptr, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

// Kernels whose shared table exceeds the default 48 KB must opt in (large ranks only).
inline void set_dynamic_smem(const void* kernel, std::size_t bytes) {
  if (bytes <= 48 * 1024) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
             "cudaFuncSetAttribute(MaxDynamicSharedMemorySize): rank too large for shared memory");
}

inline unsigned grid_blocks(std::int64_t threads, int block) {
  const std::int64_t blocks = (threads + block - 1) / block;
  if (blocks > std::numeric_limits<int>::max())
    throw std::invalid_argument("problem too large for one launch: " + std::to_string(threads) + " threads");
  return static_cast<unsigned>(blocks);
}

}  // namespace strassentile::cuda::detail
