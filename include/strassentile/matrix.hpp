// Minimal dense row-major containers for the torch-free core.
//
// The core only needs small, obviously-correct storage: encoders are at most a few thousand entries
// and the reference operator is about clarity, not speed. `Matrix` owns its data; `MatrixView` is a
// non-owning view (the std::span idea for 2-D, with a row stride) so callers can pass their own buffers.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strassentile {

template <class T>
struct MatrixView {
  T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_stride = 0;  // elements between consecutive rows (>= cols)

  MatrixView() = default;
  MatrixView(T* d, std::size_t r, std::size_t c) : data(d), rows(r), cols(c), row_stride(c) {}
  MatrixView(T* d, std::size_t r, std::size_t c, std::size_t stride)
      : data(d), rows(r), cols(c), row_stride(stride) {
    if (stride < c) throw std::invalid_argument("MatrixView: row_stride must be >= cols");
  }
  // A view of non-const data converts to a view of const data.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T>>>
  MatrixView(const MatrixView<U>& other)  // NOLINT(google-explicit-constructor)
      : data(other.data), rows(other.rows), cols(other.cols), row_stride(other.row_stride) {}

  T& operator()(std::size_t i, std::size_t j) const { return data[i * row_stride + j]; }
};

template <class T>
class Matrix {
 public:
  Matrix() = default;
  Matrix(std::size_t rows, std::size_t cols, T fill = T{})
      : rows_(rows), cols_(cols), data_(rows * cols, fill) {}
  // Row-major literal, e.g. Matrix<double>(2, 2, {1, 0, 0, 1}).
  Matrix(std::size_t rows, std::size_t cols, std::initializer_list<T> values)
      : rows_(rows), cols_(cols), data_(values) {
    if (data_.size() != rows * cols)
      throw std::invalid_argument("Matrix: " + std::to_string(values.size()) + " values for a " +
                                  std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
  }
  Matrix(std::size_t rows, std::size_t cols, std::vector<T> values)
      : rows_(rows), cols_(cols), data_(std::move(values)) {
    if (data_.size() != rows * cols)
      throw std::invalid_argument("Matrix: " + std::to_string(data_.size()) + " values for a " +
                                  std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
  }

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return data_.size(); }
  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }

  T& operator()(std::size_t i, std::size_t j) { return data_[i * cols_ + j]; }
  const T& operator()(std::size_t i, std::size_t j) const { return data_[i * cols_ + j]; }

  MatrixView<T> view() { return {data_.data(), rows_, cols_}; }
  MatrixView<const T> view() const { return {data_.data(), rows_, cols_}; }
  operator MatrixView<const T>() const { return view(); }  // NOLINT(google-explicit-constructor)

  template <class U>
  Matrix<U> cast() const {
    Matrix<U> out(rows_, cols_);
    for (std::size_t i = 0; i < data_.size(); ++i) out.data()[i] = static_cast<U>(data_[i]);
    return out;
  }

  bool operator==(const Matrix& o) const {
    return rows_ == o.rows_ && cols_ == o.cols_ && data_ == o.data_;
  }

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<T> data_;
};

// Dense r × k × n tensor: the encoded weight Ŵ (one k×n matrix per product).
template <class T>
class Tensor3 {
 public:
  Tensor3() = default;
  Tensor3(std::size_t d0, std::size_t d1, std::size_t d2, T fill = T{})
      : d0_(d0), d1_(d1), d2_(d2), data_(d0 * d1 * d2, fill) {}

  std::size_t dim0() const { return d0_; }
  std::size_t dim1() const { return d1_; }
  std::size_t dim2() const { return d2_; }
  std::size_t size() const { return data_.size(); }
  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }

  T& operator()(std::size_t p, std::size_t i, std::size_t j) { return data_[(p * d1_ + i) * d2_ + j]; }
  const T& operator()(std::size_t p, std::size_t i, std::size_t j) const {
    return data_[(p * d1_ + i) * d2_ + j];
  }

 private:
  std::size_t d0_ = 0, d1_ = 0, d2_ = 0;
  std::vector<T> data_;
};

}  // namespace strassentile
