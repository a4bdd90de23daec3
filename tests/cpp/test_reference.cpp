#include <gtest/gtest.h>

#include <functional>

#include "strassentile/algorithm.hpp"
#include "strassentile/loaders.hpp"
#include "strassentile/reference.hpp"
#include "test_support.hpp"

namespace strassentile {
namespace {

using testing::random_matrix;
using testing::relative_error;
using testing::relative_tolerance;

// Exact algorithms with every side <= 4: built-ins, AlphaTensor's small formats, the rational 48.
std::vector<Algorithm> small_exact_algorithms() {
  std::vector<Algorithm> algs;
  for (const char* name : {"strassen", "winograd", "laderman", "strassen2", "naive-1x4x4", "naive-3x1x2"})
    algs.push_back(get(name));
  for (Algorithm& alg : load_alphatensor_npz(testing::fmm_dir() + "/alphatensor/factorizations_r.npz"))
    if (alg.tile.a <= 4 && alg.tile.b <= 4 && alg.tile.c <= 4) algs.push_back(std::move(alg));
  algs.push_back(load_sms_algorithm(testing::fmm_dir() + "/dumas-pernet-sedoglavic/4x4x4_48_rational"));
  return algs;
}

// Y = STL(X, E_W(W)) through the public reference, in T.
template <class T>
Matrix<T> stl_of_dense(const Matrix<T>& x, const Matrix<T>& w, const Matrix<T>& enc_x, const Matrix<T>& enc_w,
                       const Matrix<T>& dec, TileFormat tile, std::size_t seq_len = 0) {
  const Tensor3<T> w_hat = encode_weight<T>(w, enc_w, tile);
  return stl_reference<T>(x, w_hat, enc_x, dec, tile, w.cols(), seq_len);
}

// An independent formulation: every output entry as one direct sum over products and inner tiles, with
// bounds checks standing in for padding. No intermediate tensors, no shared helpers.
Matrix<double> direct_summation(const Matrix<double>& x, const Matrix<double>& w, const Matrix<double>& ex,
                                const Matrix<double>& ew, const Matrix<double>& d, TileFormat t) {
  const std::size_t M = x.rows(), K = x.cols(), N = w.cols(), r = ex.rows();
  const auto X = [&](std::size_t i, std::size_t k) { return i < M && k < K ? x(i, k) : 0.0; };
  const auto W = [&](std::size_t k, std::size_t j) { return k < K && j < N ? w(k, j) : 0.0; };
  Matrix<double> y(M, N);
  for (std::size_t row = 0; row < M; ++row)
    for (std::size_t col = 0; col < N; ++col) {
      const std::size_t ti = row / t.a, u = row % t.a, tj = col / t.c, wv = col % t.c;
      double sum = 0;
      for (std::size_t p = 0; p < r; ++p) {
        double z = 0;
        for (std::size_t kk = 0; kk * t.b < K; ++kk) {
          double xh = 0, wh = 0;
          for (std::size_t q = 0; q < t.a * t.b; ++q) xh += ex(p, q) * X(ti * t.a + q / t.b, kk * t.b + q % t.b);
          for (std::size_t q = 0; q < t.b * t.c; ++q) wh += ew(p, q) * W(kk * t.b + q / t.c, tj * t.c + q % t.c);
          z += xh * wh;
        }
        sum += d(u * t.c + wv, p) * z;
      }
      y(row, col) = sum;
    }
  return y;
}

TEST(Reference, ExactAlgorithmsReproduceTheDenseProduct) {
  std::mt19937_64 rng(1234);
  std::size_t checked = 0;
  for (const Algorithm& alg : small_exact_algorithms()) {
    const TileFormat t = alg.tile;
    for (int trial = 0; trial < 3; ++trial) {
      // Divisible on the first trial, ragged after: padding must not leak into real outputs.
      const std::size_t M = t.a * 3 + (trial == 0 ? 0 : rng() % t.a + 1) - (trial == 0 ? 0 : 1);
      const std::size_t K = t.b * 2 + (trial == 0 ? 0 : rng() % (t.b + 2));
      const std::size_t N = t.c * 2 + (trial == 0 ? 0 : rng() % (t.c + 2));
      const auto x = random_matrix<double>(M, K, rng), w = random_matrix<double>(K, N, rng);
      const auto y = stl_of_dense<double>(x, w, alg.enc_x, alg.enc_w, alg.dec, t);
      const auto expected = dense_matmul<double>(x, w);
      EXPECT_LE(relative_error(y, expected), relative_tolerance<double>())
          << alg.name << " M,K,N=" << M << "," << K << "," << N;

      const auto xf = x.cast<float>(), wf = w.cast<float>();
      const auto yf = stl_of_dense<float>(xf, wf, alg.enc_x.cast<float>(), alg.enc_w.cast<float>(),
                                          alg.dec.cast<float>(), t);
      // float: coefficients up to |2| grow the error with the number of products; the table allows 2e-5.
      EXPECT_LE(relative_error(yf, expected), relative_tolerance<float>() * 10) << alg.name << " (float)";
      ++checked;
    }
  }
  // 6 built-ins, the 10 AlphaTensor formats with sides <= 4, the rational 48; three shapes each.
  EXPECT_EQ(checked, 3u * 17u);
}

TEST(Reference, RandomEncodersMatchDirectSummationForEveryFormatUpToFour) {
  std::mt19937_64 rng(99);
  for (std::size_t a = 1; a <= 4; ++a)
    for (std::size_t b = 1; b <= 4; ++b)
      for (std::size_t c = 1; c <= 4; ++c) {
        const TileFormat t{a, b, c};
        const std::size_t exact = t.naive_rank();
        for (std::size_t r : {std::size_t{1}, std::max<std::size_t>(1, exact / 2), exact + 3}) {
          const std::size_t M = a * 2 + rng() % (a + 1), K = b * 2 + rng() % (b + 1), N = c + rng() % (c + 2);
          const auto x = random_matrix<double>(M, K, rng), w = random_matrix<double>(K, N, rng);
          const auto ex = random_matrix<double>(r, a * b, rng), ew = random_matrix<double>(r, b * c, rng);
          const auto d = random_matrix<double>(a * c, r, rng);
          const auto y = stl_of_dense<double>(x, w, ex, ew, d, t);
          EXPECT_LE(relative_error(y, direct_summation(x, w, ex, ew, d, t)), 1e-12)
              << t.to_string() << " r=" << r << " M,K,N=" << M << "," << K << "," << N;
          const auto yf = stl_of_dense<float>(x.cast<float>(), w.cast<float>(), ex.cast<float>(), ew.cast<float>(),
                                              d.cast<float>(), t);
          EXPECT_LE(relative_error(yf, y), relative_tolerance<float>()) << t.to_string() << " r=" << r << " float";
        }
      }
}

TEST(Reference, ExplicitZeroPaddingGivesTheSameRealOutputs) {
  std::mt19937_64 rng(5);
  const TileFormat t{3, 4, 2};
  const std::size_t r = 10, M = 7, K = 9, N = 5;
  const auto x = random_matrix<double>(M, K, rng), w = random_matrix<double>(K, N, rng);
  const auto ex = random_matrix<double>(r, 12, rng), ew = random_matrix<double>(r, 8, rng);
  const auto d = random_matrix<double>(6, r, rng);
  Matrix<double> xp(9, 12), wp(12, 6);
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t k = 0; k < K; ++k) xp(i, k) = x(i, k);
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t j = 0; j < N; ++j) wp(k, j) = w(k, j);
  const auto y = stl_of_dense<double>(x, w, ex, ew, d, t);
  const auto yp = stl_of_dense<double>(xp, wp, ex, ew, d, t);
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) EXPECT_EQ(y(i, j), yp(i, j));
}

