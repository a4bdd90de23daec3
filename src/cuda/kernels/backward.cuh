// Small kernels of the backward pass: the bias gradient (column sums of dY, deterministic), the sum of a coefficient
// gradient's block partials where a codec pass computed it (coef_grad_fold.cuh), and the tile gathers (copies into
// one plane per tile entry) for the dE_X and dD reductions where none did.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "device_math.cuh"
#include "launch_config.cuh"
#include "launchers.hpp"

namespace strassentile::cuda::detail {

constexpr int kBackwardThreads = 256;

// One thread per column and block of rows: sums its rows in fp32 (a warp reads consecutive columns of one row) and
// writes the partial sum of that block (row blockIdx.y of `partial`, cols wide).
template <class T>
__global__ void column_partials(const T* __restrict__ y, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                                std::int64_t rows_per_block, float* __restrict__ partial) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * rows_per_block;
  const std::int64_t last = first + rows_per_block < rows ? first + rows_per_block : rows;
  float acc = 0.0f;
  for (std::int64_t row = first; row < last; ++row) acc += to_float(y[row * ld + col]);
  partial[static_cast<std::int64_t>(blockIdx.y) * cols + col] = acc;
}

// out[col] = Σ_b partial[b, col], b in order: the same bits on every run.
__global__ void sum_partials(const float* __restrict__ partial, std::int64_t blocks, std::int64_t cols,
                             float* __restrict__ out) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  float acc = 0.0f;
  for (std::int64_t b = 0; b < blocks; ++b) acc += partial[b * cols + col];
  out[col] = acc;
}

// out[p·out_p + q·out_q] (+)= Σ_b partials[b][p][q] in a fixed order: warp w of a block adds rows b ≡ w (mod
// kSumWarps) in order, then warp 0 adds the warps' sums in order. The same bits on every run; 32 warps per output
// column keep the serial chain of dependent loads short (one thread per column over ~1000 rows took ~45 µs).
constexpr int kSumWarps = 32;
__global__ void __launch_bounds__(kSumWarps * 32)
    sum_fold_partials(const float* __restrict__ partials, int blocks, int rank, int entries, float* __restrict__ out,
                      int out_p, int out_q, bool add) {
  __shared__ float warp_sums[kSumWarps][32];
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int cols = rank * entries, at = static_cast<int>(blockIdx.x) * 32 + lane;
  float acc = 0.0f;
  if (at < cols) {
#pragma unroll 4
    for (int b = warp; b < blocks; b += kSumWarps) acc += partials[static_cast<std::int64_t>(b) * cols + at];
  }
  warp_sums[warp][lane] = acc;
  __syncthreads();
  if (warp != 0 || at >= cols) return;
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kSumWarps; ++w) total += warp_sums[w][lane];
  float* o = out + (at / entries) * out_p + (at % entries) * out_q;
  *o = add ? *o + total : total;
}

void launch_sum_fold_partials(const CoefGradFold& fold, int blocks, int rank, int entries, cudaStream_t stream) {
  sum_fold_partials<<<(rank * entries + 31) / 32, kSumWarps * 32, 0, stream>>>(fold.partials, blocks, rank, entries,
                                                                               fold.out, fold.out_p, fold.out_q,
                                                                               fold.add);
  check_launch("sum_fold_partials");
}

// The folded column sums have a row per group of a persistent grid's blocks (hundreds): the warps of
// sum_fold_partials share them, where sum_partials' one thread per column would walk them all in a chain.
void launch_sum_partials(const float* partial, std::int64_t blocks, std::int64_t cols, float* out, cudaStream_t stream) {
  sum_fold_partials<<<static_cast<unsigned>((cols + 31) / 32), kSumWarps * 32, 0, stream>>>(
      partial, static_cast<int>(blocks), 1, static_cast<int>(cols), out, 0, 1, false);
  check_launch("sum_fold_partials");
}

// Work item t of a gather over the a·m tile rows and `per_row` items along each (items run fastest, so a warp reads
// along one row): tile row u of row-tile i, item j of it, and the row's start in x (null past the sequence's real
// rows, which gather as zeros).
template <class T>
struct GatherItem {
  int u;
  std::int64_t i, j;
  const T* src;
};

