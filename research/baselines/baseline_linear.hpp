// The baselines a reviewer asks STL to beat, and one factory for every kind of linear layer.
//
//   Sparse24Linear  2:4-sparse weights: in every group of 4 consecutive inputs of an output row, 2 weights are
//                   kept. The mask is fixed (magnitude at initialisation), learned (recomputed from the weights'
//                   magnitudes every `update_every` training steps, with a straight-through gradient: the dense
//                   weights keep receiving gradient, so pruned ones can come back) or SR-STE (Zhou et al. 2021:
//                   recomputed every forward; straight-through gradient plus decay·(1 − mask)⊙W on the weights).
//   LowRankLinear   y = (x·Vᵀ)·Uᵀ + b with V (rank × in), U (out × rank); `low_rank_matching_flops` picks the rank
//                   whose FLOPs per row match a budget (e.g. an STL layer's).
//   MonarchLinear   two block-diagonal factors with permutations (monarch_linear.hpp).
//   AnyLinear       dense, STL, 2:4, low-rank or Monarch, built from a LinearSpec (parsed from a string),
//                   reporting its FLOPs per row and parameters.
//
// FLOPs count a multiply-add as 2 and exclude the bias, as in cost_model.hpp.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baselines/monarch_linear.hpp"
#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {

// ---- 2:4 sparsity ----

// A 0/1 mask of `weight`'s shape and dtype that keeps, in every group of 4 consecutive entries of the last
// dimension, the 2 of largest magnitude (ties go to the earlier entries: always exactly 2). The last dimension must be
// a multiple of 4.
torch::Tensor sparse24_mask(const torch::Tensor& weight);

// How a Sparse24Linear chooses its mask.
enum class Sparse24Mask {
  Fixed,    // by magnitude at initialisation, never changed; pruned weights get no gradient
  Learned,  // recomputed every `update_every` training forwards; straight-through gradient to every weight
  SrSte,    // recomputed from the current weights every forward; the gradient on the weights is the straight-through
            // gradient plus decay·(1 − mask)⊙W (Zhou et al. 2021), which pulls pruned weights towards 0
};

struct Sparse24LinearOptions {
  Sparse24LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);  // a multiple of 4
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(Sparse24Mask, mask_kind) = Sparse24Mask::Fixed;
  TORCH_ARG(int64_t, update_every) = 10;  // Learned only
  TORCH_ARG(double, decay) = 2e-4;        // SrSte only: λ, the paper's default
};

class Sparse24LinearImpl : public torch::nn::Cloneable<Sparse24LinearImpl> {
 public:
  explicit Sparse24LinearImpl(Sparse24LinearOptions options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  // x: (..., in_features) → (..., out_features), with weight ⊙ mask (SrSte: the mask of the current weights).
  torch::Tensor forward(const torch::Tensor& x);
  // weight ⊙ mask: the weights the layer multiplies by (exactly 2 nonzeros in every 4 when weights are nonzero).
  torch::Tensor sparse_weight() const;
  // Recomputes the mask from the current weights (what learned masks do every `update_every` steps, SR-STE every
  // forward).
  void update_mask();

  Sparse24LinearOptions options;
  torch::Tensor weight;  // (out, in), dense storage
  torch::Tensor bias;    // (out) or undefined
  torch::Tensor mask;    // (out, in) buffer of 0/1
  int64_t steps = 0;     // training forwards seen (drives mask updates)
  int64_t mask_version = -1;  // SR-STE: the weights' version counter when `mask` was last computed
};
TORCH_MODULE(Sparse24Linear);

// ---- low rank ----

struct LowRankLinearOptions {
  LowRankLinearOptions(int64_t in_features, int64_t out_features, int64_t rank)
      : in_features_(in_features), out_features_(out_features), rank_(rank) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(int64_t, rank);
  TORCH_ARG(bool, bias) = true;
};

class LowRankLinearImpl : public torch::nn::Cloneable<LowRankLinearImpl> {
 public:
  explicit LowRankLinearImpl(LowRankLinearOptions options);
  // Initialised so that the output variance for unit-variance inputs is nn::Linear's default (1/3).
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  LowRankLinearOptions options;
  torch::Tensor down;  // V: (rank, in)
  torch::Tensor up;    // U: (out, rank)
  torch::Tensor bias;  // (out) or undefined
};
TORCH_MODULE(LowRankLinear);

// The rank (>= 1) whose FLOPs per row, 2·rank·(in + out), are closest to `flops_per_row`.
int64_t low_rank_matching_flops(int64_t in_features, int64_t out_features, double flops_per_row);

// ---- spec and factory ----

// One linear layer's kind and settings. String form (LinearSpec::parse / to_string), keys optional:
//   dense
//   stl[:tile=4|1x4x4|<1,4,4>,rank=24,init=random,mode=tile|causal|token-local,basis=1]
//                                   init is passed to STLLinear as is ("random", an algorithm name, "fit",
//                                   "truncate:<name>", ...); token-local needs a 3-number tile with a = 1
//   sparse24[:mask=fixed|learned|srste]   with mask=learned: [,every=10];   with mask=srste: [,decay=2e-4]
//   lowrank:rank=R   or   lowrank:match_rank=24[,match_tile=4]    the rank whose FLOPs match STL <tile>:match_rank
//   monarch:blocks=B or   monarch:match_rank=24[,match_tile=4]    the block count whose FLOPs match STL
//                                                                  <tile>:match_rank
// (matching compares FLOPs per row, encode and decode included, of the STL layer on one tile of a rows).
struct LinearSpec {
  enum class Kind { Dense, Stl, Sparse24, LowRank, Monarch };
  Kind kind = Kind::Dense;
  // STL
  std::vector<int64_t> tile = {4, 4, 4};
  int64_t rank = 24;  // STL products; LowRank: the rank (0: from match_rank)
  std::string init = "random";
  std::string mode = "tile";
  bool train_basis = true;
  // The basis's share of the initial scale: E_X and D times basis_scale, Ŵ divided by basis_scale² (the same function,
  // another balance between the factors, which changes how far an optimiser step moves each).
  double basis_scale = 1;
  // The learning rate of E_X and D relative to the other parameters' (read by the trainers' optimisers).
  double basis_lr = 1;
  // 2:4
  Sparse24Mask sparse_mask = Sparse24Mask::Fixed;
  int64_t update_every = 10;
  double decay = 2e-4;
  // Monarch: the block count (0: from match_rank)
  int64_t blocks = 0;
  // low rank or Monarch matched to an STL layer's FLOPs
  int64_t match_rank = 0;
  std::vector<int64_t> match_tile = {4, 4, 4};

