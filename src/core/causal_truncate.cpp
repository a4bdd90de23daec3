// Causal initialisations from exact algorithms: levels from what each product reads, decoder refitted by least
// squares under the causal mask, optionally after greedy truncation (strassentile/causal.hpp).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "matmul_tensor.hpp"
#include "strassentile/causal.hpp"

namespace strassentile {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;

// The decoder minimising ‖T3 − W·KRᵀ‖ with W[q, p] = 0 wherever the mask forbids it. Rows of one output tile row u
// share the allowed set {p : ℓ(p) <= u}, so it is one least-squares problem per u.
MatrixXd masked_decoder(const detail::Unfoldings& t, const MatrixXd& kr, TileFormat tile, const std::vector<Index>& kept,
                        const CausalLevels& levels) {
  MatrixXd w = MatrixXd::Zero(static_cast<Index>(tile.y_size()), static_cast<Index>(kept.size()));
  const auto c = static_cast<Index>(tile.c);
  for (std::size_t u = 0; u < tile.a; ++u) {
    std::vector<Index> allowed;  // positions in `kept`
    for (std::size_t i = 0; i < kept.size(); ++i)
      if (causal_writes(levels[static_cast<std::size_t>(kept[i])], u)) allowed.push_back(static_cast<Index>(i));
    if (allowed.empty()) continue;
    MatrixXd cols(kr.rows(), static_cast<Index>(allowed.size()));
    for (std::size_t j = 0; j < allowed.size(); ++j) cols.col(static_cast<Index>(j)) = kr.col(kept[static_cast<std::size_t>(allowed[j])]);
    const MatrixXd rows = t.t3.middleRows(static_cast<Index>(u) * c, c);  // c × IJ
    const MatrixXd sol = cols.completeOrthogonalDecomposition().solve(rows.transpose());  // |allowed| × c
    for (std::size_t j = 0; j < allowed.size(); ++j) w.block(static_cast<Index>(u) * c, allowed[j], c, 1) = sol.row(static_cast<Index>(j)).transpose();
  }
  return w;
}

double masked_error(const detail::Unfoldings& t, const MatrixXd& kr, TileFormat tile, const std::vector<Index>& kept,
                    const CausalLevels& levels) {
  MatrixXd krs(kr.rows(), static_cast<Index>(kept.size()));
  for (std::size_t i = 0; i < kept.size(); ++i) krs.col(static_cast<Index>(i)) = kr.col(kept[i]);
  return (t.t3 - masked_decoder(t, kr, tile, kept, levels) * krs.transpose()).norm();
}

CausalAlgorithm build(const Algorithm& alg, const std::vector<Index>& kept, const CausalLevels& levels, std::string name,
                      std::string source) {
  const detail::Unfoldings t = detail::matmul_unfoldings(alg.tile);
  const MatrixXd u = detail::to_eigen(alg.enc_x).transpose(), v = detail::to_eigen(alg.enc_w).transpose();
  const MatrixXd kr = detail::khatri_rao(u, v);
  Matrix<double> ex(kept.size(), alg.tile.x_size()), ew(kept.size(), alg.tile.w_size());
  CausalLevels kept_levels(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const auto p = static_cast<std::size_t>(kept[i]);
    for (std::size_t q = 0; q < alg.tile.x_size(); ++q) ex(i, q) = alg.enc_x(p, q);
    for (std::size_t q = 0; q < alg.tile.w_size(); ++q) ew(i, q) = alg.enc_w(p, q);
    kept_levels[i] = levels[p];
  }
  Matrix<double> dec = detail::from_eigen(masked_decoder(t, kr, alg.tile, kept, levels));
  return {make_algorithm(std::move(name), std::move(source), alg.tile, std::move(ex), std::move(ew), std::move(dec)),
          kept_levels};
}

}  // namespace

CausalAlgorithm causal_refit(const Algorithm& alg) {
  const CausalLevels levels = highest_rows_read(alg);
  std::vector<Index> all(alg.rank());
  for (std::size_t p = 0; p < all.size(); ++p) all[p] = static_cast<Index>(p);
  return build(alg, all, levels, "causal-" + alg.name,
               alg.name + " with levels from the rows it reads and the decoder refitted under the causal mask");
}

CausalAlgorithm causal_truncate(const Algorithm& alg, std::size_t rank) {
  alg.validate();
  if (rank < 1 || rank > alg.rank())
    throw std::invalid_argument("causal truncate: rank must be in 1.." + std::to_string(alg.rank()) + " for '" + alg.name +
                                "', got " + std::to_string(rank));
  const CausalLevels levels = highest_rows_read(alg);
  const detail::Unfoldings t = detail::matmul_unfoldings(alg.tile);
  const MatrixXd kr = detail::khatri_rao(detail::to_eigen(alg.enc_x).transpose(), detail::to_eigen(alg.enc_w).transpose());
  std::vector<Index> kept(alg.rank());
  for (std::size_t p = 0; p < kept.size(); ++p) kept[p] = static_cast<Index>(p);
  std::vector<std::size_t> per_level(alg.tile.a, 0);
  for (std::size_t l : levels) ++per_level[l];
  const auto level_of = [&](std::size_t i) { return levels[static_cast<std::size_t>(kept[i])]; };
  // As truncate(): drop the product whose removal (masked decoder refitted) raises the error least. Ties (the naive
  // algorithm's products all cost the same) go to the level with the most products left, then to the later
  // product, so that every output row keeps products that write it.
  const double tie = 1e-9 * t.norm;
  while (kept.size() > rank) {
    std::size_t drop = 0;
    double best = INFINITY;
    for (std::size_t i = 0; i < kept.size(); ++i) {
      std::vector<Index> trial = kept;
      trial.erase(trial.begin() + static_cast<std::ptrdiff_t>(i));
      const double err = masked_error(t, kr, alg.tile, trial, levels);
      const bool better = err < best - tie;
      const bool tied = !better && err <= best + tie && per_level[level_of(i)] >= per_level[level_of(drop)];
      if (better || tied) best = std::min(best, err), drop = i;
    }
    --per_level[level_of(drop)];
    kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  return build(alg, kept, levels, "causal-truncate-" + alg.name + "-r" + std::to_string(rank),
               "greedy truncation of " + alg.name + " under the causal mask (levels: rows read), least-squares decoder");
}

}  // namespace strassentile
