// The backward's coefficient gradients summed inside its CUDA-core codec passes, for every specialised tile (a, b|c)
// the tensor-core passes (<4,4> tiles, coef_grad_fold.cuh) do not cover:
//   dX = encodeᵀ(dX̂), the staged decode of dX̂ with E_Xᵀ, with dE_X[p, q] = Σ_tiles dX̂[p] · tile entry q of X;
//   dZ = decodeᵀ(dY), the encode of dY's tiles with Dᵀ,   with dD[q, p]   = Σ_tiles tile entry q of dY · Z[p].
// Unfolded, each gradient is a tile copy and a split-K GEMM over every tile position: at 16384×4096×4096 `<4,2,4>`
// r = 12 (H200) dE_X took 0.23 ms, twice the dX pass itself. Here a block stages a slab — 512 tiles of one row-tile —
// of the r product planes (dX̂, or Z) and of the a × (b|c)·512 tile entries (X, or dY) in shared memory, runs the
// pass from it, and its warps add G = P · E on tensor cores (mma.sync m16n8k16: M = products, N = tile entries, K =
// tiles), as coef_grad_fold.cuh does for <4,4> tiles.
//
// Persistent: resident blocks walk the slabs by the grid, keeping G in registers, and each writes its sum once
// (rank × a·(b|c) floats); sum_fold_partials (backward.cuh) adds the blocks in order: the same bits on every run.
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
#include "encode_tiles.cuh"
#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"
#include "mma16.cuh"
#include "ptx.cuh"

namespace strassentile::cuda::detail {

namespace staged_fold {
constexpr int kTiles = kStagedDecodeTiles;  // tiles per slab (one row-tile)
constexpr int kPStride = kTiles + 8;       // 1,040 bytes: ldmatrix's eight rows land on distinct banks
template <int W>
constexpr int kEStride = W * kTiles + 16;  // 32 bytes of padding: the B fragments' tile rows land on distinct banks

// Shared bytes: the coefficients (rank × a·w floats), the planes' slab (16·mt rows, those past the rank zero) and
// the tile entries' slab (a rows).
template <class T, int A, int W>
std::size_t smem_bytes(int rank, int mt) {
  return (static_cast<std::size_t>(rank) * A * W * sizeof(float) + 15) / 16 * 16 +
         static_cast<std::size_t>(16 * mt) * kPStride * sizeof(T) + static_cast<std::size_t>(A) * kEStride<W> * sizeof(T);
}

// Rows p < rank of the planes' slab: planes[p·stride + i·ld + jb ..], kTiles of them, zero past the n-th tile.
template <class T>
__device__ __forceinline__ void stage_planes(const T* planes, std::int64_t ld, std::int64_t stride, std::int64_t n,
                                             bool vec, int rank, std::int64_t i, std::int64_t jb, T* s_p) {
  constexpr int kPer = 16 / static_cast<int>(sizeof(T)), kChunks = kTiles / kPer;
  const T* src = planes + i * ld + jb;
  for (int k = threadIdx.x; k < rank * kChunks; k += blockDim.x) {
    const int p = k / kChunks, e = (k - p * kChunks) * kPer;
    const std::int64_t left = n - jb - e;
    T* dst = s_p + p * kPStride + e;
    if (vec) {
      const int bytes = left <= 0 ? 0 : left >= kPer ? 16 : static_cast<int>(left * sizeof(T));
      cp_async_16(dst, bytes ? src + p * stride + e : planes, bytes);
    } else {
#pragma unroll
      for (int v = 0; v < kPer; ++v) dst[v] = v < left ? src[p * stride + e + v] : from_float<T>(0.0f);
    }
  }
}

// The tile entries' slab: row u < A of row-tile i (zero past its real rows), columns W·jb .. W·(jb + kTiles) of a
// matrix `cols` wide (zero past it).
template <class T, int A, int W>
__device__ __forceinline__ void stage_tiles(const T* x, std::int64_t ld, std::int64_t cols, bool vec,
                                            const RowMap& rows, std::int64_t i, std::int64_t jb, T* s_e) {
  constexpr int kPer = 16 / static_cast<int>(sizeof(T)), kChunks = W * kTiles / kPer;
  std::int64_t first;
  int real;
  rows.tile(i, A, first, real);
  for (int k = threadIdx.x; k < A * kChunks; k += blockDim.x) {
    const int u = k / kChunks, e = (k - u * kChunks) * kPer;
    const std::int64_t col = W * jb + e, left = u < real ? cols - col : 0;
    const T* from = x + (first + u) * ld + col;
    T* dst = s_e + u * kEStride<W> + e;
    if (vec) {
      const int bytes = left <= 0 ? 0 : left >= kPer ? 16 : static_cast<int>(left * sizeof(T));
      cp_async_16(dst, bytes ? from : x, bytes);
    } else {
#pragma unroll
      for (int v = 0; v < kPer; ++v) dst[v] = v < left ? from[v] : from_float<T>(0.0f);
    }
  }
}

// s_p's rows past the rank, which the fold's last 16-product step reads: zero, once (staging never writes them).
template <class T, int MT>
__device__ __forceinline__ void zero_rows_past_rank(T* s_p, int rank) {
  for (int t = threadIdx.x; t < (16 * MT - rank) * kPStride; t += blockDim.x)
    s_p[rank * kPStride + t] = from_float<T>(0.0f);
}

// c[mt][half] += P[16·mt .., this warp's tiles] · E[those tiles, 8·half ..] over the staged slab. P: the planes' rows
// (zero past the rank and the last tile); E: entry q = u·W + w of tile t at row u, column W·t + w of the tile slab.
template <class T, int A, int W, int WARPS, int MT>
__device__ __forceinline__ void fold_slab(const word16* s_p, const word16* s_e, int rank,
                                          float (&c)[MT][(A * W + 7) / 8][4]) {
  constexpr int Q = A * W, NH = (Q + 7) / 8, kWarpTiles = kTiles / WARPS;
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
        const word16* e = s_e + (q / W) * kEStride<W> + W * (tile0 + 2 * t) + q % W;
        b[half][0] = pack_words(e[0], e[W]);
        b[half][1] = pack_words(e[8 * W], e[9 * W]);
      } else {
        b[half][0] = b[half][1] = 0u;
      }
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      if (16 * mt >= rank) break;  // block-uniform
      unsigned a[4];
      ldmatrix_x4(a, s_p + (16 * mt + (lane & 15)) * kPStride + tile0 + 8 * (lane >> 4));
#pragma unroll
      for (int half = 0; half < NH; ++half) Mma16<T>::mma(c[mt][half], a, b[half][0], b[half][1]);
    }
  }
}

