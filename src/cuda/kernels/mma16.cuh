// The 16-bit storage types on tensor cores, and the geometry of a group, shared by the tensor-core codec kernels
// (codec_mma.cuh, decode_encode_mma.cuh) and the coefficient gradients folded into them (coef_grad_fold.cuh).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ptx.cuh"

namespace strassentile::cuda::detail {

// Activations travel as raw 16-bit words (bf16 or fp16: the kernels only move them); Mma16<T> holds what
// depends on the type: the conversions and the mma instruction.
using word16 = unsigned short;

__device__ __forceinline__ unsigned pack_words(word16 lo, word16 hi) {
  return static_cast<unsigned>(lo) | (static_cast<unsigned>(hi) << 16);
}

template <class T>
struct Mma16;

template <>
struct Mma16<__nv_bfloat16> {
  static __device__ __forceinline__ word16 bits(float v) { return __bfloat16_as_ushort(__float2bfloat16_rn(v)); }
  static __device__ __forceinline__ float value(word16 b) { return __bfloat162float(__ushort_as_bfloat16(b)); }
  static __device__ __forceinline__ unsigned pack2(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // one cvt.rn.bf16x2.f32
    return *reinterpret_cast<const unsigned*>(&v);
  }
  static __device__ __forceinline__ void mma(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    mma_m16n8k16_bf16(c, a, b0, b1);
  }
};

template <>
struct Mma16<__half> {
  static __device__ __forceinline__ word16 bits(float v) { return __half_as_ushort(__float2half_rn(v)); }
  static __device__ __forceinline__ float value(word16 b) { return __half2float(__ushort_as_half(b)); }
  static __device__ __forceinline__ unsigned pack2(float lo, float hi) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&v);
  }
  static __device__ __forceinline__ void mma(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    mma_m16n8k16_f16(c, a, b0, b1);
  }
};


// A group: 128 consecutive <4,4> tiles of one row-tile, by a block of 4 warps (32 tiles each). The shared rows are
// padded so that the fragment accesses are free of bank conflicts.
namespace mma_group {
constexpr int kTiles = 128;    // tiles per group (one row-tile, 128 consecutive tile columns)
constexpr int kThreads = 128;  // 4 warps, 32 tiles each
constexpr int kXStride = kTiles * 4 + 32;
constexpr int kOutStride = kTiles + 8;
constexpr int kZStride = kTiles + 8;  // 272 bytes: ldmatrix rows land on distinct banks
constexpr int kYStride = kTiles * 4 + 4;
}  // namespace mma_group

}  // namespace strassentile::cuda::detail
