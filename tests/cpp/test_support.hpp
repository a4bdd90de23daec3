// Shared helpers for the core tests: data location, random matrices and the per-dtype tolerance table.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "strassentile/algorithm.hpp"
#include "strassentile/matrix.hpp"

namespace strassentile::testing {

// The exact-algorithm catalogues: STRASSENTILE_FMM_DIR from the environment, else the repository's data/fmm.
// The data is required: a missing directory fails the test with instructions, it is never skipped.
inline std::string fmm_dir() {
  const char* env = std::getenv("STRASSENTILE_FMM_DIR");
  const std::string dir = env != nullptr ? env : strassentile::default_data_dir();
  std::ifstream probe(dir + "/alphatensor/factorizations_r.npz");
  if (!probe)
    ADD_FAILURE() << "exact-algorithm data not found under '" << dir
                  << "': the repository's data/fmm is missing, or STRASSENTILE_FMM_DIR points elsewhere";
  return dir;
}

// Relative tolerance of a result computed in T against a double reference (max-abs error / max-abs value).
template <class T>
constexpr double relative_tolerance();
template <>
constexpr double relative_tolerance<double>() { return 1e-12; }
template <>
constexpr double relative_tolerance<float>() { return 2e-5; }

template <class T>
Matrix<T> random_matrix(std::size_t rows, std::size_t cols, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> dist(0.0, scale);
  Matrix<T> m(rows, cols);
  for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(dist(rng));
  return m;
}

// max|a - b| / max(max|b|, tiny)
template <class T, class U>
double relative_error(const Matrix<T>& a, const Matrix<U>& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
    norm = std::max(norm, std::abs(static_cast<double>(b.data()[i])));
  }
  return diff / std::max(norm, 1e-300);
}

}  // namespace strassentile::testing
