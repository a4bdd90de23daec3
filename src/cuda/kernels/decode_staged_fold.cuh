// The backward's dX = encodeᵀ(dX̂) on the CUDA-core staged decode (decode_staged.cuh's arithmetic, any specialised
// (a,b) tile), with dE_X[p, q] = Σ_tiles dX̂[p] · tile entry q of X summed in the same pass. Without it, dE_X is a
// tile gather of X and a split-K GEMM over every tile position: at 16384×4096×4096 `<4,2,4>` r = 12 (H200) 0.23 ms,
// twice the dX pass itself. Here the pass already holds a block's slab of dX̂ (all r products × 512 tiles of one
// row-tile) in shared memory; it stages the matching A × (C·512) slab of X beside it, and the block's warps add
// G = P · E on tensor cores (m16n8k16: M = products, N = tile entries, K = tiles), as coef_grad_fold.cuh does for
// the <4,4> tensor-core pass.
//
// Persistent: resident blocks walk the row-tile slabs by the grid, keeping G in registers, and each writes its sum
// once (rank × a·b floats); sum_fold_partials (backward.cuh) adds the blocks in order: the same bits on every run.
// 16-bit storage only (the operands go to the tensor cores as they are); rank <= kFoldMaxRank.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "codec_args.cuh"
#include "coef_grad_fold.cuh"
#include "decode_staged.cuh"
#include "decode_tiles.cuh"
#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"
#include "mma16.cuh"
#include "ptx.cuh"

