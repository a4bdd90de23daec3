// The image sets a training run uses: Fashion-MNIST's 60k/10k split with a fixed validation slice (the last
// `val_size` training images, never trained on), or a small synthetic set for smoke tests without the package.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace strassentile::train {

struct Split {
  torch::Tensor images;  // (n, 28, 28) float32, normalised
  torch::Tensor labels;  // (n) int64 in 0..9
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

struct ImageData {
  Split train, val, test;
  std::string source;  // the directory read, or "synthetic"
  double black = 0;    // the normalised value of a zero pixel: what the augmentation's padding fills in
};

struct DataOptions {
  std::string dir;           // "" searches the usual places (fashion_mnist.hpp); "synthetic" makes a synthetic set
  int64_t val_size = 5000;   // last images of the 60k training split, held out for model selection
  int64_t train_limit = 0;   // > 0: use only the first N of the remaining training images
  int64_t test_limit = 0;    // > 0: only the first N test images
  int64_t synthetic_train = 2048, synthetic_val = 512, synthetic_test = 512;
};

// Throws std::runtime_error (naming the Debian package) when the data is absent, std::invalid_argument on bad sizes.
ImageData load_image_data(const DataOptions& options);

// Ten classes, each a fixed smooth random 28×28 prototype; an image is its class prototype plus Gaussian noise.
// Deterministic in `seed`. Learnable in a few dozen steps, which is what smoke tests need.
ImageData synthetic_image_data(int64_t train, int64_t val, int64_t test, uint64_t seed = 7);

}  // namespace strassentile::train
