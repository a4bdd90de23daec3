// Fused STL forward for sm_90a: Y = decode(X̂·Ŵ) with the products Z never leaving the chip.
//
// A thread-block cluster of CS = R / PPC CTAs works on kBlock×kBlock blocks of product positions (i, j); the grid
// holds only the clusters that fit on the device at once, and each walks a sequence of blocks (persistent). For a
// block, CTA `rank` runs products rank·PPC … rank·PPC+PPC−1 with CUTLASS's TMA + WGMMA warp-specialised mainloop (a
// 128×128 tile of each product) and keeps each finished product, rounded to bf16, in its own shared memory. Once
// every CTA of the cluster has stored its products, each decodes kBlock/CS rows of positions, reading all R products
// through distributed shared memory, and writes the A×C output tiles once (bias fused).
// The producer warp is never held by the decode: it runs on into the next block's loads, so the stage buffers are
// full when the consumers come back to the mainloop. Only the consumers synchronise on the products (two cluster
// mbarriers per CTA: products stored, products read).
// Layouts follow docs/SPEC.md: X̂ is R×m×k, Ŵ is R×k×n (both row-major per product), D is (A·C)×R, and position
// (i, j) decodes into Y[i·A + u, j·C + w] with output index q = u·C + w.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "cute/arch/cluster_sm90.hpp"
#include "cute/tensor.hpp"
#include "cutlass/arch/reg_reconfig.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/pipeline/sm90_pipeline.hpp"

namespace fused {

using Element = cutlass::bfloat16_t;

// One CTA's mainloop: CUTLASS's sm90 collective, 128×128×64 tiles, cooperative (two consumer warpgroups).
// Its own cluster shape is 1×1×1: every CTA of the launch cluster loads different products, so nothing is
// multicast; the launch cluster exists only for the decode's distributed shared memory.
constexpr int kBlock = 128;
constexpr int kStages = 4;
using TileShape = cute::Shape<cute::Int<kBlock>, cute::Int<kBlock>, cute::_64>;
using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp,
    Element, cutlass::layout::RowMajor, 8,   // X̂[p]: m×k, k contiguous
    Element, cutlass::layout::RowMajor, 8,   // Ŵ[p]: k×n, n contiguous
    float, TileShape, cute::Shape<cute::_1, cute::_1, cute::_1>,
    cutlass::gemm::collective::StageCount<kStages>,
    cutlass::gemm::KernelTmaWarpSpecializedCooperative>::CollectiveOp;
using TiledMma = typename Mainloop::TiledMma;
using ProblemShape = cute::Shape<int, int, int, int>;  // (m, n, k, R)

constexpr int kConsumerThreads = 256;
constexpr int kThreads = kConsumerThreads + 128;
constexpr int kConsumerBarrier = 8;  // hardware named barrier of the two consumer warpgroups, above CUTLASS's ids

// A product tile in shared memory: kBlock rows of kBlock bf16, its 16-byte chunks XOR-swizzled by row so that the
// accumulator stores (8 rows × 4 column pairs per instruction) hit 32 distinct banks without padding.
struct ZTile {
  __device__ static int offset(int row, int col) {
    int chunk = (col / 8) ^ (row % 8);
    return row * kBlock + chunk * 8 + col % 8;
  }
};

template <int PPC>
struct SharedStorage {
  typename Mainloop::TensorStorage mainloop;
  alignas(128) __nv_bfloat16 z[PPC][kBlock * kBlock];
  alignas(16) typename Mainloop::PipelineStorage pipeline;
  // Completed once per block when every CTA of the cluster has stored its products (z_stored) or finished reading
  // everyone's (z_read); each CTA arrives on every CTA's barrier once per block.
  alignas(8) uint64_t z_stored;
  alignas(8) uint64_t z_read;
};

// Which parts run: all of it, or, to time each part alone, only the products (into shared memory) or only the
// decode (of whatever shared memory holds).
enum class Parts { all, products, decode };

template <int A, int C, int R>
struct Params {
  typename Mainloop::Params mainloop;
  ProblemShape problem;        // (m, n, k, R)
  __nv_bfloat16* y;            // (m·A) × (n·C), row-major, leading dimension ldy
  int64_t ldy;
  int m_group;                 // m-blocks per raster group (see block_position)
  int blocks;                  // position blocks in the problem; cluster c takes blocks c, c + clusters, …
  __nv_bfloat16 const* bias;   // n·C entries, or nullptr
  float dec[A * C * R];        // D, row-major (A·C)×R: uniform across the grid, read from the constant bank
  Parts parts = Parts::all;
};

__device__ inline uint32_t cluster_address(void const* local, uint32_t rank) {
  uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(local));
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(address), "r"(rank));
  return remote;
}

