// The STL forward's products and decode as one sm_90a kernel, for tile formats with few output slots (a·c ≤ 4):
// Y = decode(Z) with Z[t] = X̂[t]·Ŵ[t], and Z never leaves the registers.
//
// Each CTA owns one block of Y: a·kBlockP rows × c·kBlockQ columns, the image of a kBlockP × kBlockQ block of every
// product (p along X̂'s rows, q along Ŵᵀ's). It runs the r products of that block one after another through one
// TMA + WGMMA pipeline (K' = K/b per product) and, as each product's accumulator completes, adds it into the a·c output
// slots it feeds: Y[a·p+i, c·q+j] += D[(i,j), t]·Z[t][p, q]. So the registers hold a·c accumulators of the block, not r:
// at a·c = 4 a consumer warpgroup keeps a 64 × 64 block (32 + 4·32 fp32 registers), at a·c ≤ 2 a 64 × 128 block.
// Formats with more slots (`<4,4,4>`, `<4,2,4>`: 16) do not fit and stay on the unfused pipeline.
//
// Staged (kStaged, r ≤ kMaxStaged + 1): the registers hold one 64 × 128 accumulator and no slots. Each finished
// product but the last goes to shared memory as bf16, each thread's own fragment in its own lanes (so no barrier: a
// thread reads back only what it wrote); the last product's accumulator is decoded with them into Y. The accumulator
// is as wide as a plain GEMM's, where the slots held it at 64 for a·c = 4; Z[t < r-1] is rounded to bf16 once, as the
// unfused pipeline rounds every Z[t]. A 64 × 192 accumulator was slower than the best configuration at every shape
// measured (ROOFLINE.md, "Staged products: measured").
//
// The mainloop (TMA into 128-byte-swizzled stages of one or two 64-wide k atoms, two consumer warpgroups, one
// producer warp, clusters of 1, 1×2, 2×1 or 2×2 CTAs sharing the X̂ and Ŵ tiles by multicast) follows
// wgmma_products.cuh; its PTX helpers are used from there. Measured: ROOFLINE.md, "Accumulate-decode: measured".
#pragma once

#include "kernels/device_math.cuh"  // the library's bf16 group store (src/cuda)
#include "ptx_sm90.cuh"  // the library's WGMMA wrapper (src/cuda)
#include "wgmma_products.cuh"

namespace accumulate_decode {

using wgmma_products::bf16;
using wgmma_products::cuda_check;

constexpr int kAtomK = 64;                  // k per 128-byte swizzle row of bf16; a stage holds kAtoms of them
constexpr int kBlockQ = 128;                // Ŵᵀ rows (product columns q) per CTA: two consumer warpgroups of 64
constexpr int kConsumers = 2;
constexpr int kThreads = 128 * (kConsumers + 1);
constexpr int kMaxRank = 32;
constexpr int kMaxSlots = 4;
constexpr int kMaxStaged = 2;              // staged products: r ≤ 3 (`<2,2,2>` r = 3, `<1,4,2>` r = 3)

__device__ __forceinline__ void wgmma_m64n64k16(float (&d)[32], std::uint64_t desc_a, std::uint64_t desc_b, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7,"
        "%8, %9, %10, %11, %12, %13, %14, %15,"
        "%16, %17, %18, %19, %20, %21, %22, %23,"
        "%24, %25, %26, %27, %28, %29, %30, %31"
        "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(desc_a), "l"(desc_b), "r"(scale_d));
}

// One launch's operands. Per product t: X̂[t] is m × k and Ŵ[t]ᵀ is n × k, both k-contiguous and stacked over t.
struct Params {
  int m = 0, n = 0, k = 0, r = 0;
  const float* decode = nullptr;  // D on the device: (a·c) × r row-major, output slot s = i·c + j
  const bf16* bias = nullptr;     // c·n entries, or null
  bf16* y = nullptr;              // (a·m) × (c·n) row-major
  long ldy = 0;
};

// Staged products as bf16 pairs: [product][consumer][pair of accumulator entries][thread], conflict-free.
template <bool kStaged, int kBlockP>
struct StagedProducts {
  std::uint32_t pairs[kMaxStaged][kConsumers][kBlockP / 4][128];
};
template <int kBlockP>
struct StagedProducts<false, kBlockP> {};

template <int kBlockP, int kStages, int kAtoms, bool kStaged>
struct SharedStorage {
  bf16 a[kStages][kAtoms][kBlockQ * kAtomK];  // Ŵᵀ tiles; each a multiple of the 1 KiB swizzle atom
  bf16 b[kStages][kAtoms][kBlockP * kAtomK];  // X̂ tiles
  StagedProducts<kStaged, kBlockP> staged;
  alignas(8) std::uint64_t full[kStages];
  alignas(8) std::uint64_t empty[kStages];
  float decode[kMaxSlots * kMaxRank];
};

__device__ __forceinline__ void tma_load(void* dst, const CUtensorMap* map, std::uint64_t* bar, int k, int row,
                                         int product) {
  const auto dst_addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  const auto bar_addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(bar));
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
      "[%2];" ::"r"(dst_addr), "l"(reinterpret_cast<std::uint64_t>(map)), "r"(bar_addr), "r"(k), "r"(row),
      "r"(product)
      : "memory");
}

