// The DFT evaluation/interpolation algorithm (polynomial code) behind the `poly` initialisation.
#include <gtest/gtest.h>

#include <cmath>

#include "strassentile/approximation.hpp"
#include "strassentile/polynomial.hpp"

namespace strassentile {
namespace {

class PolynomialAlgorithm : public testing::TestWithParam<TileFormat> {};

TEST_P(PolynomialAlgorithm, IsExactWithTheStatedRank) {
  const TileFormat tile = GetParam();
  const Algorithm alg = polynomial_algorithm(tile);
  const std::size_t n = tile.a * tile.b * tile.c + tile.b - 1;
  EXPECT_EQ(polynomial_points(tile), n);
  EXPECT_EQ(alg.rank(), 1 + 3 * ((n - 1) / 2) + (n % 2 == 0 ? 1u : 0u));
  EXPECT_EQ(alg.tile, tile);
  EXPECT_LE(alg.verify(), 1e-12) << alg.name;
  EXPECT_LE(relative_tensor_error(alg), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Tiles, PolynomialAlgorithm,
                         testing::Values(TileFormat{1, 1, 1}, TileFormat{2, 2, 2}, TileFormat{3, 3, 3},
                                         TileFormat{4, 4, 4}, TileFormat{2, 4, 4}, TileFormat{1, 4, 4},
                                         TileFormat{2, 3, 5}, TileFormat{4, 1, 2}),
                         [](const auto& test_param) {
                           return std::to_string(test_param.param.a) + "x" + std::to_string(test_param.param.b) + "x" +
                                  std::to_string(test_param.param.c);
                         });

TEST(PolynomialAlgorithm, FourByFourHasOneHundredProductsAndIsReachableByName) {
  EXPECT_EQ(polynomial_rank({4, 4, 4}), 100u);  // 67 points: 1 + 3·33
  const Algorithm alg = get("poly-4x4x4");
  EXPECT_EQ(alg.name, "poly-4x4x4");
  EXPECT_EQ(alg.rank(), 100u);
  EXPECT_EQ(get("poly-2x3x4").tile, (TileFormat{2, 3, 4}));
}

TEST(PolynomialAlgorithm, EncodersAreBoundedFourierModes) {
  // Unit-modulus evaluations: every encoder entry is cos, sin, or a sum/difference of them (|·| ≤ √2).
  const Algorithm alg = polynomial_algorithm({4, 4, 4});
  for (std::size_t i = 0; i < alg.enc_x.size(); ++i) EXPECT_LE(std::abs(alg.enc_x.data()[i]), std::sqrt(2.0) + 1e-12);
  for (std::size_t i = 0; i < alg.enc_w.size(); ++i) EXPECT_LE(std::abs(alg.enc_w.data()[i]), std::sqrt(2.0) + 1e-12);
}

TEST(PolynomialAlgorithm, GreedyTruncationBeatsKeepingTheLowestFrequencies) {
  // The `poly` initialisation at r = 24 for <4,4,4>. It is a usable approximation (error well below 1, the
  // error of outputting zero) and the greedy choice beats the obvious one, the first 24 products (frequencies
  // 0..7 and one product of the 8th), each with its least-squares decoder. It does NOT beat dropping naive
  // products on Gaussian tiles (0.825 against 0.791): docs/APPROXIMATION.md reports this.
  const Algorithm full = polynomial_algorithm({4, 4, 4});
  const double greedy = relative_tensor_error(truncate(full, 24));
  Algorithm first = full;
  first.enc_x = Matrix<double>(24, 16), first.enc_w = Matrix<double>(24, 16), first.dec = Matrix<double>(16, 24);
  for (std::size_t p = 0; p < 24; ++p) {
    for (std::size_t q = 0; q < 16; ++q) first.enc_x(p, q) = full.enc_x(p, q), first.enc_w(p, q) = full.enc_w(p, q);
  }
  const double lowest = relative_tensor_error(truncate(first, 24));  // full rank of `first`: only the decoder refit
  EXPECT_LT(greedy, 0.9);
  EXPECT_LT(greedy, lowest);
}

TEST(PolynomialAlgorithm, RejectsAnInvalidTile) { EXPECT_THROW(polynomial_algorithm({0, 2, 2}), std::invalid_argument); }

}  // namespace
}  // namespace strassentile
