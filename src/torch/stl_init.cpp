#include "stl_init.hpp"
#include "error_message.hpp"

#include <torch/library.h>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard (PyTorch 2.14's ATen.h no longer brings it)

#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>

#include "matrix_tensor.hpp"
#include "causal_basis.hpp"
#include "stl_args.hpp"
#include "stl_matmul_aten.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/causal.hpp"
#include "strassentile/polynomial.hpp"

namespace strassentile::torch_ops {
namespace {

// Fitting <4,4,4>, or truncating its 100-product polynomial algorithm, takes seconds: do it once per
// (kind, tile, rank) per process, then reuse it for every layer.
// One cache per call site (the static map is per Make type).
template <class Make>
auto cached(const std::string& kind, TileFormat tile, std::size_t rank, Make make) -> decltype(make()) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, std::size_t, std::size_t, std::size_t, std::size_t>, decltype(make())> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(kind, tile.a, tile.b, tile.c, rank);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make()).first;
  return it->second;
}

// `alg` with extra products that start switched off (zero decoder columns) so that training can use them.
Algorithm pad_products(const Algorithm& alg, std::size_t rank) {
  const TileFormat t = alg.tile;
  Matrix<double> ex(rank, t.x_size()), ew(rank, t.w_size()), d(t.y_size(), rank);
  std::mt19937_64 rng(rank);
  std::normal_distribution<double> normal;
  for (std::size_t p = 0; p < rank; ++p) {
    const bool kept = p < alg.rank();
    for (std::size_t q = 0; q < t.x_size(); ++q) ex(p, q) = kept ? alg.enc_x(p, q) : normal(rng) / std::sqrt(static_cast<double>(t.x_size()));
    for (std::size_t q = 0; q < t.w_size(); ++q) ew(p, q) = kept ? alg.enc_w(p, q) : normal(rng) / std::sqrt(static_cast<double>(t.w_size()));
    for (std::size_t q = 0; q < t.y_size(); ++q) d(q, p) = kept ? alg.dec(q, p) : 0.0;
  }
  return make_algorithm(alg.name + "-pad" + std::to_string(rank), alg.source + ", padded with switched-off products",
                        t, std::move(ex), std::move(ew), std::move(d));
}

Algorithm poly_init(TileFormat t, std::size_t r, const TileMoments* data) {
  const Algorithm full = polynomial_algorithm(t);
  if (r >= full.rank()) return pad_products(full, r);
  if (data != nullptr) return truncate(full, r, *data);
  return cached("poly", t, r, [&] { return truncate(full, r); });
}

// init="random"; with `causal` (dims carrying the levels) enc_x and dec are masked before the scale is chosen.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> random_parameters(int64_t k, int64_t n, TileFormat t, int64_t r,
                                                                             const StlDims* causal) {
  const auto a = static_cast<int64_t>(t.a), b = static_cast<int64_t>(t.b), c = static_cast<int64_t>(t.c);
  at::Tensor ex = at::randn({r, a * b}) / std::sqrt(static_cast<double>(a * b));
  const at::Tensor ew = at::randn({r, b * c}) / std::sqrt(static_cast<double>(b * c));
  at::Tensor d = at::randn({a * c, r}) / std::sqrt(static_cast<double>(r));
  if (causal != nullptr) ex = causal_enc_x(ex, *causal), d = causal_dec(d, *causal);
  // Var(y_q) = σ²·k·Σ_p dec[q,p]²·‖enc_x[p]‖² for unit-variance inputs and i.i.d. w_hat of variance σ²;
  // choose σ² so that its mean over q is 1/3, nn.Linear's.
  const double gain = (d.pow(2) * ex.pow(2).sum(1).unsqueeze(0)).sum(1).mean().item<double>();
  const double half_width = std::sqrt(3.0) * std::sqrt((1.0 / 3.0) / (static_cast<double>(k) * gain));
  const at::Tensor wh = at::empty({r, k, n}).uniform_(-half_width, half_width);
  return {wh, ex, ew, d};
}

// w_hat = E_W(W) of a weight drawn like nn.Linear's; rescaled to nn.Linear's output variance (1/3 for
// unit-variance inputs, on a Gaussian probe of a few tiles of rows) unless the basis is exact.
at::Tensor encoded_dense_weight(int64_t K, int64_t N, at::IntArrayRef tile_arg, const at::Tensor& ex, const at::Tensor& ew,
                                const at::Tensor& d, bool exact, const std::string& mode,
                                at::OptionalIntArrayRef levels = std::nullopt) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));
  const at::Tensor dense = at::empty({K, N}).uniform_(-bound, bound);
  at::Tensor wh = encode_weight_aten(dense, ew, tile_arg);
  if (!exact) {
    const at::Tensor probe = at::randn({64 * static_cast<int64_t>(parse_tile(tile_arg).a), K});
    const double var = stl_matmul_aten({probe, wh, ex, d, tile_arg, std::nullopt, mode, N, levels, K}).var().item<double>();
    if (var > 0) wh = wh * std::sqrt((1.0 / 3.0) / var);
  }
  return wh;
}