__device__ inline uint4 load_cluster_16(uint32_t address) {
  uint4 v;
  asm volatile("ld.shared::cluster.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(address));
  return v;
}

__device__ inline void barrier_init(uint64_t* barrier, uint32_t arrivals) {
  uint32_t const address = static_cast<uint32_t>(__cvta_generic_to_shared(barrier));
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(address), "r"(arrivals));
}

// Arrives on the barrier at the same offset in CTA `rank`'s shared memory, releasing this thread's earlier shared
// memory accesses (and, through the fence and CTA barrier before it, the consumers') to the cluster.
__device__ inline void barrier_arrive_remote(uint64_t* barrier, uint32_t rank) {
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];" ::"r"(cluster_address(barrier, rank))
               : "memory");
}

__device__ inline void barrier_wait(uint64_t* barrier, uint32_t parity) {
  uint32_t const address = static_cast<uint32_t>(__cvta_generic_to_shared(barrier));
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "wait:\n"
      "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait;\n"
      "}\n" ::"r"(address),
      "r"(parity)
      : "memory");
}

// The consumers' half of a cluster-wide handshake: every consumer thread's shared memory accesses so far are
// ordered before this CTA's arrival on each of the cluster's CS barriers.
template <int CS>
__device__ void consumers_arrive_cluster(uint64_t* barrier, int mma_thread) {
  asm volatile("fence.acq_rel.cluster;" ::: "memory");
  asm volatile("bar.sync %0, %1;" ::"n"(kConsumerBarrier), "n"(kConsumerThreads) : "memory");
  if (mma_thread < CS) barrier_arrive_remote(barrier, mma_thread);
}