// The block's G (rank × Q) into partials[blockIdx.x], its warps added in order (a barrier: every thread calls it).
template <int Q, int WARPS, int MT>
__device__ __forceinline__ void store_partials(const float (&c)[MT][(Q + 7) / 8][4], int rank, float* partials) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  float* out = partials + static_cast<std::int64_t>(blockIdx.x) * rank * Q;
  for (int w = 0; w < WARPS; ++w) {
    if (warp == w) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int half = 0; half < (Q + 7) / 8; ++half)
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const int p = 16 * mt + g + 8 * (r >> 1), q = 8 * half + 2 * t + (r & 1);
            if (p < rank && q < Q) out[p * Q + q] = (w == 0 ? 0.0f : out[p * Q + q]) + c[mt][half][r];
          }
    }
    __syncthreads();
  }
}

// The pass's coefficients into s[p·Q + q] = coef[p·stride_p + q·stride_q], zero where mode causal masks tile row
// q / W from product p.
template <int Q, int W>
__device__ __forceinline__ void load_coefficients(float* s, const float* coef, int stride_p, int stride_q, int rank,
                                                  const int* levels, CausalSide side) {
  for (int t = threadIdx.x; t < rank * Q; t += blockDim.x) {
    const int p = t / Q, q = t - p * Q;
    s[t] = causal_allows(levels, side, p, q / W) ? coef[p * stride_p + q * stride_q] : 0.0f;
  }
}

