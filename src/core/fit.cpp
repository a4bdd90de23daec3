// Data-free fitting of rank-r approximations of the matmul tensor by alternating least squares.
//
// Why these ingredients: plain ALS on matmul tensors stalls in "swamps" and lets factor norms diverge.
// A Tikhonov term λ‖·‖² keeps the factors bounded early on and is annealed geometrically to ~0 so the final
// fit is unbiased; rescaling the three columns of each product to equal norms removes the scaling freedom
// that otherwise drifts; independent restarts escape poor local minima. A last unregularised phase polishes
// the best start, which is what turns a 1e-6 fit into an exact (1e-12) algorithm at full rank.
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

#include "matmul_tensor.hpp"
#include "strassentile/approximation.hpp"

namespace strassentile {
namespace {

using Eigen::MatrixXd;

struct Factors {
  MatrixXd u, v, w;
};

// One ALS solve: argmin_X ‖T_n − X·Mᵀ‖² + λ‖X‖² with M = khatri_rao(B, C) and Gram (BᵀB)∘(CᵀC).
MatrixXd als_update(const MatrixXd& unfolding, const MatrixXd& b, const MatrixXd& c, double lambda) {
  const MatrixXd gram = (b.transpose() * b).cwiseProduct(c.transpose() * c) +
                        (lambda + 1e-15) * MatrixXd::Identity(b.cols(), b.cols());
  return gram.ldlt().solve((unfolding * detail::khatri_rao(b, c)).transpose()).transpose();
}

void balance(Factors& f) {
  for (Eigen::Index p = 0; p < f.u.cols(); ++p) {
    const double nu = f.u.col(p).norm(), nv = f.v.col(p).norm(), nw = f.w.col(p).norm();
    if (nu == 0 || nv == 0 || nw == 0) continue;
    const double g = std::cbrt(nu * nv * nw);
    f.u.col(p) *= g / nu;
    f.v.col(p) *= g / nv;
    f.w.col(p) *= g / nw;
  }
}

void sweep(const detail::Unfoldings& t, Factors& f, double lambda) {
  f.u = als_update(t.t1, f.v, f.w, lambda);
  f.v = als_update(t.t2, f.u, f.w, lambda);
  f.w = als_update(t.t3, f.u, f.v, lambda);
  balance(f);
}

double error_of(const detail::Unfoldings& t, const Factors& f) { return detail::cp_error(t, f.u, f.v, f.w) / t.norm; }

}  // namespace

double relative_tensor_error(const Algorithm& alg) {
  alg.validate();
  const detail::Unfoldings t = detail::matmul_unfoldings(alg.tile);
  return detail::cp_error(t, detail::to_eigen(alg.enc_x).transpose(), detail::to_eigen(alg.enc_w).transpose(),
                          detail::to_eigen(alg.dec)) /
         t.norm;
}

double relative_tensor_error(const Algorithm& alg, const TileMoments& data) {
  alg.validate();
  if (!(alg.tile == data.tile))
    throw std::invalid_argument("relative_tensor_error: algorithm tile " + alg.tile.to_string() +
                                " differs from the moments' tile " + data.tile.to_string());
  const detail::Whitening wh = detail::whitening(data, /*for_fitting=*/false);
  const detail::Unfoldings t = detail::whiten(detail::matmul_unfoldings(alg.tile), wh);
  return detail::cp_error(t, wh.ax * detail::to_eigen(alg.enc_x).transpose(),
                          wh.aw * detail::to_eigen(alg.enc_w).transpose(), detail::to_eigen(alg.dec)) /
         t.norm;
}

namespace {

// ALS with restarts and polishing on (possibly whitened) unfoldings; factors in that space.
Factors fit_factors(const detail::Unfoldings& t, std::size_t rank, const FitOptions& options, FitResult& result,
                    double& best_error) {
  if (rank < 1) throw std::invalid_argument("fit: rank must be >= 1");
  if (options.restarts < 1 || options.iterations < 1)
    throw std::invalid_argument("fit: restarts and iterations must be >= 1");
  if (!(options.lambda_start > 0) || !(options.lambda_end > 0))
    throw std::invalid_argument("fit: lambda_start and lambda_end must be > 0");
  const auto r = static_cast<Eigen::Index>(rank);
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const auto random = [&](Eigen::Index rows) {
    MatrixXd m(rows, r);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
    return m;
  };

  Factors best;
  best_error = INFINITY;
  const double decay = std::pow(options.lambda_end / options.lambda_start, 1.0 / static_cast<double>(options.iterations));
  for (std::size_t start = 0; start < options.restarts; ++start) {
    Factors f{random(t.t1.rows()), random(t.t2.rows()), random(t.t3.rows())};
    double lambda = options.lambda_start;
    for (std::size_t it = 0; it < options.iterations; ++it, lambda *= decay) sweep(t, f, lambda);
    const double err = error_of(t, f);
    result.restart_errors.push_back(err);
    if (err < best_error) best_error = err, best = f;
  }
  for (std::size_t it = 0; it < options.polish_iterations && best_error > 1e-14; ++it) {
    Factors next = best;
    sweep(t, next, 0.0);
    const double err = error_of(t, next);
    if (!(err < best_error)) break;  // no progress (or NaN): keep the best so far
    best = std::move(next), best_error = err;
  }
  return best;
}

std::string fit_name(TileFormat tile, std::size_t rank, const char* suffix) {
  return "fit-" + std::to_string(tile.a) + "x" + std::to_string(tile.b) + "x" + std::to_string(tile.c) + "-r" +
         std::to_string(rank) + suffix;
}

}  // namespace

FitResult fit(TileFormat tile, std::size_t rank, const FitOptions& options) {
  validate(tile);
  FitResult result;
  const Factors best = fit_factors(detail::matmul_unfoldings(tile), rank, options, result, result.relative_error);
  result.algorithm = make_algorithm(fit_name(tile, rank, ""),
                                    "ALS fit of the matmul tensor (seed " + std::to_string(options.seed) + ")", tile,
                                    detail::from_eigen(best.u.transpose()), detail::from_eigen(best.v.transpose()),
                                    detail::from_eigen(best.w));
  return result;
}

FitResult fit_to_data(const TileMoments& data, std::size_t rank, const FitOptions& options) {
  const detail::Whitening wh = detail::whitening(data, /*for_fitting=*/true);
  const detail::Unfoldings t = detail::whiten(detail::matmul_unfoldings(data.tile), wh);
  FitResult result;
  const Factors best = fit_factors(t, rank, options, result, result.relative_error);
  // Back from the whitened space: U = Ax⁻¹·U', V = Aw⁻¹·V' (triangular solves).
  const MatrixXd u = wh.ax.triangularView<Eigen::Upper>().solve(best.u);
  const MatrixXd v = wh.aw.triangularView<Eigen::Upper>().solve(best.v);
  result.algorithm = make_algorithm(fit_name(data.tile, rank, "-data"),
                                    "data-aware ALS fit (" + std::to_string(data.x_tiles) + " activation tiles, " +
                                        std::to_string(data.w_tiles) + " weight tiles, seed " +
                                        std::to_string(options.seed) + ")",
                                    data.tile, detail::from_eigen(u.transpose()), detail::from_eigen(v.transpose()),
                                    detail::from_eigen(best.w));
  result.relative_error = relative_tensor_error(result.algorithm, data);  // the exact metric, not the ridged one
  return result;
}

}  // namespace strassentile
