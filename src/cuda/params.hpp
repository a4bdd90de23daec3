// Internal: what every stage does with its parameters before any kernel runs: leading dimensions and strides
// resolved (0 means contiguous), alignment and workspace checks, and the coefficient layout the kernels read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::cuda::detail {

// Where coefficient (row, col) of the small fp32 matrix a kernel reads sits: row·row_stride + col·col_stride.
// The encode reads enc(p, q), the decode dec(q, p). (0, 0) means as the forward pass stores them: enc_x
// r × a·b and dec a·c × r, row-major. The backward pass reads them transposed in place (dispatch.cpp).
struct CoefLayout {
  int row_stride = 0, col_stride = 0;
  CoefLayout resolved(int natural_row_stride) const {
    return row_stride == 0 && col_stride == 0 ? CoefLayout{natural_row_stride, 1} : *this;
  }
};

// Which tile rows a product may touch under CodecLaunch::causal_levels: the forward encode reads, and its transpose
// (dX) writes, rows u <= ℓ(p); the forward decode writes, and its transpose (dZ) reads, rows u >= ℓ(p).
enum class CausalSide : int { at_or_below_level, at_or_above_level };

// Leading dimension: 0 means contiguous; anything else must leave room for a row of `need` elements.
inline std::int64_t resolve_ld(std::int64_t ld, std::int64_t need, const char* name) {
  if (ld == 0) return need;
  if (ld < need)
    throw std::invalid_argument(std::string(name) + " " + std::to_string(ld) + " is smaller than the row length " +
                                std::to_string(need));
  return ld;
}

// Batch stride of r matrices of `rows` rows: 0 means packed; anything else at least what one matrix spans.
inline std::int64_t resolve_stride(std::int64_t stride, std::int64_t rows, std::int64_t ld, std::int64_t row_len,
                                   const char* name) {
  if (stride == 0) return rows * ld;
  const std::int64_t span = rows == 0 ? 0 : (rows - 1) * ld + row_len;
  if (stride < span)
    throw std::invalid_argument(std::string(name) + " " + std::to_string(stride) +
                                " makes the products overlap (one spans " + std::to_string(span) + " elements)");
  return stride;
}

inline bool is_aligned(const void* ptr, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

inline std::int64_t round_up(std::int64_t v, std::int64_t to) { return (v + to - 1) / to * to; }

// Products of 16-bit dtypes whose sides k or n are not multiples of 8 run on the sides rounded up to 8, which cuBLAS
// needs for its fast kernels (kernels/padded_copy.cuh says by how much): X̂ with zeroed padding columns, Ŵ copied
// into a zero-padded r × round8(k) × round8(n) layout, dŴ computed in one and copied back.
inline bool pads_products(const StlShape& s, DType dtype) {
  return dtype != DType::f32 && (s.k() % 8 != 0 || s.n() % 8 != 0);
}

// Throws std::invalid_argument unless `bytes` at `workspace` hold `needed` bytes, 256-byte aligned. `who` prefixes
// the message ("" for none); `sizer` names the function that gives the size.
inline void check_workspace(const char* who, const void* workspace, std::size_t bytes, std::size_t needed,
                            const char* sizer) {
  const std::string prefix = *who != '\0' ? std::string(who) + ": " : std::string();
  if (bytes < needed)
    throw std::invalid_argument(prefix + "workspace holds " + std::to_string(bytes) + " bytes but " +
                                std::to_string(needed) + " are needed (" + sizer + ")");
  if (needed > 0 && (workspace == nullptr || !is_aligned(workspace, 256)))
    throw std::invalid_argument(prefix + "workspace must be non-null and 256-byte aligned");
}

}  // namespace strassentile::cuda::detail
