// Encode and decode of <4,4> tiles on tensor cores (bf16 storage, rank <= 32), sm_80+ (mma.sync m16n8k16).
//
// Per tile both are small matrix products: encode x̂ = E_X · vec(X_tile) (r×16 · 16), decode
// vec(Y_tile) = D · z (16×r · r). Batched over 8 tiles they are m16n8k16 products with the tiles as the n
// dimension: encode C[p, tile] = E_X[p, :] · x[:, tile] (A = E_X, two 16-row halves of p), decode
// C[q, tile] = D[q, :] · z[:, tile] (A = D, two 16-wide halves of p as k). The fp32 coefficients are split
// into two bf16 terms, hi = bf16(c) and lo = bf16(c − hi), and each product is done twice (hi, then lo,
// accumulating in fp32): the activations are bf16 already, so every partial product is exact and the
// coefficients keep ~16 bits (relative error ≤ 2⁻¹⁷), against 8 for a plain bf16 cast.
//
// One block of 128 threads (4 warps; MmaBlock) owns 128 consecutive tiles of one row-tile i. It stages its inputs in shared
// memory (16-byte loads; cp.async for Z), each warp runs the products of 32 tiles from there, writes its
// results back to shared memory, and the block stores them with 16-byte stores (rows of X̂ along κ, rows of
// Y along the columns). The shared rows are padded so that the fragment accesses are free of bank conflicts.
// Any alignment, ragged K/N, padded sequences and coefficient layout (the backward's transposed uses) are
// handled; unaligned rows take element-wise loads and stores.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "check.hpp"
#include "decode_staged.cuh"  // cp_async_16
#include "device_math.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

// A block of WARPS warps owns 32·WARPS tiles (kMmaWarps by default; bench_stl_kernels times others). The
// padded shared-row lengths below keep every fragment access conflict-free for any WARPS.
constexpr int kMmaWarps = 4;
constexpr int kMmaMaxRank = 32;
template <int WARPS>
struct MmaBlock {
  static constexpr int kTiles = 32 * WARPS;            // tiles per block
  static constexpr int kThreads = 32 * WARPS;
  static constexpr int kEncXStride = kTiles * 4 + 32;  // bf16 per staged X row (the +32 spreads rows over banks)
  static constexpr int kEncOutStride = kTiles + 8;     // bf16 per staged X̂ row
  static constexpr int kDecZStride = kTiles + 8;       // bf16 per staged Z row
  static constexpr int kDecYStride = kTiles * 4 + 4;   // fp32 per staged Y row
};

using bf16_t = __nv_bfloat16;

__device__ __forceinline__ unsigned pack_bf16_bits(unsigned short lo, unsigned short hi) {
  return static_cast<unsigned>(lo) | (static_cast<unsigned>(hi) << 16);
}
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
  return pack_bf16_bits(__bfloat16_as_ushort(__float2bfloat16_rn(lo)), __bfloat16_as_ushort(__float2bfloat16_rn(hi)));
}

// The hi and lo bf16 halves of two fp32 coefficients, packed as one A-fragment register each.
__device__ __forceinline__ void split_pair(float v0, float v1, unsigned& hi, unsigned& lo) {
  const bf16_t h0 = __float2bfloat16_rn(v0), h1 = __float2bfloat16_rn(v1);
  hi = pack_bf16_bits(__bfloat16_as_ushort(h0), __bfloat16_as_ushort(h1));
  lo = pack_bf16(v0 - __bfloat162float(h0), v1 - __bfloat162float(h1));
}

