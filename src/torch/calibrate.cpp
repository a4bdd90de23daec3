#include "calibrate.hpp"
#include "error_message.hpp"

#include <torch/library.h>
#include <torch/optim/adam.h>

#include "strassentile/torch/ops.hpp"

namespace strassentile::torch_ops {
namespace {

// diag(AᵀA) of the linear map A: w_hat ↦ STL(x; w_hat) (tile mode), as a tensor shaped like w_hat: the entry
// (p, k, j) is ‖dec[:, p]‖² · Σ_m (enc_x[p] · vec(X_{m,k}))² over the row tiles m (edges zero-padded, as the op does).
at::Tensor normal_diagonal(const at::Tensor& x, const at::Tensor& enc_x, const at::Tensor& dec, at::IntArrayRef tile,
                           const at::Tensor& w_hat) {
  const int64_t a = tile[0], b = tile.size() == 1 ? tile[0] : tile[1];
  const int64_t K = x.size(-1), rows = x.dim() >= 2 ? x.size(-2) : 1;
  const at::Tensor x3 = x.reshape({-1, rows, K});
  const int64_t pad_rows = (a - rows % a) % a, pad_k = (b - K % b) % b;
  const at::Tensor padded = at::constant_pad_nd(x3, {0, pad_k, 0, pad_rows});
  const int64_t mt = (rows + pad_rows) / a, kt = (K + pad_k) / b;
  const at::Tensor tiles = padded.reshape({-1, mt, a, kt, b}).permute({0, 1, 3, 2, 4}).reshape({-1, kt, a * b});
  const at::Tensor z2 = at::matmul(tiles, enc_x.t()).pow(2).sum(0);         // (kt, r)
  const at::Tensor diag = dec.pow(2).sum(0).unsqueeze(1) * z2.t();           // (r, kt)
  return diag.unsqueeze(2).expand_as(w_hat);
}

// argmin_w ‖A(w) − target‖² from w0 by CGLS with the Jacobi preconditioner (w = s ⊙ v, s = diag(AᵀA)^(-1/2)).
// The problem is badly conditioned in w_hat's coordinates (a data-aware basis has large encoder entries in
// directions the data rarely excites), so unpreconditioned methods crawl and Adam, whose first steps move every
// coordinate by ~lr whatever its curvature, can raise the error many-fold before it recovers. Each iteration
// costs one forward and one backward, like an Adam step; the iteration count is the only regulariser.
at::Tensor least_squares_w_hat(const at::Tensor& x, const at::Tensor& target, const at::Tensor& w0, const at::Tensor& ex,
                               const at::Tensor& d, const std::vector<int64_t>& tile, int64_t out_features,
                               int64_t iterations) {
  const auto apply = [&](const at::Tensor& w) { return ops::stl_matmul(x, w, ex, d, tile, std::nullopt, "tile", out_features); };
  const auto adjoint = [&](const at::Tensor& r) {  // Aᵀr: the gradient of <A(w), r> in w (A is linear)
    const at::Tensor probe = at::zeros_like(w0).requires_grad_(true);
    return torch::autograd::grad({apply(probe)}, {probe}, {r})[0];
  };
  const at::Tensor h = normal_diagonal(x, ex, d, tile, w0);
  const at::Tensor s = at::where(h > 1e-12 * h.max(), h.rsqrt(), at::zeros_like(h));  // unexcited coordinates stay
  at::Tensor w = w0.clone();
  at::Tensor r = target - apply(w);
  at::Tensor g = s * adjoint(r);
  at::Tensor p = g.clone();
  double gamma = g.pow(2).sum().item<double>();
  for (int64_t it = 0; it < iterations && gamma > 0; ++it) {
    const at::Tensor q = apply(s * p);
    const double qq = q.pow(2).sum().item<double>();
    if (!(qq > 0)) break;
    const double alpha = gamma / qq;
    w = w + alpha * (s * p);
    r = r - alpha * q;
    g = s * adjoint(r);
    const double next = g.pow(2).sum().item<double>();
    p = g + (next / gamma) * p;
    gamma = next;
  }
  return w;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, double, double> calibrate(
    const at::Tensor& x, const at::Tensor& y, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, int64_t steps, double lr, bool train_basis) {
  at::AutoGradMode enable_grad(true);  // callers often hold a no_grad guard while building layers
  STL_CHECK(steps >= 0 && lr > 0, "strassentile: calibrate needs steps >= 0 and lr > 0");
  STL_CHECK(x.dim() >= 1 && y.dim() == x.dim() && x.sizes().slice(0, x.dim() - 1) == y.sizes().slice(0, y.dim() - 1),
            "strassentile: calibration inputs ", x.sizes(), " and targets ", y.sizes(), " must agree in all but the last dim");
  const int64_t out_features = y.size(-1);
  const at::Tensor xs = x.detach().to(at::kFloat), ys = y.detach().to(at::kFloat);
  const std::optional<at::Tensor> b =
      bias.has_value() && bias->defined() ? std::optional<at::Tensor>(bias->detach().to(at::kFloat)) : std::nullopt;
  at::Tensor wh = w_hat.detach().to(at::kFloat).clone().requires_grad_(true);
  at::Tensor ex = enc_x.detach().to(at::kFloat).clone().requires_grad_(train_basis);
  at::Tensor d = dec.detach().to(at::kFloat).clone().requires_grad_(train_basis);
  const std::vector<int64_t> t = tile.vec();
  const double y_norm = std::max(ys.norm().item<double>(), 1e-30);
  const auto residual = [&] { return ops::stl_matmul(xs, wh, ex, d, t, b, "tile", out_features) - ys; };
  const auto relative_error = [&] {
    at::NoGradGuard no_grad;
    return residual().norm().item<double>() / y_norm;
  };
  const double before = relative_error();
  const at::Tensor wh0 = wh.detach().clone(), ex0 = ex.detach().clone(), d0 = d.detach().clone();

  if (!train_basis) {
    // Only w_hat: a linear least-squares problem, solved as one (lr is not used).
    const at::Tensor target = b.has_value() ? ys - *b : ys;
    wh = least_squares_w_hat(xs, target, wh0, ex.detach(), d.detach(), t, out_features, steps).requires_grad_(true);
  } else {
    std::vector<at::Tensor> params = {wh, ex, d};
    torch::optim::Adam opt(params, torch::optim::AdamOptions(lr));
    for (int64_t step = 0; step < steps; ++step) {
      opt.zero_grad();
      const at::Tensor loss = residual().pow(2).mean();
      loss.backward();
      opt.step();
    }
  }
  double after = relative_error();
  if (!(after <= before)) {  // diverged or NaN: keep what we were given
    wh = wh0, ex = ex0, d = d0;
    after = before;
  }
  return {wh.detach().to(w_hat.scalar_type()), ex.detach().to(enc_x.scalar_type()), d.detach().to(dec.scalar_type()), before,
          after};
}

// Runs its own optimisation loop with autograd inside; callers see plain tensors out.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) { m.impl("calibrate", &calibrate); }

}  // namespace strassentile::torch_ops
