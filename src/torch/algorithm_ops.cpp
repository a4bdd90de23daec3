// The algorithm, fitting and cost ops (strassentile::algorithm, available_algorithms, tile_moments, fit_algorithm,
// truncate_algorithm, relative_error, set_data_dir, layer_cost): the torch-free core (strassentile/algorithm.hpp,
// approximation.hpp, cost_model.hpp) with tensors in and out, and its std exceptions as c10::Error.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "error_message.hpp"
#include "matrix_tensor.hpp"
#include "stl_args.hpp"
#include "stl_init.hpp"  // moments_from_tensors
#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/cost_model.hpp"

namespace strassentile::torch_ops {
namespace {

using AlgorithmTuple = std::tuple<at::Tensor, at::Tensor, at::Tensor, std::vector<int64_t>, std::string>;

// (enc_x, enc_w, dec) as float64 tensors, the tile and "name: source".
AlgorithmTuple to_tuple(const Algorithm& alg) {
  return {to_tensor(alg.enc_x), to_tensor(alg.enc_w), to_tensor(alg.dec),
          {static_cast<int64_t>(alg.tile.a), static_cast<int64_t>(alg.tile.b), static_cast<int64_t>(alg.tile.c)},
          alg.name + ": " + alg.source};
}

AlgorithmTuple algorithm_op(std::string_view name) {
  try {
    return to_tuple(get(std::string(name)));
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

AlgorithmTuple truncate_op(std::string_view name, int64_t rank, const std::optional<at::Tensor>& x_moment,
                           const std::optional<at::Tensor>& w_moment) {
  try {
    const Algorithm alg = get(std::string(name));
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

void set_data_dir_op(std::string_view path) { set_data_dir(std::string(path)); }

// [dense_flops, stl_flops, gemm_flops, dense_params, stl_params] for an M×K·K×N layer.
std::vector<double> layer_cost_op(int64_t m, int64_t k, int64_t n, at::IntArrayRef tile, int64_t rank) {
  STL_CHECK(m >= 1 && k >= 1 && n >= 1 && rank >= 1, "strassentile: layer_cost needs m, k, n, rank >= 1");
  const StlCost c = stl_cost({static_cast<std::size_t>(m), static_cast<std::size_t>(k), static_cast<std::size_t>(n)},
                             parse_tile(tile), static_cast<std::size_t>(rank));
  return {c.dense_flops, c.stl_flops(), c.gemm_flops, c.dense_params, c.stl_params};
}

}  // namespace

// No dispatch on tensors (most take none): the catch-all kernels.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("algorithm", &algorithm_op);
  m.impl("available_algorithms", &available_op);
  m.impl("tile_moments", &tile_moments_op);
  m.impl("fit_algorithm", &fit_op);
  m.impl("truncate_algorithm", &truncate_op);
  m.impl("relative_error", &relative_error_op);
  m.impl("set_data_dir", &set_data_dir_op);
  m.impl("layer_cost", &layer_cost_op);
}

}  // namespace strassentile::torch_ops
