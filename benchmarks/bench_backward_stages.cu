// bench_backward_stages: where the forward+backward's time goes, stage by stage, with X̂ recomputed and with the
// forward's X̂ kept (BackwardParams::x_hat). The same launches as stl_forward + stl_backward for the x and Ŵ
// gradients, with an event between every two, so that each stage is timed where it really runs (after the stage
// before it, not alone after an L2 flush); the L2 is evicted once per repetition, before the forward. The whole
// stl_forward + stl_backward calls are timed too, as a check that the stages add up, and so is the dense layer
// (Y = X·W; dX = dY·Wᵀ, dW = Xᵀ·dY), each GEMM through the faster of cuBLAS and cuBLASLt, for ratios in one run.
// bf16, <4,4,4>, r = 24 unless --tile/--rank say otherwise; median of --reps.
//
//   bench_backward_stages OUT.json [--reps N] [--shapes MxKxN,...]
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bench_options.hpp"
#include "bench_util.cuh"
#include "launchers.hpp"       // src/cuda
#include "row_major_gemm.hpp"  // src/cuda
#include "tuned_gemm.hpp"      // src/cuda
#include "strassentile/cuda/stl_cuda.hpp"

namespace sc = strassentile::cuda;
using namespace strassentile::bench;  // NOLINT(google-build-using-namespace)
using bf16 = __nv_bfloat16;

