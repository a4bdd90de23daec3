// A ViT run's state after an epoch, so that a long run can be split over several processes (each GPU call a fresh
// machine): the model's parameters and buffers, the optimiser's moments and step count, and the run's history so
// far (per-epoch records, step losses, training time). The random draws need no saved state: every epoch's
// shuffle and augmentation come from a generator seeded by (seed, epoch).
//
// A finished run's file keeps its history alone (a few kB), so a rerun reports it without training and the files
// of a finished sweep are small enough to travel. Each file records the settings it was trained with; resuming
// under other settings is refused.
#pragma once

#include <cstdint>
#include <string>

#include "flat_adamw.hpp"
#include "trainer.hpp"
#include "vit_model.hpp"

namespace strassentile::train {

// DIR/<variant with every character outside [A-Za-z0-9._-] as '_'>.seed<seed>.pt
std::string run_checkpoint_path(const std::string& dir, const std::string& variant, uint64_t seed);

// Writes atomically (a temporary file, then rename), so a process killed while saving leaves the previous epoch's
// file. The model and optimiser state are written only while the run is unfinished. Throws std::runtime_error.
void save_run_checkpoint(const std::string& path, const std::string& settings, const RunResult& run, VitImpl& model,
                         const FlatAdamW& optimizer);

// False when `path` does not exist. Otherwise restores the history into `run` and, for an unfinished run, the
// model and optimiser in place. Throws std::invalid_argument when the file was written under other `settings`,
// std::runtime_error when it is not a checkpoint of `strassentile-lab train vit`.
bool load_run_checkpoint(const std::string& path, const std::string& settings, RunResult& run, VitImpl& model,
                         FlatAdamW& optimizer);

}  // namespace strassentile::train
