#include "calibrate.hpp"

#include <torch/optim/adam.h>

#include "strassentile/torch/ops.hpp"

namespace strassentile::torch_ops {

std::tuple<at::Tensor, at::Tensor, at::Tensor, double, double> calibrate(
    const at::Tensor& x, const at::Tensor& y, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, int64_t steps, double lr, bool train_basis) {
  at::AutoGradMode enable_grad(true);  // callers often hold a no_grad guard while building layers
  TORCH_CHECK(steps >= 0 && lr > 0, "strassentile: calibrate needs steps >= 0 and lr > 0");
  TORCH_CHECK(x.dim() >= 1 && y.dim() == x.dim() && x.sizes().slice(0, x.dim() - 1) == y.sizes().slice(0, y.dim() - 1),
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

  std::vector<at::Tensor> params = {wh};
  if (train_basis) params.insert(params.end(), {ex, d});
  torch::optim::Adam opt(params, torch::optim::AdamOptions(lr));
  for (int64_t step = 0; step < steps; ++step) {
    opt.zero_grad();
    const at::Tensor loss = residual().pow(2).mean();
    loss.backward();
    opt.step();
  }
  double after = relative_error();
  if (!(after <= before)) {  // diverged or NaN: keep what we were given
    wh = wh0, ex = ex0, d = d0;
    after = before;
  }
  return {wh.detach().to(w_hat.scalar_type()), ex.detach().to(enc_x.scalar_type()), d.detach().to(dec.scalar_type()), before,
          after};
}

}  // namespace strassentile::torch_ops
