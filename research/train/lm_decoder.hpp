// Incremental decoding of the language model: one token per sequence per step, each step costing one token's work.
// Keeps, per block, the keys and values of the tokens so far (KV cache) and, per linear layer, its decode cache
// (STLDecodeCache: for STL causal layers the rows of the current tile seen so far, at most a−1; other kinds keep
// nothing). The logits equal the full forward's over the same prefix (test_train_lm.cpp).
#pragma once

#include <torch/torch.h>

#include <array>
#include <vector>

#include "lm_model.hpp"

namespace strassentile::train {

class LmDecoder {
 public:
  // `batch` sequences decoded in lock step from position 0; the model must stay alive and unchanged meanwhile.
  // Throws std::invalid_argument for models whose layers cannot decode token by token (STL mode tile).
  LmDecoder(LmImpl& model, int64_t batch);
  // tokens: (batch) int64, the token at position position() of every sequence → next-token logits (batch, vocab).
  torch::Tensor step(const torch::Tensor& tokens);
  int64_t position() const { return position_; }

 private:
  struct BlockCache {
    torch::Tensor keys, values;              // (batch, heads, position, head_dim)
    std::array<STLDecodeCache, 7> linear;    // q, k, v, o, gate, up, down
  };
  torch::Tensor block_step(LmBlockImpl& block, torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin,
                           BlockCache& cache);

  LmImpl& model_;
  int64_t batch_, position_ = 0;
  std::vector<BlockCache> caches_;
};

}  // namespace strassentile::train