namespace strassentile::cuda::detail {

namespace staged_fold {
constexpr int kTiles = kStagedDecodeTiles;  // tiles per slab (one row-tile)
constexpr int kZStride = kTiles + 8;       // 1,040 bytes: ldmatrix's eight rows land on distinct banks
template <int C>
constexpr int kXStride = C * kTiles + 16;  // 32 bytes of padding: the B fragments' tile rows u land on distinct banks
// Shared bytes: the transposed decoder, dX̂'s slab (16·mt rows, those past the rank zero) and X's slab.
template <class T, int A, int C>
std::size_t smem_bytes(int rank, int mt) {
  return (static_cast<std::size_t>(rank) * A * C * sizeof(float) + 15) / 16 * 16 +
         static_cast<std::size_t>(16 * mt) * kZStride * sizeof(T) + static_cast<std::size_t>(A) * kXStride<C> * sizeof(T);
}
}  // namespace staged_fold

// c[mt][half] += P[16·mt .., this warp's tiles] · E[those tiles, 8·half ..] over the staged slab. P: dX̂'s rows
// (zero past the rank; zero past the last tile, as the staging fills it); E: entry q = u·C + w of tile t at row u,
// column C·t + w of X's slab (zero past the real rows and columns).
template <class T, int A, int C, int WARPS, int MT>
__device__ __forceinline__ void fold_slab(const word16* s_p, const word16* s_e, int rank,
                                          float (&c)[MT][(A * C + 7) / 8][4]) {
  constexpr int Q = A * C, NH = (Q + 7) / 8, kWarpTiles = staged_fold::kTiles / WARPS;
  constexpr int kXStride = staged_fold::kXStride<C>;
  static_assert(kWarpTiles % 16 == 0, "each warp adds whole 16-tile steps");
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
#pragma unroll 2
  for (int ks = 0; ks < kWarpTiles / 16; ++ks) {
    const int tile0 = warp * kWarpTiles + ks * 16;
    // B fragments: column g of each half is entry q = 8·half + g; rows (tiles) 2t, 2t+1 and 2t+8, 2t+9.
    unsigned b[NH][2];
#pragma unroll
    for (int half = 0; half < NH; ++half) {
      const int q = 8 * half + g;
      if (q < Q) {
        const word16* e = s_e + (q / C) * kXStride + C * (tile0 + 2 * t) + q % C;
        b[half][0] = pack_words(e[0], e[C]);
        b[half][1] = pack_words(e[8 * C], e[9 * C]);
      } else {
        b[half][0] = b[half][1] = 0u;
      }
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      if (16 * mt >= rank) break;  // block-uniform
      unsigned a[4];
      ldmatrix_x4(a, s_p + (16 * mt + (lane & 15)) * staged_fold::kZStride + tile0 + 8 * (lane >> 4));
#pragma unroll
      for (int half = 0; half < NH; ++half) Mma16<T>::mma(c[mt][half], a, b[half][0], b[half][1]);
    }
  }
}

template <class T, int A, int C, int V, int MT>
__global__ void __launch_bounds__(staged_fold::kTiles / V)
    decode_staged_folding(const DecodeArgs<T> args, const FoldArgs fold, std::int64_t slabs) {
  constexpr int Q = A * C, NH = (Q + 7) / 8;
  constexpr int kThreads = staged_fold::kTiles / V, kWarps = kThreads / 32;
  constexpr int kPer = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte copy
  constexpr int kZChunks = staged_fold::kTiles / kPer;     // copies per product
  constexpr int kXRow = C * staged_fold::kTiles, kXChunks = kXRow / kPer, kXStride = staged_fold::kXStride<C>;
  static_assert(kThreads % 32 == 0, "whole warps");
  extern __shared__ __align__(16) unsigned char smem[];
  float* s_dec = reinterpret_cast<float*>(smem);  // s_dec[p·Q + q] = dec[q, p]
  T* s_z = reinterpret_cast<T*>(smem + ((args.rank * Q * sizeof(float) + 15) / 16) * 16);  // [16·MT][kZStride]
  T* s_x = s_z + 16 * MT * staged_fold::kZStride;                                         // [A][kXStride]
  const T* x = reinterpret_cast<const T*>(fold.src);

  for (int t = threadIdx.x; t < args.rank * Q; t += blockDim.x) {
    const int p = t / Q, q = t - p * Q;
    s_dec[t] = causal_allows(args.levels, args.side, p, q / C) ? args.dec[q * args.dec_q + p * args.dec_p] : 0.0f;
  }
  // dX̂'s rows past the rank feed the fold's last 16-product step: zero, once (the staging never writes them).
  for (int t = threadIdx.x; t < (16 * MT - args.rank) * staged_fold::kZStride; t += blockDim.x)
    s_z[args.rank * staged_fold::kZStride + t] = from_float<T>(0.0f);

  float c[MT][NH][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int h = 0; h < NH; ++h)
#pragma unroll
      for (int r = 0; r < 4; ++r) c[mt][h][r] = 0.0f;

  const std::int64_t per_i = (args.n + staged_fold::kTiles - 1) / staged_fold::kTiles;
  for (std::int64_t slab = blockIdx.x; slab < slabs; slab += gridDim.x) {
    const std::int64_t i = index_div(slab, per_i);
    const std::int64_t jb = (slab - i * per_i) * staged_fold::kTiles;
    // dX̂'s slab: r products × 512 tiles (zero past the last tile).
    const T* src = args.z + i * args.ld_z + jb;
    for (int k = threadIdx.x; k < args.rank * kZChunks; k += blockDim.x) {
      const int p = k / kZChunks, e = (k - p * kZChunks) * kPer;
      const std::int64_t left = args.n - jb - e;
      T* dst = s_z + p * staged_fold::kZStride + e;
      if (args.vec_z) {
        const int bytes = left <= 0 ? 0 : left >= kPer ? 16 : static_cast<int>(left * sizeof(T));
        cp_async_16(dst, bytes ? src + p * args.stride_z + e : args.z, bytes);
      } else {
#pragma unroll
        for (int v = 0; v < kPer; ++v) dst[v] = v < left ? src[p * args.stride_z + e + v] : from_float<T>(0.0f);
      }
    }
    // X's slab: the tile's A rows (zero past its real rows) × C·512 columns (zero past K).
    std::int64_t first;
    int real;
    args.rows.tile(i, A, first, real);
    for (int k = threadIdx.x; k < A * kXChunks; k += blockDim.x) {
      const int u = k / kXChunks, e = (k - u * kXChunks) * kPer;
      const std::int64_t col = C * jb + e, left = u < real ? args.cols - col : 0;
      const T* from = x + (first + u) * fold.ld + col;
      T* dst = s_x + u * kXStride + e;
      if (fold.vec) {
        const int bytes = left <= 0 ? 0 : left >= kPer ? 16 : static_cast<int>(left * sizeof(T));
        cp_async_16(dst, bytes ? from : x, bytes);
      } else {
#pragma unroll
        for (int v = 0; v < kPer; ++v) dst[v] = v < left ? from[v] : from_float<T>(0.0f);
      }
    }
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    const std::int64_t j0 = jb + threadIdx.x * V;
    if (j0 < args.n)
      decode_staged_tiles<T, A, C, V, Activation::none>(args, s_dec, s_z + threadIdx.x * V, staged_fold::kZStride, i,
                                                        j0);
    fold_slab<T, A, C, kWarps, MT>(reinterpret_cast<const word16*>(s_z), reinterpret_cast<const word16*>(s_x),
                                   args.rank, c);
    __syncthreads();  // the next slab's copies overwrite these
  }

  // The block's G (rank × Q) into partials[blockIdx.x], its warps added in order.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  float* out = fold.partials + static_cast<std::int64_t>(blockIdx.x) * args.rank * Q;
  for (int w = 0; w < kWarps; ++w) {
    if (warp == w) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int half = 0; half < NH; ++half)
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const int p = 16 * mt + g + 8 * (r >> 1), q = 8 * half + 2 * t + (r & 1);
            if (p < args.rank && q < Q) out[p * Q + q] = (w == 0 ? 0.0f : out[p * Q + q]) + c[mt][half][r];
          }
    }
    __syncthreads();
  }
}

