#include "stl_init.hpp"

#include <cmath>
#include <map>
#include <mutex>

#include "matrix_tensor.hpp"
#include "stl_args.hpp"
#include "stl_matmul_aten.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"

namespace strassentile::torch_ops {
namespace {

// Fitting <4,4,4> takes seconds: fit once per (tile, rank) per process, then reuse for every layer.
const Algorithm& cached_fit(TileFormat tile, std::size_t rank) {
  static std::mutex mutex;
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t, std::size_t>, Algorithm> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(tile.a, tile.b, tile.c, rank);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, fit(tile, rank).algorithm).first;
  return it->second;
}

}  // namespace

Algorithm algorithm_for_init(TileFormat t, std::size_t r, const std::string& init) {
  if (init == "fit") return cached_fit(t, r);
  const std::string truncate_prefix = "truncate:";
  const bool truncated = init.rfind(truncate_prefix, 0) == 0;
  const std::string name = truncated ? init.substr(truncate_prefix.size()) : init;
  Algorithm alg;
  try {
    alg = get(name);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "strassentile: init='", init, "': ", e.what(),
                "; other inits: 'random', 'fit', 'truncate:<algorithm>'");
  }
  TORCH_CHECK(alg.tile == t, "strassentile: init='", init, "' is a ", alg.tile.to_string(), " algorithm but tile is ",
              t.to_string(), ": pass tile=", alg.tile.to_string());
  if (truncated) {
    TORCH_CHECK(r <= alg.rank(), "strassentile: init='", init, "' can keep at most ", alg.rank(), " products, rank=", r,
                " was asked");
    return truncate(alg, r);
  }
  TORCH_CHECK(alg.rank() == r, "strassentile: init='", init, "' has rank ", alg.rank(), " but rank=", r,
              " was asked: use rank=", alg.rank(), ", init='truncate:", init, "' or init='random'");
  return alg;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> initial_parameters(int64_t K, int64_t N, at::IntArrayRef tile_arg,
                                                                              int64_t r, const std::string& init) {
  const TileFormat t = parse_tile(tile_arg);
  TORCH_CHECK(K >= 1 && N >= 1, "strassentile: in_features and out_features must be >= 1, got ", K, " and ", N);
  TORCH_CHECK(r >= 1, "strassentile: rank must be >= 1, got ", r);
  const auto a = static_cast<int64_t>(t.a), b = static_cast<int64_t>(t.b), c = static_cast<int64_t>(t.c);
  const int64_t k = (K + b - 1) / b, n = (N + c - 1) / c;
  at::NoGradGuard no_grad;
  if (init == "random") {
    const at::Tensor ex = at::randn({r, a * b}) / std::sqrt(static_cast<double>(a * b));
    const at::Tensor ew = at::randn({r, b * c}) / std::sqrt(static_cast<double>(b * c));
    const at::Tensor d = at::randn({a * c, r}) / std::sqrt(static_cast<double>(r));
    // Var(y_q) = σ²·k·Σ_p dec[q,p]²·‖enc_x[p]‖² for unit-variance inputs and i.i.d. w_hat of variance σ²;
    // choose σ² so that its mean over q is 1/3, nn.Linear's.
    const double gain = (d.pow(2) * ex.pow(2).sum(1).unsqueeze(0)).sum(1).mean().item<double>();
    const double half_width = std::sqrt(3.0) * std::sqrt((1.0 / 3.0) / (static_cast<double>(k) * gain));
    const at::Tensor wh = at::empty({r, k, n}).uniform_(-half_width, half_width);
    return {wh, ex, ew, d};
  }
  const Algorithm alg = algorithm_for_init(t, static_cast<std::size_t>(r), init);
  const bool exact = alg.verify() <= 1e-9;
  const at::Tensor ex = to_tensor(alg.enc_x).to(at::kFloat), ew = to_tensor(alg.enc_w).to(at::kFloat);
  const at::Tensor d = to_tensor(alg.dec).to(at::kFloat);
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));
  const at::Tensor dense = at::empty({K, N}).uniform_(-bound, bound);
  at::Tensor wh = encode_weight_aten(dense, ew, tile_arg);
  if (!exact) {
    // An approximate basis changes the output scale: match nn.Linear's output variance (1/3 for unit-variance
    // inputs) on a Gaussian probe of a few tiles of rows.
    const at::Tensor probe = at::randn({64 * a, K});
    const double var = stl_matmul_aten(probe, wh, ex, d, tile_arg, std::nullopt, "tile", N).var().item<double>();
    if (var > 0) wh = wh * std::sqrt((1.0 / 3.0) / var);
  }
  return {wh, ex, ew, d};
}

}  // namespace strassentile::torch_ops
