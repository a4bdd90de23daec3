// Persistent, double-buffered versions of the tensor-core <4,4> bf16 encode and decode of codec_mma.cuh.
//
// Nsight Compute on the one-group-per-block kernels (2026-12-01, H200) showed them issue-bound, not memory-bound:
// 72–77% of issue slots busy at 52% of DRAM bandwidth. Each 128-thread block handled 128 tiles and paid, per tile
// per thread, the coefficient fragments (16 global loads and their hi/lo splits), the index arithmetic and two
// barriers with nothing in flight. Here a block stays resident: it builds the fragments once, walks the groups
// of 128 tiles in a grid-stride loop, and copies group g+1 into its second shared buffer (cp.async) while it
// computes and stores group g. The fragments of Z are read with ldmatrix.trans (one instruction for four
// 8×8 pieces, instead of 16 two-byte loads), and fp32 pairs are rounded with one cvt.rn.bf16x2.
//
// The per-group work (fragment layouts, padding, ragged K/N, padded sequences, unaligned rows, transposed
// coefficients) is the same as in codec_mma.cuh, whose argument structs these kernels take.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "check.hpp"
#include "codec_mma.cuh"
#include "device_math.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

namespace loop {
constexpr int kTiles = 128;    // tiles per group (one row-tile, 128 consecutive tile columns)
constexpr int kThreads = 128;  // 4 warps, 32 tiles each
constexpr int kXStride = kTiles * 4 + 32;
constexpr int kOutStride = kTiles + 8;
constexpr int kZStride = kTiles + 8;  // 272 bytes: ldmatrix rows land on distinct banks
constexpr int kYStride = kTiles * 4 + 4;
}  // namespace loop

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // one cvt.rn.bf16x2.f32
  return *reinterpret_cast<const unsigned*>(&v);
}

// Four 8×8 bf16 pieces, transposed: lane l gives the address of row l % 8 of piece l / 8.
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void* row) {
  const auto addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// Blocks that stay resident for `kernel`: every SM's worth, but no more than there are groups.
template <class Kernel>
unsigned resident_grid(Kernel kernel, std::int64_t groups) {
  int device = 0, sms = 0, per_sm = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, loop::kThreads, 0),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  const std::int64_t resident = static_cast<std::int64_t>(sms) * (per_sm > 0 ? per_sm : 1);
  return static_cast<unsigned>(groups < resident ? groups : resident);
}

