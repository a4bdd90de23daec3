// Data-aware approximation: tile moments, the expected-error formula, and fit/truncate on anisotropic data.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <fstream>

#include "npz_writer.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/loaders.hpp"
#include "strassentile/reference.hpp"

namespace strassentile {
namespace {

// A random lower-triangular mixing with a spread of scales: tiles x = L·z are strongly anisotropic.
Matrix<double> mixing(std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Matrix<double> l(n, n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < i; ++j) l(i, j) = 0.3 * normal(rng);
    l(i, i) = std::pow(0.75, static_cast<double>(i));
  }
  return l;
}

Matrix<double> moment_of(const Matrix<double>& l) {  // L·Lᵀ
  const std::size_t n = l.rows();
  Matrix<double> m(n, n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < n; ++k) m(i, j) += l(i, k) * l(j, k);
  return m;
}

std::vector<double> sample(const Matrix<double>& l, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> z(l.rows()), x(l.rows());
  for (double& v : z) v = normal(rng);
  for (std::size_t i = 0; i < l.rows(); ++i)
    for (std::size_t k = 0; k <= i; ++k) x[i] += l(i, k) * z[k];
  return x;
}

struct Anisotropic {
  TileMoments moments;
  Matrix<double> lx, lw;
};

Anisotropic anisotropic(TileFormat tile, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Anisotropic d{{}, mixing(tile.x_size(), rng), mixing(tile.w_size(), rng)};
  d.moments = TileMoments{tile, moment_of(d.lx), moment_of(d.lw), 1, 1};
  return d;
}

TEST(TileMoments, AveragesWholeTilesInTheEncoderOrder) {
  // 4×4 activations with seq_len 2, <2,2,1> tiles: 2 sequences × 1 row tile × 2 column tiles = 4 x-tiles.
  Matrix<double> x(4, 4), w(4, 3);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<double>(i % 5) - 2;
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = static_cast<double>(i % 3) + 0.5;
  const TileFormat tile{2, 2, 1};
  const TileMoments m = tile_moments(tile, x, w, 2);
  EXPECT_EQ(m.x_tiles, 4u);
  EXPECT_EQ(m.w_tiles, 2u * 3u);
  double expect = 0;  // E[x00·x11] over the 4 tiles: entries (r0, c0)·(r0+1, c0+1)
  for (std::size_t r0 : {0u, 2u})
    for (std::size_t c0 : {0u, 2u}) expect += x(r0, c0) * x(r0 + 1, c0 + 1) / 4;
  EXPECT_DOUBLE_EQ(m.x(0, 3), expect);
  EXPECT_DOUBLE_EQ(m.x(3, 0), expect);
  double w_expect = 0;  // E[w0·w1] of 2×1 tiles: rows (2t, 2t+1) of each column
  for (std::size_t r0 : {0u, 2u})
    for (std::size_t c = 0; c < 3; ++c) w_expect += w(r0, c) * w(r0 + 1, c) / 6;
  EXPECT_DOUBLE_EQ(m.w(0, 1), w_expect);
}

TEST(TileMoments, RejectsMismatchedOrTooSmallInputs) {
  Matrix<double> x(4, 4), w(3, 3);
  EXPECT_THROW(tile_moments({2, 2, 2}, x, w), std::invalid_argument);  // K differs
  Matrix<double> w4(4, 1);
  EXPECT_THROW(tile_moments({2, 2, 2}, x, w4), std::invalid_argument);  // no whole 2×2 weight tile
  Matrix<double> w44(4, 4);
  EXPECT_THROW(tile_moments({2, 2, 2}, x, w44, 3), std::invalid_argument);  // seq_len does not divide rows
}

TEST(DataAwareError, GaussianMomentsGiveTheTensorError) {
  const Algorithm alg = truncate(get("strassen2"), 30);
  EXPECT_NEAR(relative_tensor_error(alg, gaussian_moments({4, 4, 4})), relative_tensor_error(alg), 1e-12);
  // Scaling the moments changes nothing: the error is relative.
  TileMoments m = gaussian_moments({4, 4, 4});
  for (std::size_t i = 0; i < m.x.size(); ++i) m.x.data()[i] *= 7.5;
  EXPECT_NEAR(relative_tensor_error(alg, m), relative_tensor_error(alg), 1e-12);
}

TEST(DataAwareError, ExactAlgorithmsAreExactOnAnyData) {
  const Anisotropic d = anisotropic({2, 2, 2}, 3);
  EXPECT_LE(relative_tensor_error(get("strassen"), d.moments), 1e-12);
}

TEST(DataAwareError, MatchesMonteCarloOnSampledTiles) {
  // The closed form √(E‖XW − Ĉ‖² / E‖XW‖²) against an average over sampled tile pairs, through the reference.
  const TileFormat tile{2, 2, 2};
  const Anisotropic d = anisotropic(tile, 11);
  // Keeping half the naive products: which entries are dropped, and so the error, depends on the data.
  const Algorithm alg = truncate(naive(tile), 4);
  std::mt19937_64 rng(5);
  double err2 = 0, ref2 = 0;
  for (int s = 0; s < 20000; ++s) {
    const std::vector<double> xs = sample(d.lx, rng), ws = sample(d.lw, rng);
    const Matrix<double> x(2, 2, xs), w(2, 2, ws);
    const Matrix<double> y =
        stl_reference<double>(x, encode_weight<double>(w, alg.enc_w, tile), alg.enc_x, alg.dec, tile);
    const Matrix<double> exact = dense_matmul<double>(x, w);
    for (std::size_t i = 0; i < y.size(); ++i) {
      err2 += (y.data()[i] - exact.data()[i]) * (y.data()[i] - exact.data()[i]);
      ref2 += exact.data()[i] * exact.data()[i];
    }
  }
  const double mc = std::sqrt(err2 / ref2), closed = relative_tensor_error(alg, d.moments);
  EXPECT_NEAR(mc, closed, 0.03 * closed) << "Monte Carlo " << mc << " vs closed form " << closed;
  EXPECT_GT(std::abs(closed - relative_tensor_error(alg)), 0.02) << "the data must matter in this test";
}

TEST(DataAwareFit, BeatsTheDataFreeFitOnAnisotropicTiles) {
  const TileFormat tile{3, 3, 3};
  const Anisotropic d = anisotropic(tile, 7);
  FitOptions o;
  o.restarts = 2;
  o.iterations = 400;
  o.polish_iterations = 200;
  const FitResult blind = fit(tile, 12, o), aware = fit_to_data(d.moments, 12, o);
  const double blind_err = relative_tensor_error(blind.algorithm, d.moments);
  EXPECT_NEAR(aware.relative_error, relative_tensor_error(aware.algorithm, d.moments), 1e-12);
  EXPECT_LT(aware.relative_error, 0.9 * blind_err) << "data-aware " << aware.relative_error << " vs data-free " << blind_err;
  EXPECT_EQ(aware.algorithm.tile, tile);
}

TEST(DataAwareFit, RediscoversAnExactAlgorithmAtFullRank) {
  const Anisotropic d = anisotropic({2, 2, 2}, 1);
  const FitResult r = fit_to_data(d.moments, 7);
  EXPECT_LE(r.relative_error, 1e-8);
  EXPECT_LE(r.algorithm.verify(), 1e-7);
}

TEST(DataAwareTruncate, BeatsDataFreeTruncationOnAnisotropicTiles) {
  const Anisotropic d = anisotropic({4, 4, 4}, 2);
  const Algorithm alg = get("strassen2");
  const double blind = relative_tensor_error(truncate(alg, 24), d.moments);
  const double aware = relative_tensor_error(truncate(alg, 24, d.moments), d.moments);
  EXPECT_LT(aware, blind);
  EXPECT_LE(relative_tensor_error(truncate(alg, 49, d.moments), d.moments), 1e-10);  // nothing dropped: exact
}

TEST(DataAware, RejectsMomentsOfAnotherTileOrNotPsd) {
  const TileMoments m = gaussian_moments({2, 2, 2});
  EXPECT_THROW(relative_tensor_error(get("laderman"), m), std::invalid_argument);
  EXPECT_THROW(truncate(get("laderman"), 20, m), std::invalid_argument);
  TileMoments bad = m;
  bad.x(0, 0) = -5;
  EXPECT_THROW(fit_to_data(bad, 5), std::invalid_argument);
  bad = m;
  bad.x(0, 1) = 0.5;  // not symmetric
  EXPECT_THROW(relative_tensor_error(get("strassen"), bad), std::invalid_argument);
}

TEST(LoadNpyMatrix, ReadsTwoDimensionalArraysAndRejectsOthers) {
  const std::string dir = ::testing::TempDir();
  const auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + name, std::ios::binary) << bytes;
    return dir + name;
  };
  const Matrix<double> m = load_npy_matrix(write("m.npy", testing::npy_int64({2, 3}, {1, 2, 3, 4, 5, 6})));
  EXPECT_EQ(m, Matrix<double>(2, 3, {1, 2, 3, 4, 5, 6}));
  const Matrix<double> f = load_npy_matrix(write("f.npy", testing::npy_int64({2, 3}, {1, 2, 3, 4, 5, 6}, true)));
  EXPECT_EQ(f, Matrix<double>(2, 3, {1, 3, 5, 2, 4, 6}));  // Fortran order read back in C order
  try {
    load_npy_matrix(write("v.npy", testing::npy_int64({6}, {1, 2, 3, 4, 5, 6})));
    ADD_FAILURE() << "accepted a 1-D array";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("expected a 2-D numeric array, got 1-D"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_npy_matrix(dir + "no-such-file.npy"), FormatError);
}

}  // namespace
}  // namespace strassentile
