// torch::save / torch::load of a model whose layers convert() made STL: the same conversion, then the checkpoint,
// gives the same outputs; a checkpoint of another rank is refused by STLLinear::load.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <string>

#include "strassentile/torch/convert.hpp"

namespace strassentile {
namespace {

struct MlpImpl : torch::nn::Module {
  MlpImpl() : fc1(register_module("fc1", ConvertibleLinear(16, 32))), fc2(register_module("fc2", ConvertibleLinear(32, 8))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc2->forward(torch::gelu(fc1->forward(x))); }
  ConvertibleLinear fc1, fc2;
};
TORCH_MODULE(Mlp);

ConvertOptions exact(const std::string& init, int64_t rank) {
  ConvertOptions o;
  o.tile = {4, 4, 4};
  o.rank = rank;
  o.init = init;
  return o;
}

TEST(STLCheckpoint, ConvertedModelRoundTripGivesIdenticalOutputs) {
  torch::manual_seed(7);
  Mlp model;
  convert(*model, exact("strassen2", 49));
  {
    torch::NoGradGuard no_grad;  // as after training: not the parameters a fresh conversion gives
    for (auto& p : model->parameters()) p.add_(0.01 * torch::randn_like(p));
  }
  std::stringstream buffer;
  torch::save(model, buffer);
  torch::manual_seed(8);
  Mlp fresh;
  convert(*fresh, exact("strassen2", 49));  // the same layer types and shapes, then the checkpoint's values
  torch::load(fresh, buffer);
  const torch::Tensor x = torch::randn({3, 8, 16});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(fresh->forward(x), model->forward(x)));
}

TEST(STLCheckpoint, CheckpointOfAnotherRankIsRefused) {
  torch::manual_seed(9);
  Mlp model;
  convert(*model, exact("strassen2", 49));
  std::stringstream buffer;
  torch::save(model, buffer);
  Mlp other;
  convert(*other, exact("random", 24));
  try {
    torch::load(other, buffer);
    ADD_FAILURE() << "loaded a rank-49 checkpoint into rank-24 layers";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("checkpoint has w_hat of shape [49"), std::string::npos)
        << e.what_without_backtrace();
  }
}

}  // namespace
}  // namespace strassentile
