// The baselines (2:4-sparse with fixed, learned and SR-STE masks, and low-rank linears), the LinearSpec strings and
// the AnyLinear factory (also for the causal and token-local STL modes, decoded token by token).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <vector>

#include "baselines/baseline_linear.hpp"
#include "strassentile/cost_model.hpp"
#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {
namespace {

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max() / b.to(torch::kDouble).abs().max()).item<double>();
}

// (rows, in) → (rows, in/4, 4)
torch::Tensor groups_of_four(const torch::Tensor& w) { return w.reshape({w.size(0), w.size(1) / 4, 4}); }

TEST(Sparse24, MaskKeepsExactlyTheTwoLargestOfEveryFour) {
  torch::manual_seed(0);
  const torch::Tensor w = torch::randn({24, 64});
  const torch::Tensor mask = sparse24_mask(w);
  ASSERT_EQ(mask.sizes(), w.sizes());
  EXPECT_TRUE(((mask == 0) | (mask == 1)).all().item<bool>());
  EXPECT_TRUE((groups_of_four(mask).sum(-1) == 2).all().item<bool>());
  // Every kept magnitude is at least every dropped magnitude of its group.
  const torch::Tensor mag = groups_of_four(w.abs()), m = groups_of_four(mask);
  const torch::Tensor kept_min = std::get<0>(torch::where(m.to(torch::kBool), mag, torch::full_like(mag, 1e9)).min(-1));
  const torch::Tensor dropped_max = std::get<0>(torch::where(m.to(torch::kBool), torch::full_like(mag, -1), mag).max(-1));
  EXPECT_TRUE((kept_min >= dropped_max).all().item<bool>());
}

// The mask against torch's topk (no ties among random magnitudes), and ties resolved toward the earlier entries.
TEST(Sparse24, MaskIsTheTopTwoOfEveryFourAndTiesGoToTheEarlierEntries) {
  torch::manual_seed(1);
  const torch::Tensor w = torch::randn({16, 32, 8}, torch::kDouble);
  const torch::Tensor mag = w.abs().reshape({16, 32, 2, 4});
  const torch::Tensor top = std::get<1>(mag.topk(2, -1));
  const torch::Tensor expected = torch::zeros_like(mag).scatter_(-1, top, 1.0).reshape(w.sizes());
  EXPECT_TRUE(torch::equal(sparse24_mask(w), expected));

  const torch::Tensor tied = torch::tensor({0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 2.0, 1.0, 3.0, 3.0, -3.0, 1.0}).reshape({1, 12});
  EXPECT_TRUE(torch::equal(sparse24_mask(tied),
                           torch::tensor({1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0}).reshape({1, 12})));
  EXPECT_EQ(sparse24_mask(tied.to(torch::kBFloat16)).scalar_type(), torch::kBFloat16);
}

TEST(Sparse24, RejectsInputsThatAreNotGroupsOfFour) {
  EXPECT_THROW(sparse24_mask(torch::randn({3, 10})), c10::Error);
  EXPECT_THROW(Sparse24Linear(Sparse24LinearOptions(10, 8)), c10::Error);
}

TEST(Sparse24, FixedMaskLayerMultipliesByTwoOfEveryFourAndPrunedWeightsGetNoGradient) {
  torch::manual_seed(1);
  Sparse24Linear layer(Sparse24LinearOptions(32, 12));
  const torch::Tensor sw = layer->sparse_weight().detach();
  EXPECT_TRUE((groups_of_four(sw.ne(0)).sum(-1) == 2).all().item<bool>());
  const torch::Tensor x = torch::randn({5, 7, 32});
  const torch::Tensor y = layer->forward(x);
  EXPECT_TRUE(torch::allclose(y, torch::matmul(x, sw.t()) + layer->bias, 1e-5, 1e-6));
  y.sum().backward();
  EXPECT_TRUE((layer->weight.grad().masked_select(layer->mask == 0) == 0).all().item<bool>());
  EXPECT_TRUE((layer->weight.grad().masked_select(layer->mask == 1) != 0).any().item<bool>());
}