// c += A·B, m16n8k16, bf16 inputs, fp32 accumulators (PTX ISA fragment layouts).
__device__ __forceinline__ void mma_16816(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

struct MmaEncodeArgs {
  const bf16_t* x;
  std::int64_t ldx, cols;  // cols = K
  const float* enc;
  int enc_p, enc_q;
  int rank;
  bf16_t* x_hat;
  std::int64_t ld, stride, m, k;
  RowMap rows;
  bool vec_load, vec_store;
};

// MT = 2: products p < 32 in two 16-row halves (template only so that the header can be included anywhere).
template <int MT, int WARPS>
__global__ void __launch_bounds__(32 * WARPS) encode_mma(const MmaEncodeArgs args) {
  using Blk = MmaBlock<WARPS>;
  constexpr int kMmaTiles = Blk::kTiles, kMmaThreads = Blk::kThreads;
  constexpr int kEncXStride = Blk::kEncXStride, kEncOutStride = Blk::kEncOutStride;
  __shared__ __align__(16) bf16_t s_x[4 * kEncXStride];
  __shared__ __align__(16) bf16_t s_out[16 * MT * kEncOutStride];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const std::int64_t blocks_per_i = (args.k + kMmaTiles - 1) / kMmaTiles;
  const std::int64_t i = index_div(blockIdx.x, blocks_per_i);
  const std::int64_t kap0 = (static_cast<std::int64_t>(blockIdx.x) - i * blocks_per_i) * kMmaTiles;
  const std::int64_t col0 = kap0 * 4;
  std::int64_t first;
  int real;
  args.rows.tile(i, 4, first, real);

  // Stage the 4 × 512 slab of X (zeros beyond K and for padding rows).
  for (int c = threadIdx.x; c < 4 * (kMmaTiles * 4 / 8); c += kMmaThreads) {
    const int u = c / (kMmaTiles * 4 / 8), e = (c % (kMmaTiles * 4 / 8)) * 8;
    const std::int64_t col = col0 + e;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (u < real && col < args.cols) {
      const bf16_t* src = args.x + (first + u) * args.ldx + col;
      if (args.vec_load && col + 8 <= args.cols) {
        v = __ldg(reinterpret_cast<const uint4*>(src));
      } else {
        unsigned short h[8];
#pragma unroll
        for (int e2 = 0; e2 < 8; ++e2) h[e2] = col + e2 < args.cols ? __bfloat16_as_ushort(src[e2]) : 0;
        v = make_uint4(pack_bf16_bits(h[0], h[1]), pack_bf16_bits(h[2], h[3]), pack_bf16_bits(h[4], h[5]),
                       pack_bf16_bits(h[6], h[7]));
      }
    }
    *reinterpret_cast<uint4*>(s_x + u * kEncXStride + e) = v;
  }

  // A fragments of E_X (rows p, columns q), hi and lo; zero for p >= rank.
  unsigned a_hi[MT][4], a_lo[MT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int p = 16 * mt + g + (r & 1) * 8, q = 2 * t + (r >> 1) * 8;
      const float v0 = p < args.rank ? args.enc[p * args.enc_p + q * args.enc_q] : 0.0f;
      const float v1 = p < args.rank ? args.enc[p * args.enc_p + (q + 1) * args.enc_q] : 0.0f;
      split_pair(v0, v1, a_hi[mt][r], a_lo[mt][r]);
    }
  __syncthreads();

  const unsigned* sx = reinterpret_cast<const unsigned*>(s_x);
  unsigned* so = reinterpret_cast<unsigned*>(s_out);
#pragma unroll
  for (int ng = 0; ng < 4; ++ng) {
    const int tile = warp * 32 + ng * 8 + g;  // B column g: q = 2t, 2t+1 (row t/2) and q + 8 (row t/2 + 2)
    const unsigned b0 = sx[((t >> 1) * kEncXStride + 4 * tile + 2 * (t & 1)) / 2];
    const unsigned b1 = sx[(((t >> 1) + 2) * kEncXStride + 4 * tile + 2 * (t & 1)) / 2];
    const int tc = warp * 32 + ng * 8 + 2 * t;  // C columns 2t, 2t+1
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      mma_16816(c, a_hi[mt], b0, b1);
      mma_16816(c, a_lo[mt], b0, b1);
      so[((16 * mt + g) * kEncOutStride + tc) / 2] = pack_bf16(c[0], c[1]);
      so[((16 * mt + g + 8) * kEncOutStride + tc) / 2] = pack_bf16(c[2], c[3]);
    }
  }
  __syncthreads();

  // Store X̂[p, i, kap0 ..]: 16 chunks of 8 tiles per product.
  for (int c = threadIdx.x; c < args.rank * (kMmaTiles / 8); c += kMmaThreads) {
    const int p = c / (kMmaTiles / 8), e = (c % (kMmaTiles / 8)) * 8;
    const std::int64_t kap = kap0 + e;
    if (kap >= args.k) continue;
    const uint4 v = *reinterpret_cast<const uint4*>(s_out + p * kEncOutStride + e);
    bf16_t* dst = args.x_hat + p * args.stride + i * args.ld + kap;
    if (args.vec_store && kap + 8 <= args.k) {
      __stwb(reinterpret_cast<uint4*>(dst), v);
    } else {
      const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2)
        if (kap + e2 < args.k)
          dst[e2] = __ushort_as_bfloat16(static_cast<unsigned short>(w[e2 / 2] >> (16 * (e2 % 2))));
    }
  }
}