// MT = 2: products p < 32 in two 16-row halves.
template <int MT>
__global__ void __launch_bounds__(loop::kThreads) encode_mma_loop(const MmaEncodeArgs args, std::int64_t groups,
                                                                  std::int64_t groups_per_i) {
  using namespace loop;  // NOLINT(google-build-using-namespace): the block constants
  __shared__ __align__(16) bf16_t s_x[2][4 * kXStride];
  __shared__ __align__(16) bf16_t s_out[16 * MT * kOutStride];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;

  // Copies the 4 × 512 slab of X of `group` into s_x[buf] (zeros beyond K and for padding rows).
  const auto stage = [&](std::int64_t group, int buf) {
    const std::int64_t i = index_div(group, groups_per_i);
    const std::int64_t col0 = (group - i * groups_per_i) * (kTiles * 4);
    std::int64_t first;
    int real;
    args.rows.tile(i, 4, first, real);
#pragma unroll
    for (int j = 0; j < 4 * kTiles * 4 / 8 / kThreads; ++j) {
      const int c = threadIdx.x + j * kThreads;
      const int u = c / (kTiles * 4 / 8), e = (c % (kTiles * 4 / 8)) * 8;
      const std::int64_t col = col0 + e;
      bf16_t* dst = &s_x[buf][u * kXStride + e];
      if (u < real && col < args.cols) {
        const bf16_t* src = args.x + (first + u) * args.ldx + col;
        if (args.vec_load) {
          cp_async_16(dst, src, col + 8 <= args.cols ? 16 : static_cast<int>((args.cols - col) * 2));
        } else {
          unsigned short h[8];
#pragma unroll
          for (int e2 = 0; e2 < 8; ++e2) h[e2] = col + e2 < args.cols ? __bfloat16_as_ushort(src[e2]) : 0;
          *reinterpret_cast<uint4*>(dst) = make_uint4(pack_bf16_bits(h[0], h[1]), pack_bf16_bits(h[2], h[3]),
                                                      pack_bf16_bits(h[4], h[5]), pack_bf16_bits(h[6], h[7]));
        }
      } else {
        *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      }
    }
  };

  std::int64_t group = blockIdx.x;
  if (group < groups) stage(group, 0);
  cp_async_commit();

  // A fragments of E_X (rows p, columns q), hi and lo; zero for p >= rank. Built once per block.
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

  unsigned* so = reinterpret_cast<unsigned*>(s_out);
  for (int buf = 0; group < groups; group += gridDim.x, buf ^= 1) {
    if (group + gridDim.x < groups) stage(group + gridDim.x, buf ^ 1);
    cp_async_commit();
    cp_async_wait<1>();  // this group's copies; the next group's stay in flight
    __syncthreads();

    const unsigned* sx = reinterpret_cast<const unsigned*>(s_x[buf]);
#pragma unroll
    for (int ng = 0; ng < 4; ++ng) {
      const int tile = warp * 32 + ng * 8 + g;  // B column g: q = 2t, 2t+1 (row t/2) and q + 8 (row t/2 + 2)
      const unsigned b0 = sx[((t >> 1) * kXStride + 4 * tile + 2 * (t & 1)) / 2];
      const unsigned b1 = sx[(((t >> 1) + 2) * kXStride + 4 * tile + 2 * (t & 1)) / 2];
      const int tc = warp * 32 + ng * 8 + 2 * t;  // C columns 2t, 2t+1
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        mma_16816(c, a_hi[mt], b0, b1);
        mma_16816(c, a_lo[mt], b0, b1);
        so[((16 * mt + g) * kOutStride + tc) / 2] = pack_bf16x2(c[0], c[1]);
        so[((16 * mt + g + 8) * kOutStride + tc) / 2] = pack_bf16x2(c[2], c[3]);
      }
    }
    __syncthreads();

    // Store X̂[p, i, kap0 ..]: 16 chunks of 8 tiles per product.
    const std::int64_t i = index_div(group, groups_per_i);
    const std::int64_t kap0 = (group - i * groups_per_i) * kTiles;
    bf16_t* out_row = args.x_hat + i * args.ld + kap0;
    for (int c = threadIdx.x; c < args.rank * (kTiles / 8); c += kThreads) {
      const int p = c / (kTiles / 8), e = (c % (kTiles / 8)) * 8;
      const std::int64_t kap = kap0 + e;
      if (kap >= args.k) continue;
      const uint4 v = *reinterpret_cast<const uint4*>(s_out + p * kOutStride + e);
      bf16_t* dst = out_row + p * args.stride + e;
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
}

template <Activation ACT>
__global__ void __launch_bounds__(loop::kThreads) decode_mma_loop(const MmaDecodeArgs args, std::int64_t groups,
                                                                  std::int64_t groups_per_i) {
  using namespace loop;  // NOLINT(google-build-using-namespace): the block constants
  __shared__ __align__(16) bf16_t s_z[2][kMmaMaxRank * kZStride];
  __shared__ __align__(16) float s_y[4 * kYStride];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int ksteps = args.rank > 16 ? 2 : 1;

  // Rows p >= rank of both buffers are zero for good (the products' padding); the stages never touch them.
  for (int c = threadIdx.x; c < 2 * (kMmaMaxRank - args.rank) * (kZStride / 8); c += kThreads) {
    const int buf = c / ((kMmaMaxRank - args.rank) * (kZStride / 8));
    const int rest = c % ((kMmaMaxRank - args.rank) * (kZStride / 8));
    const int p = args.rank + rest / (kZStride / 8), e = (rest % (kZStride / 8)) * 8;
    *reinterpret_cast<uint4*>(&s_z[buf][p * kZStride + e]) = make_uint4(0, 0, 0, 0);
  }

  // Copies Z[p, i, jb ..] of `group` for p < rank into s_z[buf] (zeros beyond n).
  const auto stage = [&](std::int64_t group, int buf) {
    const std::int64_t i = index_div(group, groups_per_i);
    const std::int64_t jb = (group - i * groups_per_i) * kTiles;
    const bf16_t* src_row = args.z + i * args.ld_z + jb;
    for (int c = threadIdx.x; c < args.rank * (kTiles / 8); c += kThreads) {
      const int p = c / (kTiles / 8), e = (c % (kTiles / 8)) * 8;
      const std::int64_t j = jb + e;
      bf16_t* dst = &s_z[buf][p * kZStride + e];
      const bf16_t* src = src_row + p * args.stride_z + e;
      if (j < args.n && args.vec_z) {
        cp_async_16(dst, src, j + 8 <= args.n ? 16 : static_cast<int>((args.n - j) * 2));
      } else if (j < args.n) {
        unsigned short h[8];
#pragma unroll
        for (int e2 = 0; e2 < 8; ++e2) h[e2] = j + e2 < args.n ? __bfloat16_as_ushort(src[e2]) : 0;
        *reinterpret_cast<uint4*>(dst) = make_uint4(pack_bf16_bits(h[0], h[1]), pack_bf16_bits(h[2], h[3]),
                                                    pack_bf16_bits(h[4], h[5]), pack_bf16_bits(h[6], h[7]));
      } else {
        *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
      }
    }
  };

  std::int64_t group = blockIdx.x;
  if (group < groups) stage(group, 0);
  cp_async_commit();

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

  const int u = g >> 2, w = g & 3;  // C rows g and g+8 are tile elements (u, w) and (u + 2, w)
  for (int buf = 0; group < groups; group += gridDim.x, buf ^= 1) {
    if (group + gridDim.x < groups) stage(group + gridDim.x, buf ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();

#pragma unroll
    for (int ng = 0; ng < 4; ++ng) {
      const int tile0 = warp * 32 + ng * 8;
      // Pieces: rows p 0–7, 8–15, 16–23, 24–31 of tiles tile0..+7 = b0, b1 of k-step 0, then of k-step 1.
      unsigned b[4];
      ldmatrix_x4_trans(b, &s_z[buf][lane * kZStride + tile0]);
      float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      mma_16816(c, a_hi[0], b[0], b[1]);
      mma_16816(c, a_lo[0], b[0], b[1]);
      if (ksteps > 1) {  // block-uniform
        mma_16816(c, a_hi[1], b[2], b[3]);
        mma_16816(c, a_lo[1], b[2], b[3]);
      }
      const int tc = tile0 + 2 * t;  // C columns 2t, 2t+1
      s_y[u * kYStride + 4 * tc + w] = c[0];
      s_y[u * kYStride + 4 * (tc + 1) + w] = c[1];
      s_y[(u + 2) * kYStride + 4 * tc + w] = c[2];
      s_y[(u + 2) * kYStride + 4 * (tc + 1) + w] = c[3];
    }
    __syncthreads();

    const std::int64_t i = index_div(group, groups_per_i);
    const std::int64_t col0 = (group - i * groups_per_i) * (kTiles * 4);
    std::int64_t first;
    int real;
    args.rows.tile(i, 4, first, real);
#pragma unroll
    for (int jj = 0; jj < 4 * kTiles * 4 / 8 / kThreads; ++jj) {
      const int c = threadIdx.x + jj * kThreads;
      const int row = c / (kTiles * 4 / 8), e = (c % (kTiles * 4 / 8)) * 8;
      const std::int64_t col = col0 + e;
      if (row >= real || col >= args.cols) continue;
      const float4 lo4 = *reinterpret_cast<const float4*>(s_y + row * kYStride + e);
      const float4 hi4 = *reinterpret_cast<const float4*>(s_y + row * kYStride + e + 4);
      float out[8] = {lo4.x, lo4.y, lo4.z, lo4.w, hi4.x, hi4.y, hi4.z, hi4.w};
      const bool full = col + 8 <= args.cols;
      if (args.bias != nullptr) {
        float bv[8];
        if (full && args.vec_bias) {
          load_packed<bf16_t, 8>(args.bias + col, bv);
        } else {
#pragma unroll
          for (int e2 = 0; e2 < 8; ++e2)
            bv[e2] = col + e2 < args.cols ? __bfloat162float(args.bias[col + e2]) : 0.0f;
        }
#pragma unroll
        for (int e2 = 0; e2 < 8; ++e2) out[e2] += bv[e2];
      }
#pragma unroll
      for (int e2 = 0; e2 < 8; ++e2) out[e2] = activate<ACT>(out[e2]);
      bf16_t* dst = args.y + (first + row) * args.ldy + col;
      if (full && args.vec_y) {
        const uint4 v = make_uint4(pack_bf16x2(out[0], out[1]), pack_bf16x2(out[2], out[3]),
                                   pack_bf16x2(out[4], out[5]), pack_bf16x2(out[6], out[7]));
        __stwb(reinterpret_cast<uint4*>(dst), v);
      } else {
#pragma unroll
        for (int e2 = 0; e2 < 8; ++e2)
          if (col + e2 < args.cols) dst[e2] = __float2bfloat16_rn(out[e2]);
      }
    }
  }
}

// Launch on tensor cores, or return false (nothing launched) when mma_codec_applies says no.
inline bool run_encode_mma_loop(const EncodeParams& p, CoefLayout layout = {}) {
  const StlShape& s = p.shape;
  if (!mma_codec_applies(p.dtype, s.a, s.b, s.rank)) return false;
  const std::int64_t groups_per_i = (s.k() + loop::kTiles - 1) / loop::kTiles;
  const std::int64_t groups = s.m() * groups_per_i;
  if (groups == 0) return true;
  const CoefLayout enc = layout.resolved(16);
  MmaEncodeArgs args{static_cast<const bf16_t*>(p.x), p.ldx, s.in_features, p.enc_x, enc.row_stride,
                     enc.col_stride, s.rank, static_cast<bf16_t*>(p.x_hat), p.ld_x_hat, p.stride_x_hat, s.m(), s.k(),
                     make_row_map(s), false, false};
  args.vec_load = is_aligned(p.x, 16) && (p.ldx * 2) % 16 == 0;
  args.vec_store = is_aligned(p.x_hat, 16) && p.ld_x_hat % 8 == 0 && p.stride_x_hat % 8 == 0;
  if (s.rank > 16) {
    encode_mma_loop<2><<<resident_grid(encode_mma_loop<2>, groups), loop::kThreads, 0, p.stream>>>(args, groups,
                                                                                                   groups_per_i);
  } else {
    encode_mma_loop<1><<<resident_grid(encode_mma_loop<1>, groups), loop::kThreads, 0, p.stream>>>(args, groups,
                                                                                                   groups_per_i);
  }
  check_launch("encode_mma_loop");
  return true;
}

inline bool run_decode_mma_loop(const DecodeParams& p, CoefLayout layout = {}) {
  const StlShape& s = p.shape;
  if (!mma_codec_applies(p.dtype, s.a, s.c, s.rank)) return false;
  const std::int64_t groups_per_i = (s.n() + loop::kTiles - 1) / loop::kTiles;
  const std::int64_t groups = s.m() * groups_per_i;
  if (groups == 0) return true;
  const CoefLayout dec = layout.resolved(s.rank);
  MmaDecodeArgs args{static_cast<const bf16_t*>(p.z), p.ld_z, p.stride_z, s.m(), s.n(), p.dec, dec.row_stride,
                     dec.col_stride, s.rank, static_cast<const bf16_t*>(p.bias), static_cast<bf16_t*>(p.y), p.ldy,
                     s.out_features, make_row_map(s), false, false, false};
  args.vec_z = is_aligned(p.z, 16) && p.ld_z % 8 == 0 && p.stride_z % 8 == 0;
  args.vec_y = is_aligned(p.y, 16) && (p.ldy * 2) % 16 == 0;
  args.vec_bias = is_aligned(p.bias, 16);
  const auto launch = [&](auto kernel) {
    kernel<<<resident_grid(kernel, groups), loop::kThreads, 0, p.stream>>>(args, groups, groups_per_i);
  };
  switch (p.activation) {
    case Activation::relu: launch(decode_mma_loop<Activation::relu>); break;
    case Activation::gelu_tanh: launch(decode_mma_loop<Activation::gelu_tanh>); break;
    case Activation::none: launch(decode_mma_loop<Activation::none>); break;
  }
  check_launch("decode_mma_loop");
  return true;
}

}  // namespace strassentile::cuda::detail
