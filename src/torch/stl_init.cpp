#include "stl_init.hpp"

#include <cmath>

#include "stl_args.hpp"
#include "stl_matmul_aten.hpp"
#include "strassentile/algorithm.hpp"

namespace strassentile::torch_ops {
namespace {

at::Tensor to_tensor(const Matrix<double>& m) {
  return at::from_blob(const_cast<double*>(m.data()), {static_cast<int64_t>(m.rows()), static_cast<int64_t>(m.cols())},
                       at::kDouble)
      .clone();
}

}  // namespace

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
  Algorithm alg;
  try {
    alg = get(init);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "strassentile: init='", init, "': ", e.what(), "; or init='random'");
  }
  TORCH_CHECK(alg.tile == t, "strassentile: init='", init, "' is a ", alg.tile.to_string(), " algorithm but tile is ",
              t.to_string(), ": pass tile=", alg.tile.to_string());
  TORCH_CHECK(static_cast<int64_t>(alg.rank()) == r, "strassentile: init='", init, "' has rank ", alg.rank(), " but rank=", r,
              " was asked: use rank=", alg.rank(), " or init='random'");
  const at::Tensor ex = to_tensor(alg.enc_x).to(at::kFloat), ew = to_tensor(alg.enc_w).to(at::kFloat);
  const at::Tensor d = to_tensor(alg.dec).to(at::kFloat);
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));
  const at::Tensor dense = at::empty({K, N}).uniform_(-bound, bound);
  return {encode_weight_aten(dense, ew, tile_arg), ex, ew, d};
}

}  // namespace strassentile::torch_ops