TEST(Reference, TilesNeverSpanTwoSequences) {
  std::mt19937_64 rng(11);
  const TileFormat t{4, 2, 2};
  const std::size_t r = 6, S = 6, B = 3, K = 4, N = 4;  // S not a multiple of a: each sequence is padded
  const auto x = random_matrix<double>(B * S, K, rng), w = random_matrix<double>(K, N, rng);
  const auto ex = random_matrix<double>(r, 8, rng), ew = random_matrix<double>(r, 4, rng);
  const auto d = random_matrix<double>(8, r, rng);
  const auto y = stl_of_dense<double>(x, w, ex, ew, d, t, S);
  // Each sequence alone gives the same rows.
  for (std::size_t s = 0; s < B; ++s) {
    Matrix<double> xs(S, K);
    for (std::size_t i = 0; i < S; ++i)
      for (std::size_t k = 0; k < K; ++k) xs(i, k) = x(s * S + i, k);
    const auto ys = stl_of_dense<double>(xs, w, ex, ew, d, t);
    for (std::size_t i = 0; i < S; ++i)
      for (std::size_t j = 0; j < N; ++j) EXPECT_DOUBLE_EQ(y(s * S + i, j), ys(i, j)) << s << "," << i << "," << j;
  }
  // Without grouping, rows 4..7 share a tile across the sequence boundary at row 6: outputs differ.
  const auto mixed = stl_of_dense<double>(x, w, ex, ew, d, t);
  EXPECT_GT(relative_error(mixed, y), 1e-3);
  // A learned (random) operator mixes rows inside a tile: perturbing row 0 changes row 1's output.
  Matrix<double> x2 = x;
  x2(0, 0) += 1.0;
  const auto y2 = stl_of_dense<double>(x2, w, ex, ew, d, t, S);
  EXPECT_NE(y2(1, 0), y(1, 0));
  EXPECT_EQ(y2(S, 0), y(S, 0));  // the next sequence is untouched
}

