#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "strassentile/loaders.hpp"
#include "test_support.hpp"

namespace strassentile {
namespace {

void expect_format_error(const std::string& text, const std::string& needle) {
  try {
    parse_sms(text, "t.sms");
    ADD_FAILURE() << "accepted; expected an error mentioning '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.sms:"), std::string::npos) << e.what();
  }
}

TEST(SmsLoader, ParsesIntegersRationalsAndDecimals) {
  const Matrix<double> m = parse_sms("# comment\n2 3 R\n1 1 -1/2\n1 3 3\n2 2 0.25\n2 3 1e-1\r\n0 0 0\n");
  ASSERT_EQ(m.rows(), 2u);
  ASSERT_EQ(m.cols(), 3u);
  EXPECT_EQ(m(0, 0), -0.5);
  EXPECT_EQ(m(0, 1), 0.0);
  EXPECT_EQ(m(0, 2), 3.0);
  EXPECT_EQ(m(1, 1), 0.25);
  EXPECT_DOUBLE_EQ(m(1, 2), 0.1);
}

TEST(SmsLoader, MalformedInputNamesLineAndProblem) {
  expect_format_error("", "no 'rows cols field' header");
  expect_format_error("2 2 R\n1 1 1\n", "missing '0 0 0' terminator");
  expect_format_error("2 2 R\n1 1 1\n0 0 0\n1 2 1\n", "data after the '0 0 0' terminator");
  expect_format_error("2 2 R\n3 1 1\n0 0 0\n", "outside the 2x2 matrix");
  expect_format_error("2 2 R\n0 1 1\n0 0 0\n", "outside the 2x2 matrix");
  expect_format_error("2 2 R\n1 1 1\n1 1 2\n0 0 0\n", "given twice");
  expect_format_error("2 2 R\n1 1 1/0\n0 0 0\n", "not a finite number");
  expect_format_error("2 2 R\n1 1 x\n0 0 0\n", "'x' is not a finite number");
  expect_format_error("2 2 R\n1 1 1/2/3\n0 0 0\n", "not a finite number");
  expect_format_error("2 2 R\n1 1 nan\n0 0 0\n", "not a finite number");
  expect_format_error("2 2 R\n1 1\n0 0 0\n", "t.sms:2: expected three fields");
  expect_format_error("2 2 R\n1 1 1 1\n0 0 0\n", "expected three fields");
  expect_format_error("0 2 R\n0 0 0\n", "positive sizes");
  expect_format_error("-1 2 R\n0 0 0\n", "positive sizes");
  expect_format_error("99999999 99999999 R\n0 0 0\n", "too large");
  expect_format_error("70000 70000 R\n0 0 0\n", "too large");
  expect_format_error("2 2 R\n0 0 1\n", "terminator must be '0 0 0'");
}

TEST(SmsLoader, RationalFourByFourFortyEightIsExactFromAnyOfItsNames) {
  const std::string stem = testing::fmm_dir() + "/dumas-pernet-sedoglavic/4x4x4_48_rational";
  for (const std::string& path : {stem, stem + "_L.sms", stem + "_R.sms", stem + "_P.sms"}) {
    const Algorithm alg = load_sms_algorithm(path);
    EXPECT_EQ(alg.tile, (TileFormat{4, 4, 4}));
    EXPECT_EQ(alg.rank(), 48u);
    EXPECT_EQ(alg.name, "4x4x4_48_rational");
    EXPECT_LE(alg.verify(), 1e-12);
  }
  // It really is rational: some coefficients are not integers.
  const Algorithm alg = load_sms_algorithm(stem);
  bool fractional = false;
  for (std::size_t i = 0; i < alg.dec.size(); ++i)
    fractional = fractional || alg.dec.data()[i] != std::round(alg.dec.data()[i]);
  EXPECT_TRUE(fractional);
}

TEST(SmsLoader, TripletWithInconsistentShapesIsRejected) {
  const std::string stem = "/tmp/strassentile_sms_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed());
  const auto write = [](const std::string& path, const std::string& text) { std::ofstream(path) << text; };
  write(stem + "_L.sms", "1 4 R\n1 1 1\n0 0 0\n");
  write(stem + "_R.sms", "1 5 R\n1 1 1\n0 0 0\n");
  write(stem + "_P.sms", "4 1 R\n1 1 1\n0 0 0\n");
  try {
    load_sms_algorithm(stem);
    ADD_FAILURE() << "accepted inconsistent widths";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not ab, bc, ac of any tile format"), std::string::npos) << e.what();
  }
  write(stem + "_R.sms", "2 4 R\n1 1 1\n0 0 0\n");  // 2 products in R, 1 in L
  try {
    load_sms_algorithm(stem);
    ADD_FAILURE() << "accepted mismatched ranks";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("enc_w is 2x4"), std::string::npos) << e.what();
  }
  std::remove((stem + "_R.sms").c_str());
  try {
    load_sms_algorithm(stem + "_L.sms");
    ADD_FAILURE() << "accepted a missing _R file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(stem + "_R.sms: cannot open"), std::string::npos) << e.what();
  }
  std::remove((stem + "_L.sms").c_str());
  std::remove((stem + "_P.sms").c_str());
}

}  // namespace
}  // namespace strassentile