// The same tile written into the shared memory of every CTA in `mask`, each signalling its own barrier.
__device__ __forceinline__ void tma_load_multicast(void* dst, const CUtensorMap* map, std::uint64_t* bar, int k,
                                                   int row, int product, std::uint16_t mask) {
  const auto dst_addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  const auto bar_addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(bar));
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [%0], "
      "[%1, {%3, %4, %5}], [%2], %6;" ::"r"(dst_addr), "l"(reinterpret_cast<std::uint64_t>(map)), "r"(bar_addr),
      "r"(k), "r"(row), "r"(product), "h"(mask)
      : "memory");
}

template <int kPending>
__device__ __forceinline__ void warpgroup_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

template <int kAcc>
__device__ __forceinline__ void wgmma_block(float (&acc)[kAcc], std::uint64_t desc_a, std::uint64_t desc_b,
                                            int scale_d) {
  if constexpr (kAcc == 32) {
    wgmma_m64n64k16(acc, desc_a, desc_b, scale_d);
  } else {
    static_assert(kAcc == 64);
    strassentile::cuda::detail::sm90::wgmma_m64n128k16_bf16(acc, desc_a, desc_b, scale_d);
  }
}

// A stage is free again once one thread of each consumer warpgroup of every CTA in the cluster has arrived: the
// cluster's leaders write the shared tiles into the others' shared memory.
template <int kCtas>
__device__ __forceinline__ void release_stage(std::uint64_t* empty, int tid) {
  if constexpr (kCtas == 1) {
    if (tid == 0) wgmma_products::arrive(empty);
  } else {
    if (tid < kCtas) wgmma_products::arrive_cluster(empty, tid);
  }
}