TEST(Reference, IntermediateShapes) {
  std::mt19937_64 rng(3);
  const TileFormat t{2, 3, 4};
  const auto x = random_matrix<double>(5, 7, rng), w = random_matrix<double>(7, 9, rng);
  const auto ex = random_matrix<double>(5, 6, rng), ew = random_matrix<double>(5, 12, rng);
  const Tensor3<double> w_hat = encode_weight<double>(w, ew, t);
  EXPECT_EQ(w_hat.dim0(), 5u);
  EXPECT_EQ(w_hat.dim1(), 3u);  // ⌈7/3⌉
  EXPECT_EQ(w_hat.dim2(), 3u);  // ⌈9/4⌉
  const Tensor3<double> x_hat = encode_activation<double>(x, ex, t);
  EXPECT_EQ(x_hat.dim1(), 3u);  // ⌈5/2⌉
  EXPECT_EQ(encode_activation<double>(random_matrix<double>(10, 7, rng), ex, t, 5).dim1(), 6u);  // 2 seqs × ⌈5/2⌉
  const Tensor3<double> z = batched_products(x_hat, w_hat);
  EXPECT_EQ(z.dim1(), 3u);
  EXPECT_EQ(z.dim2(), 3u);
}

void expect_invalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Reference, BadInputNamesTheArgument) {
  std::mt19937_64 rng(8);
  const TileFormat t{2, 2, 2};
  const auto x = random_matrix<double>(4, 6, rng), w = random_matrix<double>(6, 4, rng);
  const Algorithm s = get("strassen");
  const auto w_hat = encode_weight<double>(w, s.enc_w, t);
  expect_invalid([&] { encode_weight<double>(w, Matrix<double>(7, 3), t); }, "enc_w is 7x3");
  expect_invalid([&] { encode_weight<double>(w, Matrix<double>(0, 4), t); }, "rank must be >= 1");
  expect_invalid([&] { stl_reference<double>(x, w_hat, Matrix<double>(7, 3), s.dec, t); }, "enc_x is 7x3");
  expect_invalid([&] { stl_reference<double>(x, w_hat, Matrix<double>(6, 4), s.dec, t); }, "ranks must match");
  expect_invalid([&] { stl_reference<double>(x, w_hat, s.enc_x, Matrix<double>(4, 6), t); }, "dec is 4x6");
  expect_invalid([&] { stl_reference<double>(random_matrix<double>(4, 9, rng), w_hat, s.enc_x, s.dec, t); },
                 "x has 9 columns");
  expect_invalid([&] { stl_reference<double>(x, w_hat, s.enc_x, s.dec, {2, 0, 2}); }, "tile <2,0,2>");
  expect_invalid([&] { stl_reference<double>(x, w_hat, s.enc_x, s.dec, t, 4, 3); }, "seq_len 3 must divide");
  expect_invalid([&] { stl_reference<double>(x, w_hat, s.enc_x, s.dec, t, 9); }, "out_features 9");
  expect_invalid([&] { dense_matmul<double>(x, x); }, "x.cols must equal w.rows");
}

TEST(Reference, NonFiniteValuesPropagate) {
  const Algorithm s = get("strassen");
  Matrix<double> x(2, 2, {1, 2, 3, 4});
  x(0, 0) = std::numeric_limits<double>::infinity();
  const auto y = stl_of_dense<double>(x, Matrix<double>(2, 2, {1, 0, 0, 1}), s.enc_x, s.enc_w, s.dec, s.tile);
  bool any_nonfinite = false;
  for (std::size_t i = 0; i < y.size(); ++i) any_nonfinite = any_nonfinite || !std::isfinite(y.data()[i]);
  EXPECT_TRUE(any_nonfinite);
}

}  // namespace
}  // namespace strassentile
