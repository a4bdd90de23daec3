// products_decode_sm90: the forward's products and decode as one sm_90a kernel, for ranks r <= 3 and tiles with
// a·c <= 4 output entries: Y = act(decode(Z) + bias), Z[t] = X̂[t]·Ŵ[t], and Z never goes to global memory.
//
// Why: for r <= 3 the unfused pipeline's decode pass over Z (r·m·n elements written, then read) is its largest cost
// at narrow widths. The products run through the pipeline of products_sm90.cuh (a plain GEMM's 64 × 128 fp32
// accumulator per consumer warpgroup); each finished product but the last is staged in shared memory as bf16 (each
// thread its own fragment in its own 4-byte lanes: no barrier, no bank conflict). The last product's accumulator is
// decoded with the staged ones straight into Y. Z[t < r−1] is rounded to bf16 once, as the pipeline rounds every
// Z[t]. Measured against the pipeline and dense on an H100: docs/PERFORMANCE.md ("The fused products and decode").
//
// Operands: X̂ as r × m × k_run, k-contiguous with zeros past k, and Ŵ as r × k × n, n-contiguous, read in place
// (products_sm90.cuh).
#pragma once

#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>

#include "device_math.cuh"
#include "launchers.hpp"
#include "products_sm90.cuh"

namespace strassentile::cuda::detail {
namespace fused_forward {

using namespace products_sm90;
constexpr int kStagedProducts = kProductsDecodeMaxRank - 1;

struct SharedStorage {
  Ring<kProductsDecodeStages> ring;
  // The products before the last, as bf16 pairs: [product][consumer][pair of accumulator entries][thread].
  std::uint32_t staged[kStagedProducts][kConsumers][kAcc / 2][128];
  float dec[kProductsDecodeMaxSlots * kProductsDecodeMaxRank];
};
constexpr std::size_t kSharedBytes = sizeof(SharedStorage) + 1024;  // + the 1 KiB alignment of the swizzled tiles
static_assert(kSharedBytes <= 227 * 1024, "shared memory of one CTA");

template <int C>
__device__ __forceinline__ void store_row(bf16* y, const float (&values)[C], int cols_left, bool vector_store) {
  if (vector_store && cols_left >= C) {
    store_bf16_group<C>(y, values);
  } else {
#pragma unroll
    for (int j = 0; j < C; ++j)
      if (j < cols_left) y[j] = __float2bfloat16_rn(values[j]);
  }
}

// D's columns as the epilogue reads them: the last product's apart, a product past r weighing 0.
template <int kSlots>
struct DecodeCoefs {
  float last[kSlots];
  float staged[kSlots][kStagedProducts];
  __device__ __forceinline__ DecodeCoefs(const SharedStorage& s, int r) {
#pragma unroll
    for (int slot = 0; slot < kSlots; ++slot) {
      last[slot] = s.dec[slot * r + r - 1];
#pragma unroll
      for (int t = 0; t < kStagedProducts; ++t) staged[slot][t] = t + 1 < r ? s.dec[slot * r + t] : 0.0f;
    }
  }
};

// Entry e of the earlier products, from this thread's own lanes; a product past r reads as 0, not as stale bits
// (0 × NaN).
__device__ __forceinline__ void staged_entries(const SharedStorage& s, const Fragment& f, int r, int e,
                                               float (&z)[kStagedProducts]) {
#pragma unroll
  for (int t = 0; t < kStagedProducts; ++t) {
    const std::uint32_t bits = t + 1 < r ? s.staged[t][f.consumer][e / 2][f.tid] : 0u;
    const __nv_bfloat162 pair = *reinterpret_cast<const __nv_bfloat162*>(&bits);
    z[t] = __bfloat162float(e % 2 ? pair.y : pair.x);
  }
}

template <int A, int C>
__device__ __forceinline__ float decode_entry(const DecodeCoefs<A * C>& coef, int slot, float last,
                                              const float (&z)[kStagedProducts], float bias) {
  float v = fmaf(coef.last[slot], last, bias);
#pragma unroll
  for (int t = 0; t < kStagedProducts; ++t) v = fmaf(coef.staged[slot][t], z[t], v);
  return v;
}

// Whether the block is interior: all its product rows and columns real, product row p filling Y's rows a·p ..
// a·p + a − 1 (no sequence padding: the sequence length is a multiple of a), every column inside out_features, and
// Y taking c-element vector stores. Nearly every block of a large layer is; decode_interior runs them on a short
// instruction stream, as the instruction cache needs at 64 unrolled entries a thread.
__device__ __forceinline__ bool interior_block(const ProductsDecodeArgs& args, int p0, int q0, int c) {
  return args.whole_tiles && args.vector_store && p0 + kBlockP <= args.m && q0 + kBlockQ <= args.n &&
         std::int64_t{c} * (q0 + kBlockQ) <= args.out_features;
}

template <int A, int C, Activation ACT>
__device__ __forceinline__ void decode_interior(const ProductsDecodeArgs& args, const SharedStorage& s,
                                                const float (&acc)[kAcc], int p0, int q0, const Fragment& f) {
  const DecodeCoefs<A * C> coef(s, args.rank);
  const auto* bias_in = static_cast<const bf16*>(args.bias);
  const std::int64_t ldy = args.ldy;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int q = f.q(q0, h);
    float bias[C];
#pragma unroll
    for (int j = 0; j < C; ++j) bias[j] = bias_in != nullptr ? __bfloat162float(bias_in[C * q + j]) : 0.0f;
    // One pointer stepping down Y's rows: offsets computed ahead for all 64 entries would not fit the registers.
    bf16* y = static_cast<bf16*>(args.y) + std::int64_t{A} * f.p(p0, 0) * ldy + std::int64_t{C} * q;
#pragma unroll
    for (int e4 = 0; e4 < kAcc; e4 += 4) {
#pragma unroll
      for (int odd = 0; odd < 2; ++odd) {
        const int e = e4 + 2 * h + odd;
        float z[kStagedProducts];
        staged_entries(s, f, args.rank, e, z);
#pragma unroll
        for (int i = 0; i < A; ++i) {
          float values[C];
#pragma unroll
          for (int j = 0; j < C; ++j) values[j] = activate<ACT>(decode_entry<A, C>(coef, i * C + j, acc[e], z, bias[j]));
          store_row<C>(y, values, C, true);
          y += ldy;
        }
      }
      y += std::int64_t{6 * A} * ldy;  // from row a·(p + 2) to a·(p + 8): the next 8 product rows of this thread
    }
  }
}

// Any block: rows cut by the sequences' padding and by m, columns by n and out_features, element-wise stores where
// Y's rows are not aligned, the activation chosen at run time (one copy of this long path, not three).
template <int A, int C>
__device__ __forceinline__ void decode_edge(const ProductsDecodeArgs& args, const SharedStorage& s,
                                            const float (&acc)[kAcc], int p0, int q0, const Fragment& f) {
  const DecodeCoefs<A * C> coef(s, args.rank);
  const RowMap rows{args.rows, args.seq, args.per_seq};
  auto* y = static_cast<bf16*>(args.y);
  const auto* bias_in = static_cast<const bf16*>(args.bias);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int q = f.q(q0, h);
    if (q >= args.n) continue;
    const std::int64_t cols_past_q = args.out_features - std::int64_t{C} * q;
    const int cols_left = cols_past_q < C ? static_cast<int>(cols_past_q) : C;
    float bias[C];
#pragma unroll
    for (int j = 0; j < C; ++j) bias[j] = bias_in != nullptr && j < cols_left ? __bfloat162float(bias_in[C * q + j]) : 0.0f;
#pragma unroll
    for (int e4 = 0; e4 < kAcc; e4 += 4) {
#pragma unroll
      for (int odd = 0; odd < 2; ++odd) {
        const int e = e4 + 2 * h + odd;
        const int p = f.p(p0, e);
        if (p >= args.m) continue;
        float z[kStagedProducts];
        staged_entries(s, f, args.rank, e, z);
        std::int64_t first_row;
        int real_rows;
        rows.tile(p, A, first_row, real_rows);
#pragma unroll
        for (int i = 0; i < A; ++i) {
          if (i >= real_rows) break;
          float values[C];
#pragma unroll
          for (int j = 0; j < C; ++j) values[j] = activate(decode_entry<A, C>(coef, i * C + j, acc[e], z, bias[j]), args.activation);
          store_row<C>(y + (first_row + i) * args.ldy + std::int64_t{C} * q, values, cols_left, args.vector_store);
        }
      }
    }
  }
}