// Persistent: each cluster walks its blocks of Y, tile, tile + clusters, ...; a cluster is kClusterP × kClusterQ CTAs
// on adjacent p and q blocks: the CTAs of one p block share its X̂ tile (the first of them multicasts it), the CTAs of
// one q block share the Ŵ tile.
template <int A, int C, int kBlockP, int kStages, int kAtoms, int kClusterP, int kClusterQ, bool kStaged>
__global__ void __launch_bounds__(kThreads, 1) __cluster_dims__(kClusterP * kClusterQ, 1, 1)
    accumulate_decode_forward(const Params params, const __grid_constant__ CUtensorMap w_map,
                              const __grid_constant__ CUtensorMap x_map) {
  constexpr int kSlots = A * C;
  constexpr int kAcc = kBlockP / 2;  // fp32 registers per thread of a 64 × kBlockP accumulator
  static_assert(kSlots <= kMaxSlots);
  using Storage = SharedStorage<kBlockP, kStages, kAtoms, kStaged>;
  extern __shared__ std::uint8_t raw_smem[];
  Storage& s = *reinterpret_cast<Storage*>((reinterpret_cast<std::uintptr_t>(raw_smem) + 1023) &
                                           ~static_cast<std::uintptr_t>(1023));

  const int warpgroup = threadIdx.x / 128, tid = threadIdx.x % 128;
  constexpr int kCluster = kClusterP * kClusterQ;
  unsigned cta_rank = 0;
  if constexpr (kCluster > 1) asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(cta_rank));
  const int cluster = blockIdx.x / kCluster, clusters = gridDim.x / kCluster;
  const int cta_p = static_cast<int>(cta_rank) / kClusterQ, cta_q = static_cast<int>(cta_rank) % kClusterQ;
  const int r = params.r;

  for (int i = threadIdx.x; i < kSlots * r; i += kThreads) s.decode[i] = params.decode[i];
  if (threadIdx.x == 0) {
    for (int i = 0; i < kStages; ++i) {
      wgmma_products::init_barrier(&s.full[i], 0, 1);
      wgmma_products::init_barrier(&s.empty[i], 0, kConsumers * kCluster);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if constexpr (kCluster > 1) {
    asm volatile("barrier.cluster.arrive.release;\n" ::: "memory");
    asm volatile("barrier.cluster.wait.acquire;\n" ::: "memory");
  }

  const int q_blocks = (params.n + kBlockQ - 1) / kBlockQ, p_blocks = (params.m + kBlockP - 1) / kBlockP;
  const int q_groups = (q_blocks + kClusterQ - 1) / kClusterQ, p_groups = (p_blocks + kClusterP - 1) / kClusterP;
  const int tiles = q_groups * p_groups, k_blocks = (params.k + kAtomK * kAtoms - 1) / (kAtomK * kAtoms);

  if (warpgroup == 0) {
    wgmma_products::warpgroup_reg_dealloc<40>();
    if (tid == 0) {
      // The CTAs of this one's q column receive its Ŵ tile, those of its p row its X̂ tile.
      std::uint16_t w_mask = 0, x_mask = 0;
      for (int i = 0; i < kClusterP; ++i) w_mask |= static_cast<std::uint16_t>(1u << (i * kClusterQ + cta_q));
      for (int j = 0; j < kClusterQ; ++j) x_mask |= static_cast<std::uint16_t>(1u << (cta_p * kClusterQ + j));
      int stage = 0, phase = 0;
      for (int tile = cluster; tile < tiles; tile += clusters) {
        const int p0 = ((tile / q_groups) * kClusterP + cta_p) * kBlockP;
        const int q0 = ((tile % q_groups) * kClusterQ + cta_q) * kBlockQ;
        for (int t = 0; t < r; ++t) {
          for (int kb = 0; kb < k_blocks; ++kb) {
            wgmma_products::wait(&s.empty[stage], phase);
            wgmma_products::expect_bytes(&s.full[stage], (kBlockQ + kBlockP) * kAtomK * kAtoms * sizeof(bf16));
            for (int atom = 0; atom < kAtoms; ++atom) {
              const int k0 = (kb * kAtoms + atom) * kAtomK;
              if constexpr (kClusterP == 1) {
                tma_load(s.a[stage][atom], &w_map, &s.full[stage], k0, q0, t);
              } else if (cta_p == 0) {
                tma_load_multicast(s.a[stage][atom], &w_map, &s.full[stage], k0, q0, t, w_mask);
              }
              if constexpr (kClusterQ == 1) {
                tma_load(s.b[stage][atom], &x_map, &s.full[stage], k0, p0, t);
              } else if (cta_q == 0) {
                tma_load_multicast(s.b[stage][atom], &x_map, &s.full[stage], k0, p0, t, x_mask);
              }
            }
            if (++stage == kStages) stage = 0, phase ^= 1;
          }
        }
      }
    }
  } else {
    wgmma_products::warpgroup_reg_alloc<232>();
    const int consumer = warpgroup - 1;
    for (int i = 0; i < kStages; ++i) release_stage<kCluster>(&s.empty[i], tid);
    const int warp = tid / 32, lane = tid % 32;
    float acc[kAcc];
    float out[kStaged ? 1 : kSlots][kStaged ? 1 : kAcc];  // the slots; unused when staged
    int stage = 0, phase = 0;
    for (int tile = cluster; tile < tiles; tile += clusters) {
      const int p0 = ((tile / q_groups) * kClusterP + cta_p) * kBlockP;
      const int q0 = ((tile % q_groups) * kClusterQ + cta_q) * kBlockQ;
      if constexpr (!kStaged) {
#pragma unroll
        for (int slot = 0; slot < kSlots; ++slot)
#pragma unroll
          for (int e = 0; e < kAcc; ++e) out[slot][e] = 0.0f;
      }
      for (int t = 0; t < r; ++t) {
        int pending = -1;  // the stage whose WGMMAs may still be reading it
        for (int kb = 0; kb < k_blocks; ++kb) {
          wgmma_products::wait(&s.full[stage], phase);
          wgmma_products::warpgroup_arrive();
#pragma unroll
          for (int atom = 0; atom < kAtoms; ++atom) {
            const std::uint64_t desc_a = wgmma_products::make_smem_desc(&s.a[stage][atom][consumer * 64 * kAtomK]);
            const std::uint64_t desc_b = wgmma_products::make_smem_desc(&s.b[stage][atom][0]);
#pragma unroll
            for (int k16 = 0; k16 < kAtomK / 16; ++k16) {  // 16 bf16 = 32 bytes = 2 in the descriptor's units
              wgmma_block(acc, desc_a + 2 * k16, desc_b + 2 * k16, (kb > 0 || atom > 0 || k16 > 0) ? 1 : 0);
            }
          }
          wgmma_products::warpgroup_commit_batch();
          warpgroup_wait<1>();
          if (pending >= 0) release_stage<kCluster>(&s.empty[pending], tid);
          pending = stage;
          if (++stage == kStages) stage = 0, phase ^= 1;
        }
        warpgroup_wait<0>();
        release_stage<kCluster>(&s.empty[pending], tid);
        if constexpr (kStaged) {
          if (t + 1 < r) {
#pragma unroll
            for (int e2 = 0; e2 < kAcc / 2; ++e2) {
              const __nv_bfloat162 pair = __floats2bfloat162_rn(acc[2 * e2], acc[2 * e2 + 1]);
              s.staged.pairs[t][consumer][e2][tid] = *reinterpret_cast<const std::uint32_t*>(&pair);
            }
          }
        } else {
#pragma unroll
          for (int slot = 0; slot < kSlots; ++slot) {
            const float coef = s.decode[slot * r + t];
#pragma unroll
            for (int e = 0; e < kAcc; ++e) out[slot][e] = fmaf(coef, acc[e], out[slot][e]);
          }
        }
      }

      // Staged: D's columns in registers, the last product's apart; a product past r weighs 0.
      float last_coef[kStaged ? kSlots : 1], staged_coef[kStaged ? kSlots : 1][kMaxStaged];
      if constexpr (kStaged) {
#pragma unroll
        for (int slot = 0; slot < kSlots; ++slot) {
          last_coef[slot] = s.decode[slot * r + r - 1];
#pragma unroll
          for (int t = 0; t < kMaxStaged; ++t) staged_coef[slot][t] = t + 1 < r ? s.decode[slot * r + t] : 0.0f;
        }
      }
      // Accumulator element e of this thread: product row q = 16·warp + lane/4 + 8·((e/2) % 2) of the consumer's 64,
      // product column p = 8·(e/4) + 2·(lane % 4) + e % 2; it lands in Y[a·p + i, c·q + j] for slot (i, j).
      const int m = params.m, n = params.n;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int q = q0 + consumer * 64 + warp * 16 + lane / 4 + 8 * h;
        if (q >= n) continue;
        float bias[C];
#pragma unroll
        for (int j = 0; j < C; ++j) bias[j] = params.bias ? __bfloat162float(params.bias[C * q + j]) : 0.0f;
#pragma unroll
        for (int chunk = 0; chunk < kBlockP / 8; ++chunk) {
#pragma unroll
          for (int odd = 0; odd < 2; ++odd) {
            const int p = p0 + 8 * chunk + 2 * (lane % 4) + odd;
            if (p >= m) continue;
            const int e = 4 * chunk + 2 * h + odd;
            // Staged: this entry of the earlier products, read back from this thread's own lanes; a product past r
            // reads as 0, not as stale bits (0 × NaN).
            float z[kMaxStaged];
            if constexpr (kStaged) {
#pragma unroll
              for (int t = 0; t < kMaxStaged; ++t) {
                const std::uint32_t bits = t + 1 < r ? s.staged.pairs[t][consumer][e / 2][tid] : 0u;
                const __nv_bfloat162 pair = *reinterpret_cast<const __nv_bfloat162*>(&bits);
                z[t] = __bfloat162float(odd ? pair.y : pair.x);
              }
            }
#pragma unroll
            for (int i = 0; i < A; ++i) {
              float values[C];
#pragma unroll
              for (int j = 0; j < C; ++j) {
                if constexpr (kStaged) {
                  float v = fmaf(last_coef[i * C + j], acc[e], bias[j]);
#pragma unroll
                  for (int t = 0; t < kMaxStaged; ++t) v = fmaf(staged_coef[i * C + j][t], z[t], v);
                  values[j] = v;
                } else {
                  values[j] = out[i * C + j][e] + bias[j];
                }
              }
              bf16* y_row = params.y + static_cast<long>(A * p + i) * params.ldy + C * q;
              strassentile::cuda::detail::store_bf16_group<C>(y_row, values);
            }
          }
        }
      }
    }
  }
  // No CTA leaves while a partner may still arrive on its barriers or multicast into its shared memory.
  if constexpr (kCluster > 1) {
    asm volatile("barrier.cluster.arrive.release;\n" ::: "memory");
    asm volatile("barrier.cluster.wait.acquire;\n" ::: "memory");
  }
}

