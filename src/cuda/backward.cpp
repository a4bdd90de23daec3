// stl_backward: the five gradients of the STL layer through one workspace.
//
// X̂ is recomputed (one encode) unless the caller kept stl_forward's (BackwardParams::x_hat): keeping it holds
// r/(ab)·M·K extra elements per layer from forward to backward (1.5× X at <4,4,4>, r = 24), and the op's autograd
// saves only its inputs. Z is needed only for dD; it is recomputed (one more batched GEMM) unless kept likewise.
//
// Row blocks (BackwardParams::lean): the rows run in blocks of whole tiles (of whole sequences where one ends inside
// a tile), each block through the same workspace regions, so that those regions are sized for one block. dŴ, dE_X
// and dD add up over the blocks in fp32 (dŴ in an fp32 accumulator when its output is 16-bit, stored once at the
// end); d_bias runs once. The blocks are as few as keep one block's product-sized regions within the size of X and
// Y together (kRegionsOverInputs), which bounds a training step's peak memory near 1.5× a dense layer's. Without
// lean, one block: the blocks cost time (their extra launches, dŴ's fp32 sums).
//
// dD and dE_X: where the tensor-core codec kernels run the dZ and dX passes (bf16/f16, <4,4> tiles, r <= 32), they
// sum the two gradients from the tiles they stage anyway (kernels/coef_grad_fold.cuh): Z is recomputed before the
// dZ pass, which reads it beside dY. Elsewhere the tiles of dY and X are copied into planes and each gradient is one
// flat GEMM over all tile positions.
//
// Workspace, each region 256-byte aligned, rows padded to 8 elements (ld = k or n rounded up, as stl_forward
// does: unpadded rows of 16-bit elements, e.g. k = 1366 at <3,3,3>, would send the encode/decode kernels down their
// element-wise paths). The reductions over all tiles get zeros in both operands' padding first. Each region is
// reused once what it held is dead, so a block holds three product-sized buffers at most, not four:
//   A: X̂ (for dŴ and Z), then tiles(dY) (for dD, unless folded), then dX̂ (r·m·ldk or a·c·m·ldn, the larger)
//   B: dZ (for dŴ and dX̂), then tiles(X) (for dE_X, unless folded)
//   C: Z (for dD)
//   S: the bias gradient's partial column sums (deterministic, no atomics), summed in the dZ pass where it folds dD
//      (one row block), else by a pass over dY of their own
//   P: the folded gradients' per-block sums (detail::coef_grad_fold_scratch)
//   W: Ŵ with zero-padded sides, where the products of 16-bit dtypes run on k and n rounded up to 8
//   (detail::pads_products): cuBLAS is 3–6× faster so than on sides like k = n = 1366 (kernels/padded_copy.cuh)
//   DW: dŴ on those padded sides, or dŴ's fp32 accumulator over several row blocks
#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.hpp"
#include "launchers.hpp"
#include "row_major_gemm.hpp"
#include "tuned_gemm.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {
namespace {

using detail::round_up;

// One row block's product-sized regions may take this many times the bytes of X and Y together.
constexpr std::int64_t kRegionsOverInputs = 1;

struct RowBlocks {
  std::int64_t rows = 0;   // rows per block (the last one may be shorter): whole sequences, or whole tiles
  std::int64_t count = 1;
};

// Whether s's rows may be cut between any two whole tiles: true unless a sequence ends inside a tile (its
// length not a multiple of a), in which case blocks hold whole sequences.
bool cuts_between_tiles(const StlShape& s) { return s.seq_len <= 0 || s.seq_len == s.rows || s.seq_len % s.a == 0; }

// The shape of `rows` of s's rows, starting at a cut (whole sequences, or whole tiles where cuts_between_tiles: then
// the rows form one sequence, which lays them out in tiles as s does).
StlShape rows_of(const StlShape& s, std::int64_t rows) {
  StlShape block = s;
  block.rows = rows;
  if (cuts_between_tiles(s)) block.seq_len = 0;
  return block;
}

struct Layout {
  bool x_hat = false, dz = false, dx_hat = false;
  bool fold_dd = false, fold_dex = false;  // dD in the dZ pass, dE_X in the dX pass
  bool fold_bias = false;                  // the bias's gradient in the dZ pass beside dD (one row block)
  RowBlocks blocks;
  std::size_t a = 0, b = 0, c = 0, sums = 0, partials = 0, w = 0, dw = 0, bytes = 0;  // offsets, total
  std::size_t w_bytes = 0, dw_bytes = 0;  // padded Ŵ, and dŴ's fp32 room (padded or summed); 0 where not needed
};

// Bytes of regions A, B and C (below) for the shape's rows.
struct ProductRegions {
  std::int64_t a = 0, b = 0, c = 0;
  std::int64_t total() const { return round_up(a, 256) + round_up(b, 256) + round_up(c, 256); }
};
ProductRegions product_regions(const StlShape& s, std::int64_t e, const BackwardNeeds& need, const Layout& l) {
  const std::int64_t r = s.rank, lx = s.m() * round_up(s.k(), 8), ly = s.m() * round_up(s.n(), 8);
  const std::int64_t ab = s.a * s.b, ac = s.a * s.c;
  return {std::max(l.x_hat || l.dx_hat ? r * lx : 0, need.dec && !l.fold_dd ? ac * ly : 0) * e,
          std::max(l.dz ? r * ly : 0, need.enc_x && !l.fold_dex ? ab * lx : 0) * e, need.dec ? r * ly * e : 0};
}

// One block unless lean; lean, as few as keep one block's product regions within kRegionsOverInputs × (X + Y).
RowBlocks row_blocks(const StlShape& s, std::int64_t e, const BackwardNeeds& need, const Layout& l) {
  if (!need.lean || s.rows == 0) return {s.rows, 1};
  const std::int64_t unit = cuts_between_tiles(s) ? s.a : s.seq_len;
  const std::int64_t units = (s.rows + unit - 1) / unit;
  const std::int64_t budget =
      std::max<std::int64_t>(1, kRegionsOverInputs * s.rows * (s.in_features + s.out_features) * e);
  const std::int64_t wanted = (product_regions(s, e, need, l).total() + budget - 1) / budget;
  const std::int64_t count = std::clamp<std::int64_t>(wanted, 1, units);
  const std::int64_t rows = std::min(s.rows, (units + count - 1) / count * unit);
  return {rows, (s.rows + rows - 1) / rows};
}

Layout layout_of(const StlShape& s, DType dtype, const BackwardNeeds& need) {
  validate(s);
  const auto e = static_cast<std::int64_t>(dtype_size(dtype));
  Layout l;
  l.x_hat = need.w_hat || need.dec;
  l.dz = need.x || need.w_hat || need.enc_x;
  l.dx_hat = need.x || need.enc_x;
  l.fold_dd = need.dec && l.dz && detail::folds_coef_grad(dtype, need.kernel, s.a, s.c, s.rank);
  l.fold_dex = need.enc_x && need.x && detail::folds_coef_grad(dtype, need.kernel, s.a, s.b, s.rank);
  l.blocks = row_blocks(s, e, need, l);

  std::int64_t off = 0;
  const auto take = [&off](std::int64_t bytes) {
    const std::int64_t at = off;
    off += round_up(bytes, 256);
    return static_cast<std::size_t>(at);
  };
  const ProductRegions regions = product_regions(rows_of(s, l.blocks.rows), e, need, l);
  l.a = take(regions.a);
  l.b = take(regions.b);
  l.c = take(regions.c);
  l.fold_bias = need.bias && l.fold_dd && l.blocks.count == 1;
  l.sums = take(!need.bias   ? 0
                : l.fold_bias ? static_cast<std::int64_t>(detail::folded_column_sums_scratch(
                                    s.rows, s.out_features, s.n(),
                                    detail::fold_slab_tiles(dtype, need.kernel, s.a, s.c, s.rank)))
                              : static_cast<std::int64_t>(detail::column_sums_scratch(s.rows, s.out_features)));
  l.partials =
      take(l.fold_dd || l.fold_dex ? static_cast<std::int64_t>(detail::coef_grad_fold_scratch(s.rank)) : 0);
  const bool padded = detail::pads_products(s, dtype);
  const std::int64_t w_elems = s.rank * (padded ? round_up(s.k(), 8) * round_up(s.n(), 8) : s.k() * s.n());
  if (padded) l.w_bytes = static_cast<std::size_t>(round_up(l.dx_hat || need.dec ? w_elems * e : 0, 256));
  // dŴ in fp32 in the workspace: on padded sides, or summed over row blocks into a 16-bit output.
  if (need.w_hat && (padded || (l.blocks.count > 1 && !need.dw_hat_f32)))
    l.dw_bytes = static_cast<std::size_t>(round_up(w_elems * 4, 256));
  l.w = take(static_cast<std::int64_t>(l.w_bytes));
  l.dw = take(static_cast<std::int64_t>(l.dw_bytes));
  l.bytes = static_cast<std::size_t>(off);
  return l;
}

using Gemm = detail::RowMajorGemm;

void run_gemm(const BackwardParams& p, const Gemm& g) { detail::run_gemm(p.cublas, g, p.gemm, p.stream); }

// out (rows × cols, fp32) (+)= A · Bᵀ summed over `positions`: A holds `rows` planes and B `cols` planes of
// `positions` elements each, lda and ldb apart (the reductions over every tile position for dD and dE_X); `add`
// sums into out (later row blocks).
void reduce_over_positions(const BackwardParams& p, std::int64_t rows, std::int64_t cols, std::int64_t positions,
                           const void* a, std::int64_t lda, const void* b, std::int64_t ldb, float* out, bool add) {
  Gemm g;
  g.rows = rows, g.cols = cols, g.inner = positions;
  g.a = a, g.lda = lda;
  g.b = b, g.ldb = ldb, g.trans_b = true;
  g.c = out, g.ldc = cols;
  g.ab_type = detail::cuda_data_type(p.dtype), g.c_type = CUDA_R_32F;
  g.beta = add ? 1.0f : 0.0f;
  run_gemm(p, g);
}

// The encode of `src` for `shape` into the workspace's r × m matrices of rows of ld elements, with p's dtype,
// stream and kernel choice, and `causal_levels` (p's).
void encode_into(const BackwardParams& p, const StlShape& shape, ConstTileMatrix src, const float* coefs,
                 detail::CoefLayout layout, void* out, std::int64_t ld, const int* causal_levels) {
  detail::encode_with({{shape, p.dtype, p.stream, p.kernel, causal_levels}, src, coefs, {out, ld, shape.m() * ld}},
                      layout);
}

// tiles[q, i, j] = vec(tile (i, j) of `src`)[q] over (a, width) tiles of the rows `rows` describes, `src` having
// `cols` columns: a copy (an Inf or NaN stays in its own entry), rows of ld elements, padding columns zeroed for the
// flat GEMMs.
void gather_tiles(const BackwardParams& p, const StlShape& rows, int width, std::int64_t cols, ConstTileMatrix src,
                  void* tiles, std::int64_t ld) {
  StlShape shape = rows;
  shape.in_features = cols;
  shape.b = width;
  shape.rank = shape.a * width;
  const EncodeParams g{{shape, p.dtype, p.stream, p.kernel, nullptr}, src, nullptr, {tiles, ld, shape.m() * ld}};
  switch (p.dtype) {
    case DType::f32: detail::launch_gather_tiles<DType::f32>(g); break;
    case DType::f16: detail::launch_gather_tiles<DType::f16>(g); break;
    case DType::bf16: detail::launch_gather_tiles<DType::bf16>(g); break;
  }
  detail::zero_columns(tiles, shape.rank * shape.m(), shape.k(), ld, dtype_size(p.dtype), p.stream);
}

// Zeroes `batch` matrices of rows × cols elements of `esize` bytes (leading dimension ld, batch stride).
void zero(void* ptr, std::int64_t ld, std::int64_t rows, std::int64_t cols, std::int64_t batch, std::int64_t stride,
          std::size_t esize, cudaStream_t stream) {
  if (ptr == nullptr || rows == 0 || cols == 0) return;
  for (std::int64_t i = 0; i < batch; ++i)
    detail::check_cuda(cudaMemset2DAsync(static_cast<char*>(ptr) + static_cast<std::size_t>(i * stride) * esize,
                                         static_cast<std::size_t>(ld) * esize, 0, static_cast<std::size_t>(cols) * esize,
                                         static_cast<std::size_t>(rows), stream),
                       "cudaMemset2DAsync");
}


}  // namespace

