// MonarchLinear against the dense matrix its factors and permutations define, its shape checks, its
// initialisation scale and the block count matched to a FLOP budget.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "baselines/baseline_linear.hpp"
#include "baselines/monarch_linear.hpp"
#include "strassentile/cost_model.hpp"

namespace strassentile {
namespace {

// The block-diagonal matrix of `blocks` (count, rows, cols): (count·rows, count·cols).
torch::Tensor block_diagonal(const torch::Tensor& blocks) {
  std::vector<torch::Tensor> list;
  for (int64_t k = 0; k < blocks.size(0); ++k) list.push_back(blocks[k]);
  return torch::block_diag(list);
}

// The permutation matrices of the Monarch definition, written entry by entry. P1: feature r·B + l of the first
// factor's output (B blocks of `mid_block`, flattened) becomes feature r of the second factor's block l. P2: row s
// of the second factor's block l becomes output feature s·B + l.
torch::Tensor first_permutation(int64_t blocks, int64_t mid_block) {
  torch::Tensor p = torch::zeros({blocks * mid_block, blocks * mid_block}, torch::kDouble);
  for (int64_t l = 0; l < blocks; ++l)
    for (int64_t r = 0; r < mid_block; ++r) p[l * mid_block + r][r * blocks + l] = 1.0;
  return p;
}

torch::Tensor output_permutation(int64_t blocks, int64_t out_block) {
  torch::Tensor p = torch::zeros({blocks * out_block, blocks * out_block}, torch::kDouble);
  for (int64_t l = 0; l < blocks; ++l)
    for (int64_t s = 0; s < out_block; ++s) p[s * blocks + l][l * out_block + s] = 1.0;
  return p;
}

// W = P2 · B2 · P1 · B1, (out, in).
torch::Tensor dense_matrix(const MonarchLinearImpl& layer) {
  const int64_t blocks = layer.options.blocks();
  const torch::Tensor first = layer.first.detach().to(torch::kDouble);
  const torch::Tensor second = layer.second.detach().to(torch::kDouble);
  return output_permutation(blocks, second.size(1)).mm(block_diagonal(second))
      .mm(first_permutation(blocks, first.size(1)))
      .mm(block_diagonal(first));
}

TEST(Monarch, ForwardEqualsTheDenseMatrixOfItsFactorsAndPermutations) {
  torch::manual_seed(10);
  struct Shape {
    int64_t in, out, blocks;
  };
  for (const Shape& s : {Shape{16, 16, 4}, Shape{24, 12, 4}, Shape{12, 36, 3}, Shape{32, 8, 2}, Shape{18, 18, 1},
                         Shape{8, 40, 8}}) {
    MonarchLinear layer(MonarchLinearOptions(s.in, s.out, s.blocks));
    layer->to(torch::kDouble);
    const torch::Tensor x = torch::randn({3, 5, s.in}, torch::kDouble);
    const torch::Tensor w = dense_matrix(*layer);
    ASSERT_EQ(w.sizes(), (std::vector<int64_t>{s.out, s.in}));
    const torch::Tensor expected = torch::matmul(x, w.t()) + layer->bias;
    const torch::Tensor y = layer->forward(x);
    ASSERT_EQ(y.sizes(), expected.sizes());
    EXPECT_LE((y - expected).abs().max().item<double>(), 1e-12) << s.in << "->" << s.out << " blocks " << s.blocks;
  }
  // With blocks² <= mid every output depends on every input: the permutation mixes all blocks.
  MonarchLinear square(MonarchLinearOptions(16, 16, 4));
  EXPECT_TRUE((dense_matrix(*square) != 0).all().item<bool>());
}

TEST(Monarch, InAndOutMayDifferAndEveryFactorLearns) {
  torch::manual_seed(11);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{24, 12}, {12, 36}}) {
    MonarchLinear layer(MonarchLinearOptions(in, out, 3));
    const int64_t mid = std::min(in, out);
    EXPECT_EQ(layer->first.sizes(), (std::vector<int64_t>{3, mid / 3, in / 3}));
    EXPECT_EQ(layer->second.sizes(), (std::vector<int64_t>{3, out / 3, mid / 3}));
    EXPECT_DOUBLE_EQ(static_cast<double>(layer->first.numel() + layer->second.numel()), monarch_params(in, out, 3));
    const torch::Tensor y = layer->forward(torch::randn({2, 7, in}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 7, out}));
    y.square().sum().backward();
    EXPECT_GT(layer->first.grad().abs().min().item<double>(), 0) << in << "->" << out;
    EXPECT_GT(layer->second.grad().abs().min().item<double>(), 0) << in << "->" << out;
  }
  MonarchLinear layer(MonarchLinearOptions(8, 4, 2));
  EXPECT_THROW(layer->forward(torch::randn({3, 6})), std::invalid_argument);
}

