// The strassentile::* operator library: schemas once, then one implementation per dispatch key.
// Available to C++ (include/strassentile/torch/ops.hpp) and Python (torch.ops.strassentile.*) alike.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/cost_model.hpp"
#include "stl_args.hpp"
#include "stl_matmul_aten.hpp"
#include "calibrate.hpp"
#include "matrix_tensor.hpp"
#include "stl_init.hpp"
#include "stl_matmul_autograd.hpp"
#ifdef STRASSENTILE_HAVE_CUDA_KERNELS
#include "stl_matmul_cuda.hpp"
#endif

namespace strassentile::torch_ops {
namespace {

std::string to_string(c10::string_view s) { return std::string(s.data(), s.size()); }

at::Tensor stl_matmul_kernel(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                             at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                             std::optional<int64_t> out_features) {
  return stl_matmul_aten(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_kernel(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    std::array<bool, 5> needs) {
  return stl_matmul_backward_aten(grad_y, x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, needs);
}

#ifdef STRASSENTILE_HAVE_CUDA_KERNELS
at::Tensor stl_matmul_cuda_kernel(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                                  at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                                  std::optional<int64_t> out_features) {
  return stl_matmul_cuda(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_cuda_kernel(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    std::array<bool, 5> needs) {
  return stl_matmul_backward_cuda(grad_y, x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, needs);
}
#endif

// Shape-only implementations: validation plus output allocation, for meta tensors and torch.compile tracing.
at::Tensor stl_matmul_meta(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                           at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                           std::optional<int64_t> out_features) {
  const StlDims d = check_stl_args(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features);
  return at::empty(output_shape(x, d), x.options());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_meta(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    std::array<bool, 5> needs) {
  check_stl_args(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features);
  (void)grad_y;
  const auto like = [](bool need, const at::Tensor& t) { return need ? at::empty_like(t) : at::Tensor(); };
  return {like(needs[0], x), like(needs[1], w_hat), like(needs[2], enc_x), like(needs[3], dec),
          (needs[4] && bias.has_value() && bias->defined()) ? at::empty_like(*bias) : at::Tensor()};
}

using AlgorithmTuple = std::tuple<at::Tensor, at::Tensor, at::Tensor, std::vector<int64_t>, std::string>;

// (enc_x, enc_w, dec) as float64 tensors, the tile and "name: source".
AlgorithmTuple to_tuple(const Algorithm& alg) {
  return {to_tensor(alg.enc_x), to_tensor(alg.enc_w), to_tensor(alg.dec),
          {static_cast<int64_t>(alg.tile.a), static_cast<int64_t>(alg.tile.b), static_cast<int64_t>(alg.tile.c)},
          alg.name + ": " + alg.source};
}

AlgorithmTuple algorithm_op(c10::string_view name) {
  try {
    return to_tuple(get(to_string(name)));
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "strassentile: ", e.what());
  }
}

AlgorithmTuple fit_op(at::IntArrayRef tile, int64_t rank, int64_t restarts, int64_t iterations, int64_t seed) {
  TORCH_CHECK(rank >= 1 && restarts >= 1 && iterations >= 1 && seed >= 0,
              "strassentile: fit needs rank, restarts, iterations >= 1 and seed >= 0");
  FitOptions o;
  o.restarts = static_cast<std::size_t>(restarts);
  o.iterations = static_cast<std::size_t>(iterations);
  o.seed = static_cast<std::uint64_t>(seed);
  return to_tuple(fit(parse_tile(tile), static_cast<std::size_t>(rank), o).algorithm);
}

AlgorithmTuple truncate_op(c10::string_view name, int64_t rank) {
  try {
    return to_tuple(truncate(get(to_string(name)), static_cast<std::size_t>(std::max<int64_t>(rank, 0))));
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "strassentile: ", e.what());
  }
}

double relative_error_op(const at::Tensor& enc_x, const at::Tensor& enc_w, const at::Tensor& dec, at::IntArrayRef tile) {
  try {
    return relative_tensor_error(make_algorithm("tensors", "", parse_tile(tile), to_matrix(enc_x), to_matrix(enc_w),
                                                to_matrix(dec)));
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "strassentile: ", e.what());
  }
}

std::vector<std::string> available_op() {
  try {
    return available();
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "strassentile: ", e.what());
  }
}

void set_data_dir_op(c10::string_view path) { set_data_dir(to_string(path)); }

// [dense_flops, stl_flops, gemm_flops, dense_params, stl_params] for an M×K·K×N layer.
std::vector<double> layer_cost_op(int64_t m, int64_t k, int64_t n, at::IntArrayRef tile, int64_t rank) {
  TORCH_CHECK(m >= 1 && k >= 1 && n >= 1 && rank >= 1, "strassentile: layer_cost needs m, k, n, rank >= 1");
  const StlCost c = stl_cost({static_cast<std::size_t>(m), static_cast<std::size_t>(k), static_cast<std::size_t>(n)},
                             parse_tile(tile), static_cast<std::size_t>(rank));
  return {c.dense_flops, c.stl_flops(), c.gemm_flops, c.dense_params, c.stl_params};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> init_parameters_op(int64_t in_features, int64_t out_features,
                                                                              at::IntArrayRef tile, int64_t rank,
                                                                              c10::string_view init) {
  return initial_parameters(in_features, out_features, tile, rank, to_string(init));
}

}  // namespace

TORCH_LIBRARY(strassentile, m) {
  m.def("stl_matmul(Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias=None, "
        "str mode=\"tile\", int? out_features=None) -> Tensor");
  m.def("stl_matmul_backward(Tensor grad_y, Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, "
        "Tensor? bias, str mode, int? out_features, bool[5] needs) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("encode_weight(Tensor w, Tensor enc_w, int[] tile) -> Tensor");
  m.def("algorithm(str name) -> (Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)", &algorithm_op);
  m.def("available_algorithms() -> str[]", &available_op);
  m.def("fit_algorithm(int[] tile, int rank, int restarts=8, int iterations=2000, int seed=0) -> "
        "(Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)",
        &fit_op);
  m.def("truncate_algorithm(str name, int rank) -> (Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)",
        &truncate_op);
  m.def("relative_error(Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile) -> float", &relative_error_op);
  m.def("calibrate(Tensor x, Tensor y, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias, int steps=300, "
        "float lr=1e-3, bool train_basis=False) -> (Tensor w_hat, Tensor enc_x, Tensor dec, float error_before, "
        "float error_after)");
  m.def("set_data_dir(str path) -> ()", &set_data_dir_op);
  m.def("layer_cost(int m, int k, int n, int[] tile, int rank) -> float[]", &layer_cost_op);
  m.def("init_parameters(int in_features, int out_features, int[] tile, int rank, str init) -> "
        "(Tensor w_hat, Tensor enc_x, Tensor enc_w, Tensor dec)",
        &init_parameters_op);
}

TORCH_LIBRARY_IMPL(strassentile, CPU, m) {
  m.impl("stl_matmul", &stl_matmul_kernel);
  m.impl("stl_matmul_backward", &stl_matmul_backward_kernel);
}

// CUDA: the kernels of src/cuda (encode/decode kernels, cuBLAS batched products) when the library is built with
// them; otherwise the same ATen composition as the CPU (cuBLAS bmm underneath).
TORCH_LIBRARY_IMPL(strassentile, CUDA, m) {
#ifdef STRASSENTILE_HAVE_CUDA_KERNELS
  m.impl("stl_matmul", &stl_matmul_cuda_kernel);
  m.impl("stl_matmul_backward", &stl_matmul_backward_cuda_kernel);
#else
  m.impl("stl_matmul", &stl_matmul_kernel);
  m.impl("stl_matmul_backward", &stl_matmul_backward_kernel);
#endif
}

TORCH_LIBRARY_IMPL(strassentile, Meta, m) {
  m.impl("stl_matmul", &stl_matmul_meta);
  m.impl("stl_matmul_backward", &stl_matmul_backward_meta);
}

// encode_weight is built from differentiable ATen ops: autograd and every backend come for free.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("encode_weight", &encode_weight_aten);
  // Runs its own optimisation loop with autograd inside; callers see plain tensors out.
  m.impl("calibrate", &calibrate);
}

TORCH_LIBRARY_IMPL(strassentile, Autograd, m) { m.impl("stl_matmul", &stl_matmul_autograd); }

}  // namespace strassentile::torch_ops
