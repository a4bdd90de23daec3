// Causal STL in the torch-free core: levels, masks, the causal reference (row dependencies), and the causal
// initialisations from exact algorithms (their Gaussian relative tensor error).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/causal.hpp"
#include "strassentile/reference.hpp"
#include "test_support.hpp"

namespace strassentile {
namespace {

using testing::random_matrix;

// True when every coefficient the levels forbid is zero.
bool obeys_masks(const Algorithm& alg, const CausalLevels& levels) {
  for (std::size_t p = 0; p < alg.rank(); ++p) {
    for (std::size_t q = 0; q < alg.tile.x_size(); ++q)
      if (!causal_reads(levels[p], q / alg.tile.b) && alg.enc_x(p, q) != 0.0) return false;
    for (std::size_t q = 0; q < alg.tile.y_size(); ++q)
      if (!causal_writes(levels[p], q / alg.tile.c) && alg.dec(q, p) != 0.0) return false;
  }
  return true;
}

TEST(CausalLevels, DefaultIsBalancedAndMatchesTheNaiveOrder) {
  EXPECT_EQ(default_causal_levels(7, 2), (CausalLevels{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(default_causal_levels(3, 1), (CausalLevels{0, 0, 0}));
  // At r = abc the default is the naive algorithm's own levels: product (u, v, w) reads and writes row u.
  const Algorithm n = naive({3, 2, 2});
  EXPECT_EQ(default_causal_levels(n.rank(), 3), highest_rows_read(n));
  EXPECT_TRUE(obeys_masks(n, default_causal_levels(n.rank(), 3)));
}

TEST(CausalLevels, BadLevelsAreRejectedWithTheFix) {
  EXPECT_THROW(check_causal_levels({0, 1}, 3, 2), std::invalid_argument);
  try {
    check_causal_levels({0, 2, 1}, 3, 2);
    FAIL() << "level 2 with a = 2 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("levels must be in 0..1"), std::string::npos) << e.what();
  }
}

// The reference is linear in X: perturbing one input row and diffing the outputs gives that row's column of
// the Jacobian. Causal: no output row of a tile moves when a later row of the tile (or another tile) changes.
TEST(CausalReference, OutputRowsNeverDependOnLaterRowsOfTheirTile) {
  std::mt19937_64 rng(1);
  const TileFormat t{3, 2, 2};
  const std::size_t r = 9, M = 10, K = 5, N = 3, seq = 5;  // two sequences of 5 rows: tiles of 3 + 2 (padded)
  const Matrix<double> x = random_matrix<double>(M, K, rng), ex = random_matrix<double>(r, t.x_size(), rng);
  const Matrix<double> d = random_matrix<double>(t.y_size(), r, rng);  // dense: the masks must do all the work
  Tensor3<double> w_hat(r, 3, 2);
  std::normal_distribution<double> normal;
  for (std::size_t i = 0; i < w_hat.size(); ++i) w_hat.data()[i] = normal(rng);
  const CausalLevels levels = default_causal_levels(r, t.a);
  const Matrix<double> y = stl_reference_causal<double>(x, w_hat, ex, d, t, levels, N, seq);
  const Matrix<double> y_tile = stl_reference<double>(x, w_hat, ex, d, t, N, seq);
  bool tile_mode_leaks = false;
  for (std::size_t j = 0; j < M; ++j) {
    Matrix<double> xj = x;
    for (std::size_t k = 0; k < K; ++k) xj(j, k) += 1.0;
    const Matrix<double> yj = stl_reference_causal<double>(xj, w_hat, ex, d, t, levels, N, seq);
    const Matrix<double> yj_tile = stl_reference<double>(xj, w_hat, ex, d, t, N, seq);
    for (std::size_t i = 0; i < M; ++i) {
      const bool same_tile = i / seq == j / seq && (i % seq) / t.a == (j % seq) / t.a;
      const bool may_depend = same_tile && i >= j;
      double moved = 0, moved_tile = 0;
      for (std::size_t c = 0; c < N; ++c) {
        moved = std::max(moved, std::abs(yj(i, c) - y(i, c)));
        moved_tile = std::max(moved_tile, std::abs(yj_tile(i, c) - y_tile(i, c)));
      }
      if (!may_depend) {
        EXPECT_EQ(moved, 0.0) << "output row " << i << " moved with input row " << j;
      }
      if (same_tile && i == j) {
        EXPECT_GT(moved, 1e-3) << "row " << i << " ignores itself";
      }
      if (same_tile && i < j && moved_tile > 1e-3) tile_mode_leaks = true;
    }
  }
  EXPECT_TRUE(tile_mode_leaks) << "the same parameters in mode tile should read later rows";
}

// A non-finite input row reaches exactly the output rows that depend on it: the masks select coefficients, they
// do not multiply by zero (0·Inf = NaN would poison the earlier rows of the tile).
TEST(CausalReference, NonFiniteInputReachesOnlyLaterRowsOfItsTile) {
  std::mt19937_64 rng(2);
  const TileFormat t{4, 2, 2};
  const std::size_t r = 8, M = 8, K = 4, N = 4, seq = 8;  // one sequence: tiles of rows 0-3 and 4-7
  const Matrix<double> ex = random_matrix<double>(r, t.x_size(), rng), d = random_matrix<double>(t.y_size(), r, rng);
  Tensor3<double> w_hat(r, 2, 2);
  std::normal_distribution<double> normal;
  for (std::size_t i = 0; i < w_hat.size(); ++i) w_hat.data()[i] = normal(rng);
  const CausalLevels levels = default_causal_levels(r, t.a);
  for (const double bad : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    const std::size_t bad_row = 2;
    Matrix<double> x = random_matrix<double>(M, K, rng);
    x(bad_row, 1) = bad;
    const Matrix<double> y = stl_reference_causal<double>(x, w_hat, ex, d, t, levels, N, seq);
    for (std::size_t i = 0; i < M; ++i) {
      bool finite = true;
      for (std::size_t c = 0; c < N; ++c) finite = finite && std::isfinite(y(i, c));
      const bool depends = i >= bad_row && i < t.a;  // rows >= 2 of the first tile
      EXPECT_EQ(finite, !depends) << "output row " << i << " with " << bad << " at input row " << bad_row;
    }
  }
}

TEST(CausalInit, RefitOfTheNaiveAlgorithmStaysExact) {
  const CausalAlgorithm c = causal_refit(naive({2, 3, 2}));
  EXPECT_LE(c.algorithm.verify(), 1e-12);
  EXPECT_EQ(c.levels, default_causal_levels(12, 2));
  EXPECT_TRUE(obeys_masks(c.algorithm, c.levels));
}

// Strassen's products mostly read both rows of a tile; under the masks they can only write row 1, so the
// refit loses row 0 almost entirely. The numbers below are what the greedy truncation gives on <2,2,2>.
TEST(CausalInit, TruncatedStrassenObeysTheMasksAndReportsItsError) {
  const Algorithm s = get("strassen");
  const CausalAlgorithm full = causal_refit(s);
  EXPECT_TRUE(obeys_masks(full.algorithm, full.levels));
  EXPECT_GT(relative_tensor_error(full.algorithm), 0.1);  // not causal: the masks cost accuracy
  double previous = 0;
  for (std::size_t r = 7; r >= 1; --r) {
    const CausalAlgorithm c = causal_truncate(s, r);
    EXPECT_EQ(c.algorithm.rank(), r);
    EXPECT_TRUE(obeys_masks(c.algorithm, c.levels));
    const double err = relative_tensor_error(c.algorithm);
    EXPECT_GE(err, previous - 1e-12) << "fewer products cannot fit better";
    EXPECT_LE(err, 1.0 + 1e-12);
    previous = err;
  }
  // Truncating the (causal) naive algorithm to r of abc products leaves √(1 − r/abc), whichever it keeps; the
  // tie-break keeps the levels balanced, so that every output row still has products that write it.
  const CausalAlgorithm n = causal_truncate(naive({2, 2, 2}), 6);
  EXPECT_NEAR(relative_tensor_error(n.algorithm), std::sqrt(1.0 - 6.0 / 8.0), 1e-12);
  EXPECT_EQ(std::count(n.levels.begin(), n.levels.end(), std::size_t{0}), 3);
  EXPECT_THROW(causal_truncate(s, 8), std::invalid_argument);
}

}  // namespace
}  // namespace strassentile
