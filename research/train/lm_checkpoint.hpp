// A trained language model on disk: torch's archive of the parameters and buffers plus the two strings that rebuild
// the module (the LinearSpec and the LmConfig), so `strassentile-lab train lm generate --checkpoint FILE` needs no flags.
#pragma once

#include <torch/torch.h>

#include <string>

#include "lm_model.hpp"

namespace strassentile::train {

// Throws std::runtime_error when the file cannot be written.
void save_lm_checkpoint(const std::string& path, LmImpl& model, const std::string& variant);

struct LoadedLm {
  Lm model{nullptr};
  std::string variant;
};

// Throws std::runtime_error naming the file when it is missing or is not a `train lm` checkpoint.
LoadedLm load_lm_checkpoint(const std::string& path, const torch::Device& device);

}  // namespace strassentile::train