// Blocks of `threads` with `smem` bytes each that stay resident on all of the device's SMs. The occupancy and
// SM-count queries cost microseconds of host time, so the answer is kept per kernel, device and shared bytes.
inline unsigned resident_blocks(const void* kernel, int threads, std::size_t smem) {
  static std::mutex mutex;
  static std::map<std::tuple<const void*, int, std::size_t>, unsigned> cache;
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  const auto key = std::make_tuple(kernel, device, smem);
  const std::lock_guard<std::mutex> lock(mutex);
  auto found = cache.find(key);
  if (found == cache.end()) {
    int per_sm = 0, sms = 0;
    check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem),
               "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    found = cache.emplace(key, static_cast<unsigned>(sms * (per_sm > 0 ? per_sm : 1))).first;
  }
  return found->second;
}

// The caller (dispatch.cpp) has checked: 16-bit storage, rank <= kFoldMaxRank, no bias, no activation.
template <class T, int A, int C, int V = vector_tiles<T>(C)>
void run_decode_staged_folding(const DecodeParams& p, CoefLayout layout, CausalSide causal, const CoefGradFold& fold) {
  static_assert(sizeof(T) == 2, "the fold feeds 16-bit operands to the tensor cores");
  static_assert(staged_fold::kTiles % V == 0, "tiles per thread must divide the slab's tiles");
  constexpr int kThreads = staged_fold::kTiles / V;
  const StlShape& s = p.shape;
  const std::int64_t slabs = s.m() * ((s.n() + staged_fold::kTiles - 1) / staged_fold::kTiles);
  unsigned grid = 0;
  if (slabs > 0) {
    DecodeArgs<T> args = decode_args<T>(p, layout, causal);
    const std::size_t e = sizeof(T);
    args.vec_z = is_aligned(p.z.data, 16) && (p.z.ld * e) % 16 == 0 && (p.z.stride * e) % 16 == 0;
    const FoldArgs f{static_cast<const word16*>(fold.src), fold.ld, 0, is_aligned(fold.src, 16) && fold.ld % 8 == 0,
                     fold.partials};
    const int mt = (s.rank + 15) / 16;
    const std::size_t smem = staged_fold::smem_bytes<T, A, C>(s.rank, mt);
    const auto launch = [&](auto kernel) {
      const void* k = reinterpret_cast<const void*>(kernel);
      set_dynamic_smem(k, smem);
      const std::int64_t resident = resident_blocks(k, kThreads, smem);
      grid = static_cast<unsigned>(std::min<std::int64_t>({slabs, resident, kFoldMaxBlocks}));
      kernel<<<grid, kThreads, smem, p.stream>>>(args, f, slabs);
    };
    if (mt == 1)
      launch(decode_staged_folding<T, A, C, V, 1>);
    else
      launch(decode_staged_folding<T, A, C, V, 2>);
    check_launch("decode_staged_folding");
  }
  launch_sum_fold_partials(fold, static_cast<int>(grid), s.rank, p.stream, A * C);
}

template <DType D, int A, int C>
void launch_decode_staged_folding(const DecodeParams& p, CoefLayout dec, CausalSide causal, const CoefGradFold& fold) {
  run_decode_staged_folding<Storage<D>, A, C>(p, dec, causal, fold);
}

}  // namespace strassentile::cuda::detail
