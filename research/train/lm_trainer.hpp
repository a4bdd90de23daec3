// One training run of the language model: a variant (LinearSpec string) and a seed, on byte streams already on the
// device. AdamW (flat_adamw.hpp) with linear warm-up and cosine decay, a fixed token budget (every variant trains
// on the same number of tokens, and for one seed on the same windows), validation loss at `curve_points` points
// along the way, validation and test perplexity at the end, and the speed of incremental decoding. With a
// checkpoint folder a run saves its state at every curve point and resumes from it (lm_checkpoint.hpp).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "lm_config.hpp"
#include "lm_data.hpp"
#include "lm_model.hpp"

namespace strassentile::train {

struct LmCurvePoint {
  int64_t step = 0, tokens = 0;  // after this many optimiser steps / training tokens
  double train_loss = 0;         // mean over the steps since the previous point (nats per token)
  double val_loss = 0;           // on the first curve_tokens validation tokens
};

struct LmRunResult {
  std::string variant;
  uint64_t seed = 0;
  std::string device;
  LmCost cost;
  bool leaks_future = false;  // STL mode tile: the perplexity is not a causal LM's (see lm_model.hpp)
  double params = 0;          // trainable parameter elements as stored (2:4 stores dense weights)
  std::vector<LmCurvePoint> curve;
  std::vector<double> step_losses;
  int64_t steps = 0, planned_steps = 0, tokens = 0;
  bool stopped_early = false;  // the deadline came before the token budget was spent
  // Has its final evaluation: the budget is spent, or training stopped early with no checkpoint to resume from.
  bool finished = false;
  int64_t resumed_from_step = 0;  // > 0: this process continued a checkpoint saved after that many steps
  double val_loss = 0, test_loss = 0;  // nats per token (= per byte)
  int64_t val_tokens = 0, test_tokens = 0;
  double tokens_per_second = 0;         // training tokens / training seconds (evaluations excluded)
  double steady_tokens_per_second = 0;  // the same after the first steps (allocator, cuBLAS warm-up)
  double train_seconds = 0, eval_seconds = 0, wall_seconds = 0;
  double steady_start_seconds = -1;     // train_seconds when the steady part began (< 0: not yet)
  int64_t decode_batch = 0, decode_tokens = 0;  // incremental decoding after training (0: not measured)
  double decode_tokens_per_second = 0;          // decode_batch · decode_tokens / seconds, caches included
  std::string checkpoint;
};

struct LmRunContext {
  int64_t index = 0, count = 1;  // this run among the process's runs, for progress lines
  std::chrono::steady_clock::time_point stop_training_at = std::chrono::steady_clock::time_point::max();
};

// `data` must be on `device`. Seeds torch's generator with `seed` before building the model; the training windows
// come from a separate generator seeded with `seed`, so they do not depend on the variant.
LmRunResult train_lm_run(const LmTrainConfig& config, const std::string& variant, uint64_t seed, const LmData& data,
                         const torch::Device& device, const LmRunContext& context = {});

struct LmEval {
  double loss = std::numeric_limits<double>::quiet_NaN();  // mean cross-entropy, nats per token
  int64_t tokens = 0;
};

// Cross-entropy over consecutive windows of `stream` (eval_windows), at most `max_tokens` predicted tokens
// (0: all), in eval mode without gradients.
LmEval evaluate_lm(LmImpl& model, const torch::Tensor& stream, int64_t batch, int64_t max_tokens = 0, bool amp = false);

}  // namespace strassentile::train