// The algorithm an init names ("<name>" or "truncate:<name>"), checked against the layer's tile. `others` lists
// the inits the error message offers instead.
struct NamedInit {
  Algorithm alg;
  bool truncated = false;
  std::string name;
};

NamedInit named_algorithm(const std::string& init, TileFormat t, const char* others) {
  const std::string truncate_prefix = "truncate:";
  NamedInit n;
  n.truncated = init.rfind(truncate_prefix, 0) == 0;
  n.name = n.truncated ? init.substr(truncate_prefix.size()) : init;
  try {
    n.alg = get(n.name);
  } catch (const std::exception& e) {
    STL_CHECK(false, "strassentile: init='", init, "': ", e.what(), "; ", others);
  }
  STL_CHECK(n.alg.tile == t, "strassentile: init='", init, "' is a ", n.alg.tile.to_string(), " algorithm but tile is ",
            t.to_string(), ": pass tile=", n.alg.tile.to_string());
  return n;
}

}  // namespace

Algorithm algorithm_for_init(TileFormat t, std::size_t r, const std::string& init, const TileMoments* data) {
  if (data != nullptr)
    STL_CHECK(data->tile == t, "strassentile: moments are for tile ", data->tile.to_string(), ", not ", t.to_string());
  if (init == "fit") return data != nullptr ? fit_to_data(*data, r).algorithm : cached("fit", t, r, [&] { return fit(t, r).algorithm; });
  if (init == "poly") return poly_init(t, r, data);
  const NamedInit n = named_algorithm(init, t, "other inits: 'random', 'fit', 'poly', 'truncate:<algorithm>'");
  const Algorithm& alg = n.alg;
  const bool truncated = n.truncated;
  if (truncated) {
    STL_CHECK(r <= alg.rank(), "strassentile: init='", init, "' can keep at most ", alg.rank(), " products, rank=", r,
              " was asked");
    return data != nullptr ? truncate(alg, r, *data) : truncate(alg, r);
  }
  STL_CHECK(alg.rank() == r, "strassentile: init='", init, "' has rank ", alg.rank(), " but rank=", r,
            " was asked: use rank=", alg.rank(), ", init='truncate:", init, "' or init='random'");
  return alg;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> initial_parameters(int64_t K, int64_t N, at::IntArrayRef tile_arg,
                                                                              int64_t r, const std::string& init,
                                                                              const TileMoments* data) {
  const TileFormat t = parse_tile(tile_arg);
  STL_CHECK(K >= 1 && N >= 1, "strassentile: in_features and out_features must be >= 1, got ", K, " and ", N);
  STL_CHECK(r >= 1, "strassentile: rank must be >= 1, got ", r);
  const auto b = static_cast<int64_t>(t.b), c = static_cast<int64_t>(t.c);
  at::NoGradGuard no_grad;
  if (init == "random") return random_parameters((K + b - 1) / b, (N + c - 1) / c, t, r, nullptr);
  Algorithm alg;
  try {
    alg = algorithm_for_init(t, static_cast<std::size_t>(r), init, data);
  } catch (const std::invalid_argument& e) {  // from the core (e.g. bad moments): a c10::Error like the others
    STL_CHECK(false, "strassentile: init='", init, "': ", e.what());
  }
  const bool exact = alg.verify() <= 1e-9;
  const at::Tensor ex = to_tensor(alg.enc_x).to(at::kFloat), ew = to_tensor(alg.enc_w).to(at::kFloat);
  const at::Tensor d = to_tensor(alg.dec).to(at::kFloat);
  // An approximate basis changes the output scale: w_hat is rescaled to nn.Linear's.
  return {encoded_dense_weight(K, N, tile_arg, ex, ew, d, exact, "tile"), ex, ew, d};
}

CausalParameters initial_causal_parameters(int64_t K, int64_t N, at::IntArrayRef tile_arg, int64_t r, const std::string& init,
                                           at::OptionalIntArrayRef levels) {
  const TileFormat t = parse_tile(tile_arg);
  STL_CHECK(K >= 1 && N >= 1, "strassentile: in_features and out_features must be >= 1, got ", K, " and ", N);
  STL_CHECK(r >= 1, "strassentile: rank must be >= 1, got ", r);
  const auto a = static_cast<int64_t>(t.a), b = static_cast<int64_t>(t.b), c = static_cast<int64_t>(t.c);
  at::NoGradGuard no_grad;
  if (init == "random") {
    StlDims dims;
    dims.tile = t;
    dims.rank = r;
    dims.mode = Mode::Causal;
    dims.levels = resolve_causal_levels(levels, r, a);
    auto [wh, ex, ew, d] = random_parameters((K + b - 1) / b, (N + c - 1) / c, t, r, &dims);
    return {wh, ex, ew, d, dims.levels};
  }
  STL_CHECK(init != "fit" && init != "poly", "strassentile: init='", init, "' is not available in mode 'causal' (its ",
            "encoders read every row of a tile, so the causal mask would discard most of it): use init='random', an ",
            "algorithm (e.g. 'naive-", t.a, "x", t.b, "x", t.c, "') or 'truncate:<algorithm>'");
  STL_CHECK(!levels.has_value(), "strassentile: init='", init, "' chooses the causal levels itself (the highest row each ",
            "product reads): pass levels only with init='random'");
  const NamedInit n = named_algorithm(init, t, "other causal inits: 'random', 'truncate:<algorithm>'");
  const Algorithm& alg = n.alg;
  const bool truncated = n.truncated;
  const std::string& name = n.name;
  const auto rank = static_cast<std::size_t>(r);
  STL_CHECK(truncated ? rank <= alg.rank() : rank == alg.rank(), "strassentile: init='", init, "' has ", alg.rank(),
            " products but rank=", r, " was asked: use ",
            truncated ? "a rank <= " + std::to_string(alg.rank()) : "rank=" + std::to_string(alg.rank()) + " or init='truncate:" + name + "'");
  const CausalAlgorithm causal =
      truncated ? cached("causal-truncate:" + name, t, rank, [&] { return causal_truncate(alg, rank); }) : causal_refit(alg);
  const std::vector<int64_t> lv(causal.levels.begin(), causal.levels.end());
  const at::Tensor ex = to_tensor(causal.algorithm.enc_x).to(at::kFloat), ew = to_tensor(causal.algorithm.enc_w).to(at::kFloat);
  const at::Tensor d = to_tensor(causal.algorithm.dec).to(at::kFloat);
  const bool exact = causal.algorithm.verify() <= 1e-9;
  return {encoded_dense_weight(K, N, tile_arg, ex, ew, d, exact, "causal", lv), ex, ew, d, lv};
}

std::optional<TileMoments> moments_from_tensors(at::IntArrayRef tile_arg, const std::optional<at::Tensor>& x_moment,
                                                const std::optional<at::Tensor>& w_moment) {
  const bool has_x = x_moment.has_value() && x_moment->defined(), has_w = w_moment.has_value() && w_moment->defined();
  STL_CHECK(has_x == has_w, "strassentile: pass both x_moment and w_moment (from tile_moments) or neither");
  if (!has_x) return std::nullopt;
  const TileFormat t = parse_tile(tile_arg);
  STL_CHECK(x_moment->dim() == 2 && x_moment->size(0) == int64_t(t.x_size()) && x_moment->size(1) == int64_t(t.x_size()),
            "strassentile: x_moment must be ", t.x_size(), "x", t.x_size(), " for tile ", t.to_string(), ", got ",
            x_moment->sizes(), ": compute it with tile_moments(x, w, tile)");
  STL_CHECK(w_moment->dim() == 2 && w_moment->size(0) == int64_t(t.w_size()) && w_moment->size(1) == int64_t(t.w_size()),
            "strassentile: w_moment must be ", t.w_size(), "x", t.w_size(), " for tile ", t.to_string(), ", got ",
            w_moment->sizes(), ": compute it with tile_moments(x, w, tile)");
  return TileMoments{t, to_matrix(*x_moment), to_matrix(*w_moment), 1, 1};
}

namespace {

// The ops: tensors and strings of the schema in, the parameters out.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> init_parameters_op(int64_t in_features, int64_t out_features,
                                                                              at::IntArrayRef tile, int64_t rank,
                                                                              std::string_view init,
                                                                              const std::optional<at::Tensor>& x_moment,
                                                                              const std::optional<at::Tensor>& w_moment) {
  const std::optional<TileMoments> data = moments_from_tensors(tile, x_moment, w_moment);
  return initial_parameters(in_features, out_features, tile, rank, std::string(init), data ? &*data : nullptr);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, std::vector<int64_t>> init_causal_parameters_op(
    int64_t in_features, int64_t out_features, at::IntArrayRef tile, int64_t rank, std::string_view init,
    at::OptionalIntArrayRef levels) {
  CausalParameters p = initial_causal_parameters(in_features, out_features, tile, rank, std::string(init), levels);
  return {p.w_hat, p.enc_x, p.enc_w, p.dec, p.levels};
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("init_parameters", &init_parameters_op);
  m.impl("init_causal_parameters", &init_causal_parameters_op);
}

}  // namespace strassentile::torch_ops
