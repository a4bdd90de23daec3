// run_compare: see stl_compare.hpp. One shape at a time: allocate, fill with random data, check that the
// methods agree where they should, time each, free.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.cuh"
#include "row_major_gemm.hpp"
#include "tuned_gemm.hpp"
#include "stl_compare.hpp"
#include "bench_run.cuh"
#include "strassentile/cuda/stl_cuda.hpp"
#ifdef STRASSENTILE_HAVE_CUSPARSELT
#include "sparse24_cusparselt.hpp"
#endif

namespace strassentile::bench {
namespace {

namespace sc = strassentile::cuda;
using bf16 = __nv_bfloat16;
constexpr int kTile = 4;  // <4,4,4>
constexpr int kTileElems = kTile * kTile;

using Gemm = sc::detail::RowMajorGemm;  // bf16 operands by default

// The baselines call cublasGemmEx for single products and the strided-batched form otherwise.
void gemm(cublasHandle_t h, const Gemm& g) {
  if (g.batch == 1)
    ok(sc::detail::run_single(h, g), "cublasGemmEx");
  else
    ok(sc::detail::run_strided_batched(h, g), "cublasGemmStridedBatchedEx");
}

// Dense through cuBLASLt with the timed algorithm choice that STL's GEMMs get (tuned_gemm.hpp).
void tuned_gemm(cublasHandle_t h, cudaStream_t s, const Gemm& g) {
  if (!sc::detail::run_tuned(h, g, s)) throw std::runtime_error("the tuned GEMM path does not apply");
}

// Permutation between a rows×cols row-major matrix and its a×b tiles stored as a·b rows of m·k (one row per
// position q = u·b+v in the tile, tiles in row-major order): tiles[q][i·k+κ] = x[i·a+u][κ·b+v]. What
// torch's reshape/permute/contiguous does for the naive pipeline; one element per thread, writes coalesced.
template <bool kToTiles>
__global__ void tile_permute(const bf16* __restrict__ in, bf16* __restrict__ out, std::int64_t rows,
                             std::int64_t cols, int a, int b) {
  const std::int64_t m = rows / a, k = cols / b, mk = m * k, total = rows * cols;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    if (kToTiles) {
      const std::int64_t q = t / mk, rest = t % mk, i = rest / k, kap = rest % k;
      out[t] = in[(i * a + q / b) * cols + kap * b + q % b];
    } else {
      const std::int64_t row = t / cols, col = t % cols;
      out[t] = in[((row % a) * b + col % b) * mk + (row / a) * k + col / b];
    }
  }
}

template <bool kToTiles>
void permute(const void* in, void* out, std::int64_t rows, std::int64_t cols, int a, int b, cudaStream_t s) {
  tile_permute<kToTiles><<<8192, 256, 0, s>>>(static_cast<const bf16*>(in), static_cast<bf16*>(out), rows, cols, a, b);
  ok(cudaGetLastError(), "tile_permute");
}

__global__ void to_bf16(const float* __restrict__ in, bf16* __restrict__ out, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16(in[i]);
}

// out[0] = max |a − b|, out[1] = max |b|, as float bits (non-negative floats order like their bit patterns).
__global__ void max_abs_diff(const bf16* __restrict__ a, const bf16* __restrict__ b, std::int64_t n,
                             unsigned* __restrict__ out) {
  float diff = 0.0f, ref = 0.0f;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float x = __bfloat162float(a[i]), y = __bfloat162float(b[i]);
    diff = fmaxf(diff, fabsf(x - y));
    ref = fmaxf(ref, fabsf(y));
  }
  atomicMax(out, __float_as_uint(diff));
  atomicMax(out + 1, __float_as_uint(ref));
}

