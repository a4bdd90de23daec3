// STLLinear::dense_weight / to_linear: one-row tiles (mode token-local) go back to the torch::nn::Linear that computes
// the same function; tiles of several rows have no dense equivalent and say why.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "strassentile/torch/ops.hpp"
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

// ops::set_dense_equivalent("always") runs such a layer as its dense equivalent inside the op: the same outputs and
// parameter gradients as the STL pipeline (float64), and the previous setting comes back.
TEST(STLLinearToDense, TheOpRunsTheDenseEquivalentWhenAsked) {
  STLLinear layer = token_local(true);
  const torch::Tensor x = torch::randn({4, 6, 13}, torch::kDouble);
  std::vector<std::vector<torch::Tensor>> grads;
  std::vector<torch::Tensor> outputs;
  for (const char* policy : {"never", "always"}) {
    const std::string previous = ops::set_dense_equivalent(policy);
    layer->zero_grad();
    const torch::Tensor y = layer->forward(x);
    y.square().sum().backward();
    outputs.push_back(y.detach());
    grads.emplace_back();
    for (const auto& p : layer->parameters()) grads.back().push_back(p.grad().clone());
    EXPECT_EQ(ops::set_dense_equivalent(previous), policy);
  }
  EXPECT_TRUE(torch::allclose(outputs[0], outputs[1], 1e-12, 1e-12));
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (std::size_t i = 0; i < grads[0].size(); ++i)
    EXPECT_TRUE(torch::allclose(grads[0][i], grads[1][i], 1e-10, 1e-10)) << "parameter " << i;
  EXPECT_THROW(ops::set_dense_equivalent("dense"), c10::Error);
}

}  // namespace
}  // namespace strassentile