template <int MT, int NH>
__device__ __forceinline__ void zero_sums(float (&c)[MT][NH][4]) {
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int h = 0; h < NH; ++h)
#pragma unroll
      for (int r = 0; r < 4; ++r) c[mt][h][r] = 0.0f;
}
}  // namespace staged_fold

// The persistent loop both folding kernels share: after the coefficient table (the caller's, in the first
// `coef_bytes` of shared memory), each slab of the grid's share is staged (stage(i, jb, s_p, s_e): the planes into
// s_p, the tile entries into s_e, as cp.async copies or plain stores), run through the pass (pass(i, jb, s_p, s_e))
// and folded; then the block's sums go to partials.
template <class T, int A, int W, int V, int MT, class Stage, class Pass>
__device__ __forceinline__ void fold_over_slabs(unsigned char* smem, std::size_t coef_bytes, int rank,
                                                std::int64_t cols_tiles, std::int64_t slabs, float* partials,
                                                Stage&& stage, Pass&& pass) {
  using namespace staged_fold;  // NOLINT(google-build-using-namespace): the slab constants
  constexpr int Q = A * W, kWarps = kTiles / V / 32;
  T* s_p = reinterpret_cast<T*>(smem + (coef_bytes + 15) / 16 * 16);  // [16·MT][kPStride]
  T* s_e = s_p + 16 * MT * kPStride;                                  // [A][kEStride<W>]
  zero_rows_past_rank<T, MT>(s_p, rank);
  float c[MT][(Q + 7) / 8][4];
  zero_sums(c);
  const std::int64_t per_i = (cols_tiles + kTiles - 1) / kTiles;
  for (std::int64_t slab = blockIdx.x; slab < slabs; slab += gridDim.x) {
    const std::int64_t i = index_div(slab, per_i), jb = (slab - i * per_i) * kTiles;
    stage(i, jb, s_p, s_e);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();  // also orders the coefficient table and the zero rows before their first use
    pass(i, jb, s_p, s_e);
    fold_slab<T, A, W, kWarps, MT>(reinterpret_cast<const word16*>(s_p), reinterpret_cast<const word16*>(s_e), rank,
                                   c);
    __syncthreads();  // the next slab's copies overwrite these
  }
  store_partials<Q, kWarps, MT>(c, rank, partials);
}

// dX = encodeᵀ(dX̂) (the decode of dX̂'s planes onto X's (A, C) tiles) with dE_X folded: P = dX̂, E = X (fold.src).
template <class T, int A, int C, int V, int MT>
__global__ void __launch_bounds__(staged_fold::kTiles / V)
    decode_staged_folding(const DecodeArgs<T> args, const FoldArgs fold, std::int64_t slabs) {
  constexpr int Q = A * C;
  extern __shared__ __align__(16) unsigned char smem[];
  float* s_dec = reinterpret_cast<float*>(smem);  // s_dec[p·Q + q] = dec[q, p]
  staged_fold::load_coefficients<Q, C>(s_dec, args.dec, args.dec_p, args.dec_q, args.rank, args.levels, args.side);
  fold_over_slabs<T, A, C, V, MT>(
      smem, args.rank * Q * sizeof(float), args.rank, args.n, slabs, fold.partials,
      [&](std::int64_t i, std::int64_t jb, T* s_p, T* s_e) {
        staged_fold::stage_planes(args.z, args.ld_z, args.stride_z, args.n, args.vec_z, args.rank, i, jb, s_p);
        staged_fold::stage_tiles<T, A, C>(reinterpret_cast<const T*>(fold.src), fold.ld, args.cols, fold.vec,
                                          args.rows, i, jb, s_e);
      },
      [&](std::int64_t i, std::int64_t jb, const T* s_p, const T*) {
        const std::int64_t j0 = jb + threadIdx.x * V;
        if (j0 < args.n)
          decode_staged_tiles<T, A, C, V, Activation::none>(args, s_dec, s_p + threadIdx.x * V, staged_fold::kPStride,
                                                            i, j0);
      });
}

