// The STL forward's products and decode as one sm_90a kernel for formats of small rank: the r products of a block
// advance together, k-step by k-step, each in its own accumulator, and the decode reads all r at the end of the block.
//
// accumulate_decode.cuh runs a block's r products one after another and folds each finished accumulator into the a·c
// output slots: every product ends with the WGMMA pipeline drained (wait for all groups) and the fold on the CUDA
// cores, r times per block. Here the stages arrive in (k-step, product) order and each feeds its product's
// accumulator, so the pipeline drains once per block, and the decode is Y[a·p+i, c·q+j] = Σ_t D[(i,j), t]·Z[t][p, q]
// from the r accumulators, local to the thread. The registers bound r: a consumer warpgroup holds r accumulators of
// 64 × kBlockP fp32, r·kBlockP/2 registers: r ≤ 3 at kBlockP = 128 (`<2,2,2>` r = 3, `<1,4,2>` r = 3), r ≤ 6 at 64
// (`<2,4,2>` r = 6, `<4,4,1>` r = 6). Same TMA producer, swizzle, stages and clusters as accumulate_decode.cuh.
#pragma once

#include "accumulate_decode.cuh"

namespace interleaved_decode {

using accumulate_decode::kAtomK;
using accumulate_decode::kBlockQ;
using accumulate_decode::kConsumers;
using accumulate_decode::kThreads;
using accumulate_decode::Params;
using wgmma_products::bf16;
using wgmma_products::cuda_check;

template <int A, int C, int R, int kBlockP, int kStages, int kClusterP, int kClusterQ>
__global__ void __launch_bounds__(kThreads, 1) __cluster_dims__(kClusterP * kClusterQ, 1, 1)
    interleaved_decode_forward(const Params params, const __grid_constant__ CUtensorMap w_map,
                               const __grid_constant__ CUtensorMap x_map) {
  constexpr int kSlots = A * C;
  constexpr int kAcc = kBlockP / 2;  // fp32 registers per thread of a 64 × kBlockP accumulator
  static_assert(kSlots <= accumulate_decode::kMaxSlots && R <= accumulate_decode::kMaxRank);
  static_assert(R * kAcc <= 192, "the r accumulators must leave registers for the rest of the consumer");
  using Storage = accumulate_decode::SharedStorage<kBlockP, kStages, 1>;
  extern __shared__ std::uint8_t raw_smem[];
  Storage& s = *reinterpret_cast<Storage*>((reinterpret_cast<std::uintptr_t>(raw_smem) + 1023) &
                                           ~static_cast<std::uintptr_t>(1023));

  const int warpgroup = threadIdx.x / 128, tid = threadIdx.x % 128;
  constexpr int kCluster = kClusterP * kClusterQ;
  unsigned cta_rank = 0;
  if constexpr (kCluster > 1) asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(cta_rank));
  const int cluster = blockIdx.x / kCluster, clusters = gridDim.x / kCluster;
  const int cta_p = static_cast<int>(cta_rank) / kClusterQ, cta_q = static_cast<int>(cta_rank) % kClusterQ;

  for (int i = threadIdx.x; i < kSlots * R; i += kThreads) s.decode[i] = params.decode[i];
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
  const int tiles = q_groups * p_groups, k_blocks = (params.k + kAtomK - 1) / kAtomK;

