// products_sm90: the TMA → WGMMA pipeline of the r products Z[t] = X̂[t]·Ŵ[t] under the fused forward's epilogue
// (products_decode_sm90.cuh).
//
// Each CTA owns a block of 128 product rows p (X̂'s rows) × 128 product columns q (Ŵ's columns) and runs the r products
// of that block one after another through one TMA → WGMMA pipeline: one producer warp, two consumer warpgroups of 64
// q each, one 64 × 128 fp32 accumulator per consumer warpgroup. CTAs are paired in clusters of two along q: the
// pair's first CTA multicasts the shared X̂ tile to both. Persistent: each cluster walks blocks tile, tile +
// clusters, ... The kernel's epilogue (products_decode_sm90.cuh) takes each finished product.
//
// Operands: X̂ as r × m × k_run, bf16, k-contiguous with zeros past k; Ŵ as the layer holds it, r × k × n, bf16,
// n-contiguous (rows 16-byte aligned), which the MMAs read transposed (an MN-major A operand). The tensor maps read
// X̂'s rows past m, Ŵ's rows past k and its columns past n as zeros.
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
#include "launchers.hpp"
#include "ptx_sm90.cuh"

namespace strassentile::cuda::detail::products_sm90 {

using bf16 = __nv_bfloat16;
constexpr int kAtomK = 64;     // k per stage: one 128-byte swizzle row of bf16
constexpr int kBlockQ = 128;   // Ŵ's columns (product columns q) per CTA: two consumer warpgroups of 64
constexpr int kBlockP = 128;   // X̂ rows (product rows p) per CTA: the accumulator's width
constexpr int kConsumers = 2;
constexpr int kThreads = 128 * (kConsumers + 1);
constexpr int kCluster = 2;    // CTAs along q sharing one X̂ tile
constexpr int kAcc = kBlockP / 2;  // fp32 accumulator registers per thread (64 × kBlockP per warpgroup)

// The TMA ring: Stages pairs of (Ŵ tile, X̂ tile), each a multiple of the 1 KiB swizzle atom, and their barriers.
// A stage's Ŵ tile is one 64 k × 64 q box per consumer warpgroup, rows of 64 q.
template <int Stages>
struct Ring {
  bf16 w[Stages][kBlockQ * kAtomK];
  bf16 x[Stages][kBlockP * kAtomK];
  alignas(8) std::uint64_t full[Stages];
  alignas(8) std::uint64_t empty[Stages];
};

// The blocks of the products, in the order the clusters walk them.
struct BlockGrid {
  int q_groups = 0, tiles = 0, k_blocks = 0;
  __device__ __forceinline__ BlockGrid(int m, int n, int k) {
    const int q_blocks = (n + kBlockQ - 1) / kBlockQ, p_blocks = (m + kBlockP - 1) / kBlockP;
    q_groups = (q_blocks + kCluster - 1) / kCluster;
    tiles = q_groups * p_blocks;
    k_blocks = (k + kAtomK - 1) / kAtomK;
  }
  __device__ __forceinline__ int p0(int tile) const { return (tile / q_groups) * kBlockP; }
  __device__ __forceinline__ int q0(int tile, int cta_q) const { return ((tile % q_groups) * kCluster + cta_q) * kBlockQ; }
};

// The dynamic shared memory as Storage, at the 1 KiB alignment of the swizzled tiles (its bytes + 1024 launched).
template <class Storage>
__device__ __forceinline__ Storage& aligned_storage(std::uint8_t* raw) {
  return *reinterpret_cast<Storage*>((reinterpret_cast<std::uintptr_t>(raw) + 1023) & ~static_cast<std::uintptr_t>(1023));
}

// Where this thread works: its warpgroup (0 the producer, then the consumers) and thread in it, its CTA's place in
// the cluster (along q), the cluster and how many clusters there are.
struct CtaPlace {
  int warpgroup = threadIdx.x / 128, tid = threadIdx.x % 128;
  int cta_q = static_cast<int>(sm90::cluster_cta_rank());
  int cluster = blockIdx.x / kCluster, clusters = gridDim.x / kCluster;
};

// A stage is free again once one thread of each consumer warpgroup of both CTAs has arrived: either CTA's producer
// may write into both CTAs' stages.
__device__ __forceinline__ void release_stage(std::uint64_t* empty, int tid) {
  if (tid < kCluster) sm90::barrier_arrive_cluster(empty, static_cast<std::uint32_t>(tid));
}

template <int Stages>
__device__ __forceinline__ void init_ring(Ring<Stages>& ring) {
  if (threadIdx.x == 0) {
    for (int i = 0; i < Stages; ++i) {
      sm90::barrier_init(&ring.full[i], 1);
      sm90::barrier_init(&ring.empty[i], kConsumers * kCluster);
    }
    sm90::fence_barrier_init();
  }
}

// The producer (one thread): every k-slice of every product of every block this cluster walks, into the ring.
template <int Stages>
__device__ __forceinline__ void produce(Ring<Stages>& ring, const BlockGrid& grid, int rank, int cluster, int clusters,
                                        int cta_q, const CUtensorMap* w_map, const CUtensorMap* x_map) {
  int stage = 0, phase = 0;
  for (int tile = cluster; tile < grid.tiles; tile += clusters) {
    const int p0 = grid.p0(tile), q0 = grid.q0(tile, cta_q);
    for (int t = 0; t < rank; ++t) {
      for (int kb = 0; kb < grid.k_blocks; ++kb) {
        sm90::barrier_wait(&ring.empty[stage], phase);
        sm90::barrier_expect_bytes(&ring.full[stage], (kBlockQ + kBlockP) * kAtomK * sizeof(bf16));
        for (int c = 0; c < kConsumers; ++c)
          sm90::tma_load_3d(&ring.w[stage][c * 64 * kAtomK], w_map, &ring.full[stage], q0 + 64 * c, kb * kAtomK, t);
        if (cta_q == 0) sm90::tma_load_3d_multicast(ring.x[stage], x_map, &ring.full[stage], kb * kAtomK, p0, t, 0b11);
        if (++stage == Stages) stage = 0, phase ^= 1;
      }
    }
  }
}

// The producer warpgroup: it gives registers up to the consumers, and one thread issues every load.
template <int Stages>
__device__ __forceinline__ void run_producer(Ring<Stages>& ring, const BlockGrid& grid, int rank, const CtaPlace& at,
                                             const CUtensorMap* w_map, const CUtensorMap* x_map) {
  sm90::registers_decrease<40>();
  if (at.tid == 0) produce(ring, grid, rank, at.cluster, at.clusters, at.cta_q, w_map, x_map);
}

// A consumer warpgroup's start: the registers the producer gave up, and every stage offered to the producer.
template <int Stages>
__device__ __forceinline__ void start_consumer(Ring<Stages>& ring, int tid) {
  sm90::registers_increase<232>();
  for (int i = 0; i < Stages; ++i) release_stage(&ring.empty[i], tid);
}

// A consumer's position in the ring; every consumer thread walks it in the producer's order.
struct RingCursor {
  int stage = 0, phase = 0;
};

// One product of one block into acc (this consumer warpgroup's 64 q × 128 p), releasing each stage once read.
template <int Stages>
__device__ __forceinline__ void multiply(Ring<Stages>& ring, RingCursor& at, int k_blocks, int consumer, int tid,
                                         float (&acc)[kAcc]) {
  int pending = -1;  // the stage whose MMAs may still be reading it
  for (int kb = 0; kb < k_blocks; ++kb) {
    sm90::barrier_wait(&ring.full[at.stage], at.phase);
    sm90::wgmma_fence();
    const std::uint64_t desc_w = sm90::smem_descriptor(&ring.w[at.stage][consumer * 64 * kAtomK]);
    const std::uint64_t desc_x = sm90::smem_descriptor(&ring.x[at.stage][0]);
#pragma unroll
    // The next 16 k: 32 bytes along X̂'s rows (2 in the descriptor's 16-byte units), 16 rows of Ŵ's (128).
    for (int k16 = 0; k16 < kAtomK / 16; ++k16)
      sm90::wgmma_m64n128k16_bf16<true>(acc, desc_w + 128 * k16, desc_x + 2 * k16, (kb > 0 || k16 > 0) ? 1 : 0);
    sm90::wgmma_commit();
    sm90::wgmma_wait<1>();
    if (pending >= 0) release_stage(&ring.empty[pending], tid);
    pending = at.stage;
    if (++at.stage == Stages) at.stage = 0, at.phase ^= 1;
  }
  sm90::wgmma_wait<0>();
  if (pending >= 0) release_stage(&ring.empty[pending], tid);
}

// Accumulator entry e of this thread: product column q = 16·warp + lane/4 + 8·((e/2) % 2) of the consumer's 64,
// product row p = 8·(e/4) + 2·(lane % 4) + e % 2; it stands for output entries Y[row(p, i), c·q + j].
struct Fragment {
  int consumer, warp, lane, tid;
  __device__ __forceinline__ int q(int q0, int h) const { return q0 + consumer * 64 + warp * 16 + lane / 4 + 8 * h; }
  __device__ __forceinline__ int p(int p0, int e) const { return p0 + 8 * (e / 4) + 2 * (lane % 4) + e % 2; }
};

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
      throw std::runtime_error("products_sm90: the CUDA driver has no cuTensorMapEncodeTiled");
    return reinterpret_cast<EncodeTiled>(p);
  }();
  return fn;
}

