// One training run of the ViT: a variant (vit_variant.hpp) and a seed, on data already on the device.
// AdamW (flat_adamw.hpp) with linear warm-up and cosine decay; validation and test accuracy after every epoch; progress lines
// with step rate and ETA. Optional: augmentation of the training images, a stop when validation accuracy plateaus,
// and a checkpoint after every epoch from which a rerun continues (run_checkpoint.hpp).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <string>
#include <vector>

#include "train_config.hpp"
#include "vit_data.hpp"
#include "vit_model.hpp"

namespace strassentile::train {

struct EpochRecord {
  int64_t epoch = 0;          // 1-based
  int64_t steps = 0;          // optimiser steps so far
  double train_loss = 0;      // mean over this epoch's steps
  double val_accuracy = 0;    // NaN without a validation slice
  double test_accuracy = 0;
  double train_seconds = 0;   // cumulative training time (evaluation excluded; the device synchronised)
  double images_per_second = 0;  // this epoch's training images / its training time
};

struct RunResult {
  std::string variant;  // canonical (VitVariant::to_string)
  int64_t mlp_ratio = 0;
  uint64_t seed = 0;
  std::string device;
  VitCost cost;
  double params = 0;  // trainable parameter elements as stored (2:4 stores dense weights)
  std::vector<EpochRecord> epochs;
  std::vector<double> step_losses;  // every step's training loss
  int64_t steps = 0;
  // Why training ended: "epochs" (all of --epochs), "max_steps", "plateau" (--plateau-epochs); "" while paused
  // (--pause-after-epochs: the rest is for a rerun with the same --checkpoint-dir).
  std::string stopped_by;
  bool finished() const { return !stopped_by.empty(); }
  int64_t resumed_from_epoch = 0;  // epochs read from the checkpoint at the start
  double steady_start_seconds = 0;  // training seconds at the step where the steady rate's measurement began
  int64_t best_epoch = 0;              // 1-based epoch of the best validation accuracy (last epoch without val)
  double best_val_accuracy = 0;
  double test_accuracy_at_best_val = 0;
  double final_test_accuracy = 0;
  double images_per_second = 0;         // training images / training seconds
  double steady_images_per_second = 0;  // the same after the first steps (allocator, cuBLAS warm-up) are over
  double train_seconds = 0, wall_seconds = 0, init_seconds = 0;
};

// Where this run sits among the process's runs, for the ETA in progress lines.
struct RunPosition {
  int64_t index = 0, count = 1;
};

// `data` must be on `device`. Seeds torch's generators with `seed` before building the model. With
// config.checkpoint_dir, continues the run's checkpoint there (or reports it, when finished) and saves one after every
// epoch. `trained_model`, when given, receives the model as training left it (untrained for a run already finished).
RunResult train_vit_run(const TrainConfig& config, const std::string& variant, uint64_t seed, const ImageData& data,
                        const torch::Device& device, RunPosition position = {}, Vit* trained_model = nullptr);

// Fraction of `split` classified correctly (batches of `batch`), in eval mode without gradients; `amp`: in bf16
// autocast, as the run trains.
double accuracy(Vit& model, const Split& split, int64_t batch, bool amp = false);

}  // namespace strassentile::train
