// Inputs that ask for unbounded work or memory are refused before any of it is spent: tile sides, algorithm
// sizes, the tensor and multiply-adds of `verify`, and what `read_file` will read.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "npz_writer.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/loaders.hpp"
#include "strassentile/tile_format.hpp"

namespace strassentile {
namespace {

TEST(ResourceLimits, TileSidesAreBoundedSoProductsCannotWrap) {
  // 2^32 · 2^32 wraps to 0 in 64 bits; the side limit refuses it before any product is formed.
  const std::size_t huge = std::size_t{1} << 32;
  try {
    validate(TileFormat{huge, huge, 1});
    FAIL() << "a tile side of 2^32 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("<4294967296,4294967296,1>"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("<= 4096"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(validate(TileFormat{kMaxTileSide, 1, 1}));
  EXPECT_THROW(parse_tile_format("5000"), std::invalid_argument);
}

TEST(ResourceLimits, NaiveAndPolynomialRefuseHugeAlgorithmsBeforeAllocating) {
  // naive-100x100x100 would hold 10^6 x 3·10^4 doubles (240 GB): refused by name with the limit, not bad_alloc.
  try {
    (void)get("naive-100x100x100");
    FAIL() << "naive-100x100x100 was built";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("naive-100x100x100"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2^24"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)get("poly-100x100x100"), std::invalid_argument);
  EXPECT_NO_THROW((void)get("naive-8x8x8"));
}

TEST(ResourceLimits, VerifyRefusesWorkBeyondItsBudgetQuickly) {
  // <16,16,16> with 2000 dense products: (256·256·256)·2000 ≈ 3.4·10^10 multiply-adds.
  const TileFormat tile{16, 16, 16};
  const std::size_t r = 2000;
  Matrix<double> enc_x(r, tile.x_size()), enc_w(r, tile.w_size()), dec(tile.y_size(), r);
  for (std::size_t i = 0; i < enc_x.size(); ++i) enc_x.data()[i] = 1.0;
  for (std::size_t i = 0; i < enc_w.size(); ++i) enc_w.data()[i] = 1.0;
  for (std::size_t i = 0; i < dec.size(); ++i) dec.data()[i] = 1.0;
  const Algorithm alg = make_algorithm("dense-16", "test", tile, enc_x, enc_w, dec);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW((void)alg.verify(), std::length_error);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(ResourceLimits, VerifyRefusesWorkOfSecondsNotOnlyOfMinutes) {
  // <16,16,16> with 256 dense products: exactly 2^32 multiply-adds, 9 s of CPU when it was accepted.
  const TileFormat tile{16, 16, 16};
  const std::size_t r = 256;
  Matrix<double> enc_x(r, tile.x_size()), enc_w(r, tile.w_size()), dec(tile.y_size(), r);
  for (auto* m : {&enc_x, &enc_w, &dec})
    for (std::size_t i = 0; i < m->size(); ++i) m->data()[i] = 1.0;
  const Algorithm alg = make_algorithm("dense-16-r256", "test", tile, enc_x, enc_w, dec);
  try {
    (void)alg.verify();
    FAIL() << "2^32 multiply-adds were accepted";
  } catch (const std::length_error& e) {
    EXPECT_NE(std::string(e.what()).find("2^26 multiply-adds"), std::string::npos) << e.what();
  }
}

TEST(ResourceLimits, VerifyRefusesTensorsBeyondItsMemoryBudget) {
  // <64,64,64> rank 1: the matmul tensor alone has 4096^3 entries (550 GB of doubles).
  const TileFormat tile{64, 64, 64};
  Matrix<double> enc_x(1, tile.x_size()), enc_w(1, tile.w_size()), dec(tile.y_size(), 1);
  const Algorithm alg = make_algorithm("big", "test", tile, enc_x, enc_w, dec);
  EXPECT_THROW((void)alg.verify(), std::length_error);
}

TEST(ResourceLimits, ExactAlgorithmsStillVerify) {
  EXPECT_EQ(get("strassen2").verify(), 0.0);
  EXPECT_LT(get("laderman").verify(), 1e-12);
  EXPECT_EQ(naive(TileFormat{16, 16, 16}).verify(), 0.0);  // 2^24 tensor entries: at the limit, accepted
}

TEST(ResourceLimits, ReadFileRefusesDevicesAndDirectories) {
  EXPECT_THROW((void)read_file("/dev/zero"), FormatError);
  EXPECT_THROW((void)read_file("/"), FormatError);
  EXPECT_THROW((void)load_alphatensor_npz("/dev/zero"), FormatError);
  try {
    (void)read_file("/no/such/file.npz");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/file.npz"), std::string::npos);
  }
}

TEST(ResourceLimits, AnNpzAskingForHoursOfVerificationIsRefusedFast) {
  // A tiny compressed archive: entry "16,16,16" holding (3, 256, 2000) ones.
  const std::size_t r = 2000;
  std::vector<std::int64_t> ones(3 * 256 * r, 1);
  const std::string npz =
      testing::make_zip({{"16,16,16.npy", testing::npy_int64({3, 256, r}, ones)}}, /*compress=*/true);
  const std::vector<Algorithm> algs =
      parse_alphatensor_npz({reinterpret_cast<const std::uint8_t*>(npz.data()), npz.size()}, "hostile.npz");
  ASSERT_EQ(algs.size(), 1u);
  EXPECT_THROW((void)algs[0].verify(), std::length_error);
}

TEST(ResourceLimits, SmsFileThatIsNotATripletNamesTheFix) {
  try {
    (void)load_sms_algorithm("/tmp/bin.sms");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("STEM_L.sms"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strassentile