__device__ inline uint2 load_cluster_8(uint32_t address) {
  uint2 v;
  asm volatile("ld.shared::cluster.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "r"(address));
  return v;
}

// Rounds one finished product's accumulators to bf16 into this CTA's Z tile.
template <class Accumulators>
__device__ void store_product(Accumulators const& accumulators, __nv_bfloat16* z, int mma_thread) {
  using namespace cute;
  TiledMma tiled_mma;
  auto thread_mma = tiled_mma.get_thread_slice(mma_thread);
  Tensor coordinates = thread_mma.partition_C(make_identity_tensor(Shape<Int<kBlock>, Int<kBlock>>{}));
  static_assert(decltype(size(accumulators))::value % 2 == 0);
  // The WGMMA accumulator layout puts each thread's elements 2e and 2e+1 in adjacent columns of one row.
  CUTLASS_PRAGMA_UNROLL
  for (int e = 0; e < size(accumulators); e += 2) {
    auto [row, col] = coordinates(e);
    *reinterpret_cast<__nv_bfloat162*>(z + ZTile::offset(row, col)) =
        __floats2bfloat162_rn(accumulators(e), accumulators(e + 1));
  }
}

// Positions decoded per thread per step: A·C·kColumns FP32 accumulators, kept at 64 so that they and the R loads
// that the compiler hoists fit the consumers' registers without spilling.
template <int A, int C>
constexpr int kColumns = (A * C >= 16) ? 4 : 8;

// Block order: all R products of a position block are in flight at once, so the operands that the resident
// clusters touch are R times a plain GEMM's. Walking m fastest would stream all of X̂ (R·m·k) from memory once per
// n-block. Blocks therefore sweep every n-block for a group of `m_group` m-blocks, whose X̂ rows the host sizes to
// half the L2, before moving to the next group: X̂ is read about once and Ŵ once per group. The resident clusters
// take consecutive blocks, so at any time they work inside one or two groups.
__device__ inline void block_position(int block, int m_blocks, int n_blocks, int m_group, int& block_i,
                                      int& block_j) {
  int const group = block / (m_group * n_blocks);
  int const first = group * m_group;
  int const rows = min(m_group, m_blocks - first);
  int const within = block - group * m_group * n_blocks;
  block_i = first + within % rows;
  block_j = within / rows;
}

// Decodes the positions of rows [first_row, first_row + rows) of the cluster's block, kColumns adjacent positions
// per thread per step: R loads through DSMEM (each Z element is read once in the cluster), A·C·kColumns FP32 sums,
// then A row segments of kColumns·C outputs, written as 16-byte stores.
template <int A, int C, int R, int PPC>
__device__ void decode_block(Params<A, C, R> const& params, SharedStorage<PPC>& storage, int block_i, int block_j,
                             int first_row, int rows, int thread) {
  constexpr int kCols = kColumns<A, C>;
  constexpr int kVectorsPerRow = kBlock / kCols;
  static_assert((kCols * C) % 8 == 0, "an output row segment must be whole 16-byte chunks");
  int const m = cute::get<0>(params.problem);
  int const n = cute::get<1>(params.problem);
  // One vector at a time: unrolling this loop would multiply the live accumulators.
#pragma unroll 1
  for (int vector = thread; vector < rows * kVectorsPerRow; vector += kConsumerThreads) {
    int const row = first_row + vector / kVectorsPerRow;
    int const col = (vector % kVectorsPerRow) * kCols;
    int const i = block_i * kBlock + row;
    int const j = block_j * kBlock + col;
    if (i >= m || j >= n) continue;  // n is a multiple of 8, so a vector is all inside or all outside
    float out[A * C][kCols];
    CUTLASS_PRAGMA_UNROLL
    for (int q = 0; q < A * C; ++q) {
      CUTLASS_PRAGMA_UNROLL
      for (int e = 0; e < kCols; ++e) out[q][e] = 0.f;
    }
    int const offset = ZTile::offset(row, col);
    CUTLASS_PRAGMA_UNROLL
    for (int p = 0; p < R; ++p) {
      uint32_t const address = cluster_address(&storage.z[p % PPC][offset], p / PPC);
      float z[kCols];
      if constexpr (kCols == 8) {
        uint4 raw = load_cluster_16(address);
        __nv_bfloat162 const* pairs = reinterpret_cast<__nv_bfloat162 const*>(&raw);
        CUTLASS_PRAGMA_UNROLL
        for (int e = 0; e < 4; ++e) {
          float2 f = __bfloat1622float2(pairs[e]);
          z[2 * e] = f.x;
          z[2 * e + 1] = f.y;
        }
      } else {
        uint2 raw = load_cluster_8(address);
        __nv_bfloat162 const* pairs = reinterpret_cast<__nv_bfloat162 const*>(&raw);
        CUTLASS_PRAGMA_UNROLL
        for (int e = 0; e < 2; ++e) {
          float2 f = __bfloat1622float2(pairs[e]);
          z[2 * e] = f.x;
          z[2 * e + 1] = f.y;
        }
      }
      CUTLASS_PRAGMA_UNROLL
      for (int q = 0; q < A * C; ++q) {
        float const d = params.dec[q * R + p];
        CUTLASS_PRAGMA_UNROLL
        for (int e = 0; e < kCols; ++e) out[q][e] = fmaf(d, z[e], out[q][e]);
      }
    }
    // Output row u of the kCols tiles: kCols·C consecutive columns starting at j·C.
    CUTLASS_PRAGMA_UNROLL
    for (int u = 0; u < A; ++u) {
      __nv_bfloat16* y_row = params.y + (int64_t(i) * A + u) * params.ldy + int64_t(j) * C;
      CUTLASS_PRAGMA_UNROLL
      for (int chunk = 0; chunk < kCols * C / 8; ++chunk) {  // 8 bf16 = 16 bytes per chunk
        __align__(16) __nv_bfloat16 packed[8];
        CUTLASS_PRAGMA_UNROLL
        for (int t = 0; t < 8; ++t) {
          int const flat = chunk * 8 + t;  // column offset inside the row segment: e·C + w
          float v = out[u * C + flat % C][flat / C];
          if (params.bias != nullptr) v += __bfloat162float(params.bias[int64_t(j) * C + flat]);
          packed[t] = __float2bfloat16_rn(v);
        }
        *reinterpret_cast<uint4*>(y_row + chunk * 8) = *reinterpret_cast<uint4 const*>(packed);
      }
    }
  }
}

template <int A, int C, int R, int PPC>
__global__ void __launch_bounds__(kThreads, 1) fused_stl_forward(__grid_constant__ Params<A, C, R> const params) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace cute;
  constexpr int CS = R / PPC;
  static_assert(R % PPC == 0 && CS <= 8 && kBlock % CS == 0, "R / PPC CTAs must form a portable cluster");
  using Pipeline = typename Mainloop::MainloopPipeline;

  extern __shared__ char smem[];
  auto& storage = *reinterpret_cast<SharedStorage<PPC>*>(smem);

  int const thread = threadIdx.x;
  int const warp_group = thread / 128;
  int const warp_in_group = (thread / 32) % 4;
  int const rank = blockIdx.x % CS;  // the CTA's rank in its cluster
  int const cluster = blockIdx.x / CS;
  int const clusters = gridDim.x / CS;
  int const m_blocks = (get<0>(params.problem) + kBlock - 1) / kBlock;
  int const n_blocks = (get<1>(params.problem) + kBlock - 1) / kBlock;
  bool const run_products = params.parts != Parts::decode;
  bool const run_decode = params.parts != Parts::products;

  if (thread == 0) {
    Mainloop::prefetch_tma_descriptors(params.mainloop);
    barrier_init(&storage.z_stored, CS);
    barrier_init(&storage.z_read, CS);
    cutlass::arch::fence_barrier_init();
  }

  typename Pipeline::Params pipeline_params;
  if (warp_group == 0 && warp_in_group == 0) pipeline_params.role = Pipeline::ThreadCategory::Producer;
  if (warp_group > 0) pipeline_params.role = Pipeline::ThreadCategory::Consumer;
  pipeline_params.is_leader = (thread % 128) == 0;
  pipeline_params.num_consumers = kConsumerThreads;
  pipeline_params.transaction_bytes = params.mainloop.tma_transaction_bytes;
  // The collective arrives on the "empty" barriers of CTA ranks 0… of its own cluster shape. It is built for 1×1×1,
  // which would make every CTA signal rank 0 here; with the launch cluster's shape each consumer warpgroup signals
  // every CTA of the cluster instead (counted for), which is correct and only couples the CTAs' stage releases.
  // Every CTA of a cluster walks the same blocks with the same k-tile count, so their stage sequences agree.
  Pipeline pipeline(storage.pipeline, pipeline_params, Shape<Int<CS>, _1, _1>{});

  Mainloop mainloop;
  auto problem = append<4>(params.problem, Int<1>{});
  auto inputs = mainloop.load_init(problem, params.mainloop);
  auto gA = get<0>(inputs);
  int const k_tiles = size<3>(gA);

  cluster_sync();  // barrier initialisation is visible cluster-wide before any remote arrive

  // Each warpgroup role is one branch of this if/else, so that ptxas gives the consumers, decode included, the
  // register budget of setmaxnreg (232) rather than the 168 that 384 threads get at launch.
  if (warp_group == 0) {
    cutlass::arch::warpgroup_reg_dealloc<40>();
    if (warp_in_group == 0 && run_products) {
      auto state = cutlass::make_producer_start_state<Pipeline>();
      for (int block = cluster; block < params.blocks; block += clusters) {
        int block_i, block_j;
        block_position(block, m_blocks, n_blocks, params.m_group, block_i, block_j);
        for (int s = 0; s < PPC; ++s) {
          auto coord = make_coord(block_i, block_j, _, rank * PPC + s);
          auto k_iter = make_coord_iterator(shape<3>(gA));
          mainloop.load(params.mainloop, pipeline, state, inputs, coord, k_iter, k_tiles, thread % 32, 0,
                        storage.mainloop);
          state.advance(k_tiles);
        }
      }
      mainloop.load_tail(pipeline, state);
    }
  } else {
    cutlass::arch::warpgroup_reg_alloc<232>();
    int const mma_thread = thread - 128;
    typename Mainloop::PipelineState state;
    TiledMma tiled_mma;
    uint32_t phase = 0;  // parity of this cluster's blocks done so far
    for (int block = cluster; block < params.blocks; block += clusters, phase ^= 1) {
      int block_i, block_j;
      block_position(block, m_blocks, n_blocks, params.m_group, block_i, block_j);
      for (int s = 0; s < (run_products ? PPC : 0); ++s) {
        auto accumulators = partition_fragment_C(tiled_mma, take<0, 2>(TileShape{}));
        mainloop.mma(pipeline, state, accumulators, k_tiles, mma_thread, storage.mainloop, params.mainloop);
        mainloop.mma_tail(pipeline, state, k_tiles);
        state.advance(k_tiles);
        // The previous block's decode, in every CTA, has read this CTA's products before they are overwritten.
        if (s == 0 && block != cluster) barrier_wait(&storage.z_read, phase ^ 1);
        store_product(accumulators, storage.z[s], mma_thread);
      }
      consumers_arrive_cluster<CS>(&storage.z_stored, mma_thread);
      barrier_wait(&storage.z_stored, phase);  // every CTA's products are in its shared memory
      constexpr int kRows = kBlock / CS;
      if (run_decode) decode_block<A, C, R, PPC>(params, storage, block_i, block_j, rank * kRows, kRows, mma_thread);
      consumers_arrive_cluster<CS>(&storage.z_read, mma_thread);
    }
  }
  cluster_sync();  // no CTA leaves while another still reads its shared memory or arrives on its barriers
#endif
}