std::size_t backward_workspace(const StlShape& shape, DType dtype, const BackwardNeeds& needs) {
  return layout_of(shape, dtype, needs).bytes;
}

namespace {

// What one row block's steps share: the whole call's operands and choices, resolved once.
struct BackwardRun {
  std::size_t e = 0;
  std::int64_t k = 0, n = 0, r = 0, ldk = 0, ldn = 0, K = 0, N = 0, ldx = 0, ld_dx = 0, ld_dy = 0;
  char* ws = nullptr;
  cudaDataType_t t = CUDA_R_16BF;
  ConstProductTensor w_caller, w_run;  // Ŵ as given, and as the products read it (padded copy where they pad)
  bool w_padded = false;
  ConstProductTensor x_hat_kept;  // the forward's X̂ (data null: recomputed), ld and stride resolved
  bool x_hat_padded = false;      // X̂'s rows hold ldk elements, padding zeroed (recomputed, or kept so)
  bool z_saved = false;
  // dŴ: rows × cols per product into dw (the output, or fp32 room in the workspace when dw_f32), summed from the
  // second row block on.
  ProductTensor dw;
  std::int64_t dw_rows = 0, dw_cols = 0;
  bool dw_f32 = false;
};

// The steps of stl_backward for rows [first_row, first_row + block.rows), whose first row-tile is tile_row.
void backward_block(const BackwardParams& p, const Layout& l, const BackwardNeeds& need, const BackwardRun& b,
                    const StlShape& block, std::int64_t first_row, std::int64_t tile_row, bool first_block) {
  const std::size_t e = b.e;
  const std::int64_t m = block.m(), k = b.k, n = b.n, r = b.r, ldk = b.ldk, ldn = b.ldn;
  const auto row_offset = [&](std::int64_t ld) { return static_cast<std::size_t>(first_row * ld) * e; };
  const ConstTileMatrix x{p.x.data == nullptr ? nullptr : static_cast<const char*>(p.x.data) + row_offset(b.ldx),
                          b.ldx};
  const ConstTileMatrix dy{static_cast<const char*>(p.dy.data) + row_offset(b.ld_dy), b.ld_dy};
  const TileMatrix dx{p.dx.data == nullptr ? nullptr : static_cast<char*>(p.dx.data) + row_offset(b.ld_dx), b.ld_dx};
  void* buf_a = b.ws + l.a;  // X̂, then tiles(dY), then dX̂
  void* buf_b = b.ws + l.b;  // dZ, then tiles(X)
  void* buf_c = b.ws + l.c;  // Z

  // X̂ from the forward where the caller kept it (BackwardParams::x_hat): this block's row-tiles of it.
  const bool x_hat_saved = l.x_hat && b.x_hat_kept.data != nullptr;
  const std::int64_t ld_xh = x_hat_saved ? b.x_hat_kept.ld : ldk;
  const std::int64_t stride_xh = x_hat_saved ? b.x_hat_kept.stride : m * ldk;
  const void* x_hat = x_hat_saved
                          ? static_cast<const char*>(b.x_hat_kept.data) + static_cast<std::size_t>(tile_row * ld_xh) * e
                          : buf_a;
  if (l.x_hat && !x_hat_saved) {
    encode_into(p, block, x, p.enc_x, {}, buf_a, ldk, p.causal_levels);
    // Only Z's recomputation reads X̂'s padded inner side (dŴ's padding rows are dropped).
    if (b.w_padded && need.dec && !b.z_saved) detail::zero_columns(buf_a, r * m, k, ldk, e, p.stream);
  }
  // Z = X̂·Ŵ for dD, kept or recomputed: before the dZ pass, which sums dD from it where folded.
  const void* z = b.z_saved ? static_cast<const char*>(p.z.data) + static_cast<std::size_t>(tile_row * n) * e : buf_c;
  const std::int64_t ld_z = b.z_saved ? n : ldn, stride_z = b.z_saved ? p.shape.m() * n : m * ldn;
  if (need.dec && !b.z_saved) {
    ProductsParams prod;
    prod.handle = p.cublas;
    prod.dtype = p.dtype;
    const bool z_padded = b.w_padded && b.x_hat_padded;
    prod.batch = r, prod.m = m, prod.k = z_padded ? ldk : k, prod.n = z_padded ? ldn : n;
    prod.x_hat = {x_hat, ld_xh, stride_xh};
    prod.w_hat = z_padded ? b.w_run : b.w_caller;
    prod.z = {buf_c, ldn, m * ldn};
    prod.stream = p.stream;
    prod.gemm = p.gemm;
    launch_products(prod);
    // Padded, the products wrote Z's padding columns themselves: X̂ times Ŵ's zero columns.
    if (!z_padded && !l.fold_dd) detail::zero_columns(buf_c, r * m, n, ldn, e, p.stream);
  }
  float* partials = reinterpret_cast<float*>(b.ws + l.partials);
  if (l.dz) {  // dZ = decodeᵀ(dY), with dD (+)= tiles(dY) · Zᵀ where folded
    detail::CoefGradFold dd{z, ld_z, stride_z, partials, p.d_dec, 1, static_cast<int>(r), !first_block};
    if (l.fold_bias) dd.bias_out = p.d_bias, dd.bias_scratch = b.ws + l.sums;
    detail::decode_backward_with(
        {{block, p.dtype, p.stream, p.kernel, p.causal_levels}, dy, p.dec, {buf_b, ldn, m * ldn}},
        l.fold_dd ? &dd : nullptr);
    if (b.w_padded) detail::zero_columns(buf_b, r * m, n, ldn, e, p.stream);  // the dX̂ GEMM's padded inner side
  }
  if (need.w_hat) {  // dŴ[p] (+)= X̂[p]ᵀ · dZ[p]
    Gemm g;
    g.rows = b.dw_rows, g.cols = b.dw_cols, g.inner = m, g.batch = r;
    g.a = x_hat, g.lda = ld_xh, g.stride_a = stride_xh, g.trans_a = true;
    g.b = buf_b, g.ldb = ldn, g.stride_b = m * ldn;
    g.c = b.dw.data, g.ldc = b.dw.ld, g.stride_c = b.dw.stride;
    g.ab_type = b.t, g.c_type = b.dw_f32 ? CUDA_R_32F : b.t;
    g.beta = first_block ? 0.0f : 1.0f;
    run_gemm(p, g);
  }
  if (need.dec && !l.fold_dd) {  // dD (+)= tiles(dY) · Zᵀ over the block's m·n tile positions
    // X̂ is dead now (dŴ and Z are done): tiles(dY) take its place.
    gather_tiles(p, block, block.c, b.N, dy, buf_a, ldn);  // tiles(dY), over dY's (a,c) tiles
    reduce_over_positions(p, block.a * block.c, r, m * ldn, buf_a, m * ldn, z, stride_z, p.d_dec, !first_block);
  }
  if (l.dx_hat) {  // dX̂[p] = dZ[p] · Ŵ[p]ᵀ, into A (X̂ and tiles(dY) are dead)
    Gemm g;
    g.rows = m, g.cols = b.w_padded ? ldk : k, g.inner = b.w_padded ? ldn : n, g.batch = r;
    g.a = buf_b, g.lda = ldn, g.stride_a = m * ldn;
    g.b = b.w_run.data, g.ldb = b.w_run.ld, g.stride_b = b.w_run.stride, g.trans_b = true;
    g.c = buf_a, g.ldc = ldk, g.stride_c = m * ldk;
    g.ab_type = b.t, g.c_type = b.t;
    run_gemm(p, g);
  }
  if (need.x) {  // dX = encodeᵀ(dX̂), with dE_X (+)= dX̂ · tiles(X)ᵀ where folded
    detail::CoefGradFold dex{x.data, x.ld, 0, partials, p.d_enc_x, block.a * block.b, 1, !first_block};
    detail::encode_backward_with(
        {{block, p.dtype, p.stream, p.kernel, p.causal_levels}, {buf_a, ldk, m * ldk}, p.enc_x, dx},
        l.fold_dex ? &dex : nullptr);
  }
  if (need.enc_x && !l.fold_dex) {  // dE_X (+)= dX̂ · tiles(X)ᵀ over the block's m·k tile positions
    gather_tiles(p, block, block.b, b.K, x, buf_b, ldk);  // tiles(X), over X's (a,b) tiles, where dZ was
    // dX̂: padded, the GEMM wrote its padding columns as dZ times Ŵ's zero rows.
    if (!b.w_padded) detail::zero_columns(buf_a, r * m, k, ldk, e, p.stream);
    reduce_over_positions(p, r, block.a * block.b, m * ldk, buf_a, m * ldk, buf_b, m * ldk, p.d_enc_x, !first_block);
  }
}

}  // namespace

