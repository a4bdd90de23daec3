// stl_backward: the five gradients of the STL layer through one workspace.
//
// X̂ is recomputed (one encode) unless the caller kept stl_forward's (BackwardParams::x_hat): keeping it holds
// r/(ab)·M·K extra elements per layer from forward to backward (1.5× X at <4,4,4>, r = 24), and the op's autograd
// saves only its inputs. Z is needed only for dD; it is recomputed (one more batched GEMM) unless kept likewise.
//
// Workspace, each region 256-byte aligned, rows padded to 8 elements (ld = k or n rounded up, as stl_forward
// does: unpadded rows of 16-bit elements, e.g. k = 1366 at <3,3,3>, would send the encode/decode kernels down their
// element-wise paths). The reductions over all tiles get zeros in both operands' padding first. Each region is
// reused once what it held is dead, so the step holds three product-sized buffers at most, not four:
//   A: X̂ (for dŴ and Z), then tiles(dY) (for dD), then dX̂ (r·m·ldk or a·c·m·ldn, the larger)
//   B: dZ (for dŴ and dX̂), then tiles(X) (for dE_X)
//   C: Z (for dD)
//   S: the bias gradient's partial column sums (deterministic, no atomics)
//   W, DW: Ŵ and dŴ with zero-padded sides, where the products of 16-bit dtypes run on k and n rounded up to 8
//   (detail::pads_products): cuBLAS is 3–6× faster so than on sides like k = n = 1366 (kernels/padded_copy.cuh)
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

struct Layout {
  bool x_hat = false, dz = false, dx_hat = false;
  std::size_t a = 0, b = 0, c = 0, sums = 0, w = 0, dw = 0, bytes = 0;  // offsets, total
  std::size_t w_bytes = 0, dw_bytes = 0;  // padded Ŵ and dŴ (detail::pads_products); 0 where not needed
};

Layout layout_of(const StlShape& s, DType dtype, const BackwardNeeds& need) {
  validate(s);
  const auto e = static_cast<std::int64_t>(dtype_size(dtype));
  const std::int64_t r = s.rank, lx = s.m() * round_up(s.k(), 8), ly = s.m() * round_up(s.n(), 8);
  const std::int64_t ab = s.a * s.b, ac = s.a * s.c;
  Layout l;
  l.x_hat = need.w_hat || need.dec;
  l.dz = need.x || need.w_hat || need.enc_x;
  l.dx_hat = need.x || need.enc_x;
  std::int64_t off = 0;
  const auto take = [&off](std::int64_t bytes) {
    const std::int64_t at = off;
    off += round_up(bytes, 256);
    return static_cast<std::size_t>(at);
  };
  l.a = take(std::max(l.x_hat || l.dx_hat ? r * lx : 0, need.dec ? ac * ly : 0) * e);
  l.b = take(std::max(l.dz ? r * ly : 0, need.enc_x ? ab * lx : 0) * e);
  l.c = take(need.dec ? r * ly * e : 0);
  l.sums = take(need.bias ? static_cast<std::int64_t>(detail::column_sums_scratch(s.rows, s.out_features)) : 0);
  if (detail::pads_products(s, dtype)) {
    const std::int64_t padded_w = r * round_up(s.k(), 8) * round_up(s.n(), 8);
    l.w_bytes = static_cast<std::size_t>(round_up(l.dx_hat || need.dec ? padded_w * e : 0, 256));
    l.dw_bytes = static_cast<std::size_t>(round_up(need.w_hat ? padded_w * 4 : 0, 256));  // 4: dw_hat_f32 too
  }
  l.w = take(static_cast<std::int64_t>(l.w_bytes));
  l.dw = take(static_cast<std::int64_t>(l.dw_bytes));
  l.bytes = static_cast<std::size_t>(off);
  return l;
}

using Gemm = detail::RowMajorGemm;

void run_gemm(const BackwardParams& p, const Gemm& g) { detail::run_gemm(p.cublas, g, p.gemm, p.stream); }

// out (rows × cols, fp32) = A · Bᵀ summed over `positions`: A holds `rows` planes and B `cols` planes of `positions`
// elements each, one after another (the reductions over every tile position for dD and dE_X).
void reduce_over_positions(const BackwardParams& p, std::int64_t rows, std::int64_t cols, std::int64_t positions,
                           const void* a, const void* b, float* out) {
  Gemm g;
  g.rows = rows, g.cols = cols, g.inner = positions;
  g.a = a, g.lda = positions;
  g.b = b, g.ldb = positions, g.trans_b = true;
  g.c = out, g.ldc = cols;
  g.ab_type = detail::cuda_data_type(p.dtype), g.c_type = CUDA_R_32F;
  run_gemm(p, g);
}