template <int A, int C, int R, int PPC>
constexpr int shared_bytes() {
  return int(sizeof(SharedStorage<PPC>));
}

// R/PPC-CTA clusters (one per 128×128 block of product positions, or fewer that each take several); the
// shared-memory limit raised to fit.
template <int A, int C, int R, int PPC>
cudaError_t launch_config(cudaLaunchConfig_t& config, cudaLaunchAttribute (&attribute)[1], int clusters,
                          cudaStream_t stream) {
  constexpr int CS = R / PPC;
  int const smem = shared_bytes<A, C, R, PPC>();
  cudaError_t status =
      cudaFuncSetAttribute(fused_stl_forward<A, C, R, PPC>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (status != cudaSuccess) return status;
  config.gridDim = dim3(CS * clusters, 1, 1);
  config.blockDim = dim3(kThreads, 1, 1);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  attribute[0].id = cudaLaunchAttributeClusterDimension;
  attribute[0].val.clusterDim.x = CS;
  attribute[0].val.clusterDim.y = 1;
  attribute[0].val.clusterDim.z = 1;
  config.attrs = attribute;
  config.numAttrs = 1;
  return cudaSuccess;
}

// How many clusters of this kernel fit on the device at once (one CTA per SM, CS SMs of one GPC per cluster).
template <int A, int C, int R, int PPC>
cudaError_t max_active_clusters(int* clusters) {
  cudaLaunchConfig_t config{};
  cudaLaunchAttribute attribute[1];
  cudaError_t status = launch_config<A, C, R, PPC>(config, attribute, 1, nullptr);
  if (status != cudaSuccess) return status;
  return cudaOccupancyMaxActiveClusters(clusters, fused_stl_forward<A, C, R, PPC>, &config);
}

// Host side: TMA descriptors for X̂ (R×m×k) and Ŵ (R×k×n), the raster group, the launch with cluster dims
// (R/PPC, 1, 1). m_group = 0 sizes the raster group from the L2; D is passed by value (dec_host, (A·C)×R floats).
// clusters = 0 launches as many clusters as fit at once (each walks several blocks); a larger count caps at one
// cluster per block.
template <int A, int C, int R, int PPC>
cudaError_t launch_fused_stl_forward(__nv_bfloat16 const* x_hat, __nv_bfloat16 const* w_hat, float const* dec_host,
                                     __nv_bfloat16 const* bias, __nv_bfloat16* y, int m, int k, int n,
                                     cudaStream_t stream, Parts parts = Parts::all, int m_group = 0,
                                     int clusters = 0) {
  using namespace cute;
  Params<A, C, R> params{};
  params.problem = ProblemShape{m, n, k, R};
  typename Mainloop::Arguments arguments{
      reinterpret_cast<Element const*>(x_hat),
      make_stride(int64_t(k), Int<1>{}, int64_t(m) * k),
      reinterpret_cast<Element const*>(w_hat),
      make_stride(Int<1>{}, int64_t(n), int64_t(k) * n)};
  params.mainloop = Mainloop::to_underlying_arguments(params.problem, arguments, nullptr);
  params.y = y;
  params.ldy = int64_t(n) * C;
  params.bias = bias;
  params.parts = parts;
  params.blocks = ((m + kBlock - 1) / kBlock) * ((n + kBlock - 1) / kBlock);
  int device = 0, l2_bytes = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device);
  int64_t const x_hat_bytes_per_m_block = int64_t(R) * kBlock * k * sizeof(__nv_bfloat16);
  params.m_group = m_group > 0 ? m_group : int(std::max<int64_t>(1, (l2_bytes / 2) / x_hat_bytes_per_m_block));
  for (int t = 0; t < A * C * R; ++t) params.dec[t] = dec_host[t];

  if (clusters <= 0) {
    static int resident = 0;  // per kernel instantiation; the occupancy query is a host round trip
    if (resident == 0) {
      cudaError_t status = max_active_clusters<A, C, R, PPC>(&resident);
      if (status != cudaSuccess) return status;
      if (resident == 0) return cudaErrorInvalidConfiguration;
    }
    clusters = resident;
  }
  clusters = std::min(clusters, params.blocks);

  cudaLaunchConfig_t config{};
  cudaLaunchAttribute attribute[1];
  cudaError_t status = launch_config<A, C, R, PPC>(config, attribute, clusters, stream);
  if (status != cudaSuccess) return status;
  return cudaLaunchKernelEx(&config, fused_stl_forward<A, C, R, PPC>, params);
}

}  // namespace fused
