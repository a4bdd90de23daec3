// Shape-only strassentile::stl_matmul / stl_matmul_backward for the Meta key. They run the one argument check
// (check_stl_args) on symbolic sizes, so the same kernels serve meta tensors, FakeTensor and torch.compile with
// dynamic shapes (checks become guards) and refuse exactly what the CPU and CUDA kernels refuse.
#include <torch/library.h>

#include <vector>

#include "stl_args.hpp"
#include "stl_matmul_kernels.hpp"

namespace strassentile::torch_ops {
namespace {

at::Tensor stl_matmul_meta(const StlArgs& args) {
  const StlSymDims d = check_stl_args(args);
  std::vector<c10::SymInt> shape(args.x.sym_sizes().begin(), args.x.sym_sizes().end());
  shape.back() = d.out_features;
  return at::empty_symint(shape, args.x.options());
}

Gradients stl_matmul_backward_meta(const at::Tensor& /*grad_y*/, const StlArgs& args, Needs needs,
                                   const at::Tensor& /*kept*/) {
  check_stl_args(args);
  // The real kernels return each gradient contiguous, in its input's shape and dtype.
  const auto like = [](bool need, const at::Tensor& t) {
    return need ? at::empty_symint(t.sym_sizes(), t.options()) : at::Tensor();
  };
  return {like(needs[0], args.x), like(needs[1], args.w_hat), like(needs[2], args.enc_x), like(needs[3], args.dec),
          args.has_bias() ? like(needs[4], *args.bias) : at::Tensor()};
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, Meta, m) {
  m.impl("stl_matmul", &forward_kernel<&stl_matmul_meta>);
  m.impl("stl_matmul_backward", &backward_kernel<&stl_matmul_backward_meta>);
  m.impl("stl_matmul_keep", &forward_kernel<&keep_nothing<&stl_matmul_meta>>);
  m.impl("stl_matmul_backward_kept", &backward_kept_kernel<&stl_matmul_backward_meta>);
}

}  // namespace strassentile::torch_ops
