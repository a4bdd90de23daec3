// AdamW over parameters packed into one flat buffer per weight-decay group, so that a step is a dozen kernel
// launches instead of a dozen per parameter tensor (what libtorch's torch::optim::AdamW does). The small ViT is
// launch-bound on a GPU, where that loop costs more than the model.
//
// Construction moves every parameter's data into a view of its group's buffer (Tensor::set_data, so the modules
// keep their tensors) and gives it a gradient that is a view of the flat gradient buffer, which autograd then
// accumulates into in place. The update is torch::optim::AdamW's (decoupled weight decay, bias correction).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace strassentile::train {

struct FlatAdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// Parameters that share a weight decay and a learning rate (options.lr × lr_scale).
struct FlatAdamWGroup {
  std::vector<torch::Tensor> params;
  double weight_decay = 0, lr_scale = 1;
};

// The groups both trainers use: the trainable tensors of `params` (a named_parameters() dict) with `weight_decay`
// where `decays(name, tensor)`, none elsewhere; and STL's basis (E_X, D) in a group of its own at basis_lr × the
// learning rate, with weight decay, where basis_lr is not 1 (without it a run keeps the two groups it always had).
std::vector<FlatAdamWGroup> weight_decay_groups(
    const torch::OrderedDict<std::string, torch::Tensor>& params, double weight_decay, double basis_lr,
    const std::function<bool(const std::string& name, const torch::Tensor& param)>& decays);

class FlatAdamW {
 public:
  // Each non-empty group gets its own flat buffers. All parameters must be on one device and of one dtype.
  explicit FlatAdamW(const std::vector<FlatAdamWGroup>& groups, FlatAdamWOptions options = {});
  // `decay` get weight decay `weight_decay`, `no_decay` none.
  FlatAdamW(const std::vector<torch::Tensor>& decay, const std::vector<torch::Tensor>& no_decay, double weight_decay,
            FlatAdamWOptions options = {})
      : FlatAdamW({{decay, weight_decay, 1.0}, {no_decay, 0.0, 1.0}}, options) {}

  void zero_grad();
  // Scales all gradients so that their global 2-norm is at most max_norm (no host synchronisation).
  void clip_grad_norm(double max_norm);
  void step();
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  int64_t steps() const { return steps_; }

  // The moments and the step count under `prefix` (the parameters are the model's: they are saved with it).
  void save(torch::serialize::OutputArchive& archive, const std::string& prefix) const;
  // Restores what save wrote, in place (the parameters keep their flat buffers); throws std::runtime_error when the
  // archive's moments do not fit this optimiser's groups.
  void load(torch::serialize::InputArchive& archive, const std::string& prefix);

 private:
  struct Group {
    torch::Tensor param, grad, exp_avg, exp_avg_sq;  // flat
    double weight_decay = 0, lr_scale = 1;
  };
  std::vector<Group> groups_;
  FlatAdamWOptions options_;
  int64_t steps_ = 0;
};

}  // namespace strassentile::train
