// Truncating an exact algorithm to fewer products, with the decoder refitted by least squares.
#include <stdexcept>
#include <string>

#include "matmul_tensor.hpp"
#include "strassentile/approximation.hpp"

namespace strassentile {

Algorithm truncate(const Algorithm& alg, std::size_t rank) {
  alg.validate();
  if (rank < 1 || rank > alg.rank())
    throw std::invalid_argument("truncate: rank must be in 1.." + std::to_string(alg.rank()) + " for '" + alg.name +
                                "', got " + std::to_string(rank));
  const detail::Unfoldings t = detail::matmul_unfoldings(alg.tile);
  const Eigen::MatrixXd u = detail::to_eigen(alg.enc_x).transpose(), v = detail::to_eigen(alg.enc_w).transpose();
  std::vector<Eigen::Index> kept(static_cast<std::size_t>(alg.rank()));
  for (std::size_t p = 0; p < kept.size(); ++p) kept[p] = static_cast<Eigen::Index>(p);
  const auto columns = [](const Eigen::MatrixXd& m, const std::vector<Eigen::Index>& idx) {
    Eigen::MatrixXd out(m.rows(), static_cast<Eigen::Index>(idx.size()));
    for (std::size_t i = 0; i < idx.size(); ++i) out.col(static_cast<Eigen::Index>(i)) = m.col(idx[i]);
    return out;
  };
  const auto error_with = [&](const std::vector<Eigen::Index>& idx) {
    const Eigen::MatrixXd us = columns(u, idx), vs = columns(v, idx);
    return detail::cp_error(t, us, vs, detail::refit_decoder(t, us, vs));
  };
  // Greedy backward elimination: ties go to the later product, so an untouched prefix stays stable.
  while (kept.size() > rank) {
    std::size_t drop = 0;
    double best = INFINITY;
    for (std::size_t i = 0; i < kept.size(); ++i) {
      std::vector<Eigen::Index> trial = kept;
      trial.erase(trial.begin() + static_cast<std::ptrdiff_t>(i));
      const double err = error_with(trial);
      if (err <= best) best = err, drop = i;
    }
    kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  const Eigen::MatrixXd us = columns(u, kept), vs = columns(v, kept);
  return make_algorithm("truncate-" + alg.name + "-r" + std::to_string(rank),
                        "greedy truncation of " + alg.name + " with least-squares decoder", alg.tile,
                        detail::from_eigen(us.transpose()), detail::from_eigen(vs.transpose()),
                        detail::from_eigen(detail::refit_decoder(t, us, vs)));
}

}  // namespace strassentile
