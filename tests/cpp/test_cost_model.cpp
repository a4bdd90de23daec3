#include <gtest/gtest.h>

#include "strassentile/cost_model.hpp"

namespace strassentile {
namespace {

TEST(CostModel, FourByFourRankTwentyFour) {
  const StlCost c = stl_cost({16384, 4096, 4096}, {4, 4, 4}, 24);
  EXPECT_DOUBLE_EQ(c.dense_flops, 2.0 * 16384 * 4096 * 4096);
  EXPECT_NEAR(c.gemm_ratio(), 64.0 / 24.0, 1e-12);
  EXPECT_DOUBLE_EQ(c.encode_flops, 2.0 * 24 * 16384 * 4096);
  EXPECT_DOUBLE_EQ(c.decode_flops, 2.0 * 24 * 16384 * 4096);
  EXPECT_LT(c.total_ratio(), c.gemm_ratio());
  EXPECT_GT(c.total_ratio(), 2.5);
  EXPECT_NEAR(c.param_ratio(), 1.5, 1e-4);  // r/(bc) plus the tiny encoders
  EXPECT_DOUBLE_EQ(c.encode_bytes, 2.0 * (16384.0 * 4096 + 24.0 * 4096 * 1024));
}

TEST(CostModel, PaddingCountsWholeTiles) {
  const StlCost c = stl_cost({5, 5, 5}, {4, 4, 4}, 49);
  EXPECT_DOUBLE_EQ(c.gemm_flops, 2.0 * 49 * 2 * 2 * 2);
  EXPECT_DOUBLE_EQ(c.stl_params, 49.0 * 4 + 49 * 16 + 16 * 49);
}

TEST(CostModel, RejectsZeros) {
  EXPECT_THROW(stl_cost({0, 4, 4}, {4, 4, 4}, 24), std::invalid_argument);
  EXPECT_THROW(stl_cost({4, 4, 4}, {4, 0, 4}, 24), std::invalid_argument);
  EXPECT_THROW(stl_cost({4, 4, 4}, {4, 4, 4}, 0), std::invalid_argument);
}

}  // namespace
}  // namespace strassentile
