// Converting dense linear layers of a libtorch model into STL layers.
//
// libtorch modules hold their layers as members (torch::nn::Linear fc{nullptr}), so a plain nn::Linear cannot
// be swapped behind its owner's back. Layers that should be convertible are declared as ConvertibleLinear:
// an nn::Linear look-alike whose implementation `convert` replaces in place.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "strassentile/cost_model.hpp"
#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {

class ConvertibleLinearImpl : public torch::nn::Cloneable<ConvertibleLinearImpl> {
 public:
  ConvertibleLinearImpl(int64_t in_features, int64_t out_features, bool bias = true);
  explicit ConvertibleLinearImpl(torch::nn::LinearOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  bool is_stl() const { return !stl.is_empty(); }
  // Replaces the dense implementation (or a previous STL one) by `layer`.
  void use_stl(STLLinear layer);

  torch::nn::LinearOptions options;
  torch::nn::Linear dense{nullptr};  // set while dense
  STLLinear stl{nullptr};            // set once converted
};
TORCH_MODULE(ConvertibleLinear);

struct ConvertOptions {
  std::vector<int64_t> tile = {4, 4, 4};
  int64_t rank = 24;
  // An exact algorithm's name converts each layer exactly from its dense weights (tile and rank must be the
  // algorithm's); "random" gives fresh STL layers (training from scratch); an approximate basis ("fit", "poly",
  // "truncate:<algorithm>") gives approximate copies of the dense layers, w_hat = E_W(Wᵀ).
  std::string init = "random";
  // init="random" only: where the fresh layers' change of basis starts, "random" or an approximate init
  // ("truncate:<algorithm>", "fit", "poly"; w_hat drawn fresh, scaled to nn::Linear's output variance). From
  // scratch, "truncate:strassen2" trained to higher accuracy than "random" at <4,4,4> (docs/RESULTS.md).
  std::string fresh_basis = "random";
  std::string mode = "tile";
  // Whether the converted layers learn E_X and D (STLLinearOptions::train_basis). false freezes them: a training step
  // skips their gradients (the setting advised at width >= 4096, docs/TRAINING_GUIDE.md), and min_speedup prices the
  // backward without them.
  bool train_basis = true;
  // Approximate inits only: calibration inputs (..., in_features) per layer, keyed by the layer's qualified name as
  // named_modules() spells it (e.g. "blocks.0.fc1"); the inputs that layer sees in the dense model. A layer with
  // inputs is converted by stl_from_linear_data_aware (basis fitted to its tile moments, then w_hat to its dense
  // outputs); layers without keep the data-free basis. A name that is no ConvertibleLinear of the model is an error.
  std::map<std::string, torch::Tensor> calibration;
  CalibrationOptions calibrate;
  // Dispatch by predicted speed (strassentile/cost_model.hpp's predict_speed): with min_speedup set, only layers
  // that `gpu` is predicted to run at least that many times faster as STL than dense are converted, at `tokens`
  // rows per call (batch x sequence length), forward and backward of every parameter when `training` (the basis
  // included unless train_basis is false, under ops::set_keep_for_backward and set_lean_backward as they are set
  // when convert runs). `tokens`
  // alone reports the predictions without filtering. Both need `gpu`, e.g. gpu_spec(name, sm_count, clock_hz).
  std::optional<double> min_speedup;
  int64_t tokens = 0;
  bool training = true;
  std::optional<GpuSpec> gpu;
};

struct ConvertSummary {
  std::vector<std::string> converted;                         // qualified names
  std::vector<std::pair<std::string, std::string>> skipped;  // (name, reason)
  double dense_params = 0, stl_params = 0;                    // over converted layers, biases excluded
  double dense_flops_per_token = 0, stl_flops_per_token = 0;  // forward, over converted layers
  std::map<std::string, CalibrationReport> calibration_error;  // per calibrated layer: relative output errors
  std::map<std::string, double> predicted_speedup;  // per layer, when ConvertOptions::tokens is set: dense / STL time
  std::string to_string() const;
};

// filter(qualified_name, layer) → convert this layer? The default converts every layer whose in/out features are
// at least the tile's b/c (smaller layers would be mostly padding) and skips the rest with a reason.
using ConvertFilter = std::function<bool(const std::string&, const ConvertibleLinearImpl&)>;

ConvertSummary convert(torch::nn::Module& model, const ConvertOptions& options, const ConvertFilter& filter = nullptr);

// An approximate STL copy of `linear` fitted to calibration inputs (..., in_features; each slice along dim -2 one
// sequence, as in stl_matmul): the basis of options.init ("fit", "poly" or "truncate:<algorithm>") is made
// data-aware, i.e. fitted to the second moments of the inputs' tiles and the weight's tiles; w_hat starts as
// E_W(Wᵀ) and is then fitted to reproduce linear(calibration) (`calibrate`). `report` receives the relative
// errors. The C++ counterpart of Python's STLLinear.from_linear(linear, None, init=..., calibration=...).
STLLinear stl_from_linear_data_aware(const torch::nn::Linear& linear, STLLinearOptions options,
                                     const torch::Tensor& calibration, const CalibrationOptions& calibrate = {},
                                     CalibrationReport* report = nullptr);

}  // namespace strassentile