  if (warpgroup == 0) {
    wgmma_products::warpgroup_reg_dealloc<40>();
    if (tid == 0) {
      std::uint16_t w_mask = 0, x_mask = 0;
      for (int i = 0; i < kClusterP; ++i) w_mask |= static_cast<std::uint16_t>(1u << (i * kClusterQ + cta_q));
      for (int j = 0; j < kClusterQ; ++j) x_mask |= static_cast<std::uint16_t>(1u << (cta_p * kClusterQ + j));
      int stage = 0, phase = 0;
      for (int tile = cluster; tile < tiles; tile += clusters) {
        const int p0 = ((tile / q_groups) * kClusterP + cta_p) * kBlockP;
        const int q0 = ((tile % q_groups) * kClusterQ + cta_q) * kBlockQ;
        for (int kb = 0; kb < k_blocks; ++kb) {
          for (int t = 0; t < R; ++t) {  // the consumers take the stages in this order
            wgmma_products::wait(&s.empty[stage], phase);
            wgmma_products::expect_bytes(&s.full[stage], (kBlockQ + kBlockP) * kAtomK * sizeof(bf16));
            const int k0 = kb * kAtomK;
            if constexpr (kClusterP == 1) {
              accumulate_decode::tma_load(s.a[stage][0], &w_map, &s.full[stage], k0, q0, t);
            } else if (cta_p == 0) {
              accumulate_decode::tma_load_multicast(s.a[stage][0], &w_map, &s.full[stage], k0, q0, t, w_mask);
            }
            if constexpr (kClusterQ == 1) {
              accumulate_decode::tma_load(s.b[stage][0], &x_map, &s.full[stage], k0, p0, t);
            } else if (cta_q == 0) {
              accumulate_decode::tma_load_multicast(s.b[stage][0], &x_map, &s.full[stage], k0, p0, t, x_mask);
            }
            if (++stage == kStages) stage = 0, phase ^= 1;
          }
        }
      }
    }
  } else {
    wgmma_products::warpgroup_reg_alloc<232>();
    const int consumer = warpgroup - 1;
    for (int i = 0; i < kStages; ++i) accumulate_decode::release_stage<kCluster>(&s.empty[i], tid);
    const int warp = tid / 32, lane = tid % 32;
    float acc[R][kAcc];
    int stage = 0, phase = 0;
    for (int tile = cluster; tile < tiles; tile += clusters) {
      const int p0 = ((tile / q_groups) * kClusterP + cta_p) * kBlockP;
      const int q0 = ((tile % q_groups) * kClusterQ + cta_q) * kBlockQ;
      int pending = -1;  // the stage whose WGMMAs may still be reading it
      for (int kb = 0; kb < k_blocks; ++kb) {
#pragma unroll
        for (int t = 0; t < R; ++t) {  // unrolled: acc[t] must name registers, not local memory
          wgmma_products::wait(&s.full[stage], phase);
          wgmma_products::warpgroup_arrive();
          const std::uint64_t desc_a = wgmma_products::make_smem_desc(&s.a[stage][0][consumer * 64 * kAtomK]);
          const std::uint64_t desc_b = wgmma_products::make_smem_desc(&s.b[stage][0][0]);
#pragma unroll
          for (int k16 = 0; k16 < kAtomK / 16; ++k16)  // 16 bf16 = 32 bytes = 2 in the descriptor's units
            accumulate_decode::wgmma_block(acc[t], desc_a + 2 * k16, desc_b + 2 * k16, (kb > 0 || k16 > 0) ? 1 : 0);
          wgmma_products::warpgroup_commit_batch();
          accumulate_decode::warpgroup_wait<1>();
          if (pending >= 0) accumulate_decode::release_stage<kCluster>(&s.empty[pending], tid);
          pending = stage;
          if (++stage == kStages) stage = 0, phase ^= 1;
        }
      }
      accumulate_decode::warpgroup_wait<0>();
      accumulate_decode::release_stage<kCluster>(&s.empty[pending], tid);

      // Accumulator element e of this thread: product row q = 16·warp + lane/4 + 8·((e/2) % 2) of the consumer's 64,
      // product column p = 8·(e/4) + 2·(lane % 4) + e % 2; slot (i, j) of it lands in Y[a·p + i, c·q + j].
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
#pragma unroll
            for (int i = 0; i < A; ++i) {
              float values[C];
#pragma unroll
              for (int j = 0; j < C; ++j) {
                float sum = bias[j];
#pragma unroll
                for (int t = 0; t < R; ++t) sum = fmaf(s.decode[(i * C + j) * R + t], acc[t][e], sum);
                values[j] = sum;
              }
              accumulate_decode::store_slots<A, C>(params.y + static_cast<long>(A * p + i) * params.ldy + C * q, values);
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

// The largest block along p whose r accumulators fit: 128 for r ≤ 3, 64 for r ≤ 6; 0: the kernel does not apply.
constexpr int block_p_for_rank(int r) { return r <= 3 ? 128 : r <= 6 ? 64 : 0; }

// Y = decode(X̂·Ŵ) + bias for the <A, ·, C> format of rank R: x_hat (R·m × k), w_hat_t (R·n × k). Returns false and
// launches nothing where the kernel does not apply (k % 8, params.r ≠ R, misaligned Y rows).
template <int A, int C, int R, int kClusterP = 1, int kClusterQ = 2>
bool run(const Params& params, const bf16* x_hat, const bf16* w_hat_t, cudaStream_t stream = nullptr) {
  constexpr int kBlockP = block_p_for_rank(R);
  static_assert(kBlockP > 0);
  constexpr int kStageBytes = (kBlockQ + kBlockP) * kAtomK * 2;
  constexpr int kStages = std::min(8, (200 * 1024) / kStageBytes);
  constexpr int kCluster = kClusterP * kClusterQ;
  if (params.k % 8 != 0 || params.r != R || (params.ldy * 2) % (2 * C) != 0) return false;
  auto* kernel = interleaved_decode_forward<A, C, R, kBlockP, kStages, kClusterP, kClusterQ>;
  constexpr std::size_t smem = sizeof(accumulate_decode::SharedStorage<kBlockP, kStages, 1>) + 1024;
  static_assert(smem <= 227 * 1024);
  static const int sms = [&] {
    cuda_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "smem attribute");
    int device = 0, count = 0;
    cuda_check(cudaGetDevice(&device), "cudaGetDevice");
    cuda_check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "SM count");
    return count;
  }();
  static CUtensorMap w_map, x_map;
  static const void* cached[2] = {nullptr, nullptr};
  static int cached_shape[4] = {0, 0, 0, 0};
  const int shape[4] = {params.m, params.n, params.k, params.r};
  if (cached[0] != w_hat_t || cached[1] != x_hat || !std::equal(shape, shape + 4, cached_shape)) {
    w_map = accumulate_decode::product_map(w_hat_t, params.k, params.n, params.r, kBlockQ);
    x_map = accumulate_decode::product_map(x_hat, params.k, params.m, params.r, kBlockP);
    cached[0] = w_hat_t, cached[1] = x_hat;
    std::copy(shape, shape + 4, cached_shape);
  }
  const int q_groups = (params.n + kBlockQ * kClusterQ - 1) / (kBlockQ * kClusterQ);
  const int p_groups = (params.m + kBlockP * kClusterP - 1) / (kBlockP * kClusterP);
  const int clusters = std::min(sms / kCluster, q_groups * p_groups);
  kernel<<<clusters * kCluster, kThreads, smem, stream>>>(params, w_map, x_map);
  return cudaGetLastError() == cudaSuccess;
}

}  // namespace interleaved_decode
