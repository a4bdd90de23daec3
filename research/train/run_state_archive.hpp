// The parts of a resumable run's file that the ViT and LM trainers share: the settings it was trained under (a
// resume under other settings is refused), the model's parameters and buffers with the optimiser's state, and the
// write that never leaves a half-written file.
#pragma once

#include <torch/torch.h>

#include <string>

#include "flat_adamw.hpp"

namespace strassentile::train {

// `what` names the file in messages ("checkpoint", "run state"). The settings a run was trained under are written
// as a string under `key` (archive.write(key, c10::IValue(settings))).
// The archive at `path` on `device`, its settings under `key` equal to `settings`; otherwise std::runtime_error
// (not such a file: `writer` says which command writes them) or std::invalid_argument (other settings).
torch::serialize::InputArchive open_run_state(const std::string& path, const torch::Device& device, const char* key,
                                              const std::string& settings, const std::string& what,
                                              const std::string& writer);

// The model's parameters and buffers (by position: archive keys may not hold the dots of parameter names) and the
// optimiser's moments; read back in place, since the parameters are views into the optimiser's flat buffers.
void write_model_and_optimizer(torch::serialize::OutputArchive& archive, torch::nn::Module& model,
                               const FlatAdamW& optimizer);
void read_model_and_optimizer(torch::serialize::InputArchive& archive, torch::nn::Module& model, FlatAdamW& optimizer);

// Serialises `archive` and replaces `path` with it in one rename.
void save_run_state(torch::serialize::OutputArchive& archive, const std::string& path, const std::string& what);

}  // namespace strassentile::train