TEST(Sparse24, LearnedMaskFollowsTheWeightsWithStraightThroughGradients) {
  torch::manual_seed(2);
  Sparse24Linear layer(Sparse24LinearOptions(16, 8).mask_kind(Sparse24Mask::Learned).update_every(3));
  layer->train();
  const torch::Tensor x = torch::randn({4, 16});
  layer->forward(x).sum().backward();
  // Straight-through: pruned weights receive the dense gradient too.
  EXPECT_TRUE((layer->weight.grad().masked_select(layer->mask == 0) != 0).any().item<bool>());
  // Make currently pruned weights the largest: the next refresh (after update_every forwards) must keep them.
  {
    torch::NoGradGuard no_grad;
    layer->weight.copy_(torch::where(layer->mask == 0, torch::full_like(layer->weight, 5.0), torch::zeros_like(layer->weight)));
  }
  const torch::Tensor old_mask = layer->mask.clone();
  layer->forward(x);
  layer->forward(x);
  EXPECT_TRUE(torch::equal(layer->mask, old_mask)) << "refreshed before update_every forwards";
  layer->forward(x);  // the 4th training forward: steps 0 and 3 refresh
  EXPECT_TRUE(torch::equal(layer->mask, 1 - old_mask));
  EXPECT_TRUE((groups_of_four(layer->mask).sum(-1) == 2).all().item<bool>());
}

TEST(Sparse24SrSte, EveryForwardMultipliesByTheMaskOfTheCurrentWeights) {
  torch::manual_seed(5);
  Sparse24Linear layer(Sparse24LinearOptions(32, 12).mask_kind(Sparse24Mask::SrSte));
  const torch::Tensor x = torch::randn({6, 32});
  {
    torch::NoGradGuard no_grad;
    layer->weight.copy_(torch::randn({12, 32}));
  }
  const torch::Tensor expected_mask = sparse24_mask(layer->weight);
  const torch::Tensor y = layer->forward(x);
  EXPECT_TRUE(torch::equal(layer->mask, expected_mask));
  EXPECT_TRUE((groups_of_four(layer->mask).sum(-1) == 2).all().item<bool>());
  EXPECT_TRUE(torch::allclose(y, torch::matmul(x, (layer->weight * expected_mask).t()) + layer->bias, 1e-5, 1e-6));
  // The kept weights are the 2 largest magnitudes of each group.
  const torch::Tensor mag = groups_of_four(layer->weight.detach().abs());
  const torch::Tensor m = groups_of_four(layer->mask).to(torch::kBool);
  const torch::Tensor kept_min = std::get<0>(torch::where(m, mag, torch::full_like(mag, 1e9)).min(-1));
  const torch::Tensor dropped_max = std::get<0>(torch::where(m, torch::full_like(mag, -1), mag).max(-1));
  EXPECT_TRUE((kept_min >= dropped_max).all().item<bool>());
  // Pruned weights made the largest are kept by the very next forward, in evaluation too.
  {
    torch::NoGradGuard no_grad;
    layer->weight.copy_(torch::where(expected_mask == 0, layer->weight.abs() + 10, layer->weight * 0.01));
  }
  layer->eval();
  const torch::Tensor y2 = layer->forward(x);
  EXPECT_TRUE(torch::equal(layer->mask, 1 - expected_mask));
  const torch::Tensor refreshed = layer->weight * (1 - expected_mask);
  EXPECT_TRUE(torch::allclose(y2, torch::matmul(x, refreshed.t()) + layer->bias, 1e-5, 1e-5));
  // Outside training, unchanged weights reuse the stored mask (no re-sort per decoded token): a mask written into
  // the buffer by hand is what the next forward applies.
  {
    torch::NoGradGuard no_grad;
    layer->mask.fill_(1);
  }
  const torch::Tensor y3 = layer->forward(x);
  EXPECT_TRUE(torch::allclose(y3, torch::matmul(x, layer->weight.t()) + layer->bias, 1e-5, 1e-5));
}

TEST(Sparse24SrSte, GradientIsStraightThroughPlusDecayOnPrunedWeights) {
  torch::manual_seed(6);
  EXPECT_DOUBLE_EQ(Sparse24LinearOptions(8, 8).decay(), 2e-4);  // the paper's λ
  for (double decay : {2e-4, 0.03}) {
    Sparse24Linear layer(Sparse24LinearOptions(16, 8).mask_kind(Sparse24Mask::SrSte).decay(decay));
    layer->to(torch::kDouble);
    layer->train();
    const torch::Tensor x = torch::randn({5, 16}, torch::kDouble), upstream = torch::randn({5, 8}, torch::kDouble);
    (layer->forward(x) * upstream).sum().backward();
    const torch::Tensor mask = layer->mask.to(torch::kBool), weight = layer->weight.detach();
    // The straight-through gradient: the loss's gradient with respect to the sparse weights themselves.
    const torch::Tensor sparse = (weight * layer->mask).requires_grad_(true);
    (torch::nn::functional::linear(x, sparse, layer->bias.detach()) * upstream).sum().backward();
    const torch::Tensor straight_through = sparse.grad(), grad = layer->weight.grad();
    EXPECT_TRUE(torch::equal(grad.masked_select(mask), straight_through.masked_select(mask))) << decay;
    EXPECT_TRUE(torch::equal(grad.masked_select(~mask), (straight_through + decay * weight).masked_select(~mask)))
        << decay;
    // Pruned weights receive the dense gradient (they can come back) and it differs from the straight-through one.
    EXPECT_TRUE((grad.masked_select(~mask) != straight_through.masked_select(~mask)).all().item<bool>()) << decay;
  }
}

