// Device-side helpers shared by the encode and decode kernels: storage types, fp32 conversion, 16-byte
// vector loads and packed stores, the row grouping of the reference, and the fused activations.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "params.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

// Each storage type's conversions to and from fp32 (round to nearest), side by side.
template <class T>
struct Fp32Conversion;
template <>
struct Fp32Conversion<float> {
  static __device__ __forceinline__ float to(float v) { return v; }
  static __device__ __forceinline__ float from(float v) { return v; }
};
template <>
struct Fp32Conversion<__half> {
  static __device__ __forceinline__ float to(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half from(float v) { return __float2half_rn(v); }
};
template <>
struct Fp32Conversion<__nv_bfloat16> {
  static __device__ __forceinline__ float to(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 from(float v) { return __float2bfloat16_rn(v); }
};

template <class T>
__device__ __forceinline__ float to_float(T v) {
  return Fp32Conversion<T>::to(v);
}
template <class T>
__device__ __forceinline__ T from_float(float v) {
  return Fp32Conversion<T>::from(v);
}

// Tiles one thread handles side by side: the fewest whose row slice, tiles·width·sizeof(T) bytes, is a whole
// number of 16-byte vectors and at least min_bytes long (2 for bf16 with width 4 and 16 bytes; 8 for bf16 with
// width 3; 1 for fp32 with width 4).
template <class T>
__host__ __device__ constexpr int vector_tiles(int width, int min_bytes = 16) {
  int g = 16, w = width * static_cast<int>(sizeof(T));
  while (w != 0) {  // gcd(16, w)
    const int t = g % w;
    g = w;
    w = t;
  }
  int v = 16 / g;
  while (v * width * static_cast<int>(sizeof(T)) < min_bytes) v *= 2;
  return v;
}

// Packed global accesses. N elements of T travel as N·sizeof(T)/4 32-bit words in 4-, 8- or 16-byte
// accesses; building the words by hand keeps nvcc from splitting them into 2-byte accesses (it does that
// to a struct of bf16). The address must be aligned to min(16, N·sizeof(T)) bytes.
__device__ __forceinline__ unsigned short bits_of(__half h) { return __half_as_ushort(h); }
__device__ __forceinline__ unsigned short bits_of(__nv_bfloat16 h) { return __bfloat16_as_ushort(h); }
template <class T>
__device__ __forceinline__ T from_bits(unsigned short b);
template <>
__device__ __forceinline__ __half from_bits<__half>(unsigned short b) { return __ushort_as_half(b); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_bits<__nv_bfloat16>(unsigned short b) { return __ushort_as_bfloat16(b); }

template <class T, int N>
__host__ __device__ constexpr int words_of() {
  static_assert((N * sizeof(T)) % 4 == 0, "packed accesses move whole 32-bit words");
  constexpr int w = static_cast<int>(N * sizeof(T) / 4);
  static_assert(w == 1 || w == 2 || w % 4 == 0, "4, 8 or a multiple of 16 bytes");
  return w;
}

template <class T, int N, int W>
__device__ __forceinline__ void unpack_words(const unsigned (&w)[W], float (&out)[N]) {
#pragma unroll
  for (int j = 0; j < N; ++j) {
    if constexpr (sizeof(T) == 4)
      out[j] = __uint_as_float(w[j]);
    else
      out[j] = to_float(from_bits<T>(static_cast<unsigned short>(w[j / 2] >> (16 * (j % 2)))));
  }
}

// From global memory, through the read-only path.
template <class T, int N>
__device__ __forceinline__ void load_packed(const T* src, float (&out)[N]) {
  constexpr int W = words_of<T, N>();
  unsigned w[W];
  if constexpr (W == 1) {
    w[0] = __ldg(reinterpret_cast<const unsigned*>(src));
  } else if constexpr (W == 2) {
    const uint2 r = __ldg(reinterpret_cast<const uint2*>(src));
    w[0] = r.x, w[1] = r.y;
  } else {
#pragma unroll
    for (int c = 0; c < W / 4; ++c) {
      const uint4 r = __ldg(reinterpret_cast<const uint4*>(src) + c);
      w[4 * c] = r.x, w[4 * c + 1] = r.y, w[4 * c + 2] = r.z, w[4 * c + 3] = r.w;
    }
  }
  unpack_words<T, N>(w, out);
}

// From shared memory.
template <class T, int N>
__device__ __forceinline__ void load_packed_shared(const T* src, float (&out)[N]) {
  constexpr int W = words_of<T, N>();
  unsigned w[W];
  if constexpr (W == 1) {
    w[0] = *reinterpret_cast<const unsigned*>(src);
  } else if constexpr (W == 2) {
    const uint2 r = *reinterpret_cast<const uint2*>(src);
    w[0] = r.x, w[1] = r.y;
  } else {
#pragma unroll
    for (int c = 0; c < W / 4; ++c) {
      const uint4 r = reinterpret_cast<const uint4*>(src)[c];
      w[4 * c] = r.x, w[4 * c + 1] = r.y, w[4 * c + 2] = r.z, w[4 * c + 3] = r.w;
    }
  }
  unpack_words<T, N>(w, out);
}

template <class T, int N>
__device__ __forceinline__ void store_packed(T* dst, const float (&vals)[N]) {
  constexpr int W = words_of<T, N>();
  unsigned w[W];
#pragma unroll
  for (int i = 0; i < W; ++i) {
    if constexpr (sizeof(T) == 4)
      w[i] = __float_as_uint(vals[i]);
    else
      w[i] = static_cast<unsigned>(bits_of(from_float<T>(vals[2 * i]))) |
             (static_cast<unsigned>(bits_of(from_float<T>(vals[2 * i + 1]))) << 16);
  }
  // __stwb is a plain (write-back) store; unlike assigning a uint2/uint4 it is never split into words.
  if constexpr (W == 1) {
    __stwb(reinterpret_cast<unsigned*>(dst), w[0]);
  } else if constexpr (W == 2) {
    __stwb(reinterpret_cast<uint2*>(dst), make_uint2(w[0], w[1]));
  } else {
#pragma unroll
    for (int c = 0; c < W / 4; ++c)
      __stwb(reinterpret_cast<uint4*>(dst) + c, make_uint4(w[4 * c], w[4 * c + 1], w[4 * c + 2], w[4 * c + 3]));
  }
}

// Quotient of non-negative a / b in 32-bit arithmetic when both fit: 64-bit division is a long software
// routine that would otherwise cost as much as a tile's arithmetic.
__device__ __forceinline__ std::int64_t index_div(std::int64_t a, std::int64_t b) {
  if ((static_cast<std::uint64_t>(a) | static_cast<std::uint64_t>(b)) <= 0xffffffffull)
    return static_cast<unsigned>(a) / static_cast<unsigned>(b);
  return a / b;
}

// The V side-by-side tiles (i, first .. first+V−1) of this thread, one group of V per thread over m rows of tiles
// and `cols` tile columns; false past the last group.
template <int V>
__device__ __forceinline__ bool thread_tiles(std::int64_t m, std::int64_t cols, std::int64_t& i, std::int64_t& first) {
  const std::int64_t groups = (cols + V - 1) / V;
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= m * groups) return false;
  i = index_div(t, groups);
  first = (t - i * groups) * V;
  return true;
}

// Row grouping (reference.hpp): row-tile i covers rows seq·S + (i mod t)·a + u of sequence seq = i / t.
struct RowMap {
  std::int64_t rows;       // M
  std::int64_t seq;        // S (never 0 here)
  std::int64_t per_seq;    // t = ⌈S/a⌉
  // First row of tile i, and how many of its a rows are real (the rest pad the sequence).
  __device__ __forceinline__ void tile(std::int64_t i, int a, std::int64_t& first, int& real) const {
    const std::int64_t s = index_div(i, per_seq);
    const std::int64_t pos = (i - s * per_seq) * a;
    first = s * seq + pos;
    const std::int64_t left = seq - pos;
    real = left < a ? static_cast<int>(left) : a;
  }
  // The tile holding input row `row` (tile's inverse).
  __device__ __forceinline__ std::int64_t tile_of(std::int64_t row, int a) const {
    const std::int64_t s = row / seq;
    return s * per_seq + (row - s * seq) / a;
  }
};

// Mode causal by selection (CodecLaunch::causal_levels): whether product p may touch tile row u. Null levels: every
// row (the tile and token-local modes).
__device__ __forceinline__ bool causal_allows(const int* __restrict__ levels, CausalSide side, int p, int u) {
  if (levels == nullptr) return true;
  return side == CausalSide::at_or_below_level ? u <= levels[p] : u >= levels[p];
}

inline RowMap make_row_map(const StlShape& shape) {
  return RowMap{shape.rows, shape.sequence_length(), shape.tiles_per_sequence()};
}

// GELU's tanh form, 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³). It costs the decode's epilogue more than
// the rest of it (bench_stl_kernels: 0.13 of 0.36 ms at 8192×16384), so the formula is a measured choice
// (STRASSENTILE_GELU_IMPL, compared by building bench_stl_kernels with -DSTRASSENTILE_GELU_IMPL=0 and 2):
// 0: tanhf; 1 (default): x / (1 + e^(−2u)) with __expf and __fdividef, two MUFU operations, relative error below 1e-6
// for |x| <= 4 by __expf's documented bound (beyond, the result is ≈ x or ≈ 0; e^(−2u) = inf gives x·0 = 0);
// 2: tanh.approx.f32 (one MUFU operation; absolute error ≤ 2^−10.99 in tanh).
#ifndef STRASSENTILE_GELU_IMPL
#define STRASSENTILE_GELU_IMPL 1
#endif
__device__ __forceinline__ float gelu_tanh(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
#if STRASSENTILE_GELU_IMPL == 0
  return 0.5f * x * (1.0f + tanhf(u));
#elif STRASSENTILE_GELU_IMPL == 2
  float t;
  asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(u));
  return 0.5f * x * (1.0f + t);
#else
  return __fdividef(x, 1.0f + __expf(-2.0f * u));
#endif
}

template <Activation ACT>
__device__ __forceinline__ float activate(float x) {
  if constexpr (ACT == Activation::relu) {
    return fmaxf(x, 0.0f);
  } else if constexpr (ACT == Activation::gelu_tanh) {
    return gelu_tanh(x);
  } else {
    return x;
  }
}

__device__ __forceinline__ float activate(float x, Activation act) {
  switch (act) {
    case Activation::relu:
      return activate<Activation::relu>(x);
    case Activation::gelu_tanh:
      return activate<Activation::gelu_tanh>(x);
    default:
      return x;
  }
}

// C values (1, 2 or 4) stored as bf16 in one store of 2·C bytes; y aligned to 2·C bytes.
template <int C>
__device__ __forceinline__ void store_bf16_group(__nv_bfloat16* y, const float (&values)[C]) {
  if constexpr (C == 1) {
    *y = __float2bfloat16_rn(values[0]);
  } else if constexpr (C == 2) {
    *reinterpret_cast<__nv_bfloat162*>(y) = __floats2bfloat162_rn(values[0], values[1]);
  } else {
    static_assert(C == 4, "groups of 1, 2 or 4");
    const __nv_bfloat162 lo = __floats2bfloat162_rn(values[0], values[1]);
    const __nv_bfloat162 hi = __floats2bfloat162_rn(values[2], values[3]);
    uint2 packed;
    packed.x = *reinterpret_cast<const std::uint32_t*>(&lo);
    packed.y = *reinterpret_cast<const std::uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(y) = packed;
  }
}

}  // namespace strassentile::cuda::detail
