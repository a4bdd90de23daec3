// STL modes causal and token-local in the op and the modules: the Jacobian of every output row with respect to
// every input row (zero where the mode says so, and a visible leak in mode tile), masked coefficients, the op
// against the core reference in double, incremental decoding (forward_step) against the full forward, and the
// errors that name the fix.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <string>

#include "strassentile/causal.hpp"
#include "strassentile/reference.hpp"
#include "strassentile/torch/ops.hpp"
#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {
namespace {

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max() / b.to(torch::kDouble).abs().max()).item<double>();
}

// J[i][j] = max |∂y[s, i, :] / ∂x[s, j, :]| over the batch s, by one backward pass per output entry.
torch::Tensor row_jacobian(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x0) {
  const torch::Tensor x = x0.detach().clone().requires_grad_(true);
  const torch::Tensor y = f(x);
  const int64_t S = x.size(1);
  torch::Tensor blocks = torch::zeros({S, S}, torch::kDouble);
  for (int64_t s = 0; s < y.size(0); ++s)
    for (int64_t i = 0; i < S; ++i)
      for (int64_t n = 0; n < y.size(2); ++n) {
        const torch::Tensor g = torch::autograd::grad({y[s][i][n]}, {x}, {}, /*retain_graph=*/true)[0];
        blocks[i] = torch::maximum(blocks[i], g[s].abs().amax(1).to(torch::kDouble));
      }
  return blocks;
}

std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "(no error)";
}

STLLinear causal_layer(std::vector<int64_t> tile, int64_t rank, int64_t K = 10, int64_t N = 7, std::string init = "random") {
  return STLLinear(STLLinearOptions(K, N).tile(std::move(tile)).rank(rank).mode("causal").init(std::move(init)));
}

TEST(CausalMode, NoOutputRowDependsOnALaterRow) {
  torch::manual_seed(0);
  STLLinear layer = causal_layer({3, 2, 2}, 9);
  const torch::Tensor x = torch::randn({2, 8, 10}, torch::kDouble);  // tiles of rows 0-2, 3-5, 6-7 (padded)
  layer->to(torch::kDouble);
  const torch::Tensor j = row_jacobian([&](const torch::Tensor& v) { return layer->forward(v); }, x);
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t k = 0; k < 8; ++k) {
      const bool same_tile = i / 3 == k / 3;
      if (!same_tile || k > i) {
        EXPECT_EQ(j[i][k].item<double>(), 0.0) << "output row " << i << ", input row " << k;
      } else if (k == i) {
        EXPECT_GT(j[i][k].item<double>(), 0.0) << "row " << i;
      }
    }
}

TEST(TokenLocalMode, RowsDependOnlyOnThemselves) {
  torch::manual_seed(1);
  STLLinear layer(STLLinearOptions(10, 7).tile({1, 4, 4}).rank(12).mode("token-local"));
  layer->to(torch::kDouble);
  const torch::Tensor j = row_jacobian([&](const torch::Tensor& v) { return layer->forward(v); },
                                       torch::randn({2, 5, 10}, torch::kDouble));
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t k = 0; k < 5; ++k) {
      if (i != k) {
        EXPECT_EQ(j[i][k].item<double>(), 0.0) << i << "," << k;
      } else {
        EXPECT_GT(j[i][k].item<double>(), 0.0) << i;
      }
    }
}

TEST(TileMode, ATruncatedAlgorithmLeaksTheFutureInsideATile) {
  torch::manual_seed(2);
  STLLinear layer(STLLinearOptions(10, 7).tile({2}).rank(5).init("truncate:strassen"));
  layer->to(torch::kDouble);
  const torch::Tensor j = row_jacobian([&](const torch::Tensor& v) { return layer->forward(v); },
                                       torch::randn({1, 4, 10}, torch::kDouble));
  EXPECT_GT(j[0][1].item<double>(), 1e-3) << "row 0 should read row 1 of its tile in mode tile";
  EXPECT_GT(j[2][3].item<double>(), 1e-3);
  EXPECT_EQ(j[0][2].item<double>(), 0.0) << "tiles never mix";
}

