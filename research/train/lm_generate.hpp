// Sampling text from a trained language model, one byte at a time, within its context.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "lm_model.hpp"

namespace strassentile::train {

struct GenerateOptions {
  int64_t max_new_tokens = 200;
  double temperature = 0.8;  // 0: greedy (argmax)
  int64_t top_k = 0;         // > 0: sample among the k most likely bytes only
  uint64_t seed = 0;
  bool incremental = true;   // KV cache + per-layer decode caches; false: recompute the whole prefix every step
  bool stop_at_document_end = true;  // stop after byte 0 (the corpus' end of document)
};

struct Generated {
  std::string text;        // the new bytes only
  int64_t prompt_tokens = 0, new_tokens = 0;
  bool hit_context = false;  // stopped because prompt + output filled the model's context
};

// The prompt (its last context−1 bytes when longer) followed by up to max_new_tokens sampled bytes.
Generated generate_text(LmImpl& model, const std::string& prompt, const GenerateOptions& options);

// The next-token logits after every prefix of `tokens` (B, T): (B, T, vocab), computed one token at a time with
// LmDecoder when `incremental`, else by one full forward. That both agree is the decoder's acceptance test.
torch::Tensor prefix_logits(LmImpl& model, const torch::Tensor& tokens, bool incremental);

// Tokens per second of incremental decoding (LmDecoder, the forward_step path): `batch` sequences decoded greedily
// in lock step from position 0 for `positions` steps, the next tokens chosen on the model's device (no host round
// trip per token), after a short warm-up pass. Throws std::invalid_argument for models that cannot decode token by
// token (STL mode tile) and for positions outside [1, context].
double decode_tokens_per_second(LmImpl& model, int64_t batch, int64_t positions);

}  // namespace strassentile::train