// r bf16 matrices of rows × cols (row stride ld, matrix stride `stride`, in elements) as a 3-D tensor (col, row,
// product) read in boxes of box_cols × box_rows: a box never crosses into the next matrix, and entries past the
// rows or columns read as zeros.
struct MatrixBatch {
  const void* base = nullptr;
  std::int64_t cols = 0, rows = 0, ld = 0, stride = 0;
  int rank = 0, box_cols = 0, box_rows = 0;
  bool operator==(const MatrixBatch& o) const {
    return base == o.base && cols == o.cols && rows == o.rows && ld == o.ld && stride == o.stride && rank == o.rank &&
           box_cols == o.box_cols && box_rows == o.box_rows;
  }
};

inline CUtensorMap batch_map(const MatrixBatch& b) {
  CUtensorMap map;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(b.cols), static_cast<cuuint64_t>(b.rows),
                              static_cast<cuuint64_t>(b.rank)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(b.ld) * sizeof(bf16),
                                 static_cast<cuuint64_t>(b.stride) * sizeof(bf16)};
  const cuuint32_t box[3] = {static_cast<cuuint32_t>(b.box_cols), static_cast<cuuint32_t>(b.box_rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult result = encode_tiled()(
      &map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void*>(b.base), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS)
    throw std::runtime_error("products_sm90: cuTensorMapEncodeTiled failed (" + std::to_string(static_cast<int>(result)) +
                             ")");
  return map;
}

// batch_map through a cache of the last kCachedMaps operands: encoding a map is host work that the GPU waits for at
// every launch, while the caching allocator hands the same workspace back call after call, and Ŵ stays where it is.
// A map depends only on its key, so a hit is the map that would be built. Room for every layer's Ŵ of a model of
// ~100 fused layers; beyond that a miss costs one encode.
constexpr int kCachedMaps = 128;
inline CUtensorMap cached_batch_map(int device, const MatrixBatch& b) {
  struct Entry {
    int device = -1;
    MatrixBatch batch;
    CUtensorMap map{};
  };
  static std::mutex mutex;
  static Entry entries[kCachedMaps];
  static int next = 0;
  const std::lock_guard<std::mutex> lock(mutex);
  for (const Entry& e : entries)
    if (e.device == device && e.batch == b) return e.map;
  Entry& e = entries[next];
  next = (next + 1) % kCachedMaps;
  e = Entry{device, b, batch_map(b)};
  return e.map;
}

// How a kernel on this pipeline launches on the current device: its clusters (persistent: at most those resident at
// once, at most one per pair of blocks) and the two operands' tensor maps.
struct ProductsLaunch {
  int ctas = 0;
  CUtensorMap w_map, x_map;
};

// Kernel is the __global__ function; `resident` its per-device cache of resident clusters (the shared-memory
// opt-in and the occupancy query run once per device). A grid larger than the resident clusters would run its last
// clusters after the others had finished all their blocks (on an H100, pairs of SMs within a GPC: fewer than sms / 2).
template <class Kernel>
ProductsLaunch products_launch(Kernel* kernel, std::size_t smem_bytes, std::atomic<int> (&resident)[kMaxCachedDevices],
                               int m, int n, int k, int w_rows, int rank, const void* x_hat,
                               ConstProductTensor w_hat) {
  int device = 0, sms = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  const auto resident_clusters = [&] {
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem_bytes)),
               "products_sm90: cudaFuncSetAttribute");
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(sms));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = smem_bytes;
    cudaLaunchAttribute cluster{};
    cluster.id = cudaLaunchAttributeClusterDimension;
    cluster.val.clusterDim.x = kCluster;
    cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
    config.attrs = &cluster;
    config.numAttrs = 1;
    int clusters = 0;
    check_cuda(cudaOccupancyMaxActiveClusters(&clusters, kernel, &config),
               "products_sm90: cudaOccupancyMaxActiveClusters");
    return std::max(1, std::min(clusters, sms / kCluster));
  };
  int max_clusters = device < kMaxCachedDevices ? resident[device].load(std::memory_order_acquire) : 0;
  if (max_clusters == 0) {
    max_clusters = resident_clusters();
    if (device < kMaxCachedDevices) resident[device].store(max_clusters, std::memory_order_release);
  }
  ProductsLaunch launch;
  launch.w_map = cached_batch_map(device, {w_hat.data, n, w_rows, w_hat.ld, w_hat.stride, rank, 64, kAtomK});
  launch.x_map = cached_batch_map(device, {x_hat, k, m, k, std::int64_t{m} * k, rank, kAtomK, kBlockP});
  const int q_groups = (n + kBlockQ * kCluster - 1) / (kBlockQ * kCluster);
  const int p_blocks = (m + kBlockP - 1) / kBlockP;
  launch.ctas = std::max(1, std::min(max_clusters, q_groups * p_blocks)) * kCluster;
  return launch;
}

}  // namespace strassentile::cuda::detail::products_sm90
