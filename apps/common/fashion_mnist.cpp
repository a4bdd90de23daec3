#include "fashion_mnist.hpp"

#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace strassentile::data {
namespace {

const char* kFiles[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"};

bool has_files(const std::string& dir) {
  for (const char* f : kFiles)
    if (!std::ifstream(dir + "/" + f)) return false;
  return true;
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

std::vector<std::uint8_t> gunzip(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::vector<std::uint8_t> out;
  std::uint8_t buf[1 << 16];
  int n = 0;
  while ((n = gzread(f.get(), buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  if (n < 0) throw std::runtime_error(path + ": corrupt gzip data");
  return out;
}

std::uint32_t be32(const std::vector<std::uint8_t>& d, std::size_t at) {
  return (std::uint32_t{d[at]} << 24) | (std::uint32_t{d[at + 1]} << 16) | (std::uint32_t{d[at + 2]} << 8) | d[at + 3];
}

}  // namespace

std::string find_fashion_mnist(const std::string& dir) {
  if (!dir.empty()) {
    if (has_files(dir)) return dir;
    throw std::runtime_error("Fashion-MNIST: " + dir + " lacks " + kFiles[0] + " and its siblings");
  }
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("STRASSENTILE_DATA")) candidates.push_back(std::string(env) + "/fashion-mnist");
  candidates.push_back("/usr/share/datasets/fashion-mnist");
  candidates.push_back(".cache/fashion-mnist");
  for (const auto& c : candidates)
    if (has_files(c)) return c;
  throw std::runtime_error(
      "Fashion-MNIST not found (looked in $STRASSENTILE_DATA/fashion-mnist, /usr/share/datasets/fashion-mnist, "
      ".cache/fashion-mnist). Install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or "
      "extract it without root: apt-get download dataset-fashion-mnist && dpkg-deb -x dataset-fashion-mnist_*.deb "
      "/tmp/fm && ln -s /tmp/fm/usr/share/datasets/fashion-mnist .cache/fashion-mnist (make demo does this)");
}

ImageSet load_fashion_mnist(const std::string& dir, const std::string& split) {
  if (split != "train" && split != "test")
    throw std::invalid_argument("Fashion-MNIST split must be 'train' or 'test', got '" + split + "'");
  const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
  const auto images = gunzip(prefix + "-images-idx3-ubyte.gz");
  const auto labels = gunzip(prefix + "-labels-idx1-ubyte.gz");
  if (images.size() < 16 || be32(images, 0) != 0x803) throw std::runtime_error(prefix + "-images: not an idx3 file");
  if (labels.size() < 8 || be32(labels, 0) != 0x801) throw std::runtime_error(prefix + "-labels: not an idx1 file");
  ImageSet set;
  set.count = be32(images, 4);
  set.rows = be32(images, 8);
  set.cols = be32(images, 12);
  if (be32(labels, 4) != set.count || labels.size() != 8 + set.count ||
      images.size() != 16 + set.count * set.rows * set.cols)
    throw std::runtime_error(prefix + ": image and label files disagree in size (truncated download?)");
  set.pixels.assign(images.begin() + 16, images.end());
  set.labels.assign(labels.begin() + 8, labels.end());
  for (std::uint8_t l : set.labels)
    if (l > 9) throw std::runtime_error(prefix + "-labels: label out of range 0..9");
  return set;
}

}  // namespace strassentile::data
