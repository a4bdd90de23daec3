// Internal: conversions between the core's Matrix<double> and float64 CPU tensors (copies, never views).
#pragma once

#include <ATen/ATen.h>

#include "strassentile/matrix.hpp"

namespace strassentile::torch_ops {

inline at::Tensor to_tensor(const Matrix<double>& m) {
  return at::from_blob(const_cast<double*>(m.data()), {static_cast<int64_t>(m.rows()), static_cast<int64_t>(m.cols())},
                       at::kDouble)
      .clone();
}

inline Matrix<double> to_matrix(const at::Tensor& t) {
  TORCH_CHECK(t.dim() == 2, "strassentile: expected a 2-D coefficient matrix, got ", t.sizes());
  const at::Tensor c = t.detach().to(at::kDouble).contiguous().cpu();
  return Matrix<double>(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)),
                        std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel()));
}

}  // namespace strassentile::torch_ops
