// StlShape validation and DType facts.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return 4;
    case DType::f16:
    case DType::bf16:
      return 2;
  }
  throw std::invalid_argument("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "f32";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
  }
  return "unknown";
}

void validate(const StlShape& s) {
  if (s.rows < 0 || s.in_features < 0 || s.out_features < 0)
    throw std::invalid_argument("rows, in_features and out_features must be >= 0 (got " + std::to_string(s.rows) +
                                ", " + std::to_string(s.in_features) + ", " + std::to_string(s.out_features) + ")");
  if (s.a < 1 || s.b < 1 || s.c < 1)
    throw std::invalid_argument("tile <" + std::to_string(s.a) + "," + std::to_string(s.b) + "," +
                                std::to_string(s.c) + ">: every side must be >= 1");
  if (s.rank < 1) throw std::invalid_argument("rank must be >= 1 (got " + std::to_string(s.rank) + ")");
  if (s.seq_len < 0 || (s.seq_len > 0 && s.rows % s.seq_len != 0))
    throw std::invalid_argument("seq_len " + std::to_string(s.seq_len) + " must divide the number of rows " +
                                std::to_string(s.rows) + " (rows are batch x seq_len)");
  // Every operand's element count, and its bytes, must fit the int64 arithmetic of strides and offsets.
  const auto check_elements = [](std::int64_t a, std::int64_t b, std::int64_t c, const char* what) {
    constexpr std::int64_t kMaxElements = std::int64_t{1} << 60;
    if (a > 0 && b > 0 && c > 0 && (b > kMaxElements / a || c > kMaxElements / (a * b)))
      throw std::invalid_argument(std::string("sizes overflow: ") + what + " = " + std::to_string(a) + " x " +
                                  std::to_string(b) + " x " + std::to_string(c) + " is more than 2^60 elements");
  };
  if (s.a > 4096 || s.b > 4096 || s.c > 4096)  // also keeps the tile counts below from overflowing
    throw std::invalid_argument("tile <" + std::to_string(s.a) + "," + std::to_string(s.b) + "," +
                                std::to_string(s.c) + ">: sides above 4096 are not supported");
  check_elements(1, s.rows, s.in_features, "rows x in_features (X)");
  check_elements(1, s.rows, s.out_features, "rows x out_features (Y)");
  check_elements(s.rank, s.m(), s.k(), "rank x m x k (X^)");
  check_elements(s.rank, s.m(), s.n(), "rank x m x n (Z)");
  check_elements(s.rank, s.k(), s.n(), "rank x k x n (W^)");
}

}  // namespace strassentile::cuda
