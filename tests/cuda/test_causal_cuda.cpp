// Mode causal on every codec kernel. The specialised kernels (tensor-core <4,4,4>, CUDA-core tile families) read
// the masked coefficients as zeros and a repair pass recomputes by selection the tiles holding a non-finite input;
// the generic kernels select in their inner loop. Both must give the same layer: stl_forward's Y and stl_backward's
// five gradients with the specialised kernels (KernelChoice automatic and cuda_core) against the generic kernels
// (KernelChoice generic), which the Python suite checks against the core reference. Finite values agree within
// the dtype's rounding (the two sum in different orders); which entries are non-finite must agree exactly.
//
// Inputs: random, then the same with Inf, −Inf and NaN planted in later rows of some tiles of X (and of dY for the
// backward), where 0·Inf in an earlier row's masked coefficient would leak NaN upwards.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "strassentile/causal.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace sc = strassentile::cuda;
using namespace strassentile::cuda_test;

namespace {

struct Case {
  std::size_t M, K, N, seq;
};

// Plants non-finite values in the last row of every third tile row's first tile column of an M × cols matrix with
// rows grouped as the shape groups them (plain runs of a rows here: seq is a multiple of a or 0).
void plant_nonfinite(HostArray& h, std::size_t M, std::size_t cols, std::size_t a) {
  const double values[] = {INFINITY, -INFINITY, NAN};
  int next = 0;
  for (std::size_t first = 0; first + a <= M; first += 3 * a) h.set((first + a - 1) * cols, values[next++ % 3]);
}

struct LayerOut {
  HostArray y, dx, dw, de, dd, db;
};

LayerOut run_layer(const sc::StlShape& sh, sc::DType dt, sc::KernelChoice kernel, const HostArray& hx,
                   const HostArray& hdy, const HostArray& hw, const HostArray& hb, const DeviceBuffer& enc,
                   const DeviceBuffer& dec, const DeviceBuffer& levels, cublasHandle_t handle) {
  const auto M = static_cast<std::size_t>(sh.rows), K = static_cast<std::size_t>(sh.in_features),
             N = static_cast<std::size_t>(sh.out_features), r = static_cast<std::size_t>(sh.rank);
  const std::size_t ab = static_cast<std::size_t>(sh.a * sh.b), ac = static_cast<std::size_t>(sh.a * sh.c);
  LayerOut out{HostArray(dt, M * N), HostArray(dt, M * K), HostArray(dt, hw.size()), HostArray(sc::DType::f32, r * ab),
               HostArray(sc::DType::f32, ac * r), HostArray(sc::DType::f32, N)};
  DeviceBuffer x(hx.bytes.size()), dy(hdy.bytes.size()), w(hw.bytes.size()), b(hb.bytes.size());
  hx.upload(x), hdy.upload(dy), hw.upload(w), hb.upload(b);
  DeviceBuffer y(out.y.bytes.size()), dx(out.dx.bytes.size()), dw(out.dw.bytes.size()), de(out.de.bytes.size()),
      dd(out.dd.bytes.size()), db(out.db.bytes.size());
  out.y.upload(y), out.dx.upload(dx), out.dw.upload(dw), out.de.upload(de), out.dd.upload(dd), out.db.upload(db);
  const int* lv = static_cast<const int*>(levels.ptr);

  DeviceBuffer fws(sc::forward_workspace(sh, dt).bytes);
  sc::ForwardParams f;
  f.shape = sh, f.dtype = dt, f.kernel = kernel, f.causal_levels = lv, f.cublas = handle;
  f.x.data = x.ptr, f.w_hat.data = w.ptr, f.bias = b.ptr, f.y.data = y.ptr;
  f.enc_x = static_cast<const float*>(enc.ptr), f.dec = static_cast<const float*>(dec.ptr);
  f.workspace = fws.ptr, f.workspace_bytes = fws.bytes;
  sc::stl_forward(f);

  sc::BackwardNeeds all{true, true, true, true, true};
  all.kernel = kernel;
  DeviceBuffer bws(sc::backward_workspace(sh, dt, all));
  sc::BackwardParams p;
  p.shape = sh, p.dtype = dt, p.kernel = kernel, p.causal_levels = lv, p.cublas = handle;
  p.dy.data = dy.ptr, p.x.data = x.ptr, p.w_hat.data = w.ptr;
  p.enc_x = f.enc_x, p.dec = f.dec;
  p.dx.data = dx.ptr, p.dw_hat.data = dw.ptr;
  p.d_enc_x = static_cast<float*>(de.ptr), p.d_dec = static_cast<float*>(dd.ptr);
  p.d_bias = static_cast<float*>(db.ptr);
  p.workspace = bws.ptr, p.workspace_bytes = bws.bytes;
  sc::stl_backward(p);
  out.y.download(y), out.dx.download(dx), out.dw.download(dw), out.de.download(de), out.dd.download(dd),
      out.db.download(db);
  return out;
}

// Same non-finite entries (and none left unwritten), finite entries within `tol` relative (Frobenius).
void compare(const std::string& what, const HostArray& got, const HostArray& want, double tol, CheckCounts& results) {
  std::size_t pattern = 0;
  double diff2 = 0, ref2 = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double g = got.poisoned(i) ? NAN : got.get(i), w = want.get(i);
    if (std::isfinite(g) != std::isfinite(w) || std::isnan(g) != std::isnan(w)) {
      ++pattern;
      continue;
    }
    if (!std::isfinite(w)) continue;
    diff2 += (g - w) * (g - w);
    ref2 += w * w;
  }
  const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  results.expect(pattern == 0, what + ": " + std::to_string(pattern) + " entries finite in one and not the other");
  char buf[96];
  std::snprintf(buf, sizeof buf, ": relative difference %.3g > %.3g", rel, tol);
  results.expect(rel <= tol, what + buf);
}

}  // namespace

