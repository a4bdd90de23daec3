// convert() with a speed filter (ConvertOptions::min_speedup): layers predicted slower than the threshold on the
// given GPU stay dense, with the prediction in the reason.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "strassentile/torch/convert.hpp"

namespace strassentile {
namespace {

// A narrow layer (K = 32) and a wide one (K = 256): at many tokens the model predicts the wide one faster.
struct NarrowWideImpl : torch::nn::Module {
  NarrowWideImpl()
      : narrow(register_module("narrow", ConvertibleLinear(32, 256))),
        wide(register_module("wide", ConvertibleLinear(256, 256))) {}
  torch::Tensor forward(const torch::Tensor& x) { return wide(torch::relu(narrow(x))); }
  ConvertibleLinear narrow, wide;
};
TORCH_MODULE(NarrowWide);

constexpr int64_t kTokens = 65536;

double predicted(int64_t k, int64_t n, bool training) {
  return predict_speed({kTokens, static_cast<std::size_t>(k), static_cast<std::size_t>(n)}, {4, 4, 4}, 24, GpuSpec{},
                       4, training)
      .speedup();
}

ConvertOptions speed_options(double min_speedup) {
  ConvertOptions o;
  o.min_speedup = min_speedup;
  o.tokens = kTokens;
  o.gpu = GpuSpec{};
  return o;
}

TEST(ConvertSpeed, LayerPredictedBelowTheThresholdStaysDenseWithTheReason) {
  const double narrow = predicted(32, 256, true), wide = predicted(256, 256, true);
  ASSERT_LT(narrow, wide);
  const double threshold = std::sqrt(narrow * wide);
  NarrowWide model;
  const ConvertSummary summary = convert(*model, speed_options(threshold));
  EXPECT_TRUE(model->wide->is_stl());
  EXPECT_FALSE(model->narrow->is_stl());
  EXPECT_EQ(summary.converted, std::vector<std::string>{"wide"});
  ASSERT_EQ(summary.skipped.size(), 1U);
  EXPECT_EQ(summary.skipped[0].first, "narrow");
  const std::string& why = summary.skipped[0].second;
  EXPECT_NE(why.find("< min_speedup"), std::string::npos) << why;
  EXPECT_NE(why.find("at 65536 tokens (model: NVIDIA H200, training)"), std::string::npos) << why;
  EXPECT_NEAR(summary.predicted_speedup.at("narrow"), narrow, 1e-9);
  EXPECT_NEAR(summary.predicted_speedup.at("wide"), wide, 1e-9);
  EXPECT_NE(summary.to_string().find("converted wide: predicted"), std::string::npos) << summary.to_string();
}

TEST(ConvertSpeed, InferenceIsPredictedWithoutTheBackward) {
  ConvertOptions o = speed_options(1e-6);
  o.training = false;
  NarrowWide model;
  const ConvertSummary summary = convert(*model, o);
  EXPECT_EQ(summary.converted.size(), 2U);
  EXPECT_NEAR(summary.predicted_speedup.at("wide"), predicted(256, 256, false), 1e-9);
}

TEST(ConvertSpeed, AFrozenBasisIsPricedWithoutItsGradientsAndFrozenInTheLayer) {
  const auto frozen_or_not = [](bool learn_basis) {
    return predict_speed({kTokens, 256, 256}, {4, 4, 4}, 24, GpuSpec{}, 4, true, false, BackwardSetup{learn_basis})
        .speedup();
  };
  const double learned = frozen_or_not(true), frozen = frozen_or_not(false);
  ASSERT_LT(learned, frozen);
  ConvertOptions o = speed_options(std::sqrt(learned * frozen));
  NarrowWide learning;
  convert(*learning, o);
  EXPECT_FALSE(learning->wide->is_stl());
  o.train_basis = false;
  NarrowWide freezing;
  const ConvertSummary summary = convert(*freezing, o);
  ASSERT_TRUE(freezing->wide->is_stl());
  EXPECT_NEAR(summary.predicted_speedup.at("wide"), frozen, 1e-9);
  const STLLinear& layer = freezing->wide->stl;
  EXPECT_FALSE(layer->enc_x.requires_grad() || layer->dec.requires_grad());
  EXPECT_TRUE(layer->w_hat.requires_grad());
  EXPECT_FALSE(layer->options.train_basis());
}

TEST(ConvertSpeed, TokensAloneReportPredictionsAndFilterNothing) {
  ConvertOptions o;
  o.tokens = kTokens;
  o.gpu = GpuSpec{};
  NarrowWide model;
  const ConvertSummary summary = convert(*model, o);
  EXPECT_EQ(summary.converted.size(), 2U);
  EXPECT_EQ(summary.predicted_speedup.size(), 2U);
}

TEST(ConvertSpeed, MissingTokensOrGpuIsAnErrorNamingTheFix) {
  NarrowWide model;
  ConvertOptions no_tokens = speed_options(1.0);
  no_tokens.tokens = 0;
  try {
    convert(*model, no_tokens);
    FAIL() << "convert accepted min_speedup without tokens";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("min_speedup needs ConvertOptions::tokens"), std::string::npos) << e.what();
  }
  ConvertOptions no_gpu = speed_options(1.0);
  no_gpu.gpu.reset();
  try {
    convert(*model, no_gpu);
    FAIL() << "convert accepted min_speedup without a GPU";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("set ConvertOptions::gpu"), std::string::npos) << e.what();
  }
  EXPECT_THROW(convert(*model, speed_options(-1.0)), c10::Error);
  EXPECT_FALSE(model->narrow->is_stl() || model->wide->is_stl());  // nothing converted by the failed calls
}

}  // namespace
}  // namespace strassentile
