// The tiny ViT the training tests run on the CPU in seconds: one block of width 16, three epochs of batches of 32.
#pragma once

#include "train_config.hpp"

namespace strassentile::train {

inline TrainConfig tiny_vit_config() {
  TrainConfig c;
  c.model.dim = 16;
  c.model.depth = 1;
  c.model.heads = 2;
  c.batch = 32;
  c.epochs = 3;
  c.lr = 3e-3;
  c.warmup = 0.1;
  c.log_every = 0;
  c.eval_batch = 256;
  return c;
}

}  // namespace strassentile::train
