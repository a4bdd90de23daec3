// convert() with calibration inputs (ConvertOptions::calibration) and stl_from_linear_data_aware, in C++.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "strassentile/torch/convert.hpp"

namespace strassentile {
namespace {

double relative_error(const torch::Tensor& y, const torch::Tensor& target) {
  return ((y - target).norm() / target.norm()).item<double>();
}

// Inputs with structure (a few directions, unequal feature scales, a mean), so that a data-aware basis has
// something to exploit that a Gaussian-fitted one does not know about.
torch::Tensor structured_inputs(int64_t sequences, int64_t seq_len, int64_t features) {
  const torch::Tensor directions = torch::randn({3, features});
  const torch::Tensor scale = torch::linspace(0.2, 2.0, features);
  return torch::matmul(torch::randn({sequences, seq_len, 3}), directions) * scale + 0.5 +
         0.05 * torch::randn({sequences, seq_len, features});
}

// Mixed containers and sizes: Sequential, ModuleList, an odd 12→9 layer, a layer smaller than one tile, and
// libtorch's own attention (its projections are plain tensors and an nn::Linear: reported, not converted).
struct MixedNetImpl : torch::nn::Module {
  MixedNetImpl()
      : stem(register_module("stem", torch::nn::Sequential(ConvertibleLinear(16, 12), torch::nn::ReLU()))),
        blocks(register_module("blocks", torch::nn::ModuleList(ConvertibleLinear(12, 12), ConvertibleLinear(12, 9)))),
        tiny(register_module("tiny", ConvertibleLinear(9, 1))),
        attn(register_module("attn", torch::nn::MultiheadAttention(12, 2))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = stem->forward(x);
    for (const auto& block : *blocks) h = block->as<ConvertibleLinearImpl>()->forward(h);
    return tiny(h);
  }
  torch::nn::Sequential stem;
  torch::nn::ModuleList blocks;
  ConvertibleLinear tiny;
  torch::nn::MultiheadAttention attn;
};
TORCH_MODULE(MixedNet);

ConvertOptions small_options() {
  ConvertOptions o;
  o.tile = {2, 2, 2};
  o.rank = 5;
  o.init = "truncate:strassen";  // <2,2,2>:7 cut to 5 products: approximate, and fast to build
  o.calibrate.steps = 60;
  return o;
}

TEST(ConvertCalibration, CalibratedLayersReportTheirErrorsAndBeatDataFreeOnes) {
  torch::manual_seed(11);
  MixedNet net;
  torch::manual_seed(11);
  MixedNet baseline;  // the same weights, converted without calibration (data-free basis)
  const torch::Tensor x = structured_inputs(8, 6, 16);
  torch::Tensor block0_in, dense_stem0, dense_block0;
  {
    torch::NoGradGuard no_grad;
    dense_stem0 = net->stem[0]->as<ConvertibleLinearImpl>()->forward(x);
    block0_in = torch::relu(dense_stem0);  // what blocks.0 sees in the dense model
    dense_block0 = (*net->blocks)[0]->as<ConvertibleLinearImpl>()->forward(block0_in);
  }
  ConvertOptions o = small_options();
  convert(*baseline, o);
  o.calibration = {{"stem.0", x}, {"blocks.0", block0_in}};
  const ConvertSummary s = convert(*net, o);

  EXPECT_EQ(s.converted, std::vector<std::string>({"stem.0", "blocks.0", "blocks.1"}));
  ASSERT_EQ(s.skipped.size(), 2u);
  EXPECT_EQ(s.skipped[0].first, "tiny");
  EXPECT_NE(s.skipped[0].second.find("smaller than one tile"), std::string::npos);
  EXPECT_EQ(s.skipped[1].first, "attn.out_proj");
  EXPECT_DOUBLE_EQ(s.dense_params, 16.0 * 12 + 12 * 12 + 12 * 9);  // the converted layers', biases excluded
  ASSERT_EQ(s.calibration_error.size(), 2u);
  EXPECT_NE(s.to_string().find("calibrated blocks.0: relative error"), std::string::npos) << s.to_string();

  torch::NoGradGuard no_grad;
  const auto check = [&](const std::string& name, torch::nn::Module& calibrated, torch::nn::Module& data_free,
                         const torch::Tensor& input, const torch::Tensor& dense) {
    const CalibrationReport& e = s.calibration_error.at(name);
    auto* layer = calibrated.as<ConvertibleLinearImpl>();
    auto* free = data_free.as<ConvertibleLinearImpl>();
    ASSERT_TRUE(layer->is_stl() && free->is_stl()) << name;
    // The report describes the installed layer.
    EXPECT_NEAR(relative_error(layer->forward(input), dense), e.error_after, 1e-4) << name;
    EXPECT_LT(e.error_after, e.error_before) << name;
    // Before any fitting of w_hat, the data-aware basis already beats the data-free one on these inputs.
    EXPECT_LT(e.error_before, relative_error(free->forward(input), dense)) << name;
  };
  check("stem.0", *net->stem[0], *baseline->stem[0], x, dense_stem0);
  check("blocks.0", *(*net->blocks)[0], *(*baseline->blocks)[0], block0_in, dense_block0);
}

TEST(ConvertCalibration, ExactConversionOfTheMixedModelKeepsItsOutputsAndTheSummaryAddsUp) {
  torch::manual_seed(12);
  MixedNet net;
  const torch::Tensor x = torch::randn({3, 6, 16});
  torch::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = net->forward(x);
  }
  ConvertOptions o;
  o.tile = {2, 2, 2};
  o.rank = 7;
  o.init = "strassen";
  const ConvertSummary s = convert(*net, o);
  EXPECT_EQ(s.converted, std::vector<std::string>({"stem.0", "blocks.0", "blocks.1"}));
  torch::NoGradGuard no_grad;
  EXPECT_LT(((net->forward(x) - before).abs().max() / before.abs().max()).item<double>(), 1e-5);
  double stl_params = 0;
  for (const auto& name : s.converted)
    for (const auto& item : net->named_modules())
      if (item.key() == name) stl_params += item.value()->as<ConvertibleLinearImpl>()->stl->cost(1).stl_params;
  EXPECT_DOUBLE_EQ(s.stl_params, stl_params);
  EXPECT_DOUBLE_EQ(s.dense_params, 16.0 * 12 + 12 * 12 + 12 * 9);
  EXPECT_TRUE(s.calibration_error.empty());
}

TEST(ConvertCalibration, BadCalibrationRequestsAreRefusedWithTheFix) {
  MixedNet net;
  ConvertOptions o = small_options();
  o.calibration = {{"blocks.7", torch::randn({4, 12})}};
  try {
    convert(*net, o);
    ADD_FAILURE() << "an unknown layer name was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("'blocks.7', which is no ConvertibleLinear"), std::string::npos)
        << e.what_without_backtrace();
  }
  o.calibration = {{"blocks.0", torch::randn({4, 12})}};
  o.init = "random";
  try {
    convert(*net, o);
    ADD_FAILURE() << "calibration with init='random' was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("need an approximate init"), std::string::npos)
        << e.what_without_backtrace();
  }
  EXPECT_FALSE((*net->blocks)[0]->as<ConvertibleLinearImpl>()->is_stl());  // nothing was half-converted
  torch::nn::Linear dense(12, 12);
  EXPECT_THROW(stl_from_linear_data_aware(dense, STLLinearOptions(12, 12).tile({2}).rank(5).init("fit"), torch::randn({4, 7})),
               c10::Error);  // 7 features for a 12-input layer
}

}  // namespace
}  // namespace strassentile
