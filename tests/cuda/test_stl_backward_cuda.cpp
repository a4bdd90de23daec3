// stl_backward's five gradients (dX, dŴ, dE_X, dD, d_bias) against gradients computed in double from the core's
// reference operator, over tile formats (the tensor-core <4,4,4> codec, CUDA-core specialised and generic ones),
// ragged shapes, sequences, strided dX and dY, and the three storage dtypes. Every output is poisoned first (0xFF
// bytes: NaN in every dtype), so a gradient that is not written fails, and dX's row padding must stay poisoned.
//
// The reference gradients are written out plainly from the forward's formula (strassentile/reference.hpp):
//   dZ[p,i,j]  = Σ_q D[q,p] · vec(dY_ij)[q]        dŴ[p] = X̂[p]ᵀ · dZ[p]       dX̂[p] = dZ[p] · Ŵ[p]ᵀ
//   vec(dX_iκ)[q] = Σ_p E[p,q] · dX̂[p,i,κ]         dE[p,q] = Σ_iκ dX̂[p,i,κ] · vec(X_iκ)[q]
//   dD[q,p]    = Σ_ij vec(dY_ij)[q] · Z[p,i,j]       d_bias[j] = Σ_i dY[i,j]
// and each case first checks them against the core's stl_reference itself: Y is linear in each of X, Ŵ, E and D,
// so for a random direction V, ⟨dY, STL(…V…)⟩ = ⟨grad, V⟩ exactly (up to double rounding).
//
// The bar: f32 within 1e-5 relative (Frobenius) of the reference; 16-bit a multiple of the error of rounding the
// exact gradient to the dtype (a dense 16-bit GEMM's error). The backward rounds two or three intermediates (X̂ or Z,
// dZ, dX̂), so its error is larger than the forward's; the multiples are about 1.5-2x the worst measured on an H200
// and an H100 over these cases (in units of that rounding error: Frobenius 1.75x, 4.3x for fewer than 512 values, an
// f16 <1,4,2> r=3 dD of 6 entries; peak over the reference's rms 21x; a column tile of dX or dŴ 2.4x, 10x for tiles of
// a few values): Frobenius 3x (7x), peak 32x, and the same check in every column tile separately, 4x (16x below 64
// values), so that an error confined to a ragged last tile is not averaged away. Below 512 values (64 in a column
// tile) the yardstick is at least the dtype's typical rounding error, that of many Gaussian values: a few values can
// round almost exactly by chance (one <1,4,2> dD sample rounded at half the typical error; a <4,1,4> dX column
// tile of one value, far below).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "strassentile/cuda/stl_cuda.hpp"
#include "strassentile/reference.hpp"

namespace sc = strassentile::cuda;
using strassentile::Matrix;
using strassentile::MatrixView;
using strassentile::Tensor3;
using strassentile::TileFormat;
using namespace strassentile::cuda_test;

