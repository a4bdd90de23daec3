// Internal: a decoded NumPy array, numeric (values in C order, as double) or of objects (other arrays).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "strassentile/loaders.hpp"

namespace strassentile::detail {

struct NdArray {
  std::vector<std::size_t> shape;
  std::vector<double> values;                    // numeric arrays, C (row-major) order
  std::vector<std::shared_ptr<NdArray>> objects;  // object arrays ('|O'), C order
  bool is_object = false;

  std::size_t element_count() const;
};

// Limits that keep hostile inputs from exhausting memory (the real catalogue is far below them).
inline constexpr std::size_t kMaxArrayElements = std::size_t{1} << 24;
inline constexpr std::size_t kMaxEntryBytes = std::size_t{1} << 28;

// Product of `shape`, or FormatError if it exceeds kMaxArrayElements.
std::size_t checked_element_count(const std::vector<std::size_t>& shape, const std::string& origin);

// Converts raw little-endian numeric data of NumPy type `descr` ('<i4', '<f8', '|i1', ...) into doubles,
// reordering from Fortran to C order when `fortran_order`.
std::vector<double> decode_numeric(ByteView raw, const std::string& descr, const std::vector<std::size_t>& shape,
                                   bool fortran_order, const std::string& origin);

// Parses one .npy file (format versions 1-3). Object arrays are decoded with the restricted unpickler.
NdArray parse_npy(ByteView bytes, const std::string& origin);

// Unpickles the payload of an object .npy: only NumPy's ndarray/dtype reconstruction is understood; any other
// global, opcode or structure raises FormatError (nothing is ever executed).
NdArray unpickle_object_array(ByteView bytes, const std::vector<std::size_t>& shape, const std::string& origin);

}  // namespace strassentile::detail