TEST(Sparse24SrSte, ALayerUsedTwiceInOneGraphAddsTheDecayOncePerUse) {
  // The second forward refreshes the mask buffer before the first forward's backward has run.
  torch::manual_seed(8);
  Sparse24Linear layer(Sparse24LinearOptions(8, 8).mask_kind(Sparse24Mask::SrSte).decay(0.5));
  layer->to(torch::kDouble);
  const torch::Tensor x = torch::randn({3, 8}, torch::kDouble);
  layer->forward(layer->forward(x)).sum().backward();
  const torch::Tensor mask = layer->mask, weight = layer->weight.detach();
  const torch::Tensor sparse = (weight * mask).requires_grad_(true), bias = layer->bias.detach();
  namespace F = torch::nn::functional;
  F::linear(F::linear(x, sparse, bias), sparse, bias).sum().backward();
  EXPECT_TRUE(torch::allclose(layer->weight.grad(), sparse.grad() + 2 * 0.5 * (1 - mask) * weight, 1e-12, 1e-12));
}

TEST(LowRank, RankMatchesAFlopBudgetWithinOneRankStep) {
  for (auto [k, n] : {std::pair<int64_t, int64_t>{256, 256}, {256, 1024}, {1024, 256}, {192, 576}, {100, 37}}) {
    const StlCost stl = stl_cost({4, static_cast<std::size_t>(k), static_cast<std::size_t>(n)}, {4, 4, 4}, 24);
    const double target = stl.stl_flops() / 4;
    const int64_t r = low_rank_matching_flops(k, n, target);
    const double flops = 2.0 * static_cast<double>(r * (k + n));
    EXPECT_LE(std::abs(flops - target), static_cast<double>(k + n)) << k << "x" << n << " rank " << r;
  }
  // 256→256 at STL <4,4,4> r=24: 2·256²·24/64 + 2·24·512 = 73728 FLOPs per row = rank 72 at 2·512 per rank.
  EXPECT_EQ(low_rank_matching_flops(256, 256, 73728), 72);
  EXPECT_EQ(low_rank_matching_flops(8, 8, 1), 1);
}

TEST(LowRank, FactoryMatchesStlFlopsAndStartsAtLinearOutputScale) {
  torch::manual_seed(3);
  const LinearSpec spec = LinearSpec::parse("lowrank:match_rank=24");
  const LinearCost low = linear_cost(spec, 256, 256, 16), stl = linear_cost(LinearSpec::parse("stl:rank=24"), 256, 256, 16);
  EXPECT_NEAR(low.flops_per_row, stl.flops_per_row, 512);  // half a rank step, 2·(256+256)
  AnyLinear layer(spec, 256, 256, /*bias=*/false);
  auto* impl = dynamic_cast<LowRankLinearImpl*>(layer->impl().get());
  ASSERT_NE(impl, nullptr);
  EXPECT_EQ(impl->options.rank(), 72);
  const double var = layer->forward(torch::randn({2048, 256})).var().item<double>();
  EXPECT_GT(var, 0.7 / 3);  // nn::Linear's default gives 1/3 for unit-variance inputs
  EXPECT_LT(var, 1.4 / 3);
}