template <int A, int C>
__global__ void __launch_bounds__(kThreads, 1) __cluster_dims__(kCluster, 1, 1)
    products_decode_sm90(const ProductsDecodeArgs args, const __grid_constant__ CUtensorMap w_map,
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
  init_ring(s.ring);
  __syncthreads();
  sm90::cluster_sync();

  const BlockGrid grid(args.m, args.n, args.k);
  if (warpgroup == 0) {
    run_producer(s.ring, grid, r, place, &w_map, &x_map);
  } else {
    start_consumer(s.ring, tid);
    const int consumer = warpgroup - 1, warp = tid / 32, lane = tid % 32;
    float acc[kAcc];
    RingCursor at;
    for (int tile = cluster; tile < grid.tiles; tile += clusters) {
      const int p0 = grid.p0(tile), q0 = grid.q0(tile, cta_q);
      for (int t = 0; t < r; ++t) {
        multiply(s.ring, at, grid.k_blocks, consumer, tid, acc);
        if (t + 1 < r) {
#pragma unroll
          for (int e2 = 0; e2 < kAcc / 2; ++e2) {
            const __nv_bfloat162 pair = __floats2bfloat162_rn(acc[2 * e2], acc[2 * e2 + 1]);
            s.staged[t][consumer][e2][tid] = *reinterpret_cast<const std::uint32_t*>(&pair);
          }
        }
      }

      const Fragment f{consumer, warp, lane, tid};
      if (!interior_block(args, p0, q0, C)) {
        decode_edge<A, C>(args, s, acc, p0, q0, f);
      } else if (args.activation == Activation::relu) {
        decode_interior<A, C, Activation::relu>(args, s, acc, p0, q0, f);
      } else if (args.activation == Activation::gelu_tanh) {
        decode_interior<A, C, Activation::gelu_tanh>(args, s, acc, p0, q0, f);
      } else {
        decode_interior<A, C, Activation::none>(args, s, acc, p0, q0, f);
      }
    }
  }
  // No CTA leaves while its partner may still arrive on its barriers or multicast into its shared memory.
  sm90::cluster_sync();
#endif
}

}  // namespace fused_forward

template <int A, int C>
void launch_products_decode_sm90(const ProductsDecodeArgs& args, const void* x_hat, ConstProductTensor w_hat,
                                 cudaStream_t stream) {
  using namespace fused_forward;
  static_assert(A * C <= kProductsDecodeMaxSlots);
  static std::atomic<int> resident[kMaxCachedDevices];
  const ProductsLaunch launch = products_launch(products_decode_sm90<A, C>, kSharedBytes, resident, args.m, args.n,
                                                args.k, args.w_rows, args.rank, x_hat, w_hat);
  products_decode_sm90<A, C><<<launch.ctas, kThreads, kSharedBytes, stream>>>(args, launch.w_map, launch.x_map);
  check_launch("products_decode_sm90");
}

}  // namespace strassentile::cuda::detail
