// products_decode_sm90: the forward's products and decode as one sm_90a kernel, for ranks r <= 3 and tiles with
// a·c <= 4 output entries: Y = act(decode(Z) + bias), Z[t] = X̂[t]·Ŵ[t], and Z never goes to global memory.
//
// Why: for r <= 3 the unfused pipeline's decode pass over Z (r·m·n elements written, then read) is its largest cost
// at narrow widths; here each CTA keeps one 64 × 128 fp32 accumulator per consumer warpgroup, a plain GEMM's width,
// and stages each finished product but the last in shared memory as bf16 (each thread its own fragment in its own
// 4-byte lanes: no barrier, no bank conflict). The last product's accumulator is decoded with the staged ones
// straight into Y. Z[t < r−1] is rounded to bf16 once, as the pipeline rounds every Z[t].
//
// Each CTA owns a block of 128 product rows p (X̂'s rows) × 128 product columns q (Ŵᵀ's rows), runs the r products
// of that block one after another through one TMA → WGMMA pipeline (one producer warp, two consumer warpgroups of 64
// q each), and CTAs are paired in clusters of two along q: the pair's first CTA multicasts the shared X̂ tile to both.
// Persistent: each cluster walks blocks tile, tile + clusters, ... Measured against the pipeline and dense on an H100:
// docs/PERFORMANCE.md ("The fused products and decode").
//
// Operands: X̂ as r × m × k_run and Ŵᵀ as r × n × k_run, both bf16 and k-contiguous with zeros past k (the forward
// transposes Ŵ into its workspace for this). The tensor maps read rows past m or n as zeros.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "device_math.cuh"
#include "launchers.hpp"
#include "ptx_sm90.cuh"

namespace strassentile::cuda::detail {
namespace fused_forward {

using bf16 = __nv_bfloat16;
constexpr int kAtomK = 64;     // k per stage: one 128-byte swizzle row of bf16
constexpr int kBlockQ = 128;   // Ŵᵀ rows (product columns q) per CTA: two consumer warpgroups of 64
constexpr int kBlockP = 128;   // X̂ rows (product rows p) per CTA: the accumulator's width
constexpr int kConsumers = 2;
constexpr int kThreads = 128 * (kConsumers + 1);
constexpr int kCluster = 2;    // CTAs along q sharing one X̂ tile
constexpr int kStagedProducts = kProductsDecodeMaxRank - 1;
constexpr int kAcc = kBlockP / 2;  // fp32 accumulator registers per thread (64 × kBlockP per warpgroup)

struct SharedStorage {
  bf16 w[kProductsDecodeStages][kBlockQ * kAtomK];  // Ŵᵀ tiles, each a multiple of the 1 KiB swizzle atom
  bf16 x[kProductsDecodeStages][kBlockP * kAtomK];  // X̂ tiles
  // The products before the last, as bf16 pairs: [product][consumer][pair of accumulator entries][thread].
  std::uint32_t staged[kStagedProducts][kConsumers][kAcc / 2][128];
  alignas(8) std::uint64_t full[kProductsDecodeStages];
  alignas(8) std::uint64_t empty[kProductsDecodeStages];
  float dec[kProductsDecodeMaxSlots * kProductsDecodeMaxRank];
};
constexpr std::size_t kSharedBytes = sizeof(SharedStorage) + 1024;  // + the 1 KiB alignment of the swizzled tiles
static_assert(kSharedBytes <= 227 * 1024, "shared memory of one CTA");

// A stage is free again once one thread of each consumer warpgroup of both CTAs has arrived: either CTA's producer
// may write into both CTAs' stages.
__device__ __forceinline__ void release_stage(std::uint64_t* empty, int tid) {
  if (tid < kCluster) sm90::barrier_arrive_cluster(empty, static_cast<std::uint32_t>(tid));
}

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

// Accumulator entry e of this thread: product column q = 16·warp + lane/4 + 8·((e/2) % 2) of the consumer's 64,
// product row p = 8·(e/4) + 2·(lane % 4) + e % 2; it lands in Y[row(p, i), c·q + j] for output entry (i, j).
struct Fragment {
  int consumer, warp, lane, tid;
  __device__ __forceinline__ int q(int q0, int h) const { return q0 + consumer * 64 + warp * 16 + lane / 4 + 8 * h; }
  __device__ __forceinline__ int p(int p0, int e) const { return p0 + 8 * (e / 4) + 2 * (lane % 4) + e % 2; }
  // Entry e of the earlier products, from this thread's own lanes; a product past r reads as 0, not as stale bits
  // (0 × NaN).
  __device__ __forceinline__ void staged(const SharedStorage& s, int r, int e, float (&z)[kStagedProducts]) const {
#pragma unroll
    for (int t = 0; t < kStagedProducts; ++t) {
      const std::uint32_t bits = t + 1 < r ? s.staged[t][consumer][e / 2][tid] : 0u;
      const __nv_bfloat162 pair = *reinterpret_cast<const __nv_bfloat162*>(&bits);
      z[t] = __bfloat162float(e % 2 ? pair.y : pair.x);
    }
  }
};

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
        f.staged(s, args.rank, e, z);
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
        f.staged(s, args.rank, e, z);
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
  SharedStorage& s = *reinterpret_cast<SharedStorage*>((reinterpret_cast<std::uintptr_t>(raw_smem) + 1023) &
                                                       ~static_cast<std::uintptr_t>(1023));
  const int warpgroup = threadIdx.x / 128, tid = threadIdx.x % 128;
  const int cta_q = static_cast<int>(sm90::cluster_cta_rank());
  const int cluster = blockIdx.x / kCluster, clusters = gridDim.x / kCluster;
  const int r = args.rank;