namespace {

struct Shape {
  std::size_t M, K, N, seq;
  std::size_t pad;  // extra elements per row of X, dX and dY (0: contiguous)
};

struct Gradients {
  Matrix<double> dx, d_enc, d_dec;
  Tensor3<double> dw_hat;
  std::vector<double> d_bias;
};

// The gradients of Y = STL(X, Ŵ; E, D) + bias for dL/dY = dy, in double (the formulas above).
Gradients reference_gradients(const Matrix<double>& x, const Tensor3<double>& w_hat, const Matrix<double>& enc,
                              const Matrix<double>& dec, const Matrix<double>& dy, TileFormat tile, std::size_t seq) {
  const std::size_t M = x.rows(), K = x.cols(), N = dy.cols(), r = w_hat.dim0(), k = w_hat.dim1(), n = w_hat.dim2();
  const strassentile::RowGrouping rows = strassentile::make_row_grouping(M, seq);
  const std::size_t m = rows.num_row_tiles(tile.a);
  const Tensor3<double> x_hat = strassentile::encode_activation<double>(x.view(), enc.view(), tile, seq);
  const Tensor3<double> z = strassentile::batched_products<double>(x_hat, w_hat);
  // vec(dY_ij)[u·c+w] and vec(X_iκ)[u·b+v], zero in the padding.
  const auto dy_at = [&](std::size_t i, std::size_t j, std::size_t u, std::size_t w) {
    const std::size_t row = rows.row_of(i, u, tile.a), col = j * tile.c + w;
    return row < M && col < N ? dy(row, col) : 0.0;
  };
  const auto x_at = [&](std::size_t i, std::size_t kk, std::size_t u, std::size_t v) {
    const std::size_t row = rows.row_of(i, u, tile.a), col = kk * tile.b + v;
    return row < M && col < K ? x(row, col) : 0.0;
  };
  Tensor3<double> dz(r, m, n), dx_hat(r, m, k);
  Gradients g{Matrix<double>(M, K), Matrix<double>(r, tile.x_size()), Matrix<double>(tile.y_size(), r),
              Tensor3<double>(r, k, n), std::vector<double>(N, 0.0)};
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double acc = 0;
        for (std::size_t u = 0; u < tile.a; ++u)
          for (std::size_t w = 0; w < tile.c; ++w) acc += dec(u * tile.c + w, p) * dy_at(i, j, u, w);
        dz(p, i, j) = acc;
      }
  for (std::size_t p = 0; p < r; ++p) {
    // dŴ[p] = X̂[p]ᵀ·dZ[p], summed along rows of dZ (unit stride: the reference dominates the test's time).
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t kk = 0; kk < k; ++kk) {
        const double xv = x_hat(p, i, kk);
        for (std::size_t j = 0; j < n; ++j) g.dw_hat(p, kk, j) += xv * dz(p, i, j);
      }
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t kk = 0; kk < k; ++kk) {
        double acc = 0;
        for (std::size_t j = 0; j < n; ++j) acc += dz(p, i, j) * w_hat(p, kk, j);
        dx_hat(p, i, kk) = acc;
      }
  }
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t u = 0; u < tile.a; ++u)
        for (std::size_t v = 0; v < tile.b; ++v) {
          const std::size_t row = rows.row_of(i, u, tile.a), col = kk * tile.b + v;
          if (row >= M || col >= K) continue;
          for (std::size_t p = 0; p < r; ++p) g.dx(row, col) += enc(p, u * tile.b + v) * dx_hat(p, i, kk);
        }
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t kk = 0; kk < k; ++kk)
        for (std::size_t u = 0; u < tile.a; ++u)
          for (std::size_t v = 0; v < tile.b; ++v) g.d_enc(p, u * tile.b + v) += dx_hat(p, i, kk) * x_at(i, kk, u, v);
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t u = 0; u < tile.a; ++u)
          for (std::size_t w = 0; w < tile.c; ++w) g.d_dec(u * tile.c + w, p) += dy_at(i, j, u, w) * z(p, i, j);
    }
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) g.d_bias[j] += dy(i, j);
  return g;
}

template <class A>
double dot(const A& a, const A& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a.data()[i] * b.data()[i];
  return s;
}

// ⟨dY, STL(…)⟩ against ⟨grad, V⟩ for a random direction in each linear argument of the core's stl_reference.
bool reference_agrees_with_the_core(const Matrix<double>& x, const Tensor3<double>& w_hat, const Matrix<double>& enc,
                                    const Matrix<double>& dec, const Matrix<double>& dy, TileFormat tile,
                                    std::size_t seq, const Gradients& g, Rng& rng) {
  const auto stl = [&](const Matrix<double>& xx, const Tensor3<double>& ww, const Matrix<double>& ee,
                       const Matrix<double>& dd) {
    return strassentile::stl_reference<double>(xx.view(), ww, ee.view(), dd.view(), tile, dy.cols(), seq);
  };
  const auto agree = [&](double lhs, double rhs, const Matrix<double>& y_dir) {
    return std::abs(lhs - rhs) <= 1e-10 * std::sqrt(dot(dy, dy) * dot(y_dir, y_dir)) + 1e-300;
  };
  const Matrix<double> vx = random_matrix(x.rows(), x.cols(), rng);
  const Matrix<double> ve = random_matrix(enc.rows(), enc.cols(), rng);
  const Matrix<double> vd = random_matrix(dec.rows(), dec.cols(), rng);
  Tensor3<double> vw(w_hat.dim0(), w_hat.dim1(), w_hat.dim2());
  for (std::size_t i = 0; i < vw.size(); ++i) vw.data()[i] = rng();
  const Matrix<double> yx = stl(vx, w_hat, enc, dec), yw = stl(x, vw, enc, dec), ye = stl(x, w_hat, ve, dec),
                       yd = stl(x, w_hat, enc, vd);
  return agree(dot(dy, yx), dot(g.dx, vx), yx) && agree(dot(dy, yw), dot(g.dw_hat, vw), yw) &&
         agree(dot(dy, ye), dot(g.d_enc, ve), ye) && agree(dot(dy, yd), dot(g.d_dec, vd), yd);
}

