// Fashion-MNIST from Debian's `dataset-fashion-mnist` package (gzipped idx files), torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace strassentile::data {

struct ImageSet {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count × rows × cols, row-major
  std::vector<std::uint8_t> labels;  // count, in 0..9
};

// Where the idx files are: `dir` when given; else $STRASSENTILE_DATA/fashion-mnist, /usr/share/datasets/fashion-mnist,
// and the project's cache .cache/fashion-mnist (what `make demo` extracts). Throws std::runtime_error naming the
// package and the commands that fetch it when none holds the files.
std::string find_fashion_mnist(const std::string& dir = "");

// split: "train" (60,000 images) or "test" (10,000). Throws std::runtime_error on missing or malformed files.
ImageSet load_fashion_mnist(const std::string& dir, const std::string& split);

}  // namespace strassentile::data
