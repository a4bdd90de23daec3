// STLLinear, ConvertibleLinear and convert() in C++.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "strassentile/algorithm.hpp"
#include "strassentile/torch/convert.hpp"
#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {
namespace {

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max() / b.to(torch::kDouble).abs().max()).item<double>();
}

TEST(STLLinear, FromLinearWithExactAlgorithmsReproducesTheLayer) {
  torch::manual_seed(0);
  for (const char* name : {"strassen", "laderman", "strassen2", "dps-4x4x4-48", "alphatensor-2x4x4"}) {
    torch::nn::Linear dense(torch::nn::LinearOptions(45, 27));
    STLLinear stl = stl_from_linear(dense, name);
    const torch::Tensor x = torch::randn({3, 11, 45});
    EXPECT_LE(rel_err(stl->forward(x), dense->forward(x)), 1e-5) << name;
    EXPECT_EQ(stl->options.rank(), static_cast<int64_t>(get(name).rank()));
  }
  set_data_dir("");
}

TEST(STLLinear, RandomInitMatchesLinearOutputScale) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({64, 32, 256});
  torch::nn::Linear dense(torch::nn::LinearOptions(256, 256).bias(false));
  const double dense_var = dense->forward(x).var().item<double>();
  for (int64_t rank : {8, 24, 48}) {
    STLLinear stl(STLLinearOptions(256, 256).rank(rank).bias(false));
    const double var = stl->forward(x).var().item<double>();
    // The same variance up to sampling noise of one random layer (a factor within 0.7..1.4).
    EXPECT_GT(var / dense_var, 0.7) << rank;
    EXPECT_LT(var / dense_var, 1.4) << rank;
  }
}

TEST(STLLinear, FitAndTruncateInitsMatchLinearOutputScale) {
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({32, 16, 128});
  torch::nn::Linear dense(torch::nn::LinearOptions(128, 128).bias(false));
  const double dense_var = dense->forward(x).var().item<double>();
  for (const char* init : {"fit", "truncate:strassen2", "truncate:naive-4x4x4"}) {
    STLLinear stl(STLLinearOptions(128, 128).rank(24).init(init).bias(false));
    const double ratio = stl->forward(x).var().item<double>() / dense_var;
    EXPECT_GT(ratio, 0.7) << init;
    EXPECT_LT(ratio, 1.4) << init;
  }
}

TEST(STLLinear, ShapesParametersAndFreezing) {
  STLLinear stl(STLLinearOptions(30, 10).tile({2, 3, 4}).rank(5));
  EXPECT_EQ(stl->w_hat.sizes(), torch::IntArrayRef({5, 10, 3}));
  EXPECT_EQ(stl->enc_x.sizes(), torch::IntArrayRef({5, 6}));
  EXPECT_EQ(stl->dec.sizes(), torch::IntArrayRef({8, 5}));
  EXPECT_EQ(stl->enc_w.sizes(), torch::IntArrayRef({5, 12}));
  EXPECT_EQ(stl->forward(torch::randn({7, 30})).sizes(), torch::IntArrayRef({7, 10}));
  EXPECT_EQ(stl->parameters().size(), 4u);  // w_hat, enc_x, dec, bias; enc_w is a buffer
  stl->set_train_basis(false);
  const torch::Tensor loss = stl->forward(torch::randn({7, 30})).sum();
  loss.backward();
  EXPECT_TRUE(stl->w_hat.grad().defined());
  EXPECT_FALSE(stl->enc_x.grad().defined());
  EXPECT_FALSE(stl->dec.grad().defined());
  const StlCost cost = stl->cost(8);
  EXPECT_DOUBLE_EQ(cost.dense_flops, 2.0 * 8 * 30 * 10);
  std::ostringstream s;
  s << *stl;
  EXPECT_NE(s.str().find("tile=<2,3,4>, rank=5"), std::string::npos) << s.str();
}

TEST(STLLinear, InitErrorsNameTheProblem) {
  const auto expect_error = [](STLLinearOptions o, const std::string& needle) {
    try {
      STLLinear stl(o);
      ADD_FAILURE() << "no error; expected '" << needle << "'";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what_without_backtrace()).find(needle), std::string::npos) << e.what_without_backtrace();
    }
  };
  expect_error(STLLinearOptions(16, 16).init("strassen2").rank(24), "has rank 49 but rank=24 was asked");
  expect_error(STLLinearOptions(16, 16).init("truncate:strassen2").rank(50), "can keep at most 49 products");
  expect_error(STLLinearOptions(16, 16).init("strassen").rank(7), "is a <2,2,2> algorithm but tile is <4,4,4>");
  expect_error(STLLinearOptions(16, 16).init("nope"), "unknown algorithm 'nope'");
  expect_error(STLLinearOptions(16, 16).rank(0), "rank must be >= 1");
  expect_error(STLLinearOptions(16, 16).mode("sideways"), "mode 'sideways' is unknown");
}

TEST(STLLinear, StateRoundTripGivesIdenticalOutputs) {
  torch::manual_seed(3);
  STLLinear a(STLLinearOptions(20, 12).rank(10)), b(STLLinearOptions(20, 12).rank(10));
  std::stringstream buffer;
  torch::save(a, buffer);
  torch::load(b, buffer);
  const torch::Tensor x = torch::randn({5, 8, 20});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
  STLLinear wrong(STLLinearOptions(20, 12).rank(11));
  std::stringstream again;
  torch::save(a, again);
  try {
    torch::load(wrong, again);
    ADD_FAILURE() << "loaded a rank-10 checkpoint into a rank-11 layer";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("checkpoint has w_hat of shape [10, 5, 3]"), std::string::npos)
        << e.what_without_backtrace();
  }
}

