// STL activation encode for the fused forward's benchmark: X̂[p, i, κ] = Σ_q E_X[p, q] · vec(X_{iκ})[q], with X
// row-major M×K, tile (i, κ) = rows i·A…i·A+A−1, columns κ·B…κ·B+B−1, vec row-major (q = s·B + t), X̂ R×m×k.
// Memory-bound: every thread reads the A×(4·B) block of four adjacent tiles (16- or 32-byte rows) and writes four
// adjacent entries of each of the R planes (8-byte stores, 256 contiguous bytes per warp and plane).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace fused {

constexpr int kEncodeTiles = 4;  // adjacent tiles per thread; k must be a multiple of it

template <int A, int B, int R>
struct EncodeParams {
  __nv_bfloat16 const* x;  // M×K
  __nv_bfloat16* x_hat;    // R×m×k
  int m, k;
  float enc[R * A * B];    // E_X, row-major R×(A·B)
};

template <int A, int B, int R>
__global__ void __launch_bounds__(256) stl_encode(__grid_constant__ EncodeParams<A, B, R> const params) {
  constexpr int kRowElements = kEncodeTiles * B;  // bf16 per row segment: 8 or 16
  static_assert(kRowElements % 8 == 0, "a row segment must be whole 16-byte chunks");
  int const groups_per_row = params.k / kEncodeTiles;
  int64_t const groups = int64_t(params.m) * groups_per_row;
  int64_t const K = int64_t(params.k) * B;
  for (int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    int const i = int(g / groups_per_row);
    int const kappa = int(g % groups_per_row) * kEncodeTiles;
    float x[A][kRowElements];
#pragma unroll
    for (int s = 0; s < A; ++s) {
      uint4 const* row = reinterpret_cast<uint4 const*>(params.x + (int64_t(i) * A + s) * K + int64_t(kappa) * B);
#pragma unroll
      for (int chunk = 0; chunk < kRowElements / 8; ++chunk) {
        uint4 raw = row[chunk];
        __nv_bfloat162 const* pairs = reinterpret_cast<__nv_bfloat162 const*>(&raw);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float2 f = __bfloat1622float2(pairs[e]);
          x[s][chunk * 8 + 2 * e] = f.x;
          x[s][chunk * 8 + 2 * e + 1] = f.y;
        }
      }
    }
#pragma unroll
    for (int p = 0; p < R; ++p) {
      float out[kEncodeTiles] = {};
#pragma unroll
      for (int s = 0; s < A; ++s) {
#pragma unroll
        for (int t = 0; t < B; ++t) {
          float const e = params.enc[p * A * B + s * B + t];
#pragma unroll
          for (int tile = 0; tile < kEncodeTiles; ++tile) out[tile] = fmaf(e, x[s][tile * B + t], out[tile]);
        }
      }
      __align__(8) __nv_bfloat162 packed[2] = {__floats2bfloat162_rn(out[0], out[1]),
                                               __floats2bfloat162_rn(out[2], out[3])};
      *reinterpret_cast<uint2*>(params.x_hat + (int64_t(p) * params.m + i) * params.k + kappa) =
          *reinterpret_cast<uint2 const*>(packed);
    }
  }
}

// enc_host: E_X, R×(A·B) floats. x: (m·A)×(k·B) row-major, 16-byte aligned; k a multiple of kEncodeTiles.
template <int A, int B, int R>
cudaError_t launch_stl_encode(__nv_bfloat16 const* x, float const* enc_host, __nv_bfloat16* x_hat, int m, int k,
                              int sm_count, cudaStream_t stream) {
  static_assert(kEncodeTiles == 4, "the store packs four tiles");
  if (k % kEncodeTiles != 0) return cudaErrorInvalidValue;
  EncodeParams<A, B, R> params{};
  params.x = x;
  params.x_hat = x_hat;
  params.m = m;
  params.k = k;
  for (int t = 0; t < R * A * B; ++t) params.enc[t] = enc_host[t];
  stl_encode<A, B, R><<<sm_count * 8, 256, 0, stream>>>(params);
  return cudaGetLastError();
}

}  // namespace fused