  // Throws std::invalid_argument naming the bad part.
  static LinearSpec parse(const std::string& text);
  std::string to_string() const;
};

// Whether the parameter `name` (a key of named_parameters) is an STL layer's basis, E_X or D: the parameters that
// LinearSpec::basis_lr applies to.
bool is_stl_basis_parameter(const std::string& name);

struct LinearCost {
  double flops_per_row = 0;        // forward, everything the layer does (STL: encode + products + decode)
  double product_flops_per_row = 0;  // STL: the batched products alone; others: = flops_per_row
  double params = 0;               // effective weights (2:4: the kept ones; STL: Ŵ, E_X, D), no bias
  double dense_flops_per_row = 0;  // 2·in·out
  double dense_params = 0;         // in·out
};

// Cost of a layer built from `spec`, for inputs whose sequences hold `rows_per_sequence` rows (STL pads each
// sequence to whole tiles of `a` rows; the cost includes that padding, divided over the real rows).
LinearCost linear_cost(const LinearSpec& spec, int64_t in_features, int64_t out_features, int64_t rows_per_sequence);

// A linear layer of any kind, held as a module: the implementation is the child "impl" (torch::nn::Linear,
// STLLinear, Sparse24Linear, LowRankLinear or MonarchLinear).
class AnyLinearImpl : public torch::nn::Module {
 public:
  AnyLinearImpl(const LinearSpec& spec, int64_t in_features, int64_t out_features, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x) { return forward_(x); }
  // One token per sequence, x_t (batch, in_features): STL layers decode through `cache` (STLLinearImpl::forward_step,
  // which refuses mode "tile"); the other kinds mix no tokens, so they just call forward.
  torch::Tensor forward_step(const torch::Tensor& x_t, STLDecodeCache& cache) { return forward_step_(x_t, cache); }
  LinearCost cost(int64_t rows_per_sequence) const {
    return linear_cost(spec_, in_features_, out_features_, rows_per_sequence);
  }
  const LinearSpec& spec() const { return spec_; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  const std::shared_ptr<torch::nn::Module>& impl() const { return impl_; }
  void pretty_print(std::ostream& stream) const override;

 private:
  LinearSpec spec_;
  int64_t in_features_, out_features_;
  std::shared_ptr<torch::nn::Module> impl_;
  std::function<torch::Tensor(const torch::Tensor&)> forward_;
  std::function<torch::Tensor(const torch::Tensor&, STLDecodeCache&)> forward_step_;
};
TORCH_MODULE(AnyLinear);

}  // namespace strassentile