TEST(STLLinear, CalibratedFromLinearLowersOutputError) {
  torch::manual_seed(7);
  torch::nn::Linear dense(torch::nn::LinearOptions(64, 48));
  const torch::Tensor basis = torch::randn({8, 64});
  const torch::Tensor calib = torch::matmul(torch::randn({64, 16, 8}), basis) + 0.1 * torch::randn({64, 16, 64});
  CalibrationReport report;
  CalibrationOptions co;
  co.lr = 3e-3;
  STLLinear stl = stl_from_linear(dense, STLLinearOptions(1, 1).rank(24).init("fit"), calib, co, &report);
  EXPECT_LT(report.error_after, 0.7 * report.error_before);
  torch::NoGradGuard no_grad;
  const torch::Tensor target = dense->forward(calib);
  EXPECT_NEAR(((stl->forward(calib) - target).norm() / target.norm()).item<double>(), report.error_after, 1e-4);
}

struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl()
      : fc1(register_module("fc1", ConvertibleLinear(32, 64))),
        fc2(register_module("fc2", ConvertibleLinear(64, 3))),
        plain(register_module("plain", torch::nn::Linear(64, 64))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(plain(torch::relu(fc1(x))))); }
  ConvertibleLinear fc1, fc2;
  torch::nn::Linear plain;
};
TORCH_MODULE(TinyNet);

TEST(Convert, ExactConversionKeepsOutputsAndReportsSkips) {
  torch::manual_seed(4);
  TinyNet net;
  const torch::Tensor x = torch::randn({2, 9, 32});
  const torch::Tensor before = net->forward(x);
  ConvertOptions o;
  o.rank = 49;
  o.init = "strassen2";
  const ConvertSummary s = convert(*net, o);
  EXPECT_EQ(s.converted, std::vector<std::string>({"fc1"}));
  ASSERT_EQ(s.skipped.size(), 2u);
  EXPECT_EQ(s.skipped[0].first, "fc2");
  EXPECT_NE(s.skipped[0].second.find("smaller than one tile"), std::string::npos);
  EXPECT_EQ(s.skipped[1].first, "plain");
  EXPECT_NE(s.skipped[1].second.find("ConvertibleLinear"), std::string::npos);
  EXPECT_TRUE(net->fc1->is_stl());
  EXPECT_LE(rel_err(net->forward(x), before), 1e-5);
  // Per token, fc1 (32→64): dense 2·32·64; STL r=49 GEMM 2·r·k·n/a + encode 2·r·ab·k/a + decode 2·r·ac·n/a
  // = 3136 + 3136 + 6272: on a layer this small encode/decode dominate and STL costs more than dense.
  EXPECT_DOUBLE_EQ(s.dense_flops_per_token, 4096);
  EXPECT_DOUBLE_EQ(s.stl_flops_per_token, 12544);
  // The STL parameters are in the module tree (an optimizer built now sees them).
  bool found = false;
  for (const auto& p : net->named_parameters()) found = found || p.key() == "fc1.impl.w_hat";
  EXPECT_TRUE(found);
}

TEST(Convert, RandomConversionWithFilterAndTraining) {
  torch::manual_seed(5);
  TinyNet net;
  ConvertOptions o;
  o.rank = 24;
  const ConvertSummary s = convert(*net, o, [](const std::string& name, const ConvertibleLinearImpl&) { return name == "fc1"; });
  EXPECT_EQ(s.converted, std::vector<std::string>({"fc1"}));
  EXPECT_EQ(s.skipped[0].second, "filtered out");
  EXPECT_NEAR(s.stl_params / s.dense_params, (24.0 * 8 * 16 + 24 * 16 * 2) / (32.0 * 64), 1e-9);
  // A few optimizer steps reduce the loss: gradients reach the STL parameters.
  torch::optim::Adam opt(net->parameters(), 1e-2);
  const torch::Tensor x = torch::randn({16, 8, 32}), target = torch::randn({16, 8, 3});
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    const torch::Tensor loss = torch::mse_loss(net->forward(x), target);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.8 * first);
}

TEST(Convert, FreshLayersStartFromTheBasisAskedAndBadRequestsAreRefused) {
  torch::manual_seed(6);
  TinyNet net;
  ConvertOptions o;
  o.fresh_basis = "truncate:strassen2";
  const ConvertSummary s = convert(*net, o);
  EXPECT_EQ(s.converted, std::vector<std::string>({"fc1"}));
  const STLLinear reference(STLLinearOptions(32, 64).rank(24).init("truncate:strassen2"));
  const STLLinear& layer = net->fc1->stl;
  EXPECT_TRUE(torch::equal(layer->enc_x, reference->enc_x));  // the truncated algorithm's basis (deterministic)
  EXPECT_TRUE(torch::equal(layer->dec, reference->dec));
  for (const std::string& bad : {std::string("strassen2"), std::string("bogus")}) {
    TinyNet untouched;
    ConvertOptions wrong;
    wrong.fresh_basis = bad;
    try {
      convert(*untouched, wrong);
      ADD_FAILURE() << "fresh_basis='" << bad << "' was accepted";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what_without_backtrace()).find("needs init='random' and a basis"), std::string::npos)
          << e.what_without_backtrace();
    }
    EXPECT_FALSE(untouched->fc1->is_stl());
  }
  ConvertOptions exact_with_basis;
  exact_with_basis.rank = 49;
  exact_with_basis.init = "strassen2";
  exact_with_basis.fresh_basis = "truncate:strassen2";
  TinyNet other;
  EXPECT_THROW(convert(*other, exact_with_basis), c10::Error);
}

}  // namespace
}  // namespace strassentile