// X̂ or Ŵᵀ as a 3-D tensor (k, rows, product): a tile never crosses into the next product, and rows or k past the
// end read as zeros.
inline CUtensorMap product_map(const bf16* base, int k, int rows, int r, int box_rows) {
  CUtensorMap map;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(rows), static_cast<cuuint64_t>(r)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(k) * sizeof(bf16),
                                 static_cast<cuuint64_t>(rows) * k * sizeof(bf16)};
  const cuuint32_t box[3] = {kAtomK, static_cast<cuuint32_t>(box_rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUresult result = wgmma_products::encode_tiled()(
      &map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<bf16*>(base), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS) {
    std::fprintf(stderr, "accumulate_decode: cuTensorMapEncodeTiled failed (%d)\n", static_cast<int>(result));
    std::exit(1);
  }
  return map;
}

// Y = decode(X̂·Ŵ) + bias for the <A, ·, C> format: x_hat (r·m × k), w_hat_t (r·n × k). Returns false and launches
// nothing where the kernel does not apply (k % 8, r > 32, misaligned Y rows; staged: r > kMaxStaged + 1).
// kStaged: the staged kernel, one 64 × 128 accumulator per consumer.
template <int A, int C, int kClusterP = 1, int kClusterQ = 2, int kAtoms = 1, bool kStaged = false>
bool run(const Params& params, const bf16* x_hat, const bf16* w_hat_t, cudaStream_t stream = nullptr) {
  constexpr int kBlockP = kStaged || A * C <= 2 ? 128 : 64;
  constexpr int kStageBytes = (kBlockQ + kBlockP) * kAtomK * kAtoms * 2;
  constexpr int kStagedBytes = kStaged ? static_cast<int>(sizeof(StagedProducts<true, kBlockP>)) : 0;
  constexpr int kStages = std::min(6, ((kStaged ? 224 : 200) * 1024 - kStagedBytes) / kStageBytes);
  static_assert(kStages >= 3, "too few pipeline stages beside the staged products");
  constexpr int kCluster = kClusterP * kClusterQ;
  if (params.k % 8 != 0 || params.r < 1 || params.r > kMaxRank || (params.ldy * 2) % (2 * C) != 0) return false;
  if (kStaged && params.r > kMaxStaged + 1) return false;
  auto* kernel = accumulate_decode_forward<A, C, kBlockP, kStages, kAtoms, kClusterP, kClusterQ, kStaged>;
  constexpr std::size_t smem = sizeof(SharedStorage<kBlockP, kStages, kAtoms, kStaged>) + 1024;
  static_assert(smem <= 227 * 1024);
  static const int sms = [&] {
    cuda_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "smem attribute");
    int device = 0, count = 0;
    cuda_check(cudaGetDevice(&device), "cudaGetDevice");
    cuda_check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "SM count");
    return count;
  }();
  // The tensor maps are host work: rebuilt only when the operands or their shape change, not on every launch.
  static CUtensorMap w_map, x_map;
  static const void* cached[2] = {nullptr, nullptr};
  static int cached_shape[4] = {0, 0, 0, 0};
  const int shape[4] = {params.m, params.n, params.k, params.r};
  if (cached[0] != w_hat_t || cached[1] != x_hat || !std::equal(shape, shape + 4, cached_shape)) {
    w_map = product_map(w_hat_t, params.k, params.n, params.r, kBlockQ);
    x_map = product_map(x_hat, params.k, params.m, params.r, kBlockP);
    cached[0] = w_hat_t, cached[1] = x_hat;
    std::copy(shape, shape + 4, cached_shape);
  }
  const int q_groups = (params.n + kBlockQ * kClusterQ - 1) / (kBlockQ * kClusterQ);
  const int p_groups = (params.m + kBlockP * kClusterP - 1) / (kBlockP * kClusterP);
  const int clusters = std::min(sms / kCluster, q_groups * p_groups);
  kernel<<<clusters * kCluster, kThreads, smem, stream>>>(params, w_map, x_map);
  return cudaGetLastError() == cudaSuccess;
}

}  // namespace accumulate_decode
