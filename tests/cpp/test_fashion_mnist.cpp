// The Fashion-MNIST idx reader on synthetic gzipped files (the real package is used by `make demo`).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fashion_mnist.hpp"

namespace strassentile::data {
namespace {

void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::vector<std::uint8_t> be(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v)};
}

// idx3 images (count × 2 × 3, pixel = index) and idx1 labels (index mod 10).
void write_split(const std::string& dir, const std::string& prefix, std::uint32_t count, bool truncate_labels = false) {
  std::vector<std::uint8_t> images = be(0x803), labels = be(0x801);
  for (std::uint32_t v : {count, 2u, 3u}) {
    const auto b = be(v);
    images.insert(images.end(), b.begin(), b.end());
  }
  const auto b = be(count);
  labels.insert(labels.end(), b.begin(), b.end());
  for (std::uint32_t i = 0; i < count * 6; ++i) images.push_back(static_cast<std::uint8_t>(i));
  for (std::uint32_t i = 0; i < count - (truncate_labels ? 1 : 0); ++i) labels.push_back(static_cast<std::uint8_t>(i % 10));
  write_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz", images);
  write_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz", labels);
}

TEST(FashionMnist, ReadsIdxFiles) {
  const std::string dir = std::filesystem::temp_directory_path() / "strassentile_fm_ok";
  std::filesystem::create_directories(dir);
  write_split(dir, "train", 12);
  write_split(dir, "t10k", 5);
  EXPECT_EQ(find_fashion_mnist(dir), dir);
  const ImageSet train = load_fashion_mnist(dir, "train");
  EXPECT_EQ(train.count, 12u);
  EXPECT_EQ(train.rows, 2u);
  EXPECT_EQ(train.cols, 3u);
  EXPECT_EQ(train.pixels[7], 7);
  EXPECT_EQ(train.labels[11], 1);
  EXPECT_EQ(load_fashion_mnist(dir, "test").count, 5u);
  EXPECT_THROW(load_fashion_mnist(dir, "valid"), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

TEST(FashionMnist, TruncatedOrMissingDataSaysWhatToDo) {
  const std::string dir = std::filesystem::temp_directory_path() / "strassentile_fm_bad";
  std::filesystem::create_directories(dir);
  write_split(dir, "train", 12, /*truncate_labels=*/true);
  write_split(dir, "t10k", 5);
  try {
    load_fashion_mnist(dir, "train");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("disagree in size"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
  try {
    find_fashion_mnist(dir);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("lacks train-images-idx3-ubyte.gz"), std::string::npos) << e.what();
  }
}

TEST(FashionMnist, NotFoundAnywhereNamesTheDebianPackage) {
  if (std::ifstream("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is installed on this machine";
  const std::filesystem::path empty = std::filesystem::temp_directory_path() / "strassentile_fm_none";
  std::filesystem::create_directories(empty);
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(empty);  // no .cache/fashion-mnist here
  const char* old_env = std::getenv("STRASSENTILE_DATA");
  const std::string saved = old_env ? old_env : "";
  setenv("STRASSENTILE_DATA", empty.c_str(), 1);
  try {
    find_fashion_mnist();
    ADD_FAILURE() << "found data in an empty place";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Fashion-MNIST not found"), std::string::npos) << what;
    EXPECT_NE(what.find("apt-get install dataset-fashion-mnist"), std::string::npos) << what;
  }
  if (old_env)
    setenv("STRASSENTILE_DATA", saved.c_str(), 1);
  else
    unsetenv("STRASSENTILE_DATA");
  std::filesystem::current_path(cwd);
  std::filesystem::remove_all(empty);
}

}  // namespace
}  // namespace strassentile::data