struct Results : CheckCounts {
  double worst_vs_rounding[3] = {};  // [dtype]: the largest error / rounding error seen, over every gradient
};

// The relative (Frobenius) error of rounding many Gaussian values to dt: the yardstick's expected value.
double typical_rounding_error(sc::DType dt) {
  const auto measure = [](sc::DType d) {
    std::mt19937_64 gen(1);
    std::normal_distribution<double> normal;
    HostArray round(d, 1);
    Compare c;
    for (int i = 0; i < 4096; ++i) {
      const double v = normal(gen);
      c.add(round.set(0, v), v);
    }
    return c.rel();
  };
  static const double per_dtype[3] = {measure(sc::DType::f32), measure(sc::DType::f16), measure(sc::DType::bf16)};
  return per_dtype[static_cast<int>(dt)];
}

// A gradient's values (out, read back with `at`, NaN where still poisoned) against ref, by the bar above. `blocks`
// splits the flat index into column tiles (block_of(idx)) for the per-tile check; -1 keeps it global only.
void check_gradient(const std::string& name, sc::DType dt, std::size_t count, const std::function<double(std::size_t)>& out,
                    const std::function<double(std::size_t)>& ref, const std::function<long(std::size_t)>& block_of,
                    long blocks, Results& results) {
  HostArray round(dt, 1);
  Compare all, all_floor;
  std::vector<Compare> per(static_cast<std::size_t>(std::max(blocks, 0L))), per_floor(per.size());
  for (std::size_t idx = 0; idx < count; ++idx) {
    const double o = out(idx), e = ref(idx), f = round.set(0, e);
    all.add(o, e);
    all_floor.add(f, e);
    if (blocks > 0) {
      const auto b = static_cast<std::size_t>(block_of(idx));
      per[b].add(o, e);
      per_floor[b].add(f, e);
    }
  }
  const bool f32 = dt == sc::DType::f32;
  // f32: 1e-5 relative; 16-bit: a multiple of rounding the exact value. A handful of values can round almost exactly
  // by chance (a dE_X of 6 entries, a column tile of one value), so below `few` values the yardstick is at least the
  // dtype's typical rounding error; 1e-6 keeps exact zeros away from a zero bar.
  const double typical = typical_rounding_error(dt);
  const auto bar = [&](const Compare& floor, double times, std::size_t few) {
    const double yardstick = floor.count < few ? std::max(floor.rel(), typical) : floor.rel();
    return f32 ? 1e-5 : times * std::max(yardstick, 1e-6);
  };
  double worst_block = 0;
  for (std::size_t b = 0; b < per.size(); ++b)
    if (per[b].count > 0)
      worst_block = std::max(worst_block, per[b].rel() / bar(per_floor[b], per[b].count >= 64 ? 4.0 : 16.0, 64));
  // Fewer than 512 values (E_X, D at small ranks): the Frobenius norms of a few dozen errors are noisy.
  const double ratio = all.rel() / bar(all_floor, count >= 512 ? 3.0 : 7.0, 512);
  const double peak = all.peak_rel() / bar(all_floor, 32.0, 512);
  double& worst = results.worst_vs_rounding[static_cast<int>(dt)];
  worst = std::max(worst, f32 ? 0.0 : all.rel() / std::max(all_floor.rel(), 1e-6));
  char msg[320];
  std::snprintf(msg, sizeof msg,
                "%s: rel %.3g (rounding %.3g; %.2f of the bar), peak %.2f of its bar, worst column tile %.2f of its "
                "bar, %zu unwritten",
                name.c_str(), all.rel(), all_floor.rel(), ratio, peak, worst_block, all.unwritten);
  results.expect(all.unwritten == 0 && ratio <= 1 && peak <= 1 && worst_block <= 1, msg);
}

