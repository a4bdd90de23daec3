// The JSON file of `strassentile-lab train vit`: the configuration and one record per finished run. Rewritten
// (atomically: a temporary file, then rename) after every run, so an interrupted sweep keeps what finished.
#pragma once

#include <string>
#include <vector>

#include "train_config.hpp"
#include "trainer.hpp"

namespace strassentile::train {

struct DataSizes {
  std::string source;
  int64_t train = 0, val = 0, test = 0;
};

std::string results_json(const TrainConfig& config, const DataSizes& data, const std::vector<RunResult>& runs);

// Throws std::runtime_error when the file cannot be written.
void write_results_json(const std::string& path, const TrainConfig& config, const DataSizes& data,
                        const std::vector<RunResult>& runs);

}  // namespace strassentile::train
