#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "strassentile/algorithm.hpp"
#include "test_support.hpp"

namespace strassentile {
namespace {

using testing::random_matrix;

struct BuiltIn {
  const char* name;
  TileFormat tile;
  std::size_t rank;
};

void PrintTo(const BuiltIn& b, std::ostream* os) { *os << b.name; }

class BuiltInAlgorithm : public ::testing::TestWithParam<BuiltIn> {};

TEST_P(BuiltInAlgorithm, IsExactWithItsPublishedRank) {
  const BuiltIn& expected = GetParam();
  const Algorithm alg = get(expected.name);
  EXPECT_EQ(alg.name, expected.name);
  EXPECT_EQ(alg.tile, expected.tile);
  EXPECT_EQ(alg.rank(), expected.rank);
  EXPECT_FALSE(alg.source.empty());
  EXPECT_LE(alg.verify(), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Core, BuiltInAlgorithm,
                         ::testing::Values(BuiltIn{"strassen", {2, 2, 2}, 7}, BuiltIn{"winograd", {2, 2, 2}, 7},
                                           BuiltIn{"laderman", {3, 3, 3}, 23}, BuiltIn{"strassen2", {4, 4, 4}, 49},
                                           BuiltIn{"naive-2x2x2", {2, 2, 2}, 8},
                                           BuiltIn{"naive-1x4x4", {1, 4, 4}, 16},
                                           BuiltIn{"naive-2x3x5", {2, 3, 5}, 30}),
                         [](const auto& test_param) {
                           std::string n = test_param.param.name;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Algorithm, EveryAvailableBuiltInVerifies) {
  set_data_dir("");
  const auto names = available();
  EXPECT_EQ(names.size(), 10u);  // 4 named, 3 naive, 3 poly
  for (const auto& name : names) EXPECT_LE(get(name).verify(), 1e-12) << name;
}

TEST(Algorithm, WinogradDiffersFromStrassen) {
  EXPECT_FALSE(get("winograd").enc_x == get("strassen").enc_x);
}

TEST(Algorithm, VerifyDetectsEveryKindOfCorruption) {
  for (const char* part : {"enc_x", "enc_w", "dec"}) {
    Algorithm alg = get("laderman");
    Matrix<double>& m = std::string(part) == "enc_x" ? alg.enc_x : std::string(part) == "enc_w" ? alg.enc_w : alg.dec;
    m(1, 2) += 0.5;
    EXPECT_GE(alg.verify(), 0.25) << part;
  }
  // Dropping a product of an exact algorithm breaks it.
  Algorithm s = get("strassen");
  for (std::size_t q = 0; q < 4; ++q) s.dec(q, 6) = 0;
  EXPECT_GE(s.verify(), 1.0);
}

TEST(Algorithm, KronOfExactAlgorithmsIsExact) {
  const Algorithm s2 = kron(get("strassen"), get("strassen"));
  EXPECT_EQ(s2.tile, (TileFormat{4, 4, 4}));
  EXPECT_EQ(s2.rank(), 49u);
  EXPECT_LE(s2.verify(), 1e-12);
  EXPECT_TRUE(s2.enc_x == get("strassen2").enc_x);

  const Algorithm mixed = kron(get("winograd"), get("laderman"));  // <6,6,6>:161
  EXPECT_EQ(mixed.tile, (TileFormat{6, 6, 6}));
  EXPECT_EQ(mixed.rank(), 161u);
  EXPECT_LE(mixed.verify(), 1e-12);

  const Algorithm rect = kron(naive({1, 2, 3}), get("strassen"));  // rectangular outer factor
  EXPECT_EQ(rect.tile, (TileFormat{2, 4, 6}));
  EXPECT_EQ(rect.rank(), 42u);
  EXPECT_LE(rect.verify(), 1e-12);
  EXPECT_LE(kron(get("strassen"), naive({2, 1, 3})).verify(), 1e-12);
}

TEST(Algorithm, KronOfInexactIsInexact) {
  Algorithm s = get("strassen");
  s.enc_w(0, 0) = 0;
  EXPECT_GT(kron(s, get("strassen")).verify(), 0.5);
  EXPECT_GT(kron(get("strassen"), s).verify(), 0.5);
}

TEST(Algorithm, FlopRatio) {
  EXPECT_NEAR(get("strassen2").flop_ratio(), 64.0 / 49.0, 1e-15);
  EXPECT_NEAR(get("laderman").flop_ratio(), 27.0 / 23.0, 1e-15);
}

TEST(Algorithm, RandomEncodersAreNotExact) {
  std::mt19937_64 rng(7);
  const Algorithm alg = make_algorithm("random", "test", {2, 2, 2}, random_matrix<double>(7, 4, rng),
                                       random_matrix<double>(7, 4, rng), random_matrix<double>(4, 7, rng));
  EXPECT_GT(alg.verify(), 1e-3);
}

void expect_invalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Algorithm, ValidationNamesTheProblem) {
  const TileFormat t{2, 2, 2};
  expect_invalid([&] { make_algorithm("x", "", t, Matrix<double>(0, 4), Matrix<double>(0, 4), Matrix<double>(4, 0)); },
                 "rank must be >= 1");
  expect_invalid([&] { make_algorithm("x", "", t, Matrix<double>(7, 3), Matrix<double>(7, 4), Matrix<double>(4, 7)); },
                 "enc_x is 7x3");
  expect_invalid([&] { make_algorithm("x", "", t, Matrix<double>(7, 4), Matrix<double>(6, 4), Matrix<double>(4, 7)); },
                 "enc_w is 6x4");
  expect_invalid([&] { make_algorithm("x", "", t, Matrix<double>(7, 4), Matrix<double>(7, 4), Matrix<double>(4, 6)); },
                 "dec is 4x6");
  expect_invalid([&] { make_algorithm("x", "", {2, 0, 2}, Matrix<double>(7, 0), Matrix<double>(7, 0), Matrix<double>(4, 7)); },
                 "tile <2,0,2>");
  Matrix<double> nan_enc(7, 4);
  nan_enc(3, 3) = std::numeric_limits<double>::quiet_NaN();
  expect_invalid([&] { make_algorithm("x", "", t, nan_enc, Matrix<double>(7, 4), Matrix<double>(4, 7)); }, "finite");
}

TEST(Algorithm, UnknownNamesListWhatExists) {
  expect_invalid([] { get("strasen"); }, "unknown algorithm 'strasen'");
  expect_invalid([] { get("strasen"); }, "laderman");
  expect_invalid([] { get("naive-0x2x2"); }, "unknown algorithm");
  set_data_dir("");
  expect_invalid([] { get("alphatensor-4x4x4"); }, "STRASSENTILE_FMM_DIR");
}

TEST(Algorithm, TensorSymmetriesKeepExactnessAndRankInEveryOrder) {
  // A rectangular exact algorithm with distinct sizes, so that every order is a different tile.
  const Algorithm base = kron(naive({1, 2, 3}), get("strassen"));  // <2,4,6>:42
  const Algorithm shifted = cyclic_shift(base);
  EXPECT_EQ(shifted.tile, (TileFormat{4, 6, 2}));
  EXPECT_LE(shifted.verify(), 1e-12);
  EXPECT_EQ(cyclic_shift(cyclic_shift(shifted)).tile, base.tile);
  EXPECT_TRUE(cyclic_shift(cyclic_shift(shifted)).enc_x == base.enc_x);  // three shifts are the identity
  const Algorithm flipped = transpose(base);
  EXPECT_EQ(flipped.tile, (TileFormat{6, 4, 2}));
  EXPECT_LE(flipped.verify(), 1e-12);
  EXPECT_TRUE(transpose(flipped).dec == base.dec);
  for (const TileFormat target : {TileFormat{2, 4, 6}, TileFormat{2, 6, 4}, TileFormat{4, 2, 6}, TileFormat{4, 6, 2},
                                  TileFormat{6, 2, 4}, TileFormat{6, 4, 2}}) {
    const Algorithm reordered = reorder(base, target);
    EXPECT_EQ(reordered.tile, target);
    EXPECT_EQ(reordered.rank(), 42u);
    EXPECT_LE(reordered.verify(), 1e-12) << target.to_string();
  }
  expect_invalid([&] { reorder(base, TileFormat{2, 4, 4}); }, "no reordering of <2,4,4>");
  // An inexact algorithm stays inexact by the same amount.
  Algorithm broken = base;
  broken.enc_w(0, 0) += 1;
  EXPECT_NEAR(reorder(broken, TileFormat{6, 2, 4}).verify(), broken.verify(), 1e-12);
}

TEST(Algorithm, CatalogueNamesResolveThroughTheDataDirectory) {
  set_data_dir(testing::fmm_dir());
  const auto names = available();
  EXPECT_EQ(names.size(), 10u + 93u + 1u);
  const Algorithm dps = get("dps-4x4x4-48");
  EXPECT_EQ(dps.rank(), 48u);
  EXPECT_LE(dps.verify(), 1e-12);
  const Algorithm at = get("alphatensor-3x4x5");
  EXPECT_EQ(at.tile, (TileFormat{3, 4, 5}));
  EXPECT_LE(at.verify(), 1e-12);
  // Formats AlphaTensor lists in one order resolve in every other (not listed by available()).
  const Algorithm reordered = get("alphatensor-4x2x4");
  EXPECT_EQ(reordered.tile, (TileFormat{4, 2, 4}));
  EXPECT_EQ(reordered.rank(), 26u);
  EXPECT_EQ(reordered.name, "alphatensor-4x2x4");
  EXPECT_NE(reordered.source.find("from alphatensor-2x4x4"), std::string::npos) << reordered.source;
  EXPECT_LE(reordered.verify(), 1e-12);
  EXPECT_LE(get("alphatensor-5x3x4").verify(), 1e-12);
  expect_invalid([] { get("alphatensor-4x2x7"); }, "unknown algorithm 'alphatensor-4x2x7'");
  try {
    set_data_dir("/nonexistent-dir");
    ADD_FAILURE() << "a folder without the catalogues was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'' for the built-in algorithms only"), std::string::npos) << e.what();
  }
  EXPECT_EQ(data_dir(), testing::fmm_dir());              // unchanged by the refused call
  EXPECT_EQ(get("strassen").rank(), 7u);                   // built-ins never need the data
  EXPECT_GT(available().size(), 100u);
  set_data_dir("");
}

}  // namespace
}  // namespace strassentile
