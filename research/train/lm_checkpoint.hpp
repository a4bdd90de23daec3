// The language model on disk, two kinds of file:
//   - a trained model (`train lm --save PREFIX`): torch's archive of the parameters and buffers plus the two
//     strings that rebuild the module (the LinearSpec and the LmConfig), so `train lm generate --checkpoint FILE`
//     needs no flags;
//   - a run's state (`train lm --checkpoint-dir DIR`), so a long run can be split over several processes: the
//     model's parameters and buffers, AdamW's moments and step count, the state of the generator that draws the
//     training windows, and the run's history (curve, step losses, times). Resuming from it continues from the
//     same state as if the run had not stopped (on the CPU, where training is deterministic, bit for bit). A finished run's file keeps its history and results alone (a few kB), so
//     a rerun reports it without training. Each file records the settings it was trained with (lm_run_settings);
//     resuming under other settings is refused.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <string>

#include "flat_adamw.hpp"
#include "lm_model.hpp"
#include "lm_trainer.hpp"

namespace strassentile::train {

// Throws std::runtime_error when the file cannot be written.
void save_lm_checkpoint(const std::string& path, LmImpl& model, const std::string& variant);

struct LoadedLm {
  Lm model{nullptr};
  std::string variant;
};

// Throws std::runtime_error naming the file when it is missing or is not a `train lm` checkpoint.
LoadedLm load_lm_checkpoint(const std::string& path, const torch::Device& device);

// Writes atomically (a temporary file, then rename), so a process killed while saving leaves the previous file.
// The model, optimiser and generator are written only while the run is unfinished. Throws std::runtime_error.
void save_lm_run_state(const std::string& path, const std::string& settings, const LmRunResult& run, LmImpl& model,
                       const FlatAdamW& optimizer, const at::Generator& windows);

// False when `path` does not exist. Otherwise restores the history into `run` and, for an unfinished run, the
// model, optimiser and window generator in place. Throws std::invalid_argument when the file was written under
// other `settings`, std::runtime_error when it is not a run state of `strassentile-lab train lm`.
bool load_lm_run_state(const std::string& path, const std::string& settings, LmRunResult& run, LmImpl& model,
                       FlatAdamW& optimizer, at::Generator& windows);

}  // namespace strassentile::train
