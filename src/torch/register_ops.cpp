// The strassentile::* operator library: schemas once, then one implementation per dispatch key.
// Available to C++ (include/strassentile/torch/ops.hpp) and Python (torch.ops.strassentile.*) alike.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "error_message.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/cost_model.hpp"
#include "stl_args.hpp"
#include "stl_matmul_aten.hpp"
#include "calibrate.hpp"
#include "matrix_tensor.hpp"
#include "stl_init.hpp"
#include "stl_matmul_autograd.hpp"
#include "stl_matmul_meta.hpp"
#include "stl_mlp.hpp"
#ifdef STRASSENTILE_HAVE_CUDA_KERNELS
#include "stl_matmul_cuda.hpp"
#include "stl_mlp_cuda.hpp"
#endif

namespace strassentile::torch_ops {
namespace {

std::string to_string(c10::string_view s) { return std::string(s.data(), s.size()); }

at::Tensor stl_matmul_kernel(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                             at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                             std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  return stl_matmul_aten(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_kernel(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    at::OptionalIntArrayRef levels, std::array<bool, 5> needs) {
  return stl_matmul_backward_aten(grad_y, x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels, needs);
}

// stl_matmul_keep / stl_matmul_backward_kept off CUDA kernels (CPU and Meta): nothing to keep (an empty byte
// tensor), and the backward recomputes, as `Forward` / `Backward` (the key's plain ops) do.
using ForwardFn = at::Tensor (*)(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                 at::IntArrayRef, const std::optional<at::Tensor>&, c10::string_view,
                                 std::optional<int64_t>, at::OptionalIntArrayRef);
using BackwardFn = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> (*)(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef,
    const std::optional<at::Tensor>&, c10::string_view, std::optional<int64_t>, at::OptionalIntArrayRef,
    std::array<bool, 5>);

template <ForwardFn Forward>
std::tuple<at::Tensor, at::Tensor> keep_nothing(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x,
                                                const at::Tensor& dec, at::IntArrayRef tile,
                                                const std::optional<at::Tensor>& bias, c10::string_view mode,
                                                std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  return {Forward(x, w_hat, enc_x, dec, tile, bias, mode, out_features, levels), nothing_kept(x)};
}

template <BackwardFn Backward>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> recompute_kept(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    at::OptionalIntArrayRef levels, std::array<bool, 5> needs, const at::Tensor& /*kept*/) {
  return Backward(grad_y, x, w_hat, enc_x, dec, tile, bias, mode, out_features, levels, needs);
}

bool set_keep_for_backward_op(bool keep) { return set_keep_for_backward(keep); }

// stl_mlp and stl_mlp_inference: the schema's arguments into MlpArgs, then `Impl`.
template <at::Tensor (*Impl)(const MlpArgs&)>
at::Tensor mlp_kernel(const at::Tensor& x, const at::Tensor& w_hat1, const at::Tensor& enc_x1, const at::Tensor& dec1,
                      const std::optional<at::Tensor>& bias1, const at::Tensor& w_hat2, const at::Tensor& enc_x2,
                      const at::Tensor& dec2, const std::optional<at::Tensor>& bias2, at::IntArrayRef tile,
                      c10::string_view activation, c10::string_view mode, std::optional<int64_t> hidden_features,
                      std::optional<int64_t> out_features, at::OptionalIntArrayRef levels1,
                      at::OptionalIntArrayRef levels2) {
  return Impl(MlpArgs{x, w_hat1, enc_x1, dec1, bias1, w_hat2, enc_x2, dec2, bias2, tile, to_string(activation),
                      to_string(mode), hidden_features, out_features, levels1, levels2});
}

#ifdef STRASSENTILE_HAVE_CUDA_KERNELS
std::tuple<at::Tensor, at::Tensor> stl_matmul_keep_cuda_kernel(const at::Tensor& x, const at::Tensor& w_hat,
                                                               const at::Tensor& enc_x, const at::Tensor& dec,
                                                               at::IntArrayRef tile, const std::optional<at::Tensor>& bias,
                                                               c10::string_view mode, std::optional<int64_t> out_features,
                                                               at::OptionalIntArrayRef levels) {
  return stl_matmul_keep_cuda(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_kept_cuda_kernel(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    at::OptionalIntArrayRef levels, std::array<bool, 5> needs, const at::Tensor& kept) {
  return stl_matmul_backward_cuda(grad_y, x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels, needs,
                                  kept);
}

at::Tensor stl_matmul_cuda_kernel(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                                  at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                                  std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  return stl_matmul_cuda(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_cuda_kernel(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    at::OptionalIntArrayRef levels, std::array<bool, 5> needs) {
  return stl_matmul_backward_cuda(grad_y, x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels, needs);
}
#endif

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
    STL_CHECK(false, "strassentile: ", e.what());
  }
}

AlgorithmTuple fit_op(at::IntArrayRef tile, int64_t rank, int64_t restarts, int64_t iterations, int64_t seed,
                      const std::optional<at::Tensor>& x_moment, const std::optional<at::Tensor>& w_moment) {
  STL_CHECK(rank >= 1 && restarts >= 1 && iterations >= 1 && seed >= 0,
            "strassentile: fit needs rank, restarts, iterations >= 1 and seed >= 0");
  FitOptions o;
  o.restarts = static_cast<std::size_t>(restarts);
  o.iterations = static_cast<std::size_t>(iterations);
  o.seed = static_cast<std::uint64_t>(seed);
  const std::optional<TileMoments> data = moments_from_tensors(tile, x_moment, w_moment);
  try {
    const auto r = static_cast<std::size_t>(rank);
    return to_tuple(data ? fit_to_data(*data, r, o).algorithm : fit(parse_tile(tile), r, o).algorithm);
  } catch (const std::invalid_argument& e) {
    STL_CHECK(false, "strassentile: ", e.what());
  }
}

AlgorithmTuple truncate_op(c10::string_view name, int64_t rank, const std::optional<at::Tensor>& x_moment,
                           const std::optional<at::Tensor>& w_moment) {
  try {
    const Algorithm alg = get(to_string(name));
    const auto r = static_cast<std::size_t>(std::max<int64_t>(rank, 0));
    const std::vector<int64_t> tile = {static_cast<int64_t>(alg.tile.a), static_cast<int64_t>(alg.tile.b),
                                       static_cast<int64_t>(alg.tile.c)};
    const std::optional<TileMoments> data = moments_from_tensors(tile, x_moment, w_moment);
    return to_tuple(data ? truncate(alg, r, *data) : truncate(alg, r));
  } catch (const std::invalid_argument& e) {
    STL_CHECK(false, "strassentile: ", e.what());
  }
}

double relative_error_op(const at::Tensor& enc_x, const at::Tensor& enc_w, const at::Tensor& dec, at::IntArrayRef tile,
                         const std::optional<at::Tensor>& x_moment, const std::optional<at::Tensor>& w_moment) {
  const std::optional<TileMoments> data = moments_from_tensors(tile, x_moment, w_moment);
  try {
    const Algorithm alg =
        make_algorithm("tensors", "", parse_tile(tile), to_matrix(enc_x), to_matrix(enc_w), to_matrix(dec));
    return data ? relative_tensor_error(alg, *data) : relative_tensor_error(alg);
  } catch (const std::invalid_argument& e) {
    STL_CHECK(false, "strassentile: ", e.what());
  }
}

// Moments of the activation tiles of x (..., K) (each slice along dim -2 is one sequence, as in stl_matmul) and of
// the weight tiles of w (K, N), as float64 tensors.
std::tuple<at::Tensor, at::Tensor> tile_moments_op(const at::Tensor& x, const at::Tensor& w, at::IntArrayRef tile) {
  STL_CHECK(x.dim() >= 1 && w.dim() == 2, "strassentile: tile_moments needs x (..., K) and w (K, N), got ", x.sizes(),
            " and ", w.sizes());
  STL_CHECK(x.size(-1) == w.size(0), "strassentile: tile_moments: x has ", x.size(-1), " features but w has ", w.size(0),
            " rows; pass w as (in_features, out_features), i.e. linear.weight.t()");
  const TileFormat t = parse_tile(tile);
  const at::Tensor xs = x.detach().to(at::kCPU, at::kDouble).reshape({-1, x.size(-1)}).contiguous();
  const at::Tensor ws = w.detach().to(at::kCPU, at::kDouble).contiguous();
  const auto seq_len = static_cast<std::size_t>(x.dim() >= 2 ? x.size(-2) : xs.size(0));
  try {
    const TileMoments m = tile_moments(
        t, MatrixView<const double>(xs.data_ptr<double>(), static_cast<std::size_t>(xs.size(0)), static_cast<std::size_t>(xs.size(1))),
        MatrixView<const double>(ws.data_ptr<double>(), static_cast<std::size_t>(ws.size(0)), static_cast<std::size_t>(ws.size(1))),
        seq_len);
    return {to_tensor(m.x), to_tensor(m.w)};
  } catch (const std::invalid_argument& e) {
    STL_CHECK(false, "strassentile: ", e.what());
  }
}

std::vector<std::string> available_op() {
  try {
    return available();
  } catch (const std::exception& e) {
    STL_CHECK(false, "strassentile: ", e.what());
  }
}

void set_data_dir_op(c10::string_view path) { set_data_dir(to_string(path)); }

// [dense_flops, stl_flops, gemm_flops, dense_params, stl_params] for an M×K·K×N layer.
std::vector<double> layer_cost_op(int64_t m, int64_t k, int64_t n, at::IntArrayRef tile, int64_t rank) {
  STL_CHECK(m >= 1 && k >= 1 && n >= 1 && rank >= 1, "strassentile: layer_cost needs m, k, n, rank >= 1");
  const StlCost c = stl_cost({static_cast<std::size_t>(m), static_cast<std::size_t>(k), static_cast<std::size_t>(n)},
                             parse_tile(tile), static_cast<std::size_t>(rank));
  return {c.dense_flops, c.stl_flops(), c.gemm_flops, c.dense_params, c.stl_params};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> init_parameters_op(int64_t in_features, int64_t out_features,
                                                                              at::IntArrayRef tile, int64_t rank,
                                                                              c10::string_view init,
                                                                              const std::optional<at::Tensor>& x_moment,
                                                                              const std::optional<at::Tensor>& w_moment) {
  const std::optional<TileMoments> data = moments_from_tensors(tile, x_moment, w_moment);
  return initial_parameters(in_features, out_features, tile, rank, to_string(init), data ? &*data : nullptr);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, std::vector<int64_t>> init_causal_parameters_op(
    int64_t in_features, int64_t out_features, at::IntArrayRef tile, int64_t rank, c10::string_view init,
    at::OptionalIntArrayRef levels) {
  CausalParameters p = initial_causal_parameters(in_features, out_features, tile, rank, to_string(init), levels);
  return {p.w_hat, p.enc_x, p.enc_w, p.dec, p.levels};
}

}  // namespace

TORCH_LIBRARY(strassentile, m) {
  m.def("stl_matmul(Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias=None, "
        "str mode=\"tile\", int? out_features=None, int[]? levels=None) -> Tensor");
  m.def("stl_matmul_backward(Tensor grad_y, Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, "
        "Tensor? bias, str mode, int? out_features, int[]? levels, bool[5] needs) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  // The CUDA forward that also returns its workspace (X̂ and Z), and the backward that uses it: what the autograd
  // kernel calls under set_keep_for_backward(True). Off CUDA kernels nothing is kept (an empty byte tensor).
  m.def("stl_matmul_keep(Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias=None, "
        "str mode=\"tile\", int? out_features=None, int[]? levels=None) -> (Tensor, Tensor)");
  m.def("stl_matmul_backward_kept(Tensor grad_y, Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, "
        "Tensor? bias, str mode, int? out_features, int[]? levels, bool[5] needs, Tensor kept) -> "
        "(Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("set_keep_for_backward(bool keep) -> bool", &set_keep_for_backward_op);
  // Two layers with an activation between them (stl_mlp.hpp): the composition where gradients are wanted, else
  // stl_mlp_inference, which on CUDA fuses layer 1's decode with layer 2's encode.
  m.def("stl_mlp(Tensor x, Tensor w_hat1, Tensor enc_x1, Tensor dec1, Tensor? bias1, Tensor w_hat2, Tensor enc_x2, "
        "Tensor dec2, Tensor? bias2, int[] tile, str activation=\"gelu_tanh\", str mode=\"tile\", "
        "int? hidden_features=None, int? out_features=None, int[]? levels1=None, int[]? levels2=None) -> Tensor");
  m.def("stl_mlp_inference(Tensor x, Tensor w_hat1, Tensor enc_x1, Tensor dec1, Tensor? bias1, Tensor w_hat2, "
        "Tensor enc_x2, Tensor dec2, Tensor? bias2, int[] tile, str activation=\"gelu_tanh\", str mode=\"tile\", "
        "int? hidden_features=None, int? out_features=None, int[]? levels1=None, int[]? levels2=None) -> Tensor");
  m.def("encode_weight(Tensor w, Tensor enc_w, int[] tile) -> Tensor");
  m.def("algorithm(str name) -> (Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)", &algorithm_op);
  m.def("available_algorithms() -> str[]", &available_op);
  // x_moment/w_moment (from tile_moments) switch fit, truncate, relative_error and init_parameters to the
  // expected output error on that data instead of on Gaussian tiles.
  m.def("tile_moments(Tensor x, Tensor w, int[] tile) -> (Tensor x_moment, Tensor w_moment)", &tile_moments_op);
  m.def("fit_algorithm(int[] tile, int rank, int restarts=8, int iterations=2000, int seed=0, Tensor? x_moment=None, "
        "Tensor? w_moment=None) -> (Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)",
        &fit_op);
  m.def("truncate_algorithm(str name, int rank, Tensor? x_moment=None, Tensor? w_moment=None) -> "
        "(Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)",
        &truncate_op);
  m.def("relative_error(Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, Tensor? x_moment=None, "
        "Tensor? w_moment=None) -> float",
        &relative_error_op);
  m.def("calibrate(Tensor x, Tensor y, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias, int steps=300, "
        "float lr=1e-3, bool train_basis=False) -> (Tensor w_hat, Tensor enc_x, Tensor dec, float error_before, "
        "float error_after)");
  m.def("set_data_dir(str path) -> ()", &set_data_dir_op);
  m.def("layer_cost(int m, int k, int n, int[] tile, int rank) -> float[]", &layer_cost_op);
  m.def("init_parameters(int in_features, int out_features, int[] tile, int rank, str init, Tensor? x_moment=None, "
        "Tensor? w_moment=None) -> "
        "(Tensor w_hat, Tensor enc_x, Tensor enc_w, Tensor dec)",
        &init_parameters_op);
  // Mode "causal": parameters that respect the masks, and the levels they are built for (stl_init.hpp).
  m.def("init_causal_parameters(int in_features, int out_features, int[] tile, int rank, str init, int[]? levels=None) -> "
        "(Tensor w_hat, Tensor enc_x, Tensor enc_w, Tensor dec, int[] levels)",
        &init_causal_parameters_op);
}

TORCH_LIBRARY_IMPL(strassentile, CPU, m) {
  m.impl("stl_matmul", &stl_matmul_kernel);
  m.impl("stl_matmul_backward", &stl_matmul_backward_kernel);
  m.impl("stl_matmul_keep", &keep_nothing<&stl_matmul_kernel>);
  m.impl("stl_matmul_backward_kept", &recompute_kept<&stl_matmul_backward_kernel>);
}

// CUDA: the kernels of src/cuda (encode/decode kernels, cuBLAS batched products) when the library is built with
// them; otherwise the same ATen composition as the CPU (cuBLAS bmm underneath).
TORCH_LIBRARY_IMPL(strassentile, CUDA, m) {
#ifdef STRASSENTILE_HAVE_CUDA_KERNELS
  m.impl("stl_matmul", &stl_matmul_cuda_kernel);
  m.impl("stl_matmul_backward", &stl_matmul_backward_cuda_kernel);
  m.impl("stl_matmul_keep", &stl_matmul_keep_cuda_kernel);
  m.impl("stl_matmul_backward_kept", &stl_matmul_backward_kept_cuda_kernel);
  m.impl("stl_mlp_inference", &mlp_kernel<&stl_mlp_cuda>);
#else
  m.impl("stl_matmul", &stl_matmul_kernel);
  m.impl("stl_matmul_backward", &stl_matmul_backward_kernel);
  m.impl("stl_matmul_keep", &keep_nothing<&stl_matmul_kernel>);
  m.impl("stl_matmul_backward_kept", &recompute_kept<&stl_matmul_backward_kernel>);
#endif
}

// Shape-only kernels on symbolic sizes (stl_matmul_meta.cpp): meta tensors, FakeTensor, torch.compile.
TORCH_LIBRARY_IMPL(strassentile, Meta, m) {
  m.impl("stl_matmul", &stl_matmul_meta);
  m.impl("stl_matmul_backward", &stl_matmul_backward_meta);
  m.impl("stl_matmul_keep", &keep_nothing<&stl_matmul_meta>);
  m.impl("stl_matmul_backward_kept", &recompute_kept<&stl_matmul_backward_meta>);
}

// encode_weight is built from differentiable ATen ops: autograd and every backend come for free.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("encode_weight", &encode_weight_aten);
  // Runs its own optimisation loop with autograd inside; callers see plain tensors out.
  m.impl("calibrate", &calibrate);
  m.impl("stl_mlp", &mlp_kernel<&stl_mlp_routed>);
}

// Every backend without a kernel of its own (CPU, Meta, CUDA without ours): stl_matmul, the activation, stl_matmul.
TORCH_LIBRARY_IMPL(strassentile, CompositeExplicitAutograd, m) {
  m.impl("stl_mlp_inference", &mlp_kernel<&stl_mlp_composition>);
}

TORCH_LIBRARY_IMPL(strassentile, Autograd, m) { m.impl("stl_matmul", &stl_matmul_autograd); }

}  // namespace strassentile::torch_ops
