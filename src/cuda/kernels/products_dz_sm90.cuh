// products_dz_sm90: the backward's recomputed products and its dZ pass as one sm_90a kernel, for ranks r <= 3 and
// tiles with a·c <= 4 output entries. For product t and product position (p, q), with g the a × c tile of dY that
// Y[row(p, i), c·q + j] takes its gradient from (slot = i·c + j):
//   dZ[t][p, q]  = Σ_slot D[slot, t] · g[slot]
//   dD[slot, t] += g[slot] · Z[t][p, q],   Z[t] = X̂[t]·Ŵ[t]
// and, beside product 0, the bias's gradient: dY's column sums.
//
// Why: Z is needed only for dD. Unfused, the backward recomputes it by one batched GEMM into the workspace (r·m·n
// elements written) and the dZ pass reads it back beside dY; here each finished product's accumulator (the pipeline
// of products_sm90.cuh) meets dY in the epilogue and Z never goes to global memory. dY's block is read once per
// product, the second and third time from L2.
//
// Partial sums, deterministic (no atomics): each CTA writes its dD over every block it walked as one row of
// rank × a·c (sum_fold_partials adds the rows in order), and the bias's column sums over one block's 128 product rows
// as that block's row of out_features (sum_partials adds them).
#pragma once

#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>

#include "device_math.cuh"
#include "launchers.hpp"
#include "products_sm90.cuh"

namespace strassentile::cuda::detail {
namespace fused_dz {

using namespace products_sm90;
constexpr int kMaxRank = kProductsDecodeMaxRank;
constexpr int kMaxSlots = kProductsDecodeMaxSlots;
constexpr int kLoadChunk = 16;  // accumulator entries per chunk of dY loads (8 of them per h)

struct SharedStorage {
  Ring<kProductsDzStages> ring;
  float dec[kMaxSlots * kMaxRank];
  // dD's sums by product and slot, per consumer thread: in shared memory, not in registers the mainloop needs.
  float dd[kMaxRank * kMaxSlots][kConsumers * 128];
};
constexpr std::size_t kSharedBytes = sizeof(SharedStorage) + 1024;  // + the 1 KiB alignment of the swizzled tiles
static_assert(kSharedBytes <= 227 * 1024, "shared memory of one CTA");

// The epilogue of product t on block (p0, q0): dZ[t] stored, dD's sums in `dd` (this product's), the bias's column
// sums of the block written where `bias_sums`. Interior blocks (interior_block) step one pointer down dY's rows;
// the others map rows through the sequences' padding and check every side. All 32 lanes reach the shuffles.
template <int A, int C, bool kInterior>
__device__ __forceinline__ void dz_epilogue(const ProductsDzArgs& args, const float (&acc)[kAcc],
                                            const float (&dcol)[A * C], int t, int p0, int q0, const Fragment& f,
                                            float (&dd)[A * C], bool bias_sums) {
  const RowMap rows{args.rows, args.seq, args.per_seq};
  const auto* dy = static_cast<const bf16*>(args.dy);
  auto* dz = static_cast<bf16*>(args.dz) + t * args.stride_dz;
  const std::int64_t ldy = args.ldy;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int q = f.q(q0, h);
    const std::int64_t cols_past_q = args.out_features - std::int64_t{C} * q;
    const int cols_left = kInterior ? C : q >= args.n ? 0 : cols_past_q < C ? static_cast<int>(cols_past_q) : C;
    float col[C];
#pragma unroll
    for (int j = 0; j < C; ++j) col[j] = 0.0f;
    // Interior: one pointer stepping down dY's rows, as products_decode_sm90 steps down Y's.
    const bf16* g_row = dy + std::int64_t{A} * f.p(p0, 0) * ldy + std::int64_t{C} * q;
#pragma unroll
    for (int e4 = 0; e4 < kAcc; e4 += 4) {
#pragma unroll
      for (int odd = 0; odd < 2; ++odd) {
        const int e = e4 + 2 * h + odd;
        const int p = f.p(p0, e);
        float g[A][C];
        if constexpr (kInterior) {
#pragma unroll
          for (int i = 0; i < A; ++i) {
            load_bf16_group<C>(g_row, g[i]);
            g_row += ldy;
          }
        } else {
          std::int64_t first_row = 0;
          int real_rows = 0;
          if (p < args.m) rows.tile(p, A, first_row, real_rows);
#pragma unroll
          for (int i = 0; i < A; ++i)
#pragma unroll
            for (int j = 0; j < C; ++j)
              g[i][j] = i < real_rows && j < cols_left
                            ? __bfloat162float(dy[(first_row + i) * ldy + std::int64_t{C} * q + j])
                            : 0.0f;
        }
        float dz_value = 0.0f;
#pragma unroll
        for (int i = 0; i < A; ++i)
#pragma unroll
          for (int j = 0; j < C; ++j) {
            dz_value = fmaf(dcol[i * C + j], g[i][j], dz_value);
            dd[i * C + j] = fmaf(g[i][j], acc[e], dd[i * C + j]);
            col[j] += g[i][j];
          }
        if (kInterior || (p < args.m && q < args.n))
          dz[std::int64_t{p} * args.ld_dz + q] = __float2bfloat16_rn(dz_value);
      }
      if constexpr (kInterior) g_row += std::int64_t{6 * A} * ldy;  // rows a·(p + 2) to a·(p + 8)
      // dY's loads in chunks of 8 entries: enough in flight (16 KiB a CTA at <2,·,2>) without the registers of all 64.
      if ((e4 + 4) % kLoadChunk == 0) asm volatile("" ::: "memory");
    }
    if (bias_sums) {  // the four lanes of one q hold its 128 product rows between them
#pragma unroll
      for (int j = 0; j < C; ++j) {
        col[j] += __shfl_xor_sync(0xffffffffu, col[j], 1);
        col[j] += __shfl_xor_sync(0xffffffffu, col[j], 2);
      }
      if (f.lane % 4 == 0) {
        float* out = args.bias_partials + std::int64_t{p0 / kBlockP} * args.out_features + std::int64_t{C} * q;
#pragma unroll
        for (int j = 0; j < C; ++j)
          if (j < cols_left) out[j] = col[j];
      }
    }
  }
}

template <int A, int C>
__global__ void __launch_bounds__(kThreads, 1) __cluster_dims__(kCluster, 1, 1)
    products_dz_sm90(const ProductsDzArgs args, const __grid_constant__ CUtensorMap w_map,
                     const __grid_constant__ CUtensorMap x_map) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kSlots = A * C;
  extern __shared__ std::uint8_t raw_smem[];
  SharedStorage& s = aligned_storage<SharedStorage>(raw_smem);
  const CtaPlace place;
  const int warpgroup = place.warpgroup, tid = place.tid, cta_q = place.cta_q, cluster = place.cluster,
            clusters = place.clusters;
  const int r = args.rank;