sc::StlShape stl_shape(const Shape& s, const Format& f) { return layer_shape(s.M, s.K, s.N, s.seq, f); }

std::string case_name(const Shape& s, const Format& f, sc::DType dt, bool dw_f32, bool lean) {
  const char* kernel = f.kernel == sc::KernelChoice::cuda_core ? " cuda-core" : "";
  char buf[200];
  std::snprintf(buf, sizeof buf, "backward %s r=%d%s %zux%zux%zu seq=%zu pad=%zu %s%s%s", f.tile.to_string().c_str(),
                f.rank, kernel, s.M, s.K, s.N, s.seq, s.pad, sc::dtype_name(dt), dw_f32 ? " dW^-f32" : "",
                lean ? " lean" : "");
  return buf;
}

// lean: the rows in blocks (BackwardParams::lean), its workspace sized exactly.
void test_backward(const Shape& s, const Format& f, sc::DType dt, bool dw_f32, bool lean, Rng& rng, Results& results,
                   cublasHandle_t handle) {
  const sc::StlShape sh = stl_shape(s, f);
  const std::size_t r = static_cast<std::size_t>(f.rank), k = static_cast<std::size_t>(sh.k()),
                    n = static_cast<std::size_t>(sh.n()), ab = f.tile.x_size(), ac = f.tile.y_size();
  const std::size_t ldx = s.K + s.pad, ldy = s.N + s.pad;
  const std::string name = case_name(s, f, dt, dw_f32, lean);

  HostArray hx(dt, s.M * ldx), hdy(dt, s.M * ldy), hw(dt, r * k * n);
  const Matrix<double> x = fill_strided(hx, s.M, s.K, ldx, rng), dy = fill_strided(hdy, s.M, s.N, ldy, rng);
  Tensor3<double> w_hat(r, k, n);
  for (std::size_t i = 0; i < w_hat.size(); ++i) w_hat.data()[i] = hw.set(i, rng() / std::sqrt(double(k)));
  Matrix<double> enc = random_matrix(r, ab, rng), dec = random_matrix(ac, r, rng);
  DeviceBuffer d_x(hx.bytes.size()), d_dy(hdy.bytes.size()), d_w(hw.bytes.size());
  DeviceBuffer d_enc_in = upload_f32(enc), d_dec_in = upload_f32(dec);  // enc, dec now hold the floats sent
  hx.upload(d_x), hdy.upload(d_dy), hw.upload(d_w);

  const Gradients ref = reference_gradients(x, w_hat, enc, dec, dy, f.tile, s.seq);
  results.expect(reference_agrees_with_the_core(x, w_hat, enc, dec, dy, f.tile, s.seq, ref, rng),
                 name + ": the double reference gradients disagree with the core's stl_reference");

  const sc::DType dw_dt = dw_f32 ? sc::DType::f32 : dt;
  HostArray gx(dt, s.M * ldx), gw(dw_dt, r * k * n), ge(sc::DType::f32, r * ab), gd(sc::DType::f32, ac * r),
      gb(sc::DType::f32, s.N);  // all poisoned
  DeviceBuffer d_gx(gx.bytes.size()), d_gw(gw.bytes.size()), d_ge(ge.bytes.size()), d_gd(gd.bytes.size()),
      d_gb(gb.bytes.size());
  gx.upload(d_gx), gw.upload(d_gw), ge.upload(d_ge), gd.upload(d_gd), gb.upload(d_gb);
  const sc::BackwardNeeds all{true, true, true, true, true, dw_f32, lean, f.kernel};
  DeviceBuffer ws(sc::backward_workspace(sh, dt, all));

  sc::BackwardParams p;
  p.shape = sh;
  p.dtype = dt;
  p.dy = {d_dy.ptr, static_cast<std::int64_t>(ldy)};
  p.x = {d_x.ptr, static_cast<std::int64_t>(ldx)};
  p.w_hat.data = d_w.ptr;
  p.enc_x = static_cast<const float*>(d_enc_in.ptr);
  p.dec = static_cast<const float*>(d_dec_in.ptr);
  p.dx = {d_gx.ptr, static_cast<std::int64_t>(ldx)};
  p.dw_hat.data = d_gw.ptr;
  p.dw_hat_f32 = dw_f32;
  p.lean = lean;
  p.d_enc_x = static_cast<float*>(d_ge.ptr);
  p.d_dec = static_cast<float*>(d_gd.ptr);
  p.d_bias = static_cast<float*>(d_gb.ptr);
  p.workspace = ws.ptr;
  p.workspace_bytes = ws.bytes;
  p.cublas = handle;
  p.kernel = f.kernel;
  sc::stl_backward(p);
  gx.download(d_gx), gw.download(d_gw), ge.download(d_ge), gd.download(d_gd), gb.download(d_gb);

  const auto value = [](const HostArray& h) {
    return [&h](std::size_t idx) { return h.poisoned(idx) ? NAN : h.get(idx); };
  };
  // dX: M × K inside rows of ldx; column tiles of width b. Its padding columns must stay poisoned.
  std::size_t clobbered = 0;
  for (std::size_t i = 0; i < s.M; ++i)
    for (std::size_t j = s.K; j < ldx; ++j) clobbered += !gx.poisoned(i * ldx + j);
  results.expect(clobbered == 0, name + ": dX's row padding overwritten (" + std::to_string(clobbered) + ")");
  const auto dx_at = [&](std::size_t idx) { return (idx / s.K) * ldx + idx % s.K; };
  check_gradient(
      name + " dX", dt, s.M * s.K, [&](std::size_t idx) { return value(gx)(dx_at(idx)); },
      [&](std::size_t idx) { return ref.dx.data()[idx]; },
      [&](std::size_t idx) { return static_cast<long>(idx % s.K / f.tile.b); }, static_cast<long>(k), results);
  // dŴ: r × k × n; its column tiles are the n columns j.
  check_gradient(
      name + " dW^", dt, r * k * n, value(gw), [&](std::size_t idx) { return ref.dw_hat.data()[idx]; },
      [&](std::size_t idx) { return static_cast<long>(idx % n); }, static_cast<long>(n), results);
  check_gradient(
      name + " dE_X", dt, r * ab, value(ge), [&](std::size_t idx) { return ref.d_enc.data()[idx]; },
      [](std::size_t) { return 0L; }, -1, results);
  check_gradient(
      name + " dD", dt, ac * r, value(gd), [&](std::size_t idx) { return ref.d_dec.data()[idx]; },
      [](std::size_t) { return 0L; }, -1, results);
  // The bias gradient reads dY as stored (no intermediate rounding): fp32 sums, f32's bar whatever the dtype.
  check_gradient(
      name + " d_bias", sc::DType::f32, s.N, value(gb), [&](std::size_t idx) { return ref.d_bias[idx]; },
      [](std::size_t) { return 0L; }, -1, results);
}

