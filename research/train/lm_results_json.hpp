// The JSON file of `strassentile-lab train lm`: the configuration, the data sizes and one record per finished run
// (costs, perplexities, loss curve, throughput). Rewritten atomically after every run, so an interrupted sweep
// keeps what finished.
#pragma once

#include <string>
#include <vector>

#include "lm_config.hpp"
#include "lm_data.hpp"
#include "lm_trainer.hpp"

namespace strassentile::train {

struct LmDataSizes {
  std::string source;
  int64_t train_tokens = 0, val_tokens = 0, test_tokens = 0;
  int64_t train_documents = 0, val_documents = 0, test_documents = 0;
};

std::string lm_results_json(const LmTrainConfig& config, const LmDataSizes& data, const std::vector<LmRunResult>& runs);

// Throws std::runtime_error when the file cannot be written.
void write_lm_results_json(const std::string& path, const LmTrainConfig& config, const LmDataSizes& data,
                           const std::vector<LmRunResult>& runs);

}  // namespace strassentile::train