  for (int i = threadIdx.x; i < kSlots * r; i += kThreads) s.dec[i] = args.dec[i];
  for (int i = threadIdx.x; i < kMaxRank * kMaxSlots * kConsumers * 128; i += kThreads) (&s.dd[0][0])[i] = 0.0f;
  init_ring(s.ring);
  __syncthreads();
  sm90::cluster_sync();

  const BlockGrid grid(args.m, args.n, args.k);
  if (warpgroup == 0) {
    run_producer(s.ring, grid, r, place, &w_map, &x_map);
  } else {
    start_consumer(s.ring, tid);
    const int consumer = warpgroup - 1, warp = tid / 32, lane = tid % 32;
    const Fragment f{consumer, warp, lane, tid};
    const int ct = consumer * 128 + tid;  // this thread's column of s.dd
    float acc[kAcc];
    RingCursor at;
    for (int tile = cluster; tile < grid.tiles; tile += clusters) {
      const int p0 = grid.p0(tile), q0 = grid.q0(tile, cta_q);
      const bool interior =
          interior_block(args.whole_tiles, args.vector_access, args.m, args.n, args.out_features, p0, q0, C);
      for (int t = 0; t < r; ++t) {
        multiply(s.ring, at, grid.k_blocks, consumer, tid, acc);
        float dcol[kSlots], part[kSlots];
#pragma unroll
        for (int slot = 0; slot < kSlots; ++slot) dcol[slot] = s.dec[slot * r + t], part[slot] = 0.0f;
        const bool bias_sums = t == 0 && args.bias_partials != nullptr;
        if (interior)
          dz_epilogue<A, C, true>(args, acc, dcol, t, p0, q0, f, part, bias_sums);
        else
          dz_epilogue<A, C, false>(args, acc, dcol, t, p0, q0, f, part, bias_sums);
#pragma unroll
        for (int slot = 0; slot < kSlots; ++slot) s.dd[t * kSlots + slot][ct] += part[slot];
      }
    }
    // dD: the CTA's sums over its consumer threads, one warp per (product, slot), then one row of rank × a·c.
    asm volatile("bar.sync 1, %0;\n" ::"n"(128 * kConsumers) : "memory");  // the consumer warpgroups only
    for (int i = consumer * 4 + warp; i < r * kSlots; i += kConsumers * 4) {
      float v = 0.0f;
      for (int c = lane; c < kConsumers * 128; c += 32) v += s.dd[i][c];
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
      if (lane == 0) args.dd_partials[static_cast<std::int64_t>(blockIdx.x) * r * kSlots + i] = v;
    }
  }
  // No CTA leaves while its partner may still arrive on its barriers or multicast into its shared memory.
  sm90::cluster_sync();
#endif
}

}  // namespace fused_dz

template <int A, int C>
int launch_products_dz_sm90(const ProductsDzArgs& args, const void* x_hat, const void* w_hat_t, cudaStream_t stream) {
  using namespace fused_dz;
  static_assert(A * C <= kProductsDecodeMaxSlots);
  static std::atomic<int> resident[kMaxCachedDevices];
  const ProductsLaunch launch = products_launch(products_dz_sm90<A, C>, kSharedBytes, resident, args.m, args.n,
                                                args.k, args.rank, x_hat, w_hat_t);
  products_dz_sm90<A, C><<<launch.ctas, kThreads, kSharedBytes, stream>>>(args, launch.w_map, launch.x_map);
  check_launch("products_dz_sm90");
  return launch.ctas;
}

}  // namespace strassentile::cuda::detail