template <class T>
__device__ __forceinline__ GatherItem<T> gather_item(std::int64_t t, std::int64_t per_row, std::int64_t m, int a,
                                                     const RowMap& rows, const T* x, std::int64_t ldx) {
  // 32-bit quotients where they fit (index_div): 64-bit division would cost more than the copy itself.
  const std::int64_t rest = index_div(t, per_row), j = t - rest * per_row;
  const std::int64_t q = index_div(rest, m), i = rest - q * m;
  const int u = static_cast<int>(q);
  std::int64_t first;
  int real;
  rows.tile(i, a, first, real);
  return {u, i, j, u < real ? x + (first + u) * ldx : nullptr};
}

// tiles[u·w + v][i][κ] = x[row u of tile i][κ·w + v] (zero past the rows and columns): a copy, never a product, so
// an Inf or NaN of x lands in its own entry only. A thread copies the w consecutive values of one tile row: the
// loads are contiguous across the warp, each of the w stores coalesced in its plane.
template <class T>
__global__ void gather_tiles_kernel(const T* __restrict__ x, std::int64_t ldx, std::int64_t cols, int a, int w,
                                    T* __restrict__ tiles, std::int64_t ld, std::int64_t stride, std::int64_t m,
                                    std::int64_t k, RowMap rows) {
  const std::int64_t total = static_cast<std::int64_t>(a) * m * k;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const GatherItem<T> g = gather_item(t, k, m, a, rows, x, ldx);  // g.j: the position κ
    for (int v = 0; v < w; ++v) {
      const std::int64_t col = g.j * w + v;
      tiles[(g.u * w + v) * stride + g.i * ld + g.j] =
          g.src != nullptr && col < cols ? g.src[col] : from_float<T>(0.0f);
    }
  }
}

// The same copy for tiles w = W wide, a 16-byte group of G = 16 / sizeof(T) positions κ per thread: W 16-byte loads
// of the tile row's G·W consecutive values, then one 16-byte store per plane. The element kernel above moves two
// bytes per instruction and runs at a third of copy bandwidth. Groups that reach past k or the columns, or rows of
// a misaligned x, copy element by element. The tiles' ld and stride are multiples of G, their base 16-byte aligned.
template <class T, int W>
__global__ void gather_tiles_vectorized(const T* __restrict__ x, std::int64_t ldx, std::int64_t cols, bool x_aligned,
                                        int a, T* __restrict__ tiles, std::int64_t ld, std::int64_t stride,
                                        std::int64_t m, std::int64_t k, RowMap rows) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4, "16- or 32-bit elements");
  constexpr int G = 16 / static_cast<int>(sizeof(T));  // positions per group, elements per 16 bytes
  constexpr int kPerWord = 4 / static_cast<int>(sizeof(T));
  const std::int64_t groups = (k + G - 1) / G, total = static_cast<std::int64_t>(a) * m * groups;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const GatherItem<T> g = gather_item(t, groups, m, a, rows, x, ldx);  // g.j: the group of positions
    const std::int64_t kap0 = g.j * G;
    T* out = tiles + static_cast<std::int64_t>(g.u * W) * stride + g.i * ld + kap0;
    const T* src = g.src;
    if (src != nullptr && x_aligned && kap0 + G <= k && (kap0 + G) * W <= cols) {
      // Raw 32-bit words: element e of the row segment is the kPerWord-th part of word e / kPerWord.
      unsigned in[4 * W];
      const auto* src4 = reinterpret_cast<const uint4*>(src + kap0 * W);
#pragma unroll
      for (int v = 0; v < W; ++v) {
        const uint4 word = __ldg(src4 + v);
        in[4 * v] = word.x, in[4 * v + 1] = word.y, in[4 * v + 2] = word.z, in[4 * v + 3] = word.w;
      }
      const auto element = [&in](int e) -> unsigned {
        return kPerWord == 1 ? in[e] : (in[e / 2] >> (16 * (e % 2))) & 0xffffu;
      };
#pragma unroll
      for (int v = 0; v < W; ++v) {
        unsigned o[4];
#pragma unroll
        for (int j = 0; j < 4; ++j)
          o[j] = kPerWord == 1 ? element(j * W + v) : element(2 * j * W + v) | (element((2 * j + 1) * W + v) << 16);
        *reinterpret_cast<uint4*>(out + v * stride) = make_uint4(o[0], o[1], o[2], o[3]);
      }
      continue;
    }
    for (int j = 0; j < G && kap0 + j < k; ++j)
      for (int v = 0; v < W; ++v) {
        const std::int64_t col = (kap0 + j) * W + v;
        out[v * stride + j] = src != nullptr && col < cols ? src[col] : from_float<T>(0.0f);
      }
  }
}