// dZ = decodeᵀ(dY) (the encode of dY's (A, B) tiles with Dᵀ) with dD folded: P = Z (fold.src), E = dY. With
// fold.column_partials, also the bias's gradient, dY's column sums, from the staged tiles: the grid is a multiple of
// the slabs per row-tile, so each block walks one column slab down the rows and sums it in registers (the
// separate column-sum pass would read dY again).
template <class T, int A, int B, int V, int MT>
__global__ void __launch_bounds__(staged_fold::kTiles / V)
    encode_staged_folding(const EncodeArgs<T> args, const FoldArgs fold, std::int64_t slabs) {
  constexpr int Q = A * B, W = V * B;
  extern __shared__ __align__(16) unsigned char smem[];
  float* s_enc = reinterpret_cast<float*>(smem);  // s_enc[p·Q + q] = enc[p, q]
  staged_fold::load_coefficients<Q, B>(s_enc, args.enc, args.enc_p, args.enc_q, args.rank, args.levels, args.side);
  float column_sums[W] = {};
  fold_over_slabs<T, A, B, V, MT>(
      smem, args.rank * Q * sizeof(float), args.rank, args.k, slabs, fold.partials,
      [&](std::int64_t i, std::int64_t jb, T* s_p, T* s_e) {
        staged_fold::stage_planes(reinterpret_cast<const T*>(fold.src), fold.ld, fold.stride, args.k, fold.vec,
                                  args.rank, i, jb, s_p);
        staged_fold::stage_tiles<T, A, B>(args.x, args.ldx, args.cols, args.vec_load, args.rows, i, jb, s_e);
      },
      [&](std::int64_t i, std::int64_t jb, const T*, const T* s_e) {
        const std::int64_t kap0 = jb + threadIdx.x * V;
        if (kap0 >= args.k) return;
        float x[A][W];  // this thread's V tiles, as encode_tiles loads them, from the staged entries
#pragma unroll
        for (int u = 0; u < A; ++u)
          load_packed_shared<T, W>(s_e + u * staged_fold::kEStride<B> + threadIdx.x * W, x[u]);
        if (fold.column_partials != nullptr) {  // rows past the real ones and columns past cols are staged as zeros
#pragma unroll
          for (int u = 0; u < A; ++u)
#pragma unroll
            for (int w = 0; w < W; ++w) column_sums[w] += x[u][w];
        }
        encode_thread_tiles<T, A, B, V>(args, s_enc, x, i, kap0);
      });
  if (fold.column_partials == nullptr) return;
  const std::int64_t per_i = (args.k + staged_fold::kTiles - 1) / staged_fold::kTiles;
  const std::int64_t row = blockIdx.x / per_i, col0 = B * ((blockIdx.x - row * per_i) * staged_fold::kTiles + threadIdx.x * V);
#pragma unroll
  for (int w = 0; w < W; ++w)
    if (col0 + w < args.cols) fold.column_partials[row * args.cols + col0 + w] = column_sums[w];
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

// A persistent launch of the folding kernel for rank's 16-product steps (MT = 1 or 2) over `slabs` slabs, then
// the sum of its blocks' partials into fold.out. Kernel<MT> names the kernel for MT. With f.column_partials, the grid
// is cut to a multiple of `slabs_per_row` (encode_staged_folding's column sums need it), and where no such grid is
// possible column_partials is dropped. Returns the grid.
template <class T, int A, int W, int V, class Args, class Kernel1, class Kernel2>
unsigned launch_staged_fold(const Args& args, const CoefGradFold& fold, FoldArgs f, std::int64_t slabs,
                            std::int64_t slabs_per_row, int rank, cudaStream_t stream, Kernel1 kernel1,
                            Kernel2 kernel2, const char* name) {
  static_assert(sizeof(T) == 2, "the fold feeds 16-bit operands to the tensor cores");
  static_assert(staged_fold::kTiles % V == 0, "tiles per thread must divide the slab's tiles");
  constexpr int kThreads = staged_fold::kTiles / V;
  unsigned grid = 0;
  if (slabs > 0) {
    const int mt = (rank + 15) / 16;  // rank <= kFoldMaxRank = 32
    const std::size_t smem = staged_fold::smem_bytes<T, A, W>(rank, mt);
    const auto launch = [&](auto kernel) {
      const void* k = reinterpret_cast<const void*>(kernel);
      set_dynamic_smem(k, smem);
      std::int64_t blocks =
          std::min<std::int64_t>({slabs, static_cast<std::int64_t>(resident_blocks(k, kThreads, smem)), kFoldMaxBlocks});
      if (f.column_partials != nullptr) {
        const std::int64_t whole = grid_of_whole_slabs(blocks, slabs_per_row);
        if (whole > 0)
          blocks = whole;
        else
          f.column_partials = nullptr;
      }
      grid = static_cast<unsigned>(blocks);
      kernel<<<grid, kThreads, smem, stream>>>(args, f, slabs);
    };
    if (mt == 1)
      launch(kernel1);
    else
      launch(kernel2);
    check_launch(name);
  }
  launch_sum_fold_partials(fold, static_cast<int>(grid), rank, A * W, stream);
  return grid;
}

// The callers (dispatch.cpp) have checked: 16-bit storage, rank <= kFoldMaxRank, no bias or activation (decode).
template <class T, int A, int C, int V = vector_tiles<T>(C)>
void run_decode_staged_folding(const DecodeParams& p, CoefLayout layout, CausalSide causal, const CoefGradFold& fold) {
  const StlShape& s = p.shape;
  DecodeArgs<T> args = decode_args<T>(p, layout, causal);
  const std::size_t e = sizeof(T);
  args.vec_z = is_aligned(p.z.data, 16) && (p.z.ld * e) % 16 == 0 && (p.z.stride * e) % 16 == 0;
  const FoldArgs f{static_cast<const word16*>(fold.src), fold.ld, 0, is_aligned(fold.src, 16) && fold.ld % 8 == 0,
                   fold.partials};
  const std::int64_t slabs = s.m() * ((s.n() + staged_fold::kTiles - 1) / staged_fold::kTiles);
  launch_staged_fold<T, A, C, V>(args, fold, f, slabs, 1, s.rank, p.stream, decode_staged_folding<T, A, C, V, 1>,
                                 decode_staged_folding<T, A, C, V, 2>, "decode_staged_folding");
}

template <class T, int A, int B, int V = vector_tiles<T>(B)>
void run_encode_staged_folding(const EncodeParams& p, CoefLayout layout, CausalSide causal, const CoefGradFold& fold) {
  const StlShape& s = p.shape;
  EncodeArgs<T> args = encode_args<T>(p, layout, causal);
  args.vec_store = is_aligned(p.x_hat.data, std::min<std::size_t>(16, V * sizeof(T))) && p.x_hat.ld % V == 0 &&
                   p.x_hat.stride % V == 0;
  const FoldArgs f{static_cast<const word16*>(fold.src), fold.ld, fold.stride,
                   is_aligned(fold.src, 16) && fold.ld % 8 == 0 && fold.stride % 8 == 0, fold.partials,
                   static_cast<float*>(fold.bias_out != nullptr ? fold.bias_scratch : nullptr)};
  const std::int64_t per_row = (s.k() + staged_fold::kTiles - 1) / staged_fold::kTiles, slabs = s.m() * per_row;
  const unsigned grid = launch_staged_fold<T, A, B, V>(args, fold, f, slabs, per_row, s.rank, p.stream,
                                                       encode_staged_folding<T, A, B, V, 1>,
                                                       encode_staged_folding<T, A, B, V, 2>, "encode_staged_folding");
  // Where the kernel summed the columns: one row of partials per group of blocks.
  finish_folded_bias(fold, grid >= per_row && slabs > 0 ? grid / per_row : 0, p.dtype, p.x.data, args.ldx, s.rows,
                     s.in_features, p.stream);
}

template <DType D, int A, int C>
void launch_decode_staged_folding(const DecodeParams& p, CoefLayout dec, CausalSide causal, const CoefGradFold& fold) {
  run_decode_staged_folding<Storage<D>, A, C>(p, dec, causal, fold);
}

template <DType D, int A, int B>
void launch_encode_staged_folding(const EncodeParams& p, CoefLayout enc, CausalSide causal, const CoefGradFold& fold) {
  run_encode_staged_folding<Storage<D>, A, B>(p, enc, causal, fold);
}

}  // namespace strassentile::cuda::detail
