#include <gtest/gtest.h>

#include <cmath>

#include "strassentile/approximation.hpp"

namespace strassentile {
namespace {

TEST(RelativeTensorError, ExactIsZeroAndDroppingNaiveProductsIsKnown) {
  EXPECT_LE(relative_tensor_error(get("strassen2")), 1e-14);
  // The naive products are orthogonal rank-one pieces of T: keeping r of abc leaves √((abc − r)/abc).
  EXPECT_NEAR(relative_tensor_error(truncate(naive({4, 4, 4}), 24)), std::sqrt(40.0 / 64.0), 1e-12);
}

TEST(Fit, RediscoversExactAlgorithmsAtFullRank) {
  for (const auto& [tile, rank] : {std::pair<TileFormat, std::size_t>{{2, 2, 2}, 7}, {{2, 2, 3}, 11}}) {
    const FitResult r = fit(tile, rank);
    EXPECT_LE(r.relative_error, 1e-8) << tile.to_string();
    EXPECT_LE(r.algorithm.verify(), 1e-8) << tile.to_string();
    EXPECT_EQ(r.algorithm.rank(), rank);
    EXPECT_NEAR(relative_tensor_error(r.algorithm), r.relative_error, 1e-12);
    EXPECT_EQ(r.restart_errors.size(), 8u);
  }
}

TEST(Fit, FourByFourRankTwentyFourBeatsNaiveTruncation) {
  FitOptions o;
  o.restarts = 3;
  const FitResult r = fit({4, 4, 4}, 24, o);
  EXPECT_LT(r.relative_error, std::sqrt(40.0 / 64.0));
  EXPECT_TRUE(std::isfinite(r.algorithm.enc_x(0, 0)));
}

TEST(Fit, IsDeterministicForASeed) {
  FitOptions o;
  o.restarts = 2;
  o.iterations = 200;
  o.seed = 42;
  EXPECT_TRUE(fit({2, 2, 2}, 5, o).algorithm.enc_x == fit({2, 2, 2}, 5, o).algorithm.enc_x);
}

TEST(Fit, RejectsBadArguments) {
  EXPECT_THROW(fit({2, 2, 2}, 0), std::invalid_argument);
  EXPECT_THROW(fit({2, 0, 2}, 3), std::invalid_argument);
  FitOptions o;
  o.restarts = 0;
  EXPECT_THROW(fit({2, 2, 2}, 3, o), std::invalid_argument);
}

TEST(Truncate, FullRankIsExactAndErrorFallsWithRank) {
  const Algorithm s2 = get("strassen2");
  EXPECT_LE(truncate(s2, 49).verify(), 1e-10);
  double previous = INFINITY;
  for (std::size_t r : {8u, 16u, 24u, 32u, 40u, 48u}) {
    const Algorithm t = truncate(s2, r);
    EXPECT_EQ(t.rank(), r);
    const double err = relative_tensor_error(t);
    EXPECT_LE(err, previous + 1e-12) << r;
    previous = err;
  }
}

TEST(Truncate, GreedyStepIsTheBestSingleDrop) {
  // Dropping one product of Strassen: the greedy choice is at least as good as dropping product 0 or 6.
  const Algorithm s = get("strassen");
  const double greedy = relative_tensor_error(truncate(s, 6));
  for (std::size_t drop : {0u, 6u}) {
    Algorithm manual = s;
    std::vector<double> ex, ew;
    Matrix<double> enc_x(6, 4), enc_w(6, 4);
    for (std::size_t p = 0, q = 0; p < 7; ++p) {
      if (p == drop) continue;
      for (std::size_t j = 0; j < 4; ++j) enc_x(q, j) = s.enc_x(p, j), enc_w(q, j) = s.enc_w(p, j);
      ++q;
    }
    // Decoder refitted by the same least squares: truncate() of the 6 kept products keeps them all.
    const Algorithm kept = truncate(make_algorithm("k", "", s.tile, enc_x, enc_w, Matrix<double>(4, 6)), 6);
    EXPECT_LE(greedy, relative_tensor_error(kept) + 1e-12) << drop;
  }
}

TEST(Truncate, RejectsBadRank) {
  EXPECT_THROW(truncate(get("strassen"), 0), std::invalid_argument);
  EXPECT_THROW(truncate(get("strassen"), 8), std::invalid_argument);
}

}  // namespace
}  // namespace strassentile