// No rows: dX is empty, every parameter's gradient is exactly zero (they were poisoned), nothing else is touched.
void test_empty_rows(const Format& f, sc::DType dt, Results& results, cublasHandle_t handle) {
  const sc::StlShape sh = stl_shape({0, 53, 29, 0, 0}, f);
  const std::size_t r = static_cast<std::size_t>(f.rank), k = static_cast<std::size_t>(sh.k()),
                    n = static_cast<std::size_t>(sh.n()), ab = f.tile.x_size(), ac = f.tile.y_size();
  HostArray gw(dt, r * k * n), ge(sc::DType::f32, r * ab), gd(sc::DType::f32, ac * r), gb(sc::DType::f32, 29);
  DeviceBuffer d_gw(gw.bytes.size()), d_ge(ge.bytes.size()), d_gd(gd.bytes.size()), d_gb(gb.bytes.size());
  DeviceBuffer d_w(gw.bytes.size()), d_enc(r * ab * 4), d_dec(ac * r * 4), d_one(256);
  gw.upload(d_gw), ge.upload(d_ge), gd.upload(d_gd), gb.upload(d_gb);
  const sc::BackwardNeeds all{true, true, true, true, true};
  DeviceBuffer ws(std::max<std::size_t>(sc::backward_workspace(sh, dt, all), 256));
  sc::BackwardParams p;
  p.shape = sh;
  p.dtype = dt;
  p.dy.data = d_one.ptr;  // M = 0: nothing may be read, but a caller's empty tensors may still have addresses
  p.x.data = d_one.ptr;
  p.w_hat.data = d_w.ptr;
  p.enc_x = static_cast<const float*>(d_enc.ptr);
  p.dec = static_cast<const float*>(d_dec.ptr);
  p.dx.data = d_one.ptr;
  p.dw_hat.data = d_gw.ptr;
  p.d_enc_x = static_cast<float*>(d_ge.ptr);
  p.d_dec = static_cast<float*>(d_gd.ptr);
  p.d_bias = static_cast<float*>(d_gb.ptr);
  p.workspace = ws.ptr;
  p.workspace_bytes = ws.bytes;
  p.cublas = handle;
  sc::stl_backward(p);
  gw.download(d_gw), ge.download(d_ge), gd.download(d_gd), gb.download(d_gb);
  std::size_t nonzero = 0;
  for (const HostArray* h : {&gw, &ge, &gd, &gb})
    for (std::size_t i = 0; i < h->size(); ++i) nonzero += h->poisoned(i) || h->get(i) != 0.0;
  results.expect(nonzero == 0, std::string("backward M=0 ") + f.tile.to_string() + " " + sc::dtype_name(dt) + ": " +
                                   std::to_string(nonzero) + " parameter gradient entries not zero");
}

}  // namespace