struct MmaDecodeArgs {
  const bf16_t* z;
  std::int64_t ld_z, stride_z, m, n;
  const float* dec;
  int dec_q, dec_p;
  int rank;
  const bf16_t* bias;
  bf16_t* y;
  std::int64_t ldy, cols;  // cols = N
  RowMap rows;
  bool vec_z, vec_y, vec_bias;
};

template <Activation ACT, int WARPS>
__global__ void __launch_bounds__(32 * WARPS) decode_mma(const MmaDecodeArgs args) {
  using Blk = MmaBlock<WARPS>;
  constexpr int kMmaTiles = Blk::kTiles, kMmaThreads = Blk::kThreads;
  constexpr int kDecZStride = Blk::kDecZStride, kDecYStride = Blk::kDecYStride;
  __shared__ __align__(16) bf16_t s_z[kMmaMaxRank * kDecZStride];
  __shared__ __align__(16) float s_y[4 * kDecYStride];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const std::int64_t blocks_per_i = (args.n + kMmaTiles - 1) / kMmaTiles;
  const std::int64_t i = index_div(blockIdx.x, blocks_per_i);
  const std::int64_t jb = (static_cast<std::int64_t>(blockIdx.x) - i * blocks_per_i) * kMmaTiles;
  const int ksteps = args.rank > 16 ? 2 : 1;

  // Stage Z[p, i, jb ..] for p < 16·ksteps (zeros beyond the rank and beyond n).
  for (int c = threadIdx.x; c < 16 * ksteps * (kMmaTiles / 8); c += kMmaThreads) {
    const int p = c / (kMmaTiles / 8), e = (c % (kMmaTiles / 8)) * 8;
    const std::int64_t j = jb + e;
    bf16_t* dst = s_z + p * kDecZStride + e;
    if (p < args.rank && j < args.n) {
      const bf16_t* src = args.z + p * args.stride_z + i * args.ld_z + j;
      if (args.vec_z) {
        cp_async_16(dst, src, j + 8 <= args.n ? 16 : static_cast<int>((args.n - j) * 2));
      } else {
        unsigned short h[8];
#pragma unroll
        for (int e2 = 0; e2 < 8; ++e2) h[e2] = j + e2 < args.n ? __bfloat16_as_ushort(src[e2]) : 0;
        *reinterpret_cast<uint4*>(dst) = make_uint4(pack_bf16_bits(h[0], h[1]), pack_bf16_bits(h[2], h[3]),
                                                    pack_bf16_bits(h[4], h[5]), pack_bf16_bits(h[6], h[7]));
      }
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    }
  }
  asm volatile("cp.async.commit_group;\n" ::);

  // A fragments of D (rows q, columns p in two k-steps of 16), hi and lo; zero for p >= rank.
  unsigned a_hi[2][4], a_lo[2][4];
#pragma unroll
  for (int ks = 0; ks < 2; ++ks)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int q = g + (r & 1) * 8, p = 16 * ks + 2 * t + (r >> 1) * 8;
      const float v0 = p < args.rank ? args.dec[q * args.dec_q + p * args.dec_p] : 0.0f;
      const float v1 = p + 1 < args.rank ? args.dec[q * args.dec_q + (p + 1) * args.dec_p] : 0.0f;
      split_pair(v0, v1, a_hi[ks][r], a_lo[ks][r]);
    }
  asm volatile("cp.async.wait_group 0;\n" ::);
  __syncthreads();

  const unsigned short* sz = reinterpret_cast<const unsigned short*>(s_z);
  const int u = g >> 2, w = g & 3;  // C rows g and g+8 are tile elements (u, w) and (u + 2, w)