// max |a − b| / max |b| over n bf16 values.
double relative_difference(const void* a, const void* b, std::int64_t n, cudaStream_t s) {
  Buffer acc(2 * sizeof(unsigned));
  ok(cudaMemsetAsync(acc.ptr, 0, 2 * sizeof(unsigned), s), "cudaMemsetAsync");
  max_abs_diff<<<2048, 256, 0, s>>>(static_cast<const bf16*>(a), static_cast<const bf16*>(b), n,
                                    static_cast<unsigned*>(acc.ptr));
  ok(cudaGetLastError(), "max_abs_diff");
  unsigned bits[2] = {0, 0};
  ok(cudaMemcpyAsync(bits, acc.ptr, sizeof bits, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync");
  ok(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  float v[2];
  std::memcpy(v, bits, sizeof v);
  return v[1] > 0 ? static_cast<double>(v[0]) / v[1] : static_cast<double>(v[0]);
}

// Runs `fn` under the timer, or records why it could not.
void measure(Measured& out, const Timer& timer, const std::function<void()>& fn) {
  try {
    out.ms = timer.median_ms(fn);
    out.ok = true;
  } catch (const std::exception& e) {
    out.ok = false;
    out.why_not = e.what();
    cudaGetLastError();  // clear a non-sticky error so the next method gets its own chance
  }
}

std::size_t bytes_bf16(std::int64_t count) { return static_cast<std::size_t>(count) * sizeof(bf16); }

CompareRow run_shape(const CompareShape& shape, const CompareOptions& opt, const Timer& timer, cublasHandle_t handle,
                     [[maybe_unused]] CompareEnv& env) {
  const std::int64_t M = shape.M, K = shape.K, N = shape.N, r = shape.rank;
  cudaStream_t stream = timer.stream;
  CompareRow row;
  row.shape = shape;

  const sc::StlShape s = stl_layer_444(shape);
  const std::int64_t m = s.m(), k = s.k(), n = s.n();
  const sc::DType dt = sc::DType::bf16;

  // Dense operands and gradients, shared by every method.
  Buffer x(bytes_bf16(M * K)), w(bytes_bf16(K * N)), y(bytes_bf16(M * N)), dy(bytes_bf16(M * N)),
      dx(bytes_bf16(M * K)), dw(bytes_bf16(K * N)), y2(bytes_bf16(M * N)), dx2(bytes_bf16(M * K));
  random_fill<bf16>(x.ptr, M * K, 1, 1.0f);
  random_fill<bf16>(w.ptr, K * N, 2, 1.0f);
  random_fill<bf16>(dy.ptr, M * N, 3, 1.0f);

  // STL parameters: Ŵ and the coefficients, random fp32: a trained operator's. (Coefficients that are bf16 values,
  // as in exact algorithms or a model stored in bf16, let the tensor-core encode/decode skip half their MMAs.)
  Buffer w_hat(bytes_bf16(r * k * n)), dw_hat(bytes_bf16(r * k * n));
  Buffer enc(sizeof(float) * r * kTileElems), dec(sizeof(float) * kTileElems * r);
  Buffer d_enc(sizeof(float) * r * kTileElems), d_dec(sizeof(float) * kTileElems * r);
  random_fill<bf16>(w_hat.ptr, r * k * n, 4, 1.0f);
  random_fill<float>(enc.ptr, r * kTileElems, 5, 0.25f);
  random_fill<float>(dec.ptr, kTileElems * r, 6, 0.25f);
  ok(cudaDeviceSynchronize(), "random fill");

  // ---- dense ----
  Gemm fwd_g;  // Y = X·W
  fwd_g.rows = M, fwd_g.cols = N, fwd_g.inner = K;
  fwd_g.a = x.ptr, fwd_g.lda = K, fwd_g.b = w.ptr, fwd_g.ldb = N, fwd_g.c = y.ptr, fwd_g.ldc = N;
  Gemm dx_g;  // dX = dY·Wᵀ
  dx_g.rows = M, dx_g.cols = K, dx_g.inner = N;
  dx_g.a = dy.ptr, dx_g.lda = N, dx_g.b = w.ptr, dx_g.ldb = N, dx_g.trans_b = true, dx_g.c = dx.ptr, dx_g.ldc = K;
  Gemm dw_g;  // dW = Xᵀ·dY
  dw_g.rows = K, dw_g.cols = N, dw_g.inner = M;
  dw_g.a = x.ptr, dw_g.lda = K, dw_g.trans_a = true, dw_g.b = dy.ptr, dw_g.ldb = N, dw_g.c = dw.ptr, dw_g.ldc = N;
  const auto dense_fwd = [&] { gemm(handle, fwd_g); };
  const auto dense_fb = [&] {
    gemm(handle, fwd_g);
    gemm(handle, dx_g);
    gemm(handle, dw_g);
  };
  const auto dense_tuned_fwd = [&] { tuned_gemm(handle, stream, fwd_g); };
  const auto dense_tuned_fb = [&] {
    tuned_gemm(handle, stream, fwd_g);
    tuned_gemm(handle, stream, dx_g);
    tuned_gemm(handle, stream, dw_g);
  };

  // ---- ours ----
  const sc::ForwardWorkspace fws = sc::forward_workspace(s, dt);
  sc::BackwardNeeds all4;
  all4.x = all4.w_hat = all4.enc_x = all4.dec = true;
  const std::size_t bws_bytes = sc::backward_workspace(s, dt, all4);  // the two-gradient layout fits inside
  Buffer fwd_ws(fws.bytes), bwd_ws(bws_bytes);

  sc::ForwardParams fp;
  fp.shape = s;
  fp.dtype = dt;
  fp.x.data = x.ptr;
  fp.w_hat.data = w_hat.ptr;
  fp.enc_x = static_cast<const float*>(enc.ptr);
  fp.dec = static_cast<const float*>(dec.ptr);
  fp.y.data = y.ptr;
  fp.workspace = fwd_ws.ptr;
  fp.workspace_bytes = fws.bytes;
  fp.cublas = handle;
  fp.stream = stream;
  sc::ForwardParams fp_generic = fp;
  fp_generic.kernel = sc::KernelChoice::generic;
  sc::ForwardParams fp_cc = fp;  // CUDA-core encode/decode kernels
  fp_cc.kernel = sc::KernelChoice::cuda_core;
  sc::ForwardParams fp_dg = fp;  // cuBLAS's default GEMM choice
  fp_dg.gemm = sc::GemmChoice::cublas_default;
  sc::ForwardParams fp_keep = fp;  // Z left in the workspace for the kept backward
  fp_keep.keep_z = true;

  sc::BackwardParams bp;
  bp.shape = s;
  bp.dtype = dt;
  bp.x.data = x.ptr;
  bp.w_hat.data = w_hat.ptr;
  bp.enc_x = static_cast<const float*>(enc.ptr);
  bp.dec = static_cast<const float*>(dec.ptr);
  bp.dy.data = dy.ptr;
  bp.dx.data = dx.ptr;
  bp.dw_hat.data = dw_hat.ptr;
  bp.workspace = bwd_ws.ptr;
  bp.workspace_bytes = bws_bytes;
  bp.cublas = handle;
  bp.stream = stream;
  sc::BackwardParams bp_cc = bp;
  bp_cc.kernel = sc::KernelChoice::cuda_core;
  sc::BackwardParams bp_dg = bp;
  bp_dg.gemm = sc::GemmChoice::cublas_default;
  sc::BackwardParams bp_all = bp;
  bp_all.d_enc_x = static_cast<float*>(d_enc.ptr);
  bp_all.d_dec = static_cast<float*>(d_dec.ptr);

  const auto stl_fwd = [&] { sc::stl_forward(fp); };
  const auto stl_fb = [&] {
    sc::stl_forward(fp);
    sc::stl_backward(bp);
  };
  const auto stl_fb_all = [&] {
    sc::stl_forward(fp);
    sc::stl_backward(bp_all);
  };
  // X̂ and Z kept from the forward's workspace. The forward and the backward workspaces are distinct buffers.
  const auto keep = [&](sc::BackwardParams b) {
    b.x_hat = {fwd_ws.ptr, fws.ld_x_hat, fws.stride_x_hat};
    b.z = {static_cast<char*>(fwd_ws.ptr) + fws.z_offset, fws.ld_z, fws.stride_z};
    return b;
  };
  const sc::BackwardParams bp_kept = keep(bp), bp_kept_all = keep(bp_all);

  {  // memory above the inputs (CompareRow::Memory)
    sc::BackwardNeeds two;
    two.x = two.w_hat = true;
    const double yb = static_cast<double>(bytes_bf16(M * N)), dxb = static_cast<double>(bytes_bf16(M * K));
    const double dwb = static_cast<double>(bytes_bf16(K * N)), dwhb = static_cast<double>(bytes_bf16(r * k * n));
    const double coefs = 2.0 * sizeof(float) * static_cast<double>(r * kTileElems);
    const double fwsb = static_cast<double>(fws.bytes);
    row.mem.dense_fwd = yb;
    row.mem.dense_fb = yb + dxb + dwb;
    row.mem.stl_fwd = yb + fwsb;
    row.mem.stl_fb = yb + dxb + dwhb + std::max(fwsb, static_cast<double>(sc::backward_workspace(s, dt, two)));
    row.mem.stl_fb_all = yb + dxb + dwhb + coefs + std::max(fwsb, static_cast<double>(bws_bytes));
    row.mem.stl_kept_fb = yb + dxb + dwhb + fwsb + static_cast<double>(sc::backward_workspace(s, dt, two));
    row.mem.stl_kept_fb_all = yb + dxb + dwhb + coefs + fwsb + static_cast<double>(bws_bytes);
    if (M % kTile == 0 && K % kTile == 0 && N % kTile == 0) {
      const double kept = static_cast<double>(bytes_bf16(M * K) + bytes_bf16(r * m * k) + bytes_bf16(r * m * n) +
                                              bytes_bf16(M * N) + 2 * bytes_bf16(r * kTileElems));
      row.mem.naive_fwd = yb + kept;
      row.mem.naive_fb =
          yb + dxb + dwhb + kept + static_cast<double>(bytes_bf16(r * m * n) + bytes_bf16(r * m * k) + bytes_bf16(M * K));
    }
  }

  // ---- naive (see naive_description) ----
  const bool naive_fits = M % kTile == 0 && K % kTile == 0 && N % kTile == 0;
  const std::int64_t mk = m * k, mn = m * n;
  std::unique_ptr<Buffer> enc16, dec16, tx, xh, z, ty, dz, dxh, dtx;
  if (naive_fits) {
    enc16 = std::make_unique<Buffer>(bytes_bf16(r * kTileElems));
    dec16 = std::make_unique<Buffer>(bytes_bf16(kTileElems * r));
    tx = std::make_unique<Buffer>(bytes_bf16(M * K));  // tiles(X), kept for the backward
    xh = std::make_unique<Buffer>(bytes_bf16(r * mk));  // X̂, kept
    z = std::make_unique<Buffer>(bytes_bf16(r * mn));   // Z, kept
    ty = std::make_unique<Buffer>(bytes_bf16(M * N));   // tiles(Y), later tiles(dY)
    dz = std::make_unique<Buffer>(bytes_bf16(r * mn));
    dxh = std::make_unique<Buffer>(bytes_bf16(r * mk));
    dtx = std::make_unique<Buffer>(bytes_bf16(M * K));
    const unsigned blocks = static_cast<unsigned>((r * kTileElems + 255) / 256);
    to_bf16<<<blocks, 256, 0, stream>>>(static_cast<const float*>(enc.ptr), static_cast<bf16*>(enc16->ptr),
                                        r * kTileElems);
    to_bf16<<<blocks, 256, 0, stream>>>(static_cast<const float*>(dec.ptr), static_cast<bf16*>(dec16->ptr),
                                        kTileElems * r);
    ok(cudaGetLastError(), "to_bf16");
  }
  Gemm enc_g;  // X̂ (r × mk) = E_X (r×16) · tiles(X) (16 × mk)
  Gemm dec_g;  // tiles(Y) (16 × mn) = D (16×r) · Z (r × mn)
  Gemm dz_g;   // dZ (r × mn) = Dᵀ · tiles(dY)
  Gemm dwh_g;  // dŴ[p] (k×n) = X̂[p]ᵀ · dZ[p]
  Gemm dxh_g;  // dX̂[p] (m×k) = dZ[p] · Ŵ[p]ᵀ
  Gemm dtx_g;  // dtiles(X) (16 × mk) = E_Xᵀ · dX̂
  Gemm de_g;   // dE_X (r×16) = dX̂ · tiles(X)ᵀ, fp32
  Gemm dd_g;   // dD (16×r) = tiles(dY) · Zᵀ, fp32
  sc::ProductsParams pp;
  if (naive_fits) {
    enc_g.rows = r, enc_g.cols = mk, enc_g.inner = kTileElems;
    enc_g.a = enc16->ptr, enc_g.lda = kTileElems, enc_g.b = tx->ptr, enc_g.ldb = mk, enc_g.c = xh->ptr, enc_g.ldc = mk;
    dec_g.rows = kTileElems, dec_g.cols = mn, dec_g.inner = r;
    dec_g.a = dec16->ptr, dec_g.lda = r, dec_g.b = z->ptr, dec_g.ldb = mn, dec_g.c = ty->ptr, dec_g.ldc = mn;
    dz_g.rows = r, dz_g.cols = mn, dz_g.inner = kTileElems;
    dz_g.a = dec16->ptr, dz_g.lda = r, dz_g.trans_a = true, dz_g.b = ty->ptr, dz_g.ldb = mn, dz_g.c = dz->ptr,
    dz_g.ldc = mn;
    dwh_g.rows = k, dwh_g.cols = n, dwh_g.inner = m, dwh_g.batch = r;
    dwh_g.a = xh->ptr, dwh_g.lda = k, dwh_g.stride_a = mk, dwh_g.trans_a = true;
    dwh_g.b = dz->ptr, dwh_g.ldb = n, dwh_g.stride_b = mn;
    dwh_g.c = dw_hat.ptr, dwh_g.ldc = n, dwh_g.stride_c = k * n;
    dxh_g.rows = m, dxh_g.cols = k, dxh_g.inner = n, dxh_g.batch = r;
    dxh_g.a = dz->ptr, dxh_g.lda = n, dxh_g.stride_a = mn;
    dxh_g.b = w_hat.ptr, dxh_g.ldb = n, dxh_g.stride_b = k * n, dxh_g.trans_b = true;
    dxh_g.c = dxh->ptr, dxh_g.ldc = k, dxh_g.stride_c = mk;
    dtx_g.rows = kTileElems, dtx_g.cols = mk, dtx_g.inner = r;
    dtx_g.a = enc16->ptr, dtx_g.lda = kTileElems, dtx_g.trans_a = true, dtx_g.b = dxh->ptr, dtx_g.ldb = mk,
    dtx_g.c = dtx->ptr, dtx_g.ldc = mk;
    de_g.rows = r, de_g.cols = kTileElems, de_g.inner = mk;
    de_g.a = dxh->ptr, de_g.lda = mk, de_g.b = tx->ptr, de_g.ldb = mk, de_g.trans_b = true;
    de_g.c = d_enc.ptr, de_g.ldc = kTileElems, de_g.c_type = CUDA_R_32F;
    dd_g.rows = kTileElems, dd_g.cols = r, dd_g.inner = mn;
    dd_g.a = ty->ptr, dd_g.lda = mn, dd_g.b = z->ptr, dd_g.ldb = mn, dd_g.trans_b = true;
    dd_g.c = d_dec.ptr, dd_g.ldc = r, dd_g.c_type = CUDA_R_32F;
    pp.handle = handle;
    pp.dtype = dt;
    pp.batch = r, pp.m = m, pp.k = k, pp.n = n;
    pp.x_hat = {xh->ptr, k, mk};
    pp.w_hat.data = w_hat.ptr;
    pp.z = {z->ptr, n, mn};
    pp.stream = stream;
    pp.gemm = sc::GemmChoice::cublas_default;  // plain library calls
  }
  const auto naive_forward = [&](void* out) {
    permute<true>(x.ptr, tx->ptr, M, K, kTile, kTile, stream);
    gemm(handle, enc_g);
    sc::launch_products(pp);
    gemm(handle, dec_g);
    permute<false>(ty->ptr, out, M, N, kTile, kTile, stream);
  };
  const auto naive_backward = [&](void* dx_out, bool all) {
    permute<true>(dy.ptr, ty->ptr, M, N, kTile, kTile, stream);
    gemm(handle, dz_g);
    if (all) gemm(handle, dd_g);
    gemm(handle, dwh_g);
    gemm(handle, dxh_g);
    if (all) gemm(handle, de_g);
    gemm(handle, dtx_g);
    permute<false>(dtx->ptr, dx_out, M, K, kTile, kTile, stream);
  };

  // ---- checks: naive against ours (same operator), before anything is timed ----
  if (naive_fits) {
    try {
      sc::stl_forward(fp);
      naive_forward(y2.ptr);
      row.naive_vs_stl_y = relative_difference(y2.ptr, y.ptr, M * N, stream);
      sc::stl_backward(bp);
      naive_backward(dx2.ptr, false);
      row.naive_vs_stl_dx = relative_difference(dx2.ptr, dx.ptr, M * K, stream);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "check naive vs ours failed: %s\n", e.what());
    }
  }
  try {  // default (tensor-core) encode/decode against the CUDA-core kernels, same operator
    sc::stl_forward(fp_cc);
    ok(cudaMemcpyAsync(y2.ptr, y.ptr, bytes_bf16(M * N), cudaMemcpyDeviceToDevice, stream), "copy");
    sc::stl_forward(fp);
    row.tc_vs_cc_y = relative_difference(y.ptr, y2.ptr, M * N, stream);
    sc::stl_backward(bp_cc);
    ok(cudaMemcpyAsync(dx2.ptr, dx.ptr, bytes_bf16(M * K), cudaMemcpyDeviceToDevice, stream), "copy");
    sc::stl_backward(bp);
    row.tc_vs_cc_dx = relative_difference(dx.ptr, dx2.ptr, M * K, stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "check tensor-core vs cuda-core failed: %s\n", e.what());
  }

  // ---- timings ----
  row.dense_fwd_first_ms = timer.median_ms(dense_fwd);
  row.dense_fb_first_ms = timer.median_ms(dense_fb);
  measure(row.dense_tuned_fwd, timer, dense_tuned_fwd);
  measure(row.dense_tuned_fb, timer, dense_tuned_fb);
  if (naive_fits) {
    measure(row.naive_fwd, timer, [&] { naive_forward(y.ptr); });
    measure(row.naive_fb, timer, [&] {
      naive_forward(y.ptr);
      naive_backward(dx.ptr, false);
    });
    measure(row.naive_fb_all, timer, [&] {
      naive_forward(y.ptr);
      naive_backward(dx.ptr, true);
    });
  } else {
    row.naive_fwd.why_not = row.naive_fb.why_not = row.naive_fb_all.why_not =
        "the naive pipeline needs M, K and N divisible by 4 (no padding)";
  }
  // The naive buffers are no longer needed: free them before cuSPARSELt allocates.
  enc16.reset(), dec16.reset(), tx.reset(), xh.reset(), z.reset(), ty.reset(), dz.reset(), dxh.reset(), dtx.reset();
  measure(row.stl_fwd, timer, stl_fwd);
  measure(row.stl_fb, timer, stl_fb);
  measure(row.stl_fb_all, timer, stl_fb_all);
  measure(row.stl_kept_fb, timer, [&] {
    sc::stl_forward(fp_keep);
    sc::stl_backward(bp_kept);
  });
  measure(row.stl_kept_fb_all, timer, [&] {
    sc::stl_forward(fp_keep);
    sc::stl_backward(bp_kept_all);
  });
  measure(row.stl_generic_fwd, timer, [&] { sc::stl_forward(fp_generic); });
  measure(row.stl_cc_fwd, timer, [&] { sc::stl_forward(fp_cc); });
  measure(row.stl_cc_fb, timer, [&] {
    sc::stl_forward(fp_cc);
    sc::stl_backward(bp_cc);
  });
  measure(row.stl_default_gemm_fwd, timer, [&] { sc::stl_forward(fp_dg); });
  measure(row.stl_default_gemm_fb, timer, [&] {
    sc::stl_forward(fp_dg);
    sc::stl_backward(bp_dg);
  });

  // ---- 2:4 sparse ----
  const char* no_sparse = nullptr;
  if (!opt.sparse) no_sparse = "not asked for (--no-sparse)";
#ifndef STRASSENTILE_HAVE_CUSPARSELT
  no_sparse = "this build has no cuSPARSELt (configure with STRASSENTILE_CUSPARSELT_ROOT)";
#else
  if (!no_sparse) {
    try {
      const Sparse24Linear lin(M, K, N, w.ptr, x.ptr, dy.ptr, stream);
      env.cusparselt = lin.library_version();
      row.sparse_dx_method = lin.backward_method();
      // Checks against cuBLAS on the same pruned weights.
      Gemm ref_fwd = fwd_g;
      ref_fwd.b = lin.pruned_weight();
      ref_fwd.c = y.ptr;
      gemm(handle, ref_fwd);
      lin.forward(x.ptr, y2.ptr);
      row.sparse_vs_cublas_y = relative_difference(y2.ptr, y.ptr, M * N, stream);
      if (lin.has_backward()) {
        Gemm ref_dx = dx_g;
        ref_dx.b = lin.pruned_weight();
        gemm(handle, ref_dx);
        lin.backward_input(dy.ptr, dx2.ptr);
        row.sparse_vs_cublas_dx = relative_difference(dx2.ptr, dx.ptr, M * K, stream);
      }
      measure(row.sparse_fwd, timer, [&] { lin.forward(x.ptr, y.ptr); });
      if (lin.has_backward()) {
        measure(row.sparse_dx, timer, [&] { lin.backward_input(dy.ptr, dx.ptr); });
        measure(row.sparse_fb, timer, [&] {
          lin.forward(x.ptr, y.ptr);
          lin.backward_input(dy.ptr, dx.ptr);
          gemm(handle, dw_g);  // dW stays dense
        });
      } else {
        row.sparse_dx.why_not = row.sparse_fb.why_not = "dX on cuSPARSELt: " + lin.backward_method();
      }
    } catch (const std::exception& e) {
      const std::string why = std::string("cuSPARSELt: ") + e.what();
      if (!row.sparse_fwd.ok) row.sparse_fwd.why_not = why;
      if (!row.sparse_dx.ok) row.sparse_dx.why_not = why;
      if (!row.sparse_fb.ok) row.sparse_fb.why_not = why;
      cudaGetLastError();
    }
  }
#endif
  if (no_sparse) row.sparse_fwd.why_not = row.sparse_dx.why_not = row.sparse_fb.why_not = no_sparse;

  try {
    row.dense_fwd_last_ms = timer.median_ms(dense_fwd);
    row.dense_fb_last_ms = timer.median_ms(dense_fb);
  } catch (const std::exception& e) {  // keep what was measured; the next shape reports the error
    std::fprintf(stderr, "dense, second timing: %s\n", e.what());
    row.dense_fwd_last_ms = row.dense_fwd_first_ms;
    row.dense_fb_last_ms = row.dense_fb_first_ms;
  }
  return row;
}

}  // namespace

const char* dense_description() {
  return "cublasGemmEx, bf16 in and out, fp32 compute, CUBLAS_GEMM_DEFAULT, 32 MiB cuBLAS workspace; and the same "
         "GEMMs through cuBLASLt with the fastest of its heuristic's algorithms, timed on first use (the choice "
         "STL's GEMMs get, src/cuda/tuned_gemm.hpp). The dense figure is the faster of the two. "
         "fwd: Y = X·W; fwd+bwd: Y = X·W, dX = dY·Wᵀ, dW = Xᵀ·dY (three GEMMs).";
}

const char* naive_description() {
  return "naive STL = the three steps as separate plain library calls, the way STL.md §3's PyTorch "
         "einsum/bmm/einsum pipeline runs them: (1) a permute-copy kernel (one element per thread) gathers X "
         "into 16 tile rows of m·k, (2) encode = ONE cuBLAS GEMM E_X (r×16, bf16) · tiles, (3) the r products = "
         "one strided batched cuBLAS GEMM, (4) decode = ONE cuBLAS GEMM D (16×r, bf16) · Z, (5) a permute-copy "
         "scatters the 16 × m·n result into Y. bf16 intermediates, fp32 accumulation, no specialised kernel. "
         "Backward = autograd's chain through the same calls with tiles(X), X̂ and Z kept from the forward: gather "
         "dY, dZ = Dᵀ·tiles(dY), dŴ = X̂ᵀ·dZ and dX̂ = dZ·Ŵᵀ (batched), dtiles = E_Xᵀ·dX̂, scatter to dX; "
         "all four grads add dE_X = dX̂·tiles(X)ᵀ and dD = tiles(dY)·Zᵀ.";
}

const char* stl_description() {
  return "ours = strassentile::cuda. fwd: stl_forward (specialised <4,4,4> encode kernel, one strided batched "
         "GEMM (cuBLASLt, fastest algorithm timed on first use; 'default GEMM' = cuBLAS's own choice), specialised "
         "decode kernel; X̂ and Z through a workspace; the encode/decode on tensor cores for "
         "r <= 64, codec_mma.cuh; 'CUDA-core' = the same with KernelChoice::cuda_core, the FMA kernels). fwd+bwd: stl_forward + stl_backward with "
         "grads for x and w_hat (X̂ recomputed, dZ by the decode-transpose kernel, dŴ and dX̂ batched GEMMs, dX "
         "by the encode-transpose kernel), or with all four grads (x, w_hat, enc_x, dec: adds Z recomputed and "
         "the dD and dE_X GEMMs). 'STL generic' = stl_forward with KernelChoice::generic (un-specialised "
         "encode/decode kernels).";
}

const char* sparse_description() {
  return "2:4 = cuSPARSELt: W transposed to N×K, pruned to 2:4 (CUSPARSELT_PRUNE_SPMMA_TILE, so Wᵀ is 2:4 "
         "too), compressed, kernel chosen by cusparseLtMatmulSearch (pruning, compression and search not timed). "
         "fwd: cusparseLtMatmul, bf16, fp32 compute. fwd+bwd: fwd + dX = dY·Wᵀ as a second cusparseLtMatmul "
         "with the sparse operand transposed + dW = Xᵀ·dY dense (cublasGemmEx).";
}

const char* timing_description() {
  return "each repetition timed alone with CUDA events after reading a buffer of max(2×L2, 64 MiB) to evict "
         "the L2; warm-up runs first; median reported. Ratio = dense ms / method ms (above 1: faster than dense), "
         "forward against dense forward, fwd+bwd against dense fwd+bwd; dense = the fastest of its first and last "
         "cuBLAS-default timings and its cuBLASLt-tuned timing in the shape.";
}

CompareReport run_compare(const CompareOptions& options, const std::function<void(const std::string&)>& progress) {
  CompareReport report;
  report.options = options;
  CompareEnv& env = report.env;
#ifdef STRASSENTILE_HAVE_CUSPARSELT
  env.have_cusparselt = true;
#endif
  const std::unique_ptr<StreamBench> gpu = start_run(env, options.warmup, options.reps);
  const Timer& timer = gpu->timer;
  const cublasHandle_t handle = gpu->handle;

  for_each_shape(options.shapes, report.failures, progress, [&](const CompareShape& sh) {
    const auto start = std::chrono::steady_clock::now();
    report.rows.push_back(run_shape(sh, options, timer, handle, env));
    const CompareRow& r = report.rows.back();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The row's numbers go out now, so that a run cut short still leaves them in the log.
    const auto x = [](const Measured& m, double dense) {
      char buf[32];
      if (m.ok) std::snprintf(buf, sizeof buf, "%.3f (%.2fx)", m.ms, dense / m.ms);
      else std::snprintf(buf, sizeof buf, "n/m");
      return std::string(buf);
    };
    char head[128];
    std::snprintf(head, sizeof head, " done in %.1f s: dense fwd %.3f ms (default %.3f), fwd+bwd %.3f ms (default %.3f)",
                  secs, r.dense_fwd_ms(), r.dense_default_fwd_ms(), r.dense_fb_ms(), r.dense_default_fb_ms());
    std::string line = std::string(head) + "; naive " + x(r.naive_fwd, r.dense_fwd_ms()) + " / " +
                       x(r.naive_fb, r.dense_fb_ms()) + "; STL " + x(r.stl_fwd, r.dense_fwd_ms()) + " / " +
                       x(r.stl_fb, r.dense_fb_ms()) + " / all4 " + x(r.stl_fb_all, r.dense_fb_ms()) + "; X̂,Z kept " +
                       x(r.stl_kept_fb, r.dense_fb_ms()) + " / all4 " + x(r.stl_kept_fb_all, r.dense_fb_ms()) + "; STL cuda-core " +
                       x(r.stl_cc_fwd, r.dense_fwd_ms()) + " / " + x(r.stl_cc_fb, r.dense_fb_ms()) + "; STL default GEMM " +
                       x(r.stl_default_gemm_fwd, r.dense_fwd_ms()) + " / " + x(r.stl_default_gemm_fb, r.dense_fb_ms()) + "; 2:4 " +
                       x(r.sparse_fwd, r.dense_fwd_ms()) + " / " + x(r.sparse_fb, r.dense_fb_ms());
    char mem[160];
    std::snprintf(mem, sizeof mem, "; MiB above inputs fwd/fwd+bwd: dense %.0f/%.0f, STL %.0f/%.0f; tc vs cc Y %.4f dX %.4f",
                  r.mem.dense_fwd / 1048576.0, r.mem.dense_fb / 1048576.0, r.mem.stl_fwd / 1048576.0,
                  r.mem.stl_fb / 1048576.0, r.tc_vs_cc_y, r.tc_vs_cc_dx);
    line += mem;
    return line;
  });
  return report;
}

}  // namespace strassentile::bench
