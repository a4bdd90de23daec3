// Truncating an exact algorithm to fewer products, with the decoder refitted by least squares.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "matmul_tensor.hpp"
#include "strassentile/approximation.hpp"

namespace strassentile {

namespace {

Eigen::MatrixXd columns(const Eigen::MatrixXd& m, const std::vector<Eigen::Index>& idx) {
  Eigen::MatrixXd out(m.rows(), static_cast<Eigen::Index>(idx.size()));
  for (std::size_t i = 0; i < idx.size(); ++i) out.col(static_cast<Eigen::Index>(i)) = m.col(idx[i]);
  return out;
}

void check_rank(const Algorithm& alg, std::size_t rank) {
  alg.validate();
  if (rank < 1 || rank > alg.rank())
    throw std::invalid_argument("truncate: rank must be in 1.." + std::to_string(alg.rank()) + " for '" + alg.name +
                                "', got " + std::to_string(rank));
}

// Residual of the least-squares fit of `target` by the columns of `m` (the decoder refit of a trial).
double fit_residual(const Eigen::MatrixXd& m, const Eigen::MatrixXd& target) {
  return (target - m * m.completeOrthogonalDecomposition().solve(target)).squaredNorm();
}

// Greedy backward elimination on the factors (u, v) against t: the products to keep, in their original order.
std::vector<Eigen::Index> choose_products(const detail::Unfoldings& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v,
                                          std::size_t rank) {
  std::vector<Eigen::Index> kept(static_cast<std::size_t>(u.cols()));
  for (std::size_t p = 0; p < kept.size(); ++p) kept[p] = static_cast<Eigen::Index>(p);
  const Eigen::MatrixXd products = detail::khatri_rao(u, v);  // one column per product
  const Eigen::MatrixXd target = t.t3.transpose();
  // Each step drops the product whose removal (decoder refitted) raises the error least; ties go to the later
  // product, so an untouched prefix stays stable.
  while (kept.size() > rank) {
    Eigen::MatrixXd basis = columns(products, kept), goal = target;
    double outside = 0;  // the part of the target no trial can fit
    if (basis.cols() < basis.rows()) {
      // Every trial's columns lie in the span of the kept ones: fit in the coordinates of an orthonormal basis Q
      // of that span (r rows instead of a·b·b·c); the part of the target outside Q adds the same to every trial.
      const Eigen::HouseholderQR<Eigen::MatrixXd> qr(basis);
      const Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(basis.rows(), basis.cols());
      goal = q.transpose() * target;
      outside = (target - q * goal).squaredNorm();
      basis = q.transpose() * basis;
    }
    std::size_t drop = 0;
    double best = INFINITY;
    for (std::size_t i = 0; i < kept.size(); ++i) {
      Eigen::MatrixXd trial(basis.rows(), basis.cols() - 1);
      const auto col = static_cast<Eigen::Index>(i);
      trial << basis.leftCols(col), basis.rightCols(basis.cols() - col - 1);
      const double err = outside + fit_residual(trial, goal);
      if (err <= best) best = err, drop = i;
    }
    kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  return kept;
}

}  // namespace

Algorithm truncate(const Algorithm& alg, std::size_t rank) {
  check_rank(alg, rank);
  const detail::Unfoldings t = detail::matmul_unfoldings(alg.tile);
  const Eigen::MatrixXd u = detail::to_eigen(alg.enc_x).transpose(), v = detail::to_eigen(alg.enc_w).transpose();
  const std::vector<Eigen::Index> kept = choose_products(t, u, v, rank);
  const Eigen::MatrixXd us = columns(u, kept), vs = columns(v, kept);
  return make_algorithm("truncate-" + alg.name + "-r" + std::to_string(rank),
                        "greedy truncation of " + alg.name + " with least-squares decoder", alg.tile,
                        detail::from_eigen(us.transpose()), detail::from_eigen(vs.transpose()),
                        detail::from_eigen(detail::refit_decoder(t, us, vs)));
}

Algorithm truncate(const Algorithm& alg, std::size_t rank, const TileMoments& data) {
  check_rank(alg, rank);
  if (!(alg.tile == data.tile))
    throw std::invalid_argument("truncate: algorithm tile " + alg.tile.to_string() + " differs from the moments' tile " +
                                data.tile.to_string());
  const detail::Whitening wh = detail::whitening(data, /*for_fitting=*/true);
  const detail::Unfoldings t = detail::whiten(detail::matmul_unfoldings(alg.tile), wh);
  const Eigen::MatrixXd u = detail::to_eigen(alg.enc_x).transpose(), v = detail::to_eigen(alg.enc_w).transpose();
  const std::vector<Eigen::Index> kept = choose_products(t, wh.ax * u, wh.aw * v, rank);
  const Eigen::MatrixXd us = columns(u, kept), vs = columns(v, kept);
  return make_algorithm("truncate-" + alg.name + "-r" + std::to_string(rank) + "-data",
                        "data-aware greedy truncation of " + alg.name + " with least-squares decoder", alg.tile,
                        detail::from_eigen(us.transpose()), detail::from_eigen(vs.transpose()),
                        detail::from_eigen(detail::refit_decoder(t, wh.ax * us, wh.aw * vs)));
}

}  // namespace strassentile