TEST(CausalMode, MaskedCoefficientsNeitherActNorLearn) {
  torch::manual_seed(3);
  STLLinear layer = causal_layer({4, 4, 4}, 24, 16, 12);
  const torch::Tensor x = torch::randn({3, 9, 16});
  const torch::Tensor y0 = layer->forward(x).detach();
  const std::vector<int64_t>& lv = layer->levels;
  const CausalLevels expected = default_causal_levels(24, 4);
  ASSERT_EQ(lv, std::vector<int64_t>(expected.begin(), expected.end()));
  torch::Tensor ex_mask = torch::zeros({24, 16}), dec_mask = torch::zeros({16, 24});
  for (int64_t p = 0; p < 24; ++p)
    for (int64_t q = 0; q < 16; ++q) {
      ex_mask[p][q] = causal_reads(lv[p], q / 4) ? 1.0 : 0.0;
      dec_mask[q][p] = causal_writes(lv[p], q / 4) ? 1.0 : 0.0;
    }
  EXPECT_EQ((layer->enc_x * (1 - ex_mask)).abs().max().item<double>(), 0.0) << "random init stores masked entries as 0";
  {
    torch::NoGradGuard no_grad;
    layer->enc_x.add_(100 * (1 - ex_mask));
    layer->dec.add_(100 * (1 - dec_mask));
  }
  const torch::Tensor y = layer->forward(x);
  EXPECT_LE(rel_err(y, y0), 1e-6) << "masked coefficients changed the output";
  y.pow(2).sum().backward();
  EXPECT_EQ((layer->enc_x.grad() * (1 - ex_mask)).abs().max().item<double>(), 0.0);
  EXPECT_EQ((layer->dec.grad() * (1 - dec_mask)).abs().max().item<double>(), 0.0);
  EXPECT_GT((layer->enc_x.grad() * ex_mask).abs().max().item<double>(), 0.0);
}

TEST(CausalMode, OpMatchesTheCoreReferenceInDouble) {
  torch::manual_seed(4);
  const TileFormat t{3, 2, 4};
  const int64_t r = 10, B = 2, S = 7, K = 9, N = 11, k = 5, n = 3;
  const std::vector<int64_t> levels = {2, 0, 1, 1, 0, 2, 2, 1, 0, 0};  // explicit, unsorted
  const auto opt = torch::kDouble;
  const torch::Tensor x = torch::randn({B, S, K}, opt), wh = torch::randn({r, k, n}, opt);
  const torch::Tensor ex = torch::randn({r, 6}, opt), dc = torch::randn({12, r}, opt);
  const torch::Tensor y = ops::stl_matmul(x, wh, ex, dc, {3, 2, 4}, std::nullopt, "causal", N, levels);
  const torch::Tensor xs = x.reshape({B * S, K}).contiguous();
  Tensor3<double> w(r, k, n);
  std::copy(wh.data_ptr<double>(), wh.data_ptr<double>() + wh.numel(), w.data());
  const auto view = [](const torch::Tensor& v) {
    return MatrixView<const double>(v.data_ptr<double>(), static_cast<std::size_t>(v.size(0)), static_cast<std::size_t>(v.size(1)));
  };
  const Matrix<double> ref = stl_reference_causal<double>(view(xs), w, view(ex), view(dc), t,
                                                          CausalLevels(levels.begin(), levels.end()), N, S);
  const torch::Tensor ref_t = torch::from_blob(const_cast<double*>(ref.data()), {B, S, N}, opt);
  EXPECT_LE(rel_err(y, ref_t), 1e-12);
  EXPECT_GT(rel_err(ops::stl_matmul(x, wh, ex, dc, {3, 2, 4}, std::nullopt, "tile", N), ref_t), 1e-3)
      << "mode tile should differ (the masks matter)";
}