#pragma unroll
  for (int ng = 0; ng < 4; ++ng) {
    const int tile = warp * 32 + ng * 8 + g;  // B column g: rows p = 2t, 2t+1 and 2t+8, 2t+9 of the k-step
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
      if (ks >= ksteps) break;  // warp-uniform; unrolled so that the fragments stay in registers
      const int p0 = 16 * ks + 2 * t;
      const unsigned b0 = pack_bf16_bits(sz[p0 * kDecZStride + tile], sz[(p0 + 1) * kDecZStride + tile]);
      const unsigned b1 = pack_bf16_bits(sz[(p0 + 8) * kDecZStride + tile], sz[(p0 + 9) * kDecZStride + tile]);
      mma_16816(c, a_hi[ks], b0, b1);
      mma_16816(c, a_lo[ks], b0, b1);
    }
    const int tc = warp * 32 + ng * 8 + 2 * t;  // C columns 2t, 2t+1
    s_y[u * kDecYStride + 4 * tc + w] = c[0];
    s_y[u * kDecYStride + 4 * (tc + 1) + w] = c[1];
    s_y[(u + 2) * kDecYStride + 4 * tc + w] = c[2];
    s_y[(u + 2) * kDecYStride + 4 * (tc + 1) + w] = c[3];
  }
  __syncthreads();

  std::int64_t first;
  int real;
  args.rows.tile(i, 4, first, real);
  for (int c = threadIdx.x; c < 4 * (kMmaTiles * 4 / 8); c += kMmaThreads) {
    const int row = c / (kMmaTiles * 4 / 8), e = (c % (kMmaTiles * 4 / 8)) * 8;
    const std::int64_t col = jb * 4 + e;
    if (row >= real || col >= args.cols) continue;
    const float4 lo4 = *reinterpret_cast<const float4*>(s_y + row * kDecYStride + e);
    const float4 hi4 = *reinterpret_cast<const float4*>(s_y + row * kDecYStride + e + 4);
    float out[8] = {lo4.x, lo4.y, lo4.z, lo4.w, hi4.x, hi4.y, hi4.z, hi4.w};
    const bool full = col + 8 <= args.cols;
    if (args.bias != nullptr) {
      float b[8];
      if (full && args.vec_bias) {
        load_packed<bf16_t, 8>(args.bias + col, b);
      } else {
#pragma unroll
        for (int e2 = 0; e2 < 8; ++e2) b[e2] = col + e2 < args.cols ? __bfloat162float(args.bias[col + e2]) : 0.0f;
      }
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2) out[e2] += b[e2];
    }
#pragma unroll
    for (int e2 = 0; e2 < 8; ++e2) out[e2] = activate<ACT>(out[e2]);
    bf16_t* dst = args.y + (first + row) * args.ldy + col;
    if (full && args.vec_y) {
      store_packed<bf16_t, 8>(dst, out);
    } else {
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2)
        if (col + e2 < args.cols) dst[e2] = __float2bfloat16_rn(out[e2]);
    }
  }
}