void expect_invalid(const std::function<void()>& build, const std::vector<std::string>& parts) {
  try {
    build();
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    for (const std::string& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Monarch, BlocksThatDoNotDivideTheSizesAreRejectedNamingTheFix) {
  expect_invalid([] { MonarchLinear(MonarchLinearOptions(30, 16, 4)); },
                 {"blocks must divide in_features and out_features", "in_features=30", "blocks=4", "divisors of 2"});
  expect_invalid([] { MonarchLinear(MonarchLinearOptions(32, 18, 4)); }, {"out_features=18", "divisors of 2"});
  expect_invalid([] { MonarchLinear(MonarchLinearOptions(32, 16, 0)); }, {"blocks must be >= 1"});
  expect_invalid([] { AnyLinear(LinearSpec::parse("monarch:blocks=5"), 32, 48); }, {"blocks=5", "divisors of 16"});
  expect_invalid([] { linear_cost(LinearSpec::parse("monarch:blocks=3"), 32, 48, 16); }, {"blocks=3"});
  expect_invalid([] { monarch_matching_flops(32, 48, 0); }, {"flops_per_row"});
}

TEST(Monarch, StartsAtLinearOutputScale) {
  torch::manual_seed(12);
  for (const MonarchLinearOptions& o : {MonarchLinearOptions(256, 256, 4).bias(false),
                                        MonarchLinearOptions(128, 384, 8).bias(false),
                                        MonarchLinearOptions(384, 128, 16).bias(false)}) {
    MonarchLinear layer(o);
    const double var = layer->forward(torch::randn({4096, o.in_features()})).var().item<double>();
    EXPECT_GT(var, 0.8 / 3) << o.in_features() << "->" << o.out_features();  // nn::Linear: 1/3 for unit inputs
    EXPECT_LT(var, 1.25 / 3) << o.in_features() << "->" << o.out_features();
  }
}

TEST(Monarch, MatchingFlopsPicksTheClosestValidBlockCount) {
  for (auto [in, out] : {std::pair<int64_t, int64_t>{256, 256}, {192, 576}, {24, 36}, {100, 37}, {384, 128}}) {
    const int64_t g = std::gcd(in, out);
    for (double budget : {1.0, 500.0, 3000.0, 40000.0, 73728.0, 1e9}) {
      const int64_t b = monarch_matching_flops(in, out, budget);
      ASSERT_EQ(g % b, 0) << in << "x" << out;
      const double gap = std::abs(monarch_flops_per_row(in, out, b) - budget);
      for (int64_t other = 1; other <= g; ++other) {
        if (g % other == 0) {
          EXPECT_LE(gap, std::abs(monarch_flops_per_row(in, out, other) - budget)) << other;
        }
      }
    }
  }
  // 256→256: 2·256·512/B = 262144/B. STL <4,4,4> r=24 costs 73728 per row (encode and decode included): B = 4.
  EXPECT_EQ(monarch_matching_flops(256, 256, 73728), 4);
  // 49152 lies halfway between B = 4 (65536) and B = 8 (32768): the tie goes to fewer blocks.
  EXPECT_EQ(monarch_matching_flops(256, 256, 49152), 4);
  // 24→36: 2880/B over B in {1, 2, 3, 4, 6, 12}; 850 is nearest 960 (B = 3), 600 halfway between 720 and 480.
  EXPECT_EQ(monarch_matching_flops(24, 36, 850), 3);
  EXPECT_EQ(monarch_matching_flops(24, 36, 600), 4);
  EXPECT_EQ(monarch_matching_flops(100, 37, 1), 1);  // coprime sizes: only one block
}

TEST(Monarch, SpecBuildsTheMatchedLayerAndReportsItsCost) {
  torch::manual_seed(13);
  const LinearSpec spec = LinearSpec::parse("monarch:match_rank=24");
  EXPECT_EQ(spec.kind, LinearSpec::Kind::Monarch);
  AnyLinear layer(spec, 256, 256, /*bias=*/false);
  auto* impl = dynamic_cast<MonarchLinearImpl*>(layer->impl().get());
  ASSERT_NE(impl, nullptr);
  const StlCost stl = stl_cost({4, 256, 256}, {4, 4, 4}, 24);
  EXPECT_EQ(impl->options.blocks(), monarch_matching_flops(256, 256, stl.stl_flops() / 4));
  EXPECT_EQ(impl->options.blocks(), 4);
  const LinearCost cost = layer->cost(16);
  EXPECT_DOUBLE_EQ(cost.flops_per_row, 2.0 * 256 * 512 / 4);
  EXPECT_DOUBLE_EQ(cost.product_flops_per_row, cost.flops_per_row);
  EXPECT_DOUBLE_EQ(cost.params, static_cast<double>(impl->first.numel() + impl->second.numel()));
  // The budget of a 1-row tile (<1,4,4> r=12), per row.
  const LinearSpec local = LinearSpec::parse("monarch:match_rank=12,match_tile=1x4x4");
  const StlCost stl_local = stl_cost({1, 256, 256}, {1, 4, 4}, 12);
  EXPECT_DOUBLE_EQ(linear_cost(local, 256, 256, 16).flops_per_row,
                   monarch_flops_per_row(256, 256, monarch_matching_flops(256, 256, stl_local.stl_flops())));
}

}  // namespace
}  // namespace strassentile
