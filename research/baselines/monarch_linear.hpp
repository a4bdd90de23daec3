// MonarchLinear: the Monarch structured matrix of Dao et al. 2022 ("Monarch: Expressive Structured Matrices for
// Efficient and Accurate Training") as a linear layer,
//
//   y = P2 · B2 · P1 · B1 · x + b,
//
// B1, B2 block-diagonal with `blocks` blocks each, P1, P2 the fixed reshape-transpose permutations:
//   B1  (blocks, mid/blocks, in/blocks)    input block k → hidden block k
//   P1  hidden (rows, blocks·(mid/blocks)) read as (rows, mid/blocks, blocks), transposed to (blocks, mid/blocks):
//       second-factor block l takes the hidden features l, l + blocks, l + 2·blocks, ... (every first-factor
//       block contributes when blocks² <= mid)
//   B2  (blocks, out/blocks, mid/blocks)
//   P2  output feature s·blocks + l is row s of second-factor block l
// with mid = min(in, out), the reference implementation's choice (HazyResearch/fly, blockdiag_butterfly_multiply).
// FLOPs per row 2·mid·(in + out)/blocks (a multiply-add counts 2, bias excluded, as in cost_model.hpp); parameters
// mid·(in + out)/blocks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <ostream>

namespace strassentile {

struct MonarchLinearOptions {
  MonarchLinearOptions(int64_t in_features, int64_t out_features, int64_t blocks)
      : in_features_(in_features), out_features_(out_features), blocks_(blocks) {}
  TORCH_ARG(int64_t, in_features);   // a multiple of blocks
  TORCH_ARG(int64_t, out_features);  // a multiple of blocks
  TORCH_ARG(int64_t, blocks);        // diagonal blocks of each factor (nblocks)
  TORCH_ARG(bool, bias) = true;
};

class MonarchLinearImpl : public torch::nn::Cloneable<MonarchLinearImpl> {
 public:
  // Throws std::invalid_argument when blocks < 1 or does not divide in_features and out_features.
  explicit MonarchLinearImpl(MonarchLinearOptions options);
  // Initialised so that the output variance for unit-variance inputs is nn::Linear's default (1/3).
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  // x: (..., in_features) → (..., out_features), through two batched matmuls (CPU and CUDA alike).
  torch::Tensor forward(const torch::Tensor& x);

  MonarchLinearOptions options;
  torch::Tensor first;   // B1: (blocks, mid/blocks, in/blocks)
  torch::Tensor second;  // B2: (blocks, out/blocks, mid/blocks)
  torch::Tensor bias;    // (out) or undefined
};
TORCH_MODULE(MonarchLinear);

// The hidden width between the two factors: min(in_features, out_features).
int64_t monarch_mid_features(int64_t in_features, int64_t out_features);
// 2·mid·(in + out)/blocks and mid·(in + out)/blocks. Throw std::invalid_argument as MonarchLinear does.
double monarch_flops_per_row(int64_t in_features, int64_t out_features, int64_t blocks);
double monarch_params(int64_t in_features, int64_t out_features, int64_t blocks);

// Among the block counts a MonarchLinear(in_features, out_features) accepts (the divisors of both), the one whose
// FLOPs per row are closest to `flops_per_row` (on a tie, the fewer blocks: the more expressive layer).
int64_t monarch_matching_flops(int64_t in_features, int64_t out_features, double flops_per_row);

}  // namespace strassentile
