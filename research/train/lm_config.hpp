// Settings of `strassentile-lab train lm`: one struct, filled from --key VALUE flags (the keys below).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lm_model.hpp"
#include "text_corpus.hpp"

namespace strassentile::train {

struct LmTrainConfig {
  std::vector<std::string> variants = {"dense"};  // LinearSpec strings (baseline_linear.hpp)
  std::vector<uint64_t> seeds = {0};
  int64_t tokens = 4'000'000;  // training tokens per run: the equal token budget (steps = tokens / (batch·context))
  int64_t batch = 32;          // sequences per step
  double lr = 2e-3;            // AdamW peak learning rate
  double weight_decay = 0.1;   // on ≥2-D weights (not on norms)
  double beta2 = 0.95;
  double warmup = 0.05;        // linear warm-up over this fraction of the steps, then cosine decay to 0
  double clip = 1.0;           // > 0: clip the global gradient norm to this
  int64_t curve_points = 10;   // validation losses along the run (the loss-curve plot), on curve_tokens tokens
  int64_t curve_tokens = 131072;
  int64_t eval_limit = 0;      // > 0: the final validation and test perplexities use only this many tokens each
  int64_t eval_batch = 64;     // windows per evaluation forward
  std::string device = "";     // "" = cuda when available, else cpu
  int64_t threads = 0;         // > 0: torch intra-op threads
  bool tf32 = true;            // CUDA: TF32 tensor-core matmuls for fp32 (every variant alike)
  bool amp = false;            // bf16 autocast for training and evaluation forwards (parameters and AdamW stay fp32)
  double log_every = 10;       // seconds between progress lines
  double deadline = 0;         // > 0: a run still training this many seconds after the process started stops early
  std::string json;            // output file ("" = none); rewritten after every run
  std::string save;            // checkpoint prefix ("" = none): PREFIX<variant>_seed<S>.pt, for `train lm generate`
  int64_t shard = 0, shards = 1;  // run only runs i with i % shards == shard (parallel processes on one GPU)
  std::string data = ".cache/text-corpus";  // what scripts/fetch-text-corpus.sh writes
  std::vector<std::string> corpus = data::default_text_sources();  // text_corpus.hpp's source names
  // Resumable runs: each run's state (model, AdamW moments, step, the window generator, its history) goes to
  // DIR/<variant>.seed<S>.pt at every curve point and when training stops early; a run whose file exists resumes
  // from it, a finished run is reported from it without training.
  std::string checkpoint_dir;
  int64_t pause_after_steps = 0;  // > 0 (needs checkpoint_dir): stop each run after this many more steps
  int64_t decode_batch = 1;       // incremental-decoding throughput after training: sequences decoded at once
  int64_t decode_tokens = 128;    // and positions decoded (≤ context); 0: not measured
  LmConfig model;
  int64_t steps() const { return tokens / (batch * model.context); }
};

const std::vector<std::string>& lm_train_config_keys();

// Builds the config from key → value text; throws std::invalid_argument naming the key on bad values.
LmTrainConfig make_lm_train_config(const std::map<std::string, std::string>& values);

// A config file (research/train/lm_convergence.cfg): lines "key = value" with the keys above, '#' comments, and
// "variant = SPEC" lines that add up to --variants. Throws std::invalid_argument naming the file and line.
std::map<std::string, std::string> read_lm_config_file(const std::string& path);

// What a run's result depends on (model, variant, seed, data, optimiser, budget, evaluation), for refusing to
// resume a run under other settings; device, threads and logging are left out.
std::string lm_run_settings(const LmTrainConfig& config, const std::string& variant, uint64_t seed);

}  // namespace strassentile::train
