// STLLinear::dense_weight / to_linear: one-row tiles (mode token-local) go back to the torch::nn::Linear that computes
// the same function; tiles of several rows have no dense equivalent and say why.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {
namespace {

STLLinear token_local(bool bias) {
  torch::manual_seed(0);
  STLLinear layer(STLLinearOptions(13, 7).tile({1, 4, 4}).rank(12).mode("token-local").bias(bias));
  layer->to(torch::kDouble);
  return layer;
}

TEST(STLLinearToDense, DenseWeightReproducesTheLayer) {
  for (const bool bias : {true, false}) {
    STLLinear layer = token_local(bias);
    const torch::Tensor x = torch::randn({5, 9, 13}, torch::kDouble);
    const torch::Tensor w = layer->dense_weight();
    ASSERT_EQ(w.sizes(), (std::vector<int64_t>{7, 13}));
    const torch::Tensor dense = torch::nn::functional::linear(x, w, bias ? layer->bias : torch::Tensor());
    EXPECT_TRUE(torch::allclose(dense, layer->forward(x), 1e-12, 1e-12)) << "bias " << bias;
  }
}

TEST(STLLinearToDense, ToLinearKeepsBiasDtypeAndTrainability) {
  STLLinear layer = token_local(true);
  layer->w_hat.set_requires_grad(false);
  torch::nn::Linear linear = layer->to_linear();
  EXPECT_EQ(linear->weight.scalar_type(), torch::kDouble);
  EXPECT_FALSE(linear->weight.requires_grad());
  EXPECT_TRUE(linear->bias.requires_grad());
  const torch::Tensor x = torch::randn({6, 13}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(linear->forward(x), layer->forward(x), 1e-12, 1e-12));
}

TEST(STLLinearToDense, TilesOfSeveralRowsHaveNoDenseWeight) {
  STLLinear layer(STLLinearOptions(16, 16).tile({4, 4, 4}).rank(24));
  try {
    (void)layer->dense_weight();
    FAIL() << "a tile of 4 rows gave a dense weight";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("a = 4 rows"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strassentile
