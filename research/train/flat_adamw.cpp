#include "flat_adamw.hpp"

#include <cmath>
#include <stdexcept>

#include "baselines/baseline_linear.hpp"

namespace strassentile::train {

std::vector<FlatAdamWGroup> weight_decay_groups(
    const torch::OrderedDict<std::string, torch::Tensor>& params, double weight_decay, double basis_lr,
    const std::function<bool(const std::string& name, const torch::Tensor& param)>& decays) {
  FlatAdamWGroup decay{{}, weight_decay, 1.0}, no_decay{{}, 0.0, 1.0}, basis{{}, weight_decay, basis_lr};
  for (const auto& p : params) {
    if (!p.value().requires_grad()) continue;
    FlatAdamWGroup& group = basis_lr != 1 && is_stl_basis_parameter(p.key()) ? basis
                            : decays(p.key(), p.value())                      ? decay
                                                                              : no_decay;
    group.params.push_back(p.value());
  }
  return {decay, no_decay, basis};
}

FlatAdamW::FlatAdamW(const std::vector<FlatAdamWGroup>& groups, FlatAdamWOptions options) : options_(options) {
  torch::NoGradGuard no_grad;
  for (const FlatAdamWGroup& group : groups) {
    if (group.params.empty()) continue;
    TORCH_CHECK(group.lr_scale > 0 && std::isfinite(group.lr_scale), "FlatAdamW: a group's lr_scale must be > 0, got ",
                group.lr_scale);
    int64_t total = 0;
    for (const auto& p : group.params) total += p.numel();
    Group g;
    g.param = torch::empty({total}, group.params.front().options());
    g.grad = torch::zeros({total}, group.params.front().options());
    g.weight_decay = group.weight_decay;
    g.lr_scale = group.lr_scale;
    int64_t offset = 0;
    for (auto p : group.params) {
      TORCH_CHECK(p.device() == g.param.device() && p.scalar_type() == g.param.scalar_type(),
                  "FlatAdamW: parameters must share one device and dtype");
      const int64_t n = p.numel();
      torch::Tensor view = g.param.narrow(0, offset, n).view(p.sizes());
      view.copy_(p);
      p.set_data(view);
      p.mutable_grad() = g.grad.narrow(0, offset, n).view(p.sizes());
      offset += n;
    }
    g.exp_avg = torch::zeros_like(g.param);
    g.exp_avg_sq = torch::zeros_like(g.param);
    groups_.push_back(std::move(g));
  }
}

void FlatAdamW::zero_grad() {
  for (auto& g : groups_) g.grad.zero_();
}

void FlatAdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  torch::Tensor sq = torch::zeros({}, groups_.front().grad.options());
  for (auto& g : groups_) sq = sq + g.grad.pow(2).sum();
  const torch::Tensor coef = (max_norm / (sq.sqrt() + 1e-6)).clamp_max(1.0);
  for (auto& g : groups_) g.grad.mul_(coef);
}

void FlatAdamW::step() {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double bc1 = 1 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bc2 = 1 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (auto& g : groups_) {
    const double lr = options_.lr * g.lr_scale;
    if (g.weight_decay != 0) g.param.mul_(1 - lr * g.weight_decay);
    g.exp_avg.mul_(options_.beta1).add_(g.grad, 1 - options_.beta1);
    g.exp_avg_sq.mul_(options_.beta2).addcmul_(g.grad, g.grad, 1 - options_.beta2);
    const torch::Tensor denom = (g.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(options_.eps);
    g.param.addcdiv_(g.exp_avg, denom, -lr / bc1);
  }
}

void FlatAdamW::save(torch::serialize::OutputArchive& archive, const std::string& prefix) const {
  archive.write(prefix + "steps", torch::tensor(steps_, torch::kLong));
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    archive.write(prefix + "exp_avg" + std::to_string(i), groups_[i].exp_avg);
    archive.write(prefix + "exp_avg_sq" + std::to_string(i), groups_[i].exp_avg_sq);
  }
}

void FlatAdamW::load(torch::serialize::InputArchive& archive, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  torch::Tensor steps;
  archive.read(prefix + "steps", steps);
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    for (auto [name, state] : {std::pair{"exp_avg", &groups_[i].exp_avg}, std::pair{"exp_avg_sq", &groups_[i].exp_avg_sq}}) {
      torch::Tensor saved;
      archive.read(prefix + name + std::to_string(i), saved);
      if (!saved.sizes().equals(state->sizes()))
        throw std::runtime_error("FlatAdamW::load: " + std::string(name) + std::to_string(i) + " has " +
                                 std::to_string(saved.numel()) + " elements, this optimiser " +
                                 std::to_string(state->numel()));
      state->copy_(saved);
    }
  }
  steps_ = steps.item<int64_t>();
}

}  // namespace strassentile::train