  for (int i = threadIdx.x; i < kSlots * r; i += kThreads) s.dec[i] = args.dec[i];
  if (threadIdx.x == 0) {
    for (int i = 0; i < kProductsDecodeStages; ++i) {
      sm90::barrier_init(&s.full[i], 1);
      sm90::barrier_init(&s.empty[i], kConsumers * kCluster);
    }
    sm90::fence_barrier_init();
  }
  __syncthreads();
  sm90::cluster_sync();

  const int q_blocks = (args.n + kBlockQ - 1) / kBlockQ, p_blocks = (args.m + kBlockP - 1) / kBlockP;
  const int q_groups = (q_blocks + kCluster - 1) / kCluster;
  const int tiles = q_groups * p_blocks, k_blocks = (args.k + kAtomK - 1) / kAtomK;

  if (warpgroup == 0) {
    sm90::registers_decrease<40>();
    if (tid == 0) {
      int stage = 0, phase = 0;
      for (int tile = cluster; tile < tiles; tile += clusters) {
        const int p0 = (tile / q_groups) * kBlockP;
        const int q0 = ((tile % q_groups) * kCluster + cta_q) * kBlockQ;
        for (int t = 0; t < r; ++t) {
          for (int kb = 0; kb < k_blocks; ++kb) {
            sm90::barrier_wait(&s.empty[stage], phase);
            sm90::barrier_expect_bytes(&s.full[stage], (kBlockQ + kBlockP) * kAtomK * sizeof(bf16));
            sm90::tma_load_3d(s.w[stage], &w_map, &s.full[stage], kb * kAtomK, q0, t);
            if (cta_q == 0)
              sm90::tma_load_3d_multicast(s.x[stage], &x_map, &s.full[stage], kb * kAtomK, p0, t, 0b11);
            if (++stage == kProductsDecodeStages) stage = 0, phase ^= 1;
          }
        }
      }
    }
  } else {
    sm90::registers_increase<232>();
    const int consumer = warpgroup - 1, warp = tid / 32, lane = tid % 32;
    for (int i = 0; i < kProductsDecodeStages; ++i) release_stage(&s.empty[i], tid);
    float acc[kAcc];
    int stage = 0, phase = 0;
    for (int tile = cluster; tile < tiles; tile += clusters) {
      const int p0 = (tile / q_groups) * kBlockP;
      const int q0 = ((tile % q_groups) * kCluster + cta_q) * kBlockQ;
      for (int t = 0; t < r; ++t) {
        int pending = -1;  // the stage whose MMAs may still be reading it
        for (int kb = 0; kb < k_blocks; ++kb) {
          sm90::barrier_wait(&s.full[stage], phase);
          sm90::wgmma_fence();
          const std::uint64_t desc_w = sm90::smem_descriptor(&s.w[stage][consumer * 64 * kAtomK]);
          const std::uint64_t desc_x = sm90::smem_descriptor(&s.x[stage][0]);
#pragma unroll
          for (int k16 = 0; k16 < kAtomK / 16; ++k16)  // 16 bf16 = 32 bytes = 2 in the descriptor's units
            sm90::wgmma_m64n128k16_bf16(acc, desc_w + 2 * k16, desc_x + 2 * k16, (kb > 0 || k16 > 0) ? 1 : 0);
          sm90::wgmma_commit();
          sm90::wgmma_wait<1>();
          if (pending >= 0) release_stage(&s.empty[pending], tid);
          pending = stage;
          if (++stage == kProductsDecodeStages) stage = 0, phase ^= 1;
        }
        sm90::wgmma_wait<0>();
        release_stage(&s.empty[pending], tid);
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

// cuTensorMapEncodeTiled through the runtime's driver entry point: no link against libcuda.
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
inline EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found{};
    check_cuda(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &found),
               "cudaGetDriverEntryPointByVersion(cuTensorMapEncodeTiled)");
    if (found != cudaDriverEntryPointSuccess || p == nullptr)
      throw std::runtime_error("products_decode_sm90: the CUDA driver has no cuTensorMapEncodeTiled");
    return reinterpret_cast<EncodeTiled>(p);
  }();
  return fn;
}

// r matrices of rows × k_run bf16 (leading dimension k_run, batch stride rows·k_run) as a 3-D tensor (k, row,
// product): a box never crosses into the next product, and rows past the end read as zeros.
inline CUtensorMap product_map(const void* base, std::int64_t k_run, std::int64_t rows, int rank, int box_rows) {
  CUtensorMap map;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(k_run), static_cast<cuuint64_t>(rows),
                              static_cast<cuuint64_t>(rank)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(k_run) * sizeof(bf16),
                                 static_cast<cuuint64_t>(rows * k_run) * sizeof(bf16)};
  const cuuint32_t box[3] = {kAtomK, static_cast<cuuint32_t>(box_rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult result = encode_tiled()(
      &map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void*>(base), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS)
    throw std::runtime_error("products_decode_sm90: cuTensorMapEncodeTiled failed (" +
                             std::to_string(static_cast<int>(result)) + ")");
  return map;
}

// product_map through a cache of the last kCachedMaps operand sets: encoding a map is host work that the GPU waits
// for at every launch, while the caching allocator hands the same workspace back call after call. A map depends only
// on its key, so a hit is the map that would be built.
constexpr int kCachedMaps = 32;
inline CUtensorMap cached_product_map(int device, const void* base, std::int64_t k_run, std::int64_t rows, int rank,
                                      int box_rows) {
  struct Entry {
    int device = -1;
    const void* base = nullptr;
    std::int64_t k_run = 0, rows = 0;
    int rank = 0, box_rows = 0;
    CUtensorMap map{};
  };
  static std::mutex mutex;
  static Entry entries[kCachedMaps];
  static int next = 0;
  const std::lock_guard<std::mutex> lock(mutex);
  for (const Entry& e : entries)
    if (e.device == device && e.base == base && e.k_run == k_run && e.rows == rows && e.rank == rank &&
        e.box_rows == box_rows)
      return e.map;
  Entry& e = entries[next];
  next = (next + 1) % kCachedMaps;
  e = Entry{device, base, k_run, rows, rank, box_rows, product_map(base, k_run, rows, rank, box_rows)};
  return e.map;
}

}  // namespace fused_forward

template <int A, int C>
void launch_products_decode_sm90(const ProductsDecodeArgs& args, const void* x_hat, const void* w_hat_t,
                                 cudaStream_t stream) {
  using namespace fused_forward;
  static_assert(A * C <= kProductsDecodeMaxSlots);
  auto* kernel = products_decode_sm90<A, C>;
  int device = 0, sms = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  // Once per device: the shared-memory opt-in, and how many clusters of two can be resident at once. A persistent
  // grid larger than that runs its last clusters after the others have finished all their blocks (on an H100,
  // pairs of SMs within a GPC: fewer than sms / 2).
  const auto resident_clusters = [&] {
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes),
               "products_decode_sm90: cudaFuncSetAttribute");
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(sms));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = kSharedBytes;
    cudaLaunchAttribute cluster{};
    cluster.id = cudaLaunchAttributeClusterDimension;
    cluster.val.clusterDim.x = kCluster;
    cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
    config.attrs = &cluster;
    config.numAttrs = 1;
    int clusters = 0;
    check_cuda(cudaOccupancyMaxActiveClusters(&clusters, kernel, &config),
               "products_decode_sm90: cudaOccupancyMaxActiveClusters");
    return std::max(1, std::min(clusters, sms / kCluster));
  };
  static std::atomic<int> resident[kMaxCachedDevices];
  int max_clusters = device < kMaxCachedDevices ? resident[device].load(std::memory_order_acquire) : 0;
  if (max_clusters == 0) {
    max_clusters = resident_clusters();
    if (device < kMaxCachedDevices) resident[device].store(max_clusters, std::memory_order_release);
  }
  const CUtensorMap w_map = cached_product_map(device, w_hat_t, args.k, args.n, args.rank, kBlockQ);
  const CUtensorMap x_map = cached_product_map(device, x_hat, args.k, args.m, args.rank, kBlockP);
  const int q_groups = static_cast<int>((args.n + kBlockQ * kCluster - 1) / (kBlockQ * kCluster));
  const int p_blocks = static_cast<int>((args.m + kBlockP - 1) / kBlockP);
  const int clusters = std::max(1, std::min(max_clusters, q_groups * p_blocks));
  kernel<<<clusters * kCluster, kThreads, kSharedBytes, stream>>>(args, w_map, x_map);
  check_launch("products_decode_sm90");
}

}  // namespace strassentile::cuda::detail