// --small: only the cases up to 1000 rows and 200 MFLOP (every kernel and fold path, few of the large grids), so that
// compute-sanitizer, which runs kernels 10-100x slower, checks them in minutes.
int main(int argc, char** argv) {
  const bool small = argc > 1 && std::string(argv[1]) == "--small";
  int exit_code = 0;
  cublasHandle_t handle = cuda_test_handle(exit_code);
  if (handle == nullptr) return exit_code;
  const std::vector<Shape> shapes = {
      {64, 64, 64, 0, 0},     // every side divides
      {37, 53, 29, 0, 0},     // ragged M, K, N: ragged last column tiles of dX and dY
      {90, 48, 40, 30, 3},    // sequences of 30 rows, each padded on its own; strided X, dX, dY
      {1, 7, 5, 0, 0},        // one row
      {256, 256, 136, 64, 0}  // larger, several sequences
  };
  const auto automatic = sc::KernelChoice::automatic;
  const std::vector<Format> formats = {
      {{4, 4, 4}, 24, automatic},               // 16-bit: the tensor-core encode/decode
      {{4, 4, 4}, 24, sc::KernelChoice::cuda_core},
      {{2, 2, 2}, 7, automatic},                // Strassen's rank
      {{4, 2, 4}, 12, automatic},               // the (4,2) encode, the (4,4) decode, dX's (4,2) decode
      {{2, 4, 4}, 16, automatic},
      {{3, 2, 5}, 20, automatic},               // no specialised kernel on either side
      {{1, 4, 2}, 3, automatic},                // the (1,2) tiles of dY (dZ pass) and the (1,4) of X
      {{4, 1, 4}, 10, automatic},               // the (4,1) tiles of X (dX pass)
  };
  const sc::DType dtypes[] = {sc::DType::f32, sc::DType::f16, sc::DType::bf16};
  Results results;
  Rng rng(20261205);
  int variant = 0;
  const auto run = [&](const Shape& s, const Format& f, sc::DType dt, bool dw_f32, bool lean) {
    if (small && (s.M > 1000 || s.M * s.K * s.N > 200000000)) return;
    test_backward(s, f, dt, dw_f32, lean, rng, results, handle);
  };
  try {
    for (const Format& f : formats)
      for (const Shape& s : shapes)
        for (const sc::DType dt : dtypes) {
          // dŴ in fp32 (fp32 master weights, 16-bit activations) on every other 16-bit case, lean on every other
          // pair of cases: each combination of the two.
          const bool dw_f32 = dt != sc::DType::f32 && variant % 2 == 1, lean = variant / 2 % 2 == 1;
          ++variant;
          run(s, f, dt, dw_f32, lean);
        }
    // Past the vectorised tile gather's 8- (16-bit) or 4-position (fp32) groups: full groups, then a ragged tail.
    for (const Format& f : formats)
      for (const sc::DType dt : dtypes) run({600, 200, 136, 0, 0}, f, dt, false, true);
    // One sequence of all the rows (a 2-D x), its length not a multiple of a: lean row blocks cut between tiles.
    for (const Format& f : formats)
      for (const sc::DType dt : dtypes)
        run({203, 96, 72, 203, 0}, f, dt, dt != sc::DType::f32, true);
    for (const Format& f : {formats[0], formats[2], formats[5]})
      for (const sc::DType dt : dtypes) test_empty_rows(f, dt, results, handle);
    // dD and dE_X summed inside the dZ and dX passes (16-bit, <4,4> tiles, r <= 32), at ranks of one and two
    // 16-product steps and one past the fold (r = 40: tile copies and GEMMs), over more groups than the persistent
    // grid holds (each block adds several groups in its registers), several groups along a row, ragged columns,
    // padded sequences, and row blocks (later blocks add to the sums).
    // The same in the CUDA-core dZ and dX passes (16-bit, the other specialised tiles, r <= 32): one and two
    // 16-product steps, tile entries of one and two 8-wide halves (a·b or a·c = 4, 8, 9, 16), <4,4> tiles forced
    // onto the CUDA cores; <4,2,4> folds dE_X there and dD on tensor cores.
    const std::vector<Format> fold_formats = {
        {{4, 4, 4}, 12, automatic}, {{4, 4, 4}, 32, automatic}, {{4, 4, 4}, 40, automatic},
        {{4, 2, 4}, 12, automatic}, {{4, 2, 4}, 26, automatic}, {{2, 4, 4}, 16, automatic},
        {{1, 4, 4}, 7, automatic},  {{2, 2, 2}, 7, automatic},  {{3, 3, 3}, 23, automatic},
        {{1, 4, 2}, 3, automatic},  {{4, 4, 1}, 6, automatic},  {{2, 1, 2}, 3, automatic},
        {{4, 4, 4}, 24, sc::KernelChoice::cuda_core}};
    for (const Format& f : fold_formats)
      for (const sc::DType dt : {sc::DType::bf16, sc::DType::f16}) {
        // The <4,4> tensor-core fold at the width where its grid wraps along a row; the others on 8192 rows (2048
        // or more tile rows, past any persistent grid) at a fifth of the reference's cost.
        const bool mma_fold = f.tile.a == 4 && f.tile.b == 4 && f.tile.c == 4 && f.kernel == automatic;
        run(mma_fold ? Shape{4096, 1032, 524, 0, 0} : Shape{8192, 264, 136, 0, 0}, f, dt, false, false);
        run({1000, 264, 520, 250, 5}, f, dt, dt == sc::DType::bf16, true);
      }
    // The bias's gradient summed in the dZ pass beside dD (one row block): dY's rows wide enough for two to six
    // 512-tile slabs per row-tile (CUDA cores) or six 128-tile groups (<4,4> on tensor cores), so the grid is cut to a
    // multiple of them, ragged last slabs, padded sequences.
    for (const Format& f : {Format{{2, 2, 2}, 3, automatic}, Format{{1, 4, 2}, 3, automatic},
                            Format{{4, 4, 1}, 6, automatic}, Format{{4, 4, 4}, 24, sc::KernelChoice::cuda_core},
                            Format{{4, 4, 4}, 24, automatic}, Format{{4, 4, 4}, 12, automatic}})
      for (const sc::DType dt : {sc::DType::bf16, sc::DType::f16}) {
        run({2048, 136, 2600, 0, 0}, f, dt, false, false);
        run({1000, 72, 2056, 250, 3}, f, dt, false, false);
      }
    // bf16 at r <= 3 over the (a, c) pairs of the fused forward: sides off the 128-row blocks, padded sequences,
    // strided dY, dŴ in fp32, and the lean path.
    for (const Format& f : {Format{{2, 2, 2}, 3, automatic}, Format{{1, 4, 4}, 3, automatic},
                            Format{{4, 4, 1}, 3, automatic}, Format{{1, 4, 2}, 2, automatic},
                            Format{{2, 4, 1}, 1, automatic}}) {
      run({37, 53, 29, 0, 0}, f, sc::DType::bf16, false, false);
      run({1000, 72, 1030, 250, 3}, f, sc::DType::bf16, true, false);
      run({2048, 264, 520, 0, 0}, f, sc::DType::bf16, false, false);
      run({600, 200, 136, 0, 0}, f, sc::DType::bf16, false, true);
    }
    run({4100, 1024, 1024, 0, 0}, formats[0], sc::DType::bf16, false, true);
    // Lean scratch at 16384×4096×4096 bf16, <4,4,4> r = 24: one row block's product-sized regions within X and Y's
    // bytes (besides dŴ's fp32 sums and the folded coefficient gradients' per-block sums, 1.5 MiB); in one block they
    // take 1.5× X + 1.5× Y twice over.
    {
      const sc::StlShape big = layer_shape(16384, 4096, 4096, 0, formats[0]);
      sc::BackwardNeeds fast{true, true, true, true, true}, lean = fast;
      lean.lean = true;
      const std::size_t xy = std::size_t{16384} * (4096 + 4096) * 2, dw_f32 = std::size_t{24} * 1024 * 1024 * 4;
      const std::size_t fast_bytes = sc::backward_workspace(big, sc::DType::bf16, fast),
                        lean_bytes = sc::backward_workspace(big, sc::DType::bf16, lean);
      const auto mib = [](std::size_t bytes) { return std::to_string(bytes >> 20); };
      results.expect(lean_bytes <= xy + dw_f32 + (std::size_t{3} << 20) && fast_bytes > 2 * xy,
                     "backward workspace at 16384x4096x4096: lean " + mib(lean_bytes) + " MiB (want <= " +
                         mib(xy + dw_f32) + " + 3), one block " + mib(fast_bytes) + " MiB (want > " + mib(2 * xy) +
                         ")");
    }
    // dE_X folded into <4,2,4>'s staged dX pass needs no copy of X's tiles: 8 planes of M·K/8 (128 MiB here), which
    // the unfolded backward (KernelChoice::generic) holds where dZ's 12 planes of M·N/16 (96 MiB) are otherwise.
    {
      const sc::StlShape s424 = layer_shape(16384, 4096, 4096, 0, formats[3]);
      sc::BackwardNeeds folded{true, true, true, true, true}, copied = folded;
      copied.kernel = sc::KernelChoice::generic;
      for (const sc::DType dt : {sc::DType::bf16, sc::DType::f16}) {
        const std::size_t with_fold = sc::backward_workspace(s424, dt, folded),
                          with_copies = sc::backward_workspace(s424, dt, copied);
        results.expect(with_copies >= with_fold + (std::size_t{30} << 20),
                       std::string("backward workspace <4,2,4> r=12 16384x4096x4096 ") + sc::dtype_name(dt) +
                           ": folded " + std::to_string(with_fold >> 20) + " MiB, tile copies " +
                           std::to_string(with_copies >> 20) + " MiB (want 30 MiB less folded)");
      }
    }
  } catch (const std::exception& e) {
    std::printf("FAIL unexpected exception: %s\n", e.what());
    ++results.failed;
  }
  cublasDestroy(handle);
  std::printf("backward error over the rounding of the exact gradient (a dense 16-bit GEMM's error), worst: f16 %.2f  "
              "bf16 %.2f (bar: 3, or 5 for fewer than 512 values)\n",
              results.worst_vs_rounding[1], results.worst_vs_rounding[2]);
  std::printf("%d passed, %d failed\n", results.passed, results.failed);
  return results.failed == 0 ? 0 : 1;
}