// The encode of `src` for `shape` into the workspace's r × m matrices of rows of ld elements, with p's dtype,
// stream and kernel choice, and `causal_levels` (p's).
void encode_into(const BackwardParams& p, const StlShape& shape, ConstTileMatrix src, const float* coefs,
                 detail::CoefLayout layout, void* out, std::int64_t ld, const int* causal_levels) {
  detail::encode_with({{shape, p.dtype, p.stream, p.kernel, causal_levels}, src, coefs, {out, ld, shape.m() * ld}},
                      layout);
}

// tiles[q, i, j] = vec(tile (i, j) of `src`)[q] over (a, width) tiles, `src` having `cols` columns: a copy (an
// Inf or NaN stays in its own entry), rows of ld elements, padding columns zeroed for the flat GEMMs.
void gather_tiles(const BackwardParams& p, int width, std::int64_t cols, ConstTileMatrix src, void* tiles,
                  std::int64_t ld) {
  StlShape shape = p.shape;
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

void stl_backward(const BackwardParams& p) {
  const StlShape& s = p.shape;
  const BackwardNeeds need{p.dx.data != nullptr, p.dw_hat.data != nullptr, p.d_enc_x != nullptr, p.d_dec != nullptr,
                           p.d_bias != nullptr};
  const Layout l = layout_of(s, p.dtype, need);
  detail::check_workspace("stl_backward", p.workspace, p.workspace_bytes, l.bytes, "backward_workspace");
  const std::size_t e = dtype_size(p.dtype);
  const std::int64_t m = s.m(), k = s.k(), n = s.n(), r = s.rank;
  const std::int64_t ldk = round_up(k, 8), ldn = round_up(n, 8);  // the workspace's padded rows (layout_of)
  const std::int64_t ab = s.a * s.b, ac = s.a * s.c, M = s.rows, K = s.in_features, N = s.out_features;
  const std::int64_t ld_dx = detail::resolve_ld(p.dx.ld, K, "stl_backward: dx.ld");
  const std::int64_t ld_dy = detail::resolve_ld(p.dy.ld, N, "stl_backward: dy.ld");
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
  void* buf_a = ws + l.a;  // X̂, then tiles(dY), then dX̂
  void* buf_b = ws + l.b;  // dZ, then tiles(X)
  void* buf_c = ws + l.c;  // Z
  const cudaDataType_t t = detail::cuda_data_type(p.dtype);

  // X̂ and Z from the forward where the caller kept them (BackwardParams::x_hat, ::z).
  const bool x_hat_saved = l.x_hat && p.x_hat.data != nullptr;
  const std::int64_t ld_xh = x_hat_saved ? (p.x_hat.ld == 0 ? k : p.x_hat.ld) : ldk;
  const std::int64_t stride_xh = x_hat_saved ? (p.x_hat.stride == 0 ? m * ld_xh : p.x_hat.stride) : m * ldk;
  if (x_hat_saved && (ld_xh < k || stride_xh < m * ld_xh))
    throw std::invalid_argument("stl_backward: x_hat.ld / x_hat.stride are smaller than X̂'s rows / matrices");
  const void* x_hat = x_hat_saved ? p.x_hat.data : buf_a;
  // Z enters dD's flattened reduction beside tiles(dY) (rows of ldn): only an unpadded Z of unpadded rows matches.
  const bool z_saved = need.dec && p.z.data != nullptr && ldn == n && (p.z.ld == 0 || p.z.ld == n) &&
                       (p.z.stride == 0 || p.z.stride == m * n);
  // Ŵ in a zero-padded ldk × ldn layout where the products run on padded sides (params.hpp): for dX̂ and Z.
  const ConstProductTensor w_caller{p.w_hat.data, ld_w, stride_w};
  ConstProductTensor w_run = w_caller;
  const bool w_padded = l.w_bytes > 0;
  if (w_padded) {
    detail::copy_padded(ws + l.w, ldn, ldk * ldn, ldk, ldn, p.w_hat.data, ld_w, stride_w, k, n, r, e, p.stream);
    w_run = {ws + l.w, ldn, ldk * ldn};
  }
  // The padded inner dimension k reads X̂'s padding columns: zeroed below when recomputed, by stl_forward when kept.
  const bool x_hat_padded = ld_xh >= ldk;
  if (l.x_hat && !x_hat_saved) {
    encode_into(p, s, p.x, p.enc_x, {}, buf_a, ldk, p.causal_levels);
    // Only Z's recomputation reads X̂'s padded inner side (dŴ's padding rows are dropped).
    if (w_padded && need.dec && !z_saved) detail::zero_columns(buf_a, r * m, k, ldk, e, p.stream);
  }
  if (l.dz) {
    launch_decode_backward({{s, p.dtype, p.stream, p.kernel, p.causal_levels}, p.dy, p.dec, {buf_b, ldn, m * ldn}});
    if (w_padded) detail::zero_columns(buf_b, r * m, n, ldn, e, p.stream);  // the dX̂ GEMM's padded inner side
  }
  if (need.w_hat) {  // dŴ[p] = X̂[p]ᵀ · dZ[p]
    // Padded: ldk × ldn into the workspace, then its k × n corner out (the padding rows and columns are dropped,
    // so they need no zeros).
    const bool dw_padded = l.dw_bytes > 0 && x_hat_padded;
    const std::size_t e_dw = p.dw_hat_f32 ? 4 : e;
    Gemm g;
    g.rows = dw_padded ? ldk : k, g.cols = dw_padded ? ldn : n, g.inner = m, g.batch = r;
    g.a = x_hat, g.lda = ld_xh, g.stride_a = stride_xh, g.trans_a = true;
    g.b = buf_b, g.ldb = ldn, g.stride_b = m * ldn;
    g.c = p.dw_hat.data, g.ldc = ld_dw, g.stride_c = stride_dw;
    if (dw_padded) g.c = ws + l.dw, g.ldc = ldn, g.stride_c = ldk * ldn;
    g.ab_type = t, g.c_type = p.dw_hat_f32 ? CUDA_R_32F : t;
    run_gemm(p, g);
    if (dw_padded)
      detail::copy_padded(p.dw_hat.data, ld_dw, stride_dw, k, n, ws + l.dw, ldn, ldk * ldn, k, n, r, e_dw, p.stream);
  }
  if (need.dec) {  // dD = tiles(dY) · Zᵀ over all m·n tile positions, Z = X̂·Ŵ kept or recomputed
    if (!z_saved) {
      ProductsParams prod;
      prod.handle = p.cublas;
      prod.dtype = p.dtype;
      const bool z_padded = w_padded && x_hat_padded;
      prod.batch = r, prod.m = m, prod.k = z_padded ? ldk : k, prod.n = z_padded ? ldn : n;
      prod.x_hat = {x_hat, ld_xh, stride_xh};
      prod.w_hat = z_padded ? w_run : w_caller;
      prod.z = {buf_c, ldn, m * ldn};
      prod.stream = p.stream;
      prod.gemm = p.gemm;
      launch_products(prod);
      // Padded, the products wrote Z's padding columns themselves: X̂ times Ŵ's zero columns.
      if (!z_padded) detail::zero_columns(buf_c, r * m, n, ldn, e, p.stream);
    }
    // X̂ is dead now (dŴ and Z are done): tiles(dY) take its place.
    gather_tiles(p, s.c, N, p.dy, buf_a, ldn);  // tiles(dY), over dY's (a,c) tiles
    reduce_over_positions(p, ac, r, m * ldn, buf_a, z_saved ? p.z.data : buf_c, p.d_dec);
  }
  if (l.dx_hat) {  // dX̂[p] = dZ[p] · Ŵ[p]ᵀ, into A (X̂ and tiles(dY) are dead)
    Gemm g;
    g.rows = m, g.cols = w_padded ? ldk : k, g.inner = w_padded ? ldn : n, g.batch = r;
    g.a = buf_b, g.lda = ldn, g.stride_a = m * ldn;
    g.b = w_run.data, g.ldb = w_run.ld, g.stride_b = w_run.stride, g.trans_b = true;
    g.c = buf_a, g.ldc = ldk, g.stride_c = m * ldk;
    g.ab_type = t, g.c_type = t;
    run_gemm(p, g);
  }
  if (need.x) {
    launch_encode_backward(
        {{s, p.dtype, p.stream, p.kernel, p.causal_levels}, {buf_a, ldk, m * ldk}, p.enc_x, {p.dx.data, ld_dx}});
  }
  if (need.enc_x) {  // dE_X = dX̂ · tiles(X)ᵀ over all m·k tile positions
    gather_tiles(p, s.b, K, p.x, buf_b, ldk);  // tiles(X), over X's (a,b) tiles, where dZ was
    // dX̂: padded, the GEMM wrote its padding columns as dZ times Ŵ's zero rows.
    if (!w_padded) detail::zero_columns(buf_a, r * m, k, ldk, e, p.stream);
    reduce_over_positions(p, r, ab, m * ldk, buf_a, buf_b, p.d_enc_x);
  }
  if (need.bias)
    detail::column_sums(p.dtype, p.dy.data, ld_dy, M, N, p.d_bias, ws + l.sums, p.stream);
}

}  // namespace strassentile::cuda