int main() {
  int exit_code = 0;
  cublasHandle_t handle = cuda_test_handle(exit_code);
  if (handle == nullptr) return exit_code;
  CheckCounts results;
  Rng rng(20261204);
  const std::vector<Case> cases = {{64, 64, 64, 0}, {37, 53, 29, 0}, {96, 48, 40, 32}};
  const std::vector<Format> formats = {{{4, 4, 4}, 24, sc::KernelChoice::automatic},
                                       {{4, 4, 4}, 24, sc::KernelChoice::cuda_core},
                                       {{4, 2, 4}, 12, sc::KernelChoice::automatic},
                                       {{2, 2, 2}, 7, sc::KernelChoice::automatic},
                                       {{4, 4, 1}, 6, sc::KernelChoice::automatic},
                                       {{2, 1, 2}, 3, sc::KernelChoice::automatic}};
  for (const Format& fmt : formats)
    for (const sc::DType dt : {sc::DType::f32, sc::DType::f16, sc::DType::bf16})
      for (const Case& c : cases)
        for (const bool nonfinite : {false, true}) {
          const sc::StlShape sh = layer_shape(c.M, c.K, c.N, c.seq, fmt);
          const std::size_t r = static_cast<std::size_t>(fmt.rank);
          HostArray hx(dt, c.M * c.K), hdy(dt, c.M * c.N), hw(dt, r * sh.k() * sh.n()), hb(dt, c.N);
          for (std::size_t i = 0; i < hx.size(); ++i) hx.set(i, rng());
          for (std::size_t i = 0; i < hdy.size(); ++i) hdy.set(i, rng());
          for (std::size_t i = 0; i < hw.size(); ++i) hw.set(i, rng() / std::sqrt(static_cast<double>(sh.k())));
          for (std::size_t i = 0; i < hb.size(); ++i) hb.set(i, rng());
          if (nonfinite) plant_nonfinite(hx, c.M, c.K, fmt.tile.a), plant_nonfinite(hdy, c.M, c.N, fmt.tile.a);
          Matrix<double> enc = random_matrix(r, fmt.tile.x_size(), rng), dec = random_matrix(fmt.tile.y_size(), r, rng);
          const DeviceBuffer d_enc = upload_f32(enc), d_dec = upload_f32(dec);
          const strassentile::CausalLevels lv = strassentile::default_causal_levels(r, fmt.tile.a);
          std::vector<int> lv_int(lv.begin(), lv.end());
          DeviceBuffer d_lv(lv_int.size() * sizeof(int));
          cuda_ok(cudaMemcpy(d_lv.ptr, lv_int.data(), d_lv.bytes, cudaMemcpyHostToDevice), "upload levels");

          const LayerOut want =
              run_layer(sh, dt, sc::KernelChoice::generic, hx, hdy, hw, hb, d_enc, d_dec, d_lv, handle);
          const LayerOut got = run_layer(sh, dt, fmt.kernel, hx, hdy, hw, hb, d_enc, d_dec, d_lv, handle);
          // Two summation orders of the same rounded operands: f32 ~1e-6; 16-bit outputs round once more each.
          const double tol = dt == sc::DType::f32 ? 1e-5 : dt == sc::DType::f16 ? 4e-3 : 3e-2;
          char name[160];
          std::snprintf(name, sizeof name, "causal %s r=%d %s %s %zux%zux%zu seq=%zu%s", fmt.tile.to_string().c_str(),
                        fmt.rank, fmt.kernel == sc::KernelChoice::cuda_core ? "cuda-core" : "automatic",
                        sc::dtype_name(dt), c.M, c.K, c.N, c.seq, nonfinite ? " non-finite" : "");
          const std::string n = name;
          compare(n + " Y", got.y, want.y, tol, results);
          compare(n + " dX", got.dx, want.dx, tol, results);
          compare(n + " dW^", got.dw, want.dw, tol, results);
          compare(n + " dE_X", got.de, want.de, tol, results);
          compare(n + " dD", got.dd, want.dd, tol, results);
          compare(n + " d_bias", got.db, want.db, tol, results);
        }
  cublasDestroy(handle);
  std::printf("%d passed, %d failed\n", results.passed, results.failed);
  return results.failed == 0 ? 0 : 1;
}