TEST(LinearSpec, ParsesPrintsAndRejects) {
  const LinearSpec s = LinearSpec::parse("stl:rank=16,init=truncate:strassen2");
  EXPECT_EQ(s.kind, LinearSpec::Kind::Stl);
  EXPECT_EQ(s.rank, 16);
  EXPECT_EQ(s.init, "truncate:strassen2");
  for (const char* text : {"dense", "stl:rank=24,init=random", "stl:tile=2x2x2,rank=7,init=strassen,mode=causal,basis=0",
                           "sparse24:mask=fixed", "sparse24:mask=learned,every=5", "lowrank:rank=9",
                           "lowrank:match_rank=24", "stl:rank=24,init=poly", "sparse24:mask=srste,decay=2e-4",
                           "sparse24:mask=srste,decay=0.5", "sparse24:mask=srste,decay=0",
                           "sparse24:mask=srste,decay=1.5e-5",
                           "monarch:blocks=4", "monarch:match_rank=24", "monarch:match_rank=12,match_tile=1x4x4",
                           "stl:rank=24,init=random,basis_scale=0.25", "stl:rank=24,init=truncate:strassen2,basis_lr=10",
                           "stl:rank=16,init=random,basis_scale=4,basis_lr=0.1"})
    EXPECT_EQ(LinearSpec::parse(text).to_string(), text);
  const LinearSpec srste = LinearSpec::parse("sparse24:decay=1e-3,mask=srste");
  EXPECT_EQ(srste.kind, LinearSpec::Kind::Sparse24);
  EXPECT_EQ(srste.sparse_mask, Sparse24Mask::SrSte);
  EXPECT_DOUBLE_EQ(srste.decay, 1e-3);
  EXPECT_EQ(srste.to_string(), "sparse24:mask=srste,decay=1e-3");
  EXPECT_DOUBLE_EQ(LinearSpec::parse("sparse24:mask=srste").decay, 2e-4);
  EXPECT_EQ(LinearSpec::parse("sparse24:mask=srste").to_string(), "sparse24:mask=srste,decay=2e-4");
  AnyLinear srste_layer(srste, 16, 8);
  auto* srste_impl = dynamic_cast<Sparse24LinearImpl*>(srste_layer->impl().get());
  ASSERT_NE(srste_impl, nullptr);
  EXPECT_EQ(srste_impl->options.mask_kind(), Sparse24Mask::SrSte);
  EXPECT_DOUBLE_EQ(srste_impl->options.decay(), 1e-3);
  const LinearSpec monarch = LinearSpec::parse("monarch:blocks=8");
  EXPECT_EQ(monarch.kind, LinearSpec::Kind::Monarch);
  EXPECT_EQ(monarch.blocks, 8);
  EXPECT_EQ(LinearSpec::parse("stl").to_string(), "stl:rank=24,init=random");
  EXPECT_EQ(LinearSpec::parse("stl:tile=4").to_string(), "stl:rank=24,init=random");
  for (const char* bad : {"conv", "stl:rank=0", "stl:rank=x", "stl:", "stl:foo=1", "sparse24:mask=random", "lowrank",
                          "lowrank:rank=3,match_rank=24", "dense:rank=3", "stl:tile=3x3", "stl:rank",
                          "sparse24:mask=srste,decay=-1", "sparse24:mask=srste,decay=x",
                          "sparse24:mask=srste,decay=1e-3x",
                          "sparse24:mask=srste,decay=inf", "sparse24:mask=learned,decay=1e-4", "sparse24:decay=1e-4",
                          "sparse24:mask=srste,every=2", "monarch", "monarch:blocks=4,match_rank=24", "monarch:rank=3",
                          "monarch:blocks=0", "monarch:match_tile=1x4x4", "lowrank:blocks=4", "stl:basis_scale=0",
                          "stl:basis_scale=-1", "stl:basis_lr=0", "stl:basis_lr=nan", "stl:basis_lr=x",
                          "dense:basis_lr=2", "lowrank:rank=4,basis_scale=2"}) {
    try {
      LinearSpec::parse(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(AnyLinear, EveryKindMapsShapesAndReportsItsCost) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({2, 16, 32});
  struct Case {
    const char* spec;
    double flops_per_row, params;
  };
  const double dense = 2.0 * 32 * 48;
  const StlCost stl = stl_cost({16, 32, 48}, {4, 4, 4}, 24);
  for (const Case& c : {Case{"dense", dense, 32 * 48}, Case{"stl:rank=24", stl.stl_flops() / 16, stl.stl_params},
                        Case{"sparse24", dense / 2, 32 * 48 / 2}, Case{"lowrank:rank=5", 2.0 * 5 * 80, 5 * 80},
                        Case{"sparse24:mask=srste", dense / 2, 32 * 48 / 2},
                        Case{"monarch:blocks=4", 2.0 * 32 * 80 / 4, 32 * 80 / 4}}) {
    AnyLinear layer(LinearSpec::parse(c.spec), 32, 48);
    EXPECT_EQ(layer->forward(x).sizes(), (std::vector<int64_t>{2, 16, 48})) << c.spec;
    const LinearCost cost = layer->cost(16);
    EXPECT_DOUBLE_EQ(cost.flops_per_row, c.flops_per_row) << c.spec;
    EXPECT_DOUBLE_EQ(cost.params, c.params) << c.spec;
    EXPECT_DOUBLE_EQ(cost.dense_flops_per_row, dense) << c.spec;
    // Stored weights (biases excluded) equal the reported parameters, except 2:4 which stores the pruned ones too.
    double stored = 0;
    for (const auto& p : layer->named_parameters())
      if (p.key().find("bias") == std::string::npos) stored += static_cast<double>(p.value().numel());
    EXPECT_DOUBLE_EQ(stored, std::string(c.spec).rfind("sparse24", 0) == 0 ? 2 * c.params : c.params) << c.spec;
  }
  // STL's products alone are abc/r = 64/24 fewer than dense on whole tiles.
  EXPECT_NEAR(dense / linear_cost(LinearSpec::parse("stl:rank=24"), 32, 48, 16).product_flops_per_row, 64.0 / 24, 1e-12);
  // The init string reaches STLLinear unchanged.
  AnyLinear exact(LinearSpec::parse("stl:rank=49,init=strassen2"), 32, 48);
  EXPECT_EQ(dynamic_cast<STLLinearImpl*>(exact->impl().get())->options.init(), "strassen2");
}

// basis_scale moves scale between the factors (E_X, D times s; Ŵ divided by s²) and leaves the function as it was.
TEST(AnyLinear, BasisScaleRebalancesTheFactorsWithoutChangingTheFunction) {
  const torch::Tensor x = torch::randn({2, 16, 32});
  for (const char* init : {"random", "truncate:strassen2"}) {
    torch::manual_seed(7);
    AnyLinear plain(LinearSpec::parse(std::string("stl:rank=24,init=") + init), 32, 48);
    torch::manual_seed(7);
    AnyLinear scaled(LinearSpec::parse(std::string("stl:rank=24,init=") + init + ",basis_scale=4"), 32, 48);
    const auto* p = dynamic_cast<STLLinearImpl*>(plain->impl().get());
    const auto* q = dynamic_cast<STLLinearImpl*>(scaled->impl().get());
    ASSERT_TRUE(p && q);
    EXPECT_TRUE(torch::allclose(q->enc_x, 4 * p->enc_x)) << init;
    EXPECT_TRUE(torch::allclose(q->dec, 4 * p->dec)) << init;
    EXPECT_TRUE(torch::allclose(q->w_hat, p->w_hat / 16)) << init;
    const torch::Tensor y = plain->forward(x), z = scaled->forward(x);
    EXPECT_LT((z - y).norm().item<double>(), 1e-5 * y.norm().item<double>()) << init;
  }
  EXPECT_TRUE(is_stl_basis_parameter("blocks.0.fc1.impl.enc_x"));
  EXPECT_TRUE(is_stl_basis_parameter("impl.dec"));
  EXPECT_FALSE(is_stl_basis_parameter("blocks.0.fc1.impl.w_hat"));
  EXPECT_FALSE(is_stl_basis_parameter("decoder.impl.bias"));
}

TEST(AnyLinearModes, SpecsForCausalAndTokenLocalDecodeStepByStep) {
  torch::manual_seed(7);
  const LinearSpec local = LinearSpec::parse("stl:tile=<1,4,4>,rank=12,mode=token-local");
  EXPECT_EQ(local.tile, (std::vector<int64_t>{1, 4, 4}));
  EXPECT_EQ(local.to_string(), "stl:tile=1x4x4,rank=12,init=random,mode=token-local");
  EXPECT_EQ(LinearSpec::parse(local.to_string()).to_string(), local.to_string());
  EXPECT_THROW(LinearSpec::parse("stl:mode=sideways"), std::invalid_argument);
  const torch::Tensor x = torch::randn({2, 6, 16});
  for (const char* spec : {"stl:tile=<1,4,4>,rank=12,mode=token-local", "stl:mode=causal", "dense", "lowrank:rank=4",
                           "monarch:blocks=4", "sparse24:mask=srste"}) {
    AnyLinear layer(LinearSpec::parse(spec), 16, 8);
    STLDecodeCache cache;
    std::vector<torch::Tensor> steps;
    for (int64_t s = 0; s < 6; ++s) steps.push_back(layer->forward_step(x.select(1, s), cache));
    EXPECT_LE(rel_err(torch::stack(steps, 1), layer->forward(x)), 1e-5) << spec;
  }
  AnyLinear tile(LinearSpec::parse("stl:rank=24"), 16, 8);
  STLDecodeCache cache;
  EXPECT_THROW(tile->forward_step(x.select(1, 0), cache), c10::Error);
}

}  // namespace
}  // namespace strassentile