// Token by token through a stack (causal layer, GELU, causal layer), with per-layer caches: the same outputs as the
// full-sequence forward, in fp32.
TEST(CausalDecoding, ForwardStepEqualsTheFullForward) {
  torch::manual_seed(5);
  STLLinear first = causal_layer({4, 4, 4}, 24, 20, 16), second = causal_layer({2, 4, 4}, 12, 16, 8, "truncate:naive-2x4x4");
  const int64_t B = 3, S = 11;
  const torch::Tensor x = torch::randn({B, S, 20});
  const torch::Tensor full = second->forward(torch::gelu(first->forward(x)));
  STLDecodeCache c1, c2;
  std::vector<torch::Tensor> steps;
  for (int64_t s = 0; s < S; ++s) steps.push_back(second->forward_step(torch::gelu(first->forward_step(x.select(1, s), c1)), c2));
  EXPECT_LE(rel_err(torch::stack(steps, 1), full), 1e-5);
  EXPECT_EQ(c1.position, S);
  EXPECT_EQ(c1.rows.size(1), S % 4) << "the cache holds the current tile's rows (at most a-1)";
  c1.reset();
  EXPECT_FALSE(c1.rows.defined());
  EXPECT_LE(rel_err(first->forward_step(x.select(1, 0), c1), first->forward(x).select(1, 0)), 1e-6);
}

TEST(CausalDecoding, ErrorsNameTheFix) {
  STLLinear tile_layer(STLLinearOptions(8, 8).tile({2}).rank(7));
  STLDecodeCache cache;
  EXPECT_NE(what_of([&] { tile_layer->forward_step(torch::randn({2, 8}), cache); }).find("mode 'tile' cannot decode token by token"),
            std::string::npos);
  STLLinear causal = causal_layer({2, 2, 2}, 7, 8, 8);
  causal->forward_step(torch::randn({2, 8}), cache);
  EXPECT_NE(what_of([&] { causal->forward_step(torch::randn({3, 8}), cache); }).find("reset() it"), std::string::npos);
  EXPECT_NE(what_of([] { STLLinear(STLLinearOptions(8, 8).tile({2}).rank(3).mode("causal").levels({0, 2, 1})); })
                .find("levels must be in 0..1"),
            std::string::npos);
  EXPECT_NE(what_of([] { STLLinear(STLLinearOptions(8, 8).tile({2}).rank(3).levels({0, 1, 1})); }).find("only to mode 'causal'"),
            std::string::npos);
  EXPECT_NE(what_of([] { causal_layer({2, 2, 2}, 5, 8, 8, "fit"); }).find("not available in mode 'causal'"), std::string::npos);
  EXPECT_NE(what_of([] { STLLinear(STLLinearOptions(8, 8).tile({2}).rank(7).mode("token-local")); }).find("a = 1"),
            std::string::npos);
}

TEST(CausalMode, ExactNaiveConversionAndNonCausalAlgorithmsRefused) {
  torch::manual_seed(6);
  torch::nn::Linear dense(torch::nn::LinearOptions(10, 6));
  STLLinear stl = stl_from_linear(dense, "naive-2x2x2", "causal");
  const torch::Tensor x = torch::randn({2, 5, 10});
  EXPECT_LE(rel_err(stl->forward(x), dense->forward(x)), 1e-6);
  EXPECT_NE(what_of([&] { stl_from_linear(dense, "strassen", "causal"); }).find("is not causal"), std::string::npos);
}

TEST(CausalMode, CheckpointsCarryTheLevels) {
  STLLinear src = causal_layer({2, 2, 2}, 5, 8, 8, "truncate:strassen");
  STLLinear dst(STLLinearOptions(8, 8).tile({2}).rank(5).mode("causal"));  // random init: default levels
  ASSERT_NE(src->levels, dst->levels);
  std::stringstream buffer;
  torch::save(src, buffer);
  torch::load(dst, buffer);
  EXPECT_EQ(dst->levels, src->levels);
  const torch::Tensor x = torch::randn({2, 4, 8});
  EXPECT_LE(rel_err(dst->forward(x), src->forward(x)), 1e-6);
}

}  // namespace
}  // namespace strassentile
