#include "vit_data.hpp"

#include <random>
#include <stdexcept>
#include <vector>

#include "fashion_mnist.hpp"

namespace strassentile::train {
namespace {

constexpr double kMean = 0.2860, kStd = 0.3530;  // Fashion-MNIST training pixels

Split to_split(const data::ImageSet& set, int64_t first, int64_t count) {
  const auto n = static_cast<int64_t>(set.count), h = static_cast<int64_t>(set.rows), w = static_cast<int64_t>(set.cols);
  const torch::Tensor pixels =
      torch::from_blob(const_cast<std::uint8_t*>(set.pixels.data()), {n, h, w}, torch::kUInt8).narrow(0, first, count);
  const torch::Tensor labels =
      torch::from_blob(const_cast<std::uint8_t*>(set.labels.data()), {n}, torch::kUInt8).narrow(0, first, count);
  return {(pixels.to(torch::kFloat) / 255.0 - kMean) / kStd, labels.to(torch::kLong)};
}

}  // namespace

ImageData load_image_data(const DataOptions& o) {
  if (o.val_size < 0 || o.train_limit < 0 || o.test_limit < 0)
    throw std::invalid_argument("data: --val, --train-limit and --test-limit must be >= 0");
  if (o.dir == "synthetic") {
    const int64_t train = o.train_limit > 0 ? o.train_limit : o.synthetic_train;
    const int64_t test = o.test_limit > 0 ? o.test_limit : o.synthetic_test;
    return synthetic_image_data(train, o.val_size > 0 ? std::min(o.val_size, o.synthetic_val) : 0, test);
  }
  const std::string dir = data::find_fashion_mnist(o.dir);
  const data::ImageSet train = data::load_fashion_mnist(dir, "train"), test = data::load_fashion_mnist(dir, "test");
  const auto n_train = static_cast<int64_t>(train.count), n_test = static_cast<int64_t>(test.count);
  if (o.val_size >= n_train)
    throw std::invalid_argument("data: --val " + std::to_string(o.val_size) + " leaves no training images of " +
                                std::to_string(n_train));
  ImageData d;
  d.source = dir;
  d.black = -kMean / kStd;
  const int64_t fit = n_train - o.val_size;
  d.train = to_split(train, 0, o.train_limit > 0 ? std::min(o.train_limit, fit) : fit);
  if (o.val_size > 0) d.val = to_split(train, fit, o.val_size);
  d.test = to_split(test, 0, o.test_limit > 0 ? std::min(o.test_limit, n_test) : n_test);
  return d;
}

ImageData synthetic_image_data(int64_t train, int64_t val, int64_t test, uint64_t seed) {
  if (train < 1 || val < 0 || test < 1) throw std::invalid_argument("synthetic data: sizes must be >= 1");
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Prototypes: coarse 7×7 random fields upsampled to 28×28 (smooth shapes, like garments more than noise).
  std::vector<float> coarse(10 * 7 * 7);
  for (float& v : coarse) v = normal(rng);
  const torch::Tensor prototypes =
      torch::from_blob(coarse.data(), {10, 7, 7}, torch::kFloat).repeat_interleave(4, 1).repeat_interleave(4, 2).clone();
  const auto make = [&](int64_t n) {
    std::vector<int64_t> labels(static_cast<std::size_t>(n));
    std::vector<float> noise(static_cast<std::size_t>(n * 28 * 28));
    for (int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = static_cast<int64_t>(rng() % 10);
    for (float& v : noise) v = normal(rng);
    Split s;
    s.labels = torch::from_blob(labels.data(), {n}, torch::kLong).clone();
    s.images = prototypes.index_select(0, s.labels) + torch::from_blob(noise.data(), {n, 28, 28}, torch::kFloat);
    return s;
  };
  ImageData d;
  d.source = "synthetic";
  d.train = make(train);
  if (val > 0) d.val = make(val);
  d.test = make(test);
  return d;
}

}  // namespace strassentile::train
