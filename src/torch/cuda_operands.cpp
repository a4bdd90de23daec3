#include "cuda_operands.hpp"

#include <c10/cuda/CUDAStream.h>

#include <limits>
#include <tuple>
#include <utility>

#include "causal_basis.hpp"

namespace strassentile::torch_ops {

namespace sc = strassentile::cuda;

namespace {

// The kernels' StlShape holds the tile sides and the rank as int.
bool fits_kernel_shape(const StlDims& d) {
  constexpr int int_max = std::numeric_limits<int>::max();
  const auto side_max = static_cast<std::size_t>(int_max);
  return d.tile.a <= side_max && d.tile.b <= side_max && d.tile.c <= side_max && d.rank <= int_max;
}

}  // namespace

bool use_aten(const StlDims& d) {
  return d.compute_dtype == at::kDouble || d.batch * d.seq == 0 || d.in_features == 0 || !fits_kernel_shape(d);
}

sc::DType kernel_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return sc::DType::f32;
    case at::kHalf:
      return sc::DType::f16;
    case at::kBFloat16:
      return sc::DType::bf16;
    default:
      STL_CHECK(false, "strassentile: the CUDA kernels take float32, float16 or bfloat16 x, got ", t);
  }
}

sc::StlShape shape_of(const StlDims& d) {
  sc::StlShape s;
  s.rows = d.batch * d.seq;  // rows grouped in runs of a within each of the batch sequences
  s.in_features = d.in_features;
  s.out_features = d.out_features;
  s.a = static_cast<int>(d.tile.a);
  s.b = static_cast<int>(d.tile.b);
  s.c = static_cast<int>(d.tile.c);
  s.rank = static_cast<int>(d.rank);
  s.seq_len = d.seq;
  return s;
}

// E_X and D in fp32 as the kernels read them: as they are where they already are; else, both in the same 16-bit dtype,
// converted by one kernel into one tensor (two ATen casts per call cost about half of a forward's host time).
std::pair<at::Tensor, at::Tensor> f32_coefficients(const at::Tensor& enc_x, const at::Tensor& dec) {
  const auto f32 = [](const at::Tensor& t) { return t.scalar_type() == at::kFloat && t.is_contiguous(); };
  if (f32(enc_x) && f32(dec)) return {enc_x, dec};
  const at::ScalarType t = enc_x.scalar_type();
  if (t != dec.scalar_type() || (t != at::kHalf && t != at::kBFloat16))
    return {enc_x.to(at::kFloat).contiguous(), dec.to(at::kFloat).contiguous()};
  const at::Tensor e = enc_x.contiguous(), d = dec.contiguous();
  at::Tensor both = at::empty({e.numel() + d.numel()}, e.options().dtype(at::kFloat));
  sc::coefficients_to_f32(both.data_ptr<float>(), kernel_dtype(t), e.data_ptr(), e.numel(), d.data_ptr(), d.numel(),
                          c10::cuda::getCurrentCUDAStream(e.device().index()).stream());
  return {both.narrow(0, 0, e.numel()), both.narrow(0, e.numel(), d.numel())};
}

LayerOperands prepare_layer(const StlDims& d, at::ScalarType storage, const at::Tensor& w_hat, const at::Tensor& enc_x,
                            const at::Tensor& dec) {
  LayerOperands o;
  o.shape = shape_of(d);
  o.dtype = kernel_dtype(storage);
  o.w_hat = w_hat.to(storage).contiguous();
  std::tie(o.enc_x, o.dec) = f32_coefficients(enc_x, dec);
  if (d.mode == Mode::Causal) o.causal_levels = causal_levels_on(d, enc_x.device());
  return o;
}

at::Tensor kernel_input(const at::Tensor& x, const sc::StlShape& shape) {
  return x.reshape({shape.rows, shape.in_features}).contiguous();
}

at::Tensor workspace(std::size_t bytes, const at::Tensor& like) {
  return at::empty({static_cast<int64_t>(bytes)}, like.options().dtype(at::kByte));
}

void* ptr_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

sc::GemmChoice gemm_choice() {
  return at::globalContext().deterministicAlgorithms() ? sc::GemmChoice::cublas_default : sc::GemmChoice::tuned;
}

}  // namespace strassentile::torch_ops