// scratch: column_sums_scratch(rows, cols) bytes (null when 0); rows and cols > 0.
template <DType D>
void launch_column_sums(const void* y, std::int64_t ld, std::int64_t rows, std::int64_t cols, float* out,
                        float* scratch, cudaStream_t stream) {
  using T = Storage<D>;
  const std::int64_t per_block = column_sums_rows_per_block(rows), blocks_y = column_sums_row_blocks(rows);
  // One block of rows: its partial sums are the result.
  float* partial = blocks_y == 1 ? out : scratch;
  const dim3 grid(grid_blocks(cols, kBackwardThreads), static_cast<unsigned>(blocks_y));
  column_partials<T><<<grid, kBackwardThreads, 0, stream>>>(static_cast<const T*>(y), ld, rows, cols, per_block,
                                                            partial);
  check_launch("column_partials");
  if (blocks_y == 1) return;
  sum_partials<<<grid_blocks(cols, kBackwardThreads), kBackwardThreads, 0, stream>>>(scratch, blocks_y, cols, out);
  check_launch("sum_partials");
}

template <DType D>
void launch_gather_tiles(const EncodeParams& p) {
  using T = Storage<D>;
  const StlShape& s = p.shape;
  const std::int64_t total = s.a * s.m() * s.k();
  if (total == 0) return;
  const auto* x = static_cast<const T*>(p.x.data);
  auto* tiles = static_cast<T*>(p.x_hat.data);
  const std::int64_t ldx = p.x.ld == 0 ? s.in_features : p.x.ld;
  constexpr std::int64_t G = 16 / sizeof(T);
  const auto aligned16 = [](const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; };
  const bool vectorized_out = aligned16(tiles) && p.x_hat.ld % G == 0 && p.x_hat.stride % G == 0;
  const bool x_aligned = aligned16(x) && ldx % G == 0;
  const auto launch_vectorized = [&](auto width) {
    constexpr int W = decltype(width)::value;
    const std::int64_t groups = s.a * s.m() * ((s.k() + G - 1) / G);
    const std::int64_t blocks = std::min<std::int64_t>(grid_blocks(groups, kBackwardThreads), 1 << 20);
    gather_tiles_vectorized<T, W><<<static_cast<unsigned>(blocks), kBackwardThreads, 0, p.stream>>>(
        x, ldx, s.in_features, x_aligned, s.a, tiles, p.x_hat.ld, p.x_hat.stride, s.m(), s.k(), make_row_map(s));
    check_launch("gather_tiles_vectorized");
  };
  if (vectorized_out && s.b == 4) return launch_vectorized(std::integral_constant<int, 4>{});
  if (vectorized_out && s.b == 2) return launch_vectorized(std::integral_constant<int, 2>{});
  const std::int64_t blocks = std::min<std::int64_t>(grid_blocks(total, kBackwardThreads), 1 << 20);
  gather_tiles_kernel<T><<<static_cast<unsigned>(blocks), kBackwardThreads, 0, p.stream>>>(
      x, ldx, s.in_features, s.a, s.b, tiles, p.x_hat.ld, p.x_hat.stride, s.m(), s.k(), make_row_map(s));
  check_launch("gather_tiles");
}

}  // namespace strassentile::cuda::detail