void stl_backward(const BackwardParams& p) {
  const StlShape& s = p.shape;
  const BackwardNeeds need{p.dx.data != nullptr, p.dw_hat.data != nullptr, p.d_enc_x != nullptr,
                           p.d_dec != nullptr,   p.d_bias != nullptr,      p.dw_hat_f32,
                           p.lean,               p.kernel};
  const Layout l = layout_of(s, p.dtype, need);
  detail::check_workspace("stl_backward", p.workspace, p.workspace_bytes, l.bytes, "backward_workspace");
  const std::size_t e = dtype_size(p.dtype);
  const std::int64_t m = s.m(), k = s.k(), n = s.n(), r = s.rank;
  const std::int64_t ldk = round_up(k, 8), ldn = round_up(n, 8);  // the workspace's padded rows (layout_of)
  const std::int64_t ab = s.a * s.b, ac = s.a * s.c, M = s.rows, K = s.in_features, N = s.out_features;
  const std::int64_t ld_dx = detail::resolve_ld(p.dx.ld, K, "stl_backward: dx.ld");
  const std::int64_t ld_dy = detail::resolve_ld(p.dy.ld, N, "stl_backward: dy.ld");
  const std::int64_t ld_x = detail::resolve_ld(p.x.ld, K, "stl_backward: x.ld");
  const std::int64_t ld_dw = detail::resolve_ld(p.dw_hat.ld, n, "stl_backward: dw_hat.ld");
  const std::int64_t stride_dw = detail::resolve_stride(p.dw_hat.stride, k, ld_dw, n, "stl_backward: dw_hat.stride");
  const std::int64_t ld_w = detail::resolve_ld(p.w_hat.ld, n, "stl_backward: w_hat.ld");
  const std::int64_t stride_w = detail::resolve_stride(p.w_hat.stride, k, ld_w, n, "stl_backward: w_hat.stride");
  // Misaligned element pointers fault inside a kernel and end the CUDA context: refuse them here.
  const auto aligned = [](const void* ptr, std::size_t bytes, const char* field) {
    if (ptr != nullptr) detail::require_aligned(ptr, bytes, "stl_backward", field);
  };
  aligned(p.dy.data, e, "dy");
  aligned(p.x.data, e, "x");
  aligned(p.w_hat.data, e, "w_hat");
  aligned(p.dx.data, e, "dx");
  aligned(p.dw_hat.data, p.dw_hat_f32 ? 4 : e, "dw_hat");
  aligned(p.d_enc_x, 4, "d_enc_x");
  aligned(p.d_dec, 4, "d_dec");
  aligned(p.d_bias, 4, "d_bias");

  // Empty sums: every gradient but dX is zero, dX is empty or zero.
  if (M == 0 || K == 0 || N == 0) {
    zero(p.dx.data, ld_dx, M, K, 1, 0, e, p.stream);
    zero(p.dw_hat.data, ld_dw, k, n, r, stride_dw, p.dw_hat_f32 ? 4 : e, p.stream);
    zero(p.d_enc_x, ab, r, ab, 1, 0, 4, p.stream);
    zero(p.d_dec, r, ac, r, 1, 0, 4, p.stream);
    if (p.d_bias != nullptr)  // K == 0 leaves the bias's gradient: dY's column sums
      detail::column_sums(p.dtype, p.dy.data, ld_dy, M, N, p.d_bias,
                                 static_cast<char*>(p.workspace) + l.sums, p.stream);
    return;
  }
  const auto require = [](const void* ptr, const char* name) {
    if (ptr == nullptr) throw std::invalid_argument(std::string("stl_backward: ") + name + " is null");
  };
  require(p.dy.data, "dy");
  if (l.x_hat || need.enc_x) require(p.x.data, "x");
  if (l.x_hat || l.dx_hat) require(p.enc_x, "enc_x");
  if (l.dz) require(p.dec, "dec");
  if (need.dec || l.dx_hat) require(p.w_hat.data, "w_hat");
  if (l.x_hat || l.dz || l.dx_hat || need.dec) require(p.cublas, "cublas");
  if (l.x_hat || l.dz || l.dx_hat || need.dec) detail::bind_stream(p.cublas, p.stream);

  char* ws = static_cast<char*>(p.workspace);
  BackwardRun run;
  run.e = e, run.k = k, run.n = n, run.r = r, run.ldk = ldk, run.ldn = ldn, run.K = K, run.N = N;
  run.ldx = ld_x, run.ld_dx = ld_dx, run.ld_dy = ld_dy, run.ws = ws, run.t = detail::cuda_data_type(p.dtype);
  // X̂ kept by the forward, with its strides resolved.
  if (l.x_hat && p.x_hat.data != nullptr) {
    const std::int64_t ld_xh = p.x_hat.ld == 0 ? k : p.x_hat.ld;
    const std::int64_t stride_xh = p.x_hat.stride == 0 ? m * ld_xh : p.x_hat.stride;
    if (ld_xh < k || stride_xh < m * ld_xh)
      throw std::invalid_argument("stl_backward: x_hat.ld / x_hat.stride are smaller than X̂'s rows / matrices");
    run.x_hat_kept = {p.x_hat.data, ld_xh, stride_xh};
  }
  // The padded inner dimension k reads X̂'s padding columns: zeroed when recomputed, by stl_forward when kept.
  run.x_hat_padded = run.x_hat_kept.data == nullptr || run.x_hat_kept.ld >= ldk;
  // Z enters dD's flattened reduction beside tiles(dY) (rows of ldn): only an unpadded Z of unpadded rows matches.
  run.z_saved = need.dec && p.z.data != nullptr && ldn == n && (p.z.ld == 0 || p.z.ld == n) &&
                (p.z.stride == 0 || p.z.stride == m * n);
  // Ŵ in a zero-padded ldk × ldn layout where the products run on padded sides (params.hpp): for dX̂ and Z.
  run.w_caller = {p.w_hat.data, ld_w, stride_w};
  run.w_run = run.w_caller;
  run.w_padded = l.w_bytes > 0;
  if (run.w_padded) {
    detail::copy_padded(ws + l.w, ldn, ldk * ldn, ldk, ldn, p.w_hat.data, ld_w, stride_w, k, n, r, e, p.stream);
    run.w_run = {ws + l.w, ldn, ldk * ldn};
  }
  // dŴ on the padded sides where X̂ has them (its padding rows and columns are dropped, so they need no zeros), in
  // fp32 room in the workspace where padded or summed over row blocks into a 16-bit output; else into the output.
  const bool dw_padded = detail::pads_products(s, p.dtype) && run.x_hat_padded;
  const bool dw_in_workspace = need.w_hat && (dw_padded || (l.blocks.count > 1 && !p.dw_hat_f32));
  run.dw_rows = dw_padded ? ldk : k, run.dw_cols = dw_padded ? ldn : n;
  run.dw_f32 = dw_in_workspace || p.dw_hat_f32;
  run.dw = dw_in_workspace ? ProductTensor{ws + l.dw, run.dw_cols, run.dw_rows * run.dw_cols}
                           : ProductTensor{p.dw_hat.data, ld_dw, stride_dw};

  for (std::int64_t i = 0; i < l.blocks.count; ++i) {
    const std::int64_t first_row = i * l.blocks.rows;
    const StlShape block = rows_of(s, std::min(l.blocks.rows, M - first_row));
    backward_block(p, l, need, run, block, first_row, rows_of(s, first_row).m(), i == 0);
  }
  if (dw_in_workspace)  // its k × n corner out, in dw_hat's dtype
    detail::store_f32(p.dw_hat_f32 ? DType::f32 : p.dtype, p.dw_hat.data, ld_dw, stride_dw,
                      static_cast<const float*>(run.dw.data), run.dw.ld, run.dw.stride, k, n, r, p.stream);
  if (need.bias && !l.fold_bias)
    detail::column_sums(p.dtype, p.dy.data, ld_dy, M, N, p.d_bias, ws + l.sums, p.stream);
}

}  // namespace strassentile::cuda