// Whether the tensor-core kernels take these parameters: bf16, <4,4> tiles, rank <= 32.
inline bool mma_codec_applies(DType dtype, int a, int bc, int rank) {
  return dtype == DType::bf16 && a == 4 && bc == 4 && rank >= 1 && rank <= kMmaMaxRank;
}

// Launch on tensor cores, or return false (nothing launched) when mma_codec_applies says no.
template <int WARPS = kMmaWarps>
bool run_encode_mma(const EncodeParams& p, CoefLayout layout = {}) {
  constexpr int kMmaTiles = MmaBlock<WARPS>::kTiles, kMmaThreads = MmaBlock<WARPS>::kThreads;
  const StlShape& s = p.shape;
  if (!mma_codec_applies(p.dtype, s.a, s.b, s.rank)) return false;
  const std::int64_t blocks = s.m() * ((s.k() + kMmaTiles - 1) / kMmaTiles);
  if (blocks == 0) return true;
  const CoefLayout enc = layout.resolved(16);
  MmaEncodeArgs args{static_cast<const bf16_t*>(p.x), p.ldx, s.in_features, p.enc_x, enc.row_stride,
                     enc.col_stride, s.rank, static_cast<bf16_t*>(p.x_hat), p.ld_x_hat, p.stride_x_hat, s.m(), s.k(),
                     make_row_map(s), false, false};
  args.vec_load = is_aligned(p.x, 16) && (p.ldx * 2) % 16 == 0;
  args.vec_store = is_aligned(p.x_hat, 16) && p.ld_x_hat % 8 == 0 && p.stride_x_hat % 8 == 0;
  if (s.rank > 16) {
    encode_mma<2, WARPS><<<grid_blocks(blocks, 1), kMmaThreads, 0, p.stream>>>(args);
  } else {
    encode_mma<1, WARPS><<<grid_blocks(blocks, 1), kMmaThreads, 0, p.stream>>>(args);
  }
  check_launch("encode_mma");
  return true;
}

template <int WARPS = kMmaWarps>
bool run_decode_mma(const DecodeParams& p, CoefLayout layout = {}) {
  constexpr int kMmaTiles = MmaBlock<WARPS>::kTiles, kMmaThreads = MmaBlock<WARPS>::kThreads;
  const StlShape& s = p.shape;
  if (!mma_codec_applies(p.dtype, s.a, s.c, s.rank)) return false;
  const std::int64_t blocks = s.m() * ((s.n() + kMmaTiles - 1) / kMmaTiles);
  if (blocks == 0) return true;
  const CoefLayout dec = layout.resolved(s.rank);
  MmaDecodeArgs args{static_cast<const bf16_t*>(p.z), p.ld_z, p.stride_z, s.m(), s.n(), p.dec, dec.row_stride,
                     dec.col_stride, s.rank, static_cast<const bf16_t*>(p.bias), static_cast<bf16_t*>(p.y), p.ldy,
                     s.out_features, make_row_map(s), false, false, false};
  args.vec_z = is_aligned(p.z, 16) && p.ld_z % 8 == 0 && p.stride_z % 8 == 0;
  args.vec_y = is_aligned(p.y, 16) && (p.ldy * 2) % 16 == 0;
  args.vec_bias = is_aligned(p.bias, 16);
  const unsigned grid = grid_blocks(blocks, 1);
  switch (p.activation) {
    case Activation::relu:
      decode_mma<Activation::relu, WARPS><<<grid, kMmaThreads, 0, p.stream>>>(args);
      break;
    case Activation::gelu_tanh:
      decode_mma<Activation::gelu_tanh, WARPS><<<grid, kMmaThreads, 0, p.stream>>>(args);
      break;
    case Activation::none:
      decode_mma<Activation::none, WARPS><<<grid, kMmaThreads, 0, p.stream>>>(args);
      break;
  }
  check_launch("decode_mma");
  return true;
}

}  // namespace strassentile::cuda::detail