namespace {

struct Stage {
  std::string name;
  std::function<void()> run;
};

double median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Median milliseconds of each stage, run in order `reps` times after one warm-up pass, the L2 evicted before each.
std::vector<double> stage_medians(const Timer& timer, const std::vector<Stage>& stages) {
  for (const Stage& s : stages) s.run();
  const std::size_t n = stages.size();
  std::vector<cudaEvent_t> ev(static_cast<std::size_t>(timer.reps) * (n + 1));
  for (auto& e : ev) ok(cudaEventCreate(&e), "cudaEventCreate");
  for (int i = 0; i < timer.reps; ++i) {
    timer.evict_l2(i);
    cudaEvent_t* row = &ev[static_cast<std::size_t>(i) * (n + 1)];
    ok(cudaEventRecord(row[0], timer.stream), "cudaEventRecord");
    for (std::size_t j = 0; j < n; ++j) {
      stages[j].run();
      ok(cudaEventRecord(row[j + 1], timer.stream), "cudaEventRecord");
    }
  }
  ok(cudaStreamSynchronize(timer.stream), "sync");
  std::vector<double> out;
  for (std::size_t j = 0; j <= n; ++j) {  // the last entry: the whole sequence
    std::vector<float> ms(static_cast<std::size_t>(timer.reps));
    for (int i = 0; i < timer.reps; ++i) {
      cudaEvent_t* row = &ev[static_cast<std::size_t>(i) * (n + 1)];
      ok(cudaEventElapsedTime(&ms[static_cast<std::size_t>(i)], j < n ? row[j] : row[0], j < n ? row[j + 1] : row[n]),
         "elapsed");
    }
    out.push_back(median(ms));
  }
  for (auto& e : ev) cudaEventDestroy(e);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!opts.parse(argc, argv, {"--reps", "--shapes", "--tile", "--rank", "--unpadded-stages"},
                  "OUT.json [--reps N] [--shapes MxKxN,...] [--tile A (an <A,A,A> tile)] [--rank R] "
                  "[--unpadded-stages 1 (the stages with the backward's rows unpadded)]"))
    return 2;
  const bool unpadded = opts.integer("--unpadded-stages", 0, 0) != 0;
  const int tile = opts.integer("--tile", 4, 1), rank = opts.integer("--rank", 24, 1);
  const std::string out_path = opts.out();
  const int reps = opts.integer("--reps", 15, 1);
  const std::string shapes = opts.text("--shapes", "16384x4096x4096,8192x8192x8192");
  try {
    const StreamBench bench(reps);
    const cudaDeviceProp& prop = bench.prop;
    cudaStream_t stream = bench.stream;
    cublasHandle_t handle = bench.handle;
    const Timer& timer = bench.timer;
    std::printf("%s, %d SMs; bf16 <%d,%d,%d> r=%d; median of %d, L2 evicted before each forward%s\n", prop.name,
                prop.multiProcessorCount, tile, tile, tile, rank, reps,
                unpadded ? "; the stages with the backward's rows unpadded" : "");
    std::FILE* json = std::fopen(out_path.c_str(), "w");
    if (json == nullptr) throw std::runtime_error("cannot write " + out_path);
    std::fprintf(json, "{\"device\": \"%s\", \"tile\": %d, \"rank\": %d, \"reps\": %d, \"results\": [\n",
                 prop.name, tile, rank, reps);
    bool first_json = true;
    for (const std::string& shape_text : split(shapes)) {
      long long M = 0, K = 0, N = 0;
      if (std::sscanf(shape_text.c_str(), "%lldx%lldx%lld", &M, &K, &N) != 3)
        throw std::invalid_argument("--shapes wants MxKxN, got " + shape_text);
      sc::StlShape s;
      s.rows = M, s.in_features = K, s.out_features = N;
      s.a = s.b = s.c = tile;
      s.rank = rank;
      const std::int64_t m = s.m(), k = s.k(), n = s.n(), r = s.rank, tile_elems = std::int64_t{tile} * tile;
      // stl_backward's padded rows (backward.cpp): the same layout here, so that the stages are its stages.
      const std::int64_t ldk = unpadded ? k : (k + 7) / 8 * 8, ldn = unpadded ? n : (n + 7) / 8 * 8;
      const sc::ForwardWorkspace fws = sc::forward_workspace(s, sc::DType::bf16);
      sc::BackwardNeeds two;
      two.x = two.w_hat = true;
      const std::size_t bws = sc::backward_workspace(s, sc::DType::bf16, two);
      Buffer x(M * K * 2), w_hat(r * k * n * 2), y(M * N * 2), dy(M * N * 2), dx(M * K * 2), dw_hat(r * k * n * 2);
      Buffer w(K * N * 2), dw(K * N * 2);
      random_fill<bf16>(w.ptr, K * N, 7, 1.0f);
      Buffer enc(r * tile_elems * 4), dec(tile_elems * r * 4), fwd_ws(fws.bytes), bwd_ws(bws);
      random_fill<bf16>(x.ptr, M * K, 1, 1.0f);
      random_fill<bf16>(w_hat.ptr, r * k * n, 3, 1.0f);
      random_fill<bf16>(dy.ptr, M * N, 4, 1.0f);
      random_fill<float>(enc.ptr, r * tile_elems, 5, 0.25f);
      random_fill<float>(dec.ptr, tile_elems * r, 6, 0.25f);
      ok(cudaDeviceSynchronize(), "fill");
      const auto* enc_x = static_cast<const float*>(enc.ptr);
      const auto* dec_p = static_cast<const float*>(dec.ptr);
      char* xh_fwd = static_cast<char*>(fwd_ws.ptr);
      char* z_fwd = xh_fwd + fws.z_offset;
      // The backward's regions, as stl_backward lays them out for x and Ŵ: A (X̂, then dX̂) at 0, B (dZ) after it.
      char* buf_a = static_cast<char*>(bwd_ws.ptr);
      char* buf_b = buf_a + (r * m * ldk * 2 + 255) / 256 * 256;
      // Products on sides rounded up to 8 where the library pads them (launchers.hpp): zero-padded copies of Ŵ and
      // dŴ, X̂'s and dZ's padding columns zeroed.
      const bool pad = !unpadded && sc::detail::pads_products(s, sc::DType::bf16);
      const std::int64_t k_run = pad ? ldk : k, n_run = pad ? ldn : n;
      Buffer w_pad(pad ? r * ldk * ldn * 2 : 1), dw_pad(pad ? r * ldk * ldn * 2 : 1);
      const void* w_run = pad ? w_pad.ptr : w_hat.ptr;
      const std::int64_t ld_w_run = pad ? ldn : n;
      const auto pad_w_hat = [&] {
        sc::detail::launch_copy_padded<2>(w_pad.ptr, ldn, ldk * ldn, ldk, ldn, w_hat.ptr, n, k * n, k, n, r, stream);
      };
      const auto dw_hat_out = [&] {
        sc::detail::launch_copy_padded<2>(dw_hat.ptr, n, k * n, k, n, dw_pad.ptr, ldn, ldk * ldn, k, n, r, stream);
      };

      const auto encode = [&](void* out, std::int64_t ld) {
        sc::EncodeParams p;
        p.shape = s, p.x.data = x.ptr, p.enc_x = enc_x, p.x_hat = {out, ld, m * ld};
        p.stream = stream;
        sc::launch_encode(p);
      };
      const auto gemm = [&](sc::detail::RowMajorGemm g) {
        if (!sc::detail::run_tuned(handle, g, stream)) ok(sc::detail::run_strided_batched(handle, g), "gemm");
      };
      const auto products = [&] {
        sc::ProductsParams p;
        p.handle = handle, p.batch = r, p.m = m, p.k = k_run, p.n = n_run;
        p.x_hat = {xh_fwd, fws.ld_x_hat, fws.stride_x_hat};
        p.w_hat = {w_run, ld_w_run, k_run * ld_w_run}, p.z = {z_fwd, fws.ld_z, fws.stride_z}, p.stream = stream;
        sc::launch_products(p);
      };
      const auto decode = [&] {
        sc::DecodeParams p;
        p.shape = s, p.z = {z_fwd, fws.ld_z, fws.stride_z}, p.dec = dec_p, p.y.data = y.ptr;
        p.stream = stream;
        sc::launch_decode(p);
      };
      const auto decode_backward = [&] {
        sc::DecodeBackwardParams p;
        p.shape = s, p.dy.data = dy.ptr, p.dec = dec_p, p.dz = {buf_b, ldn, m * ldn};
        p.stream = stream;
        sc::launch_decode_backward(p);
        if (pad) sc::detail::zero_columns(buf_b, r * m, n, ldn, 2, stream);
      };
      const auto dw_gemm = [&](const void* xh, std::int64_t ld) {  // dŴ[p] = X̂[p]ᵀ · dZ[p]
        sc::detail::RowMajorGemm g;
        g.rows = k_run, g.cols = n_run, g.inner = m, g.batch = r;
        g.a = xh, g.lda = ld, g.stride_a = m * ld, g.trans_a = true;
        g.b = buf_b, g.ldb = ldn, g.stride_b = m * ldn;
        g.c = pad ? dw_pad.ptr : dw_hat.ptr, g.ldc = n_run, g.stride_c = k_run * n_run;
        gemm(g);
      };
      const auto dx_hat_gemm = [&] {  // dX̂[p] = dZ[p] · Ŵ[p]ᵀ
        sc::detail::RowMajorGemm g;
        g.rows = m, g.cols = k_run, g.inner = n_run, g.batch = r;
        g.a = buf_b, g.lda = ldn, g.stride_a = m * ldn;
        g.b = w_run, g.ldb = ld_w_run, g.stride_b = k_run * ld_w_run, g.trans_b = true;
        g.c = buf_a, g.ldc = ldk, g.stride_c = m * ldk;
        gemm(g);
      };
      const auto encode_backward = [&] {
        sc::EncodeBackwardParams p;
        p.shape = s, p.dx_hat = {buf_a, ldk, m * ldk}, p.enc_x = enc_x, p.dx.data = dx.ptr;
        p.stream = stream;
        sc::launch_encode_backward(p);
      };
      const auto encode_zeroed = [&](void* out, std::int64_t ld) {
        encode(out, ld);
        if (pad) sc::detail::zero_columns(out, r * m, k, ld, 2, stream);
      };
      std::vector<Stage> recomputed, kept;
      for (const bool keep : {false, true}) {
        std::vector<Stage>& v = keep ? kept : recomputed;
        if (pad) v.push_back({"fwd W^ to padded sides", pad_w_hat});
        v.push_back({"fwd encode", [&] { encode_zeroed(xh_fwd, fws.ld_x_hat); }});
        v.push_back({"fwd products", products});
        v.push_back({"fwd decode", decode});
        if (pad) v.push_back({"bwd W^ to padded sides", pad_w_hat});
        if (!keep) v.push_back({"bwd encode (X^ again)", [&] { encode_zeroed(buf_a, ldk); }});
        v.push_back({"bwd decode^T (dZ)", decode_backward});
        if (keep)
          v.push_back({"bwd dW^ GEMM (kept X^)", [&] { dw_gemm(xh_fwd, fws.ld_x_hat); }});
        else
          v.push_back({"bwd dW^ GEMM", [&] { dw_gemm(buf_a, ldk); }});
        if (pad) v.push_back({"bwd dW^ out of padded sides", dw_hat_out});
        v.push_back({"bwd dX^ GEMM", dx_hat_gemm});
        v.push_back({"bwd encode^T (dX)", encode_backward});
      }

      sc::ForwardParams fp;
      fp.shape = s, fp.x.data = x.ptr, fp.w_hat.data = w_hat.ptr, fp.enc_x = enc_x, fp.dec = dec_p, fp.y.data = y.ptr;
      fp.workspace = fwd_ws.ptr, fp.workspace_bytes = fws.bytes, fp.cublas = handle, fp.stream = stream;
      sc::BackwardParams bp;
      bp.shape = s, bp.x.data = x.ptr, bp.w_hat.data = w_hat.ptr, bp.enc_x = enc_x, bp.dec = dec_p, bp.dy.data = dy.ptr;
      bp.dx.data = dx.ptr, bp.dw_hat.data = dw_hat.ptr, bp.workspace = bwd_ws.ptr, bp.workspace_bytes = bws;
      bp.cublas = handle, bp.stream = stream;
      sc::BackwardParams bp_kept = bp;
      bp_kept.x_hat = {xh_fwd, fws.ld_x_hat, fws.stride_x_hat};
      const auto dense_gemm = [&](std::int64_t rows, std::int64_t cols, std::int64_t inner, const void* a,
                                  std::int64_t lda, bool ta, const void* b, std::int64_t ldb, bool tb, void* out) {
        sc::detail::RowMajorGemm g;
        g.rows = rows, g.cols = cols, g.inner = inner;
        g.a = a, g.lda = lda, g.trans_a = ta, g.b = b, g.ldb = ldb, g.trans_b = tb, g.c = out, g.ldc = cols;
        gemm(g);
      };
      const auto dense_fwd = [&] { dense_gemm(M, N, K, x.ptr, K, false, w.ptr, N, false, y.ptr); };
      const auto dense_bwd = [&] {
        dense_gemm(M, K, N, dy.ptr, N, false, w.ptr, N, true, dx.ptr);  // dX = dY·Wᵀ
        dense_gemm(K, N, M, x.ptr, K, true, dy.ptr, N, false, dw.ptr);  // dW = Xᵀ·dY
      };
      const double dense_ms = timer.median_ms(dense_fwd);
      const double dense_fb_ms = timer.median_ms([&] { dense_fwd(), dense_bwd(); });
      const double stl_fwd_ms = timer.median_ms([&] { sc::stl_forward(fp); });
      const double whole = timer.median_ms([&] { sc::stl_forward(fp), sc::stl_backward(bp); });
      const double whole_kept = timer.median_ms([&] { sc::stl_forward(fp), sc::stl_backward(bp_kept); });

      std::printf("\n%lld x %lld x %lld: dense fwd %.3f ms, fwd+bwd %.3f ms | stl_forward %.3f ms (%.2fx) | "
                  "stl_forward + stl_backward (x, W^) %.3f ms (%.2fx), X^ kept %.3f ms (%.2fx)\n",
                  M, K, N, dense_ms, dense_fb_ms, stl_fwd_ms, dense_ms / stl_fwd_ms, whole, dense_fb_ms / whole,
                  whole_kept, dense_fb_ms / whole_kept);
      std::fprintf(json, "%s{\"M\": %lld, \"K\": %lld, \"N\": %lld, \"dense_fwd_ms\": %.4f, \"dense_fwd_bwd_ms\": %.4f, "
                   "\"stl_fwd_ms\": %.4f, \"stl_fwd_bwd_ms\": %.4f, \"stl_fwd_bwd_kept_ms\": %.4f}",
                   first_json ? "" : ",\n", M, K, N, dense_ms, dense_fb_ms, stl_fwd_ms, whole, whole_kept);
      first_json = false;
      const std::vector<std::pair<const char*, const std::vector<Stage>*>> modes = {{"X^ recomputed", &recomputed},
                                                                                     {"X^ kept", &kept}};
      for (const auto& [label, stages] : modes) {
        const std::vector<double> ms = stage_medians(timer, *stages);
        std::printf("  %s: stages in sequence, %.3f ms in all\n", label, ms.back());
        for (std::size_t j = 0; j < stages->size(); ++j) {
          std::printf("    %-26s %8.3f ms\n", (*stages)[j].name.c_str(), ms[j]);
          std::fprintf(json, "%s{\"M\": %lld, \"K\": %lld, \"N\": %lld, \"mode\": \"%s\", \"stage\": \"%s\", \"ms\": %.4f}",
                       first_json ? "" : ",\n", M, K, N, label, (*stages)[j].name.c_str(), ms[j]);
          first_json = false;
        }
        std::fprintf(json, ",\n{\"M\": %lld, \"K\": %lld, \"N\": %lld, \"mode\": \"%s\", \"stage\": \"all, in sequence\", "
                     "\"ms\": %.4f, \"whole_calls_ms\": %.4f}", M, K, N, label, ms.back(),
                     stages == &recomputed ? whole : whole_kept);
      }
    }
    std::fprintf(json, "\n]}\n");
    std::fclose(json);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_backward_stages: %s\n", e.what());
    return 1;
  }
  return 0;
}
