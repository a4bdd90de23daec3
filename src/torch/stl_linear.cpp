#include "strassentile/torch/stl_linear.hpp"
#include "error_message.hpp"

#include <cmath>

#include "calibrate.hpp"
#include "matrix_tensor.hpp"
#include "stl_args.hpp"
#include "stl_init.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/causal.hpp"
#include "strassentile/torch/ops.hpp"

namespace strassentile {

using torch_ops::to_tensor;

STLLinearImpl::STLLinearImpl(STLLinearOptions options_) : options(std::move(options_)) { reset(); }

TileFormat STLLinearImpl::tile() const { return torch_ops::parse_tile(options.tile()); }

void STLLinearImpl::reset() {
  const int64_t K = options.in_features(), N = options.out_features();
  try {
    const torch_ops::Mode mode = torch_ops::parse_mode(options.mode());
    STL_CHECK(mode != torch_ops::Mode::TokenLocal || tile().a == 1, "mode 'token-local' needs tiles of one row ",
              "(a = 1, e.g. tile {1, 4, 4}), got ", tile().to_string());
    STL_CHECK(mode == torch_ops::Mode::Causal || options.levels().empty(), "levels apply only to mode 'causal', got mode '",
              options.mode(), "'");
    torch::Tensor wh, ex, ew, d;
    if (mode == torch_ops::Mode::Causal) {
      const std::vector<int64_t>& given = options.levels();
      torch_ops::CausalParameters p = torch_ops::initial_causal_parameters(
          K, N, options.tile(), options.rank(), options.init(),
          given.empty() ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(given));
      wh = p.w_hat, ex = p.enc_x, ew = p.enc_w, d = p.dec, levels = p.levels;
      register_buffer("levels", torch::tensor(levels, torch::kInt64));
    } else {
      std::tie(wh, ex, ew, d) = torch_ops::initial_parameters(K, N, options.tile(), options.rank(), options.init());
      levels.clear();
    }
    w_hat = register_parameter("w_hat", wh);
    enc_x = register_parameter("enc_x", ex, options.train_basis());
    dec = register_parameter("dec", d, options.train_basis());
    enc_w = register_buffer("enc_w", ew);
  } catch (const c10::Error& e) {
    STL_CHECK(false, "STLLinear: ", e.what_without_backtrace());
  }
  // nn::Linear's default bias: U(-1/√K, 1/√K).
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));
  bias = options.bias() ? register_parameter("bias", torch::empty({N}).uniform_(-bound, bound))
                        : register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
}

torch::Tensor STLLinearImpl::forward(const torch::Tensor& x) {
  return ops::stl_matmul(x, w_hat, enc_x, dec, options.tile(),
                         bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt, options.mode(),
                         options.out_features(),
                         levels.empty() ? std::nullopt : std::optional<std::vector<int64_t>>(levels),
                         options.in_features());
}

torch::Tensor STLLinearImpl::dense_weight() const {
  STL_CHECK(options.tile()[0] == 1, "STLLinear::dense_weight: tile ", tile().to_string(), " has a = ",
                options.tile()[0], " rows, so each output row depends on the other rows of its tile and no dense "
                "weight reproduces the layer; only layers of one-row tiles (a = 1, mode 'token-local') have one");
  const torch::NoGradGuard no_grad;
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(w_hat.device());
  const torch::Tensor eye = torch::eye(options.in_features(), f64);
  const torch::Tensor y = ops::stl_matmul(eye, w_hat.to(torch::kDouble), enc_x.to(torch::kDouble),
                                          dec.to(torch::kDouble), options.tile(), std::nullopt, options.mode(),
                                          options.out_features(),
                                          levels.empty() ? std::nullopt : std::optional<std::vector<int64_t>>(levels),
                                          options.in_features());
  return y.t().to(w_hat.scalar_type()).contiguous();
}

torch::nn::Linear STLLinearImpl::to_linear() const {
  const torch::Tensor w = dense_weight();
  torch::nn::Linear linear(
      torch::nn::LinearOptions(options.in_features(), options.out_features()).bias(bias.defined()));
  linear->to(w.device(), w.scalar_type());
  {
    const torch::NoGradGuard no_grad;
    linear->weight.copy_(w);
    if (bias.defined()) linear->bias.copy_(bias);
  }
  linear->weight.set_requires_grad(w_hat.requires_grad());
  if (bias.defined()) linear->bias.set_requires_grad(bias.requires_grad());
  return linear;
}

torch::Tensor STLLinearImpl::forward_step(const torch::Tensor& x_t, STLDecodeCache& cache) {
  const torch_ops::Mode mode = torch_ops::parse_mode(options.mode());
  STL_CHECK(mode != torch_ops::Mode::Tile, "STLLinear::forward_step: mode 'tile' cannot decode token by token: output ",
            "row u of a tile depends on the later rows (future tokens) of its tile. Build autoregressive layers with ",
            "mode 'causal' (or 'token-local' with a = 1)");
  STL_CHECK(x_t.dim() == 2 && x_t.size(1) == options.in_features(), "STLLinear::forward_step: x_t must be (batch, ",
            options.in_features(), "), one token per sequence, got ", x_t.sizes());
  const auto a = static_cast<int64_t>(tile().a);
  const int64_t u = cache.position % a;  // row of the current tile this token is
  STL_CHECK(u == 0 || (cache.rows.defined() && cache.rows.size(0) == x_t.size(0) && cache.rows.size(1) == u),
            "STLLinear::forward_step: the cache holds ", cache.rows.defined() ? cache.rows.sizes() : at::IntArrayRef{},
            " but this step is row ", u, " of a tile for a batch of ", x_t.size(0),
            ": use one STLDecodeCache per layer and reset() it when a new batch of sequences starts");
  // Rows 0..u of the tile as one short sequence: the op pads it to a whole tile, and in mode causal output row u
  // reads rows <= u only, so it equals row u of the full forward.
  const torch::Tensor window = u == 0 ? x_t.unsqueeze(1) : torch::cat({cache.rows, x_t.unsqueeze(1)}, 1);
  const torch::Tensor y = forward(window).select(1, u);
  cache.rows = u + 1 < a ? window : torch::Tensor();
  ++cache.position;
  return y;
}

void STLLinearImpl::load(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  const auto restore = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
    if (!target.defined()) return;
    torch::Tensor loaded;
    archive.read(name, loaded, is_buffer);
    STL_CHECK(loaded.sizes() == target.sizes(), "STLLinear: checkpoint has ", name, " of shape ", loaded.sizes(),
              " but this layer (", options.in_features(), "->", options.out_features(), ", tile ", tile().to_string(),
              ", rank ", options.rank(), ") needs ", target.sizes(), ": build the layer with the checkpoint's options");
    target.copy_(loaded);
  };
  restore("w_hat", w_hat, false);
  restore("enc_x", enc_x, false);
  restore("dec", dec, false);
  restore("bias", bias, false);
  restore("enc_w", enc_w, true);
  if (!levels.empty()) {
    torch::Tensor lv = named_buffers()["levels"];
    restore("levels", lv, true);
    lv = lv.to(torch::kCPU);
    levels.assign(lv.data_ptr<int64_t>(), lv.data_ptr<int64_t>() + lv.numel());
  }
}

void STLLinearImpl::set_train_basis(bool train) {
  options.train_basis(train);
  enc_x.set_requires_grad(train);
  dec.set_requires_grad(train);
}

StlCost STLLinearImpl::cost(int64_t tokens) const {
  STL_CHECK(tokens >= 1, "STLLinear::cost: tokens must be >= 1");
  return stl_cost({static_cast<std::size_t>(tokens), static_cast<std::size_t>(options.in_features()),
                   static_cast<std::size_t>(options.out_features())},
                  tile(), static_cast<std::size_t>(options.rank()));
}

void STLLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "strassentile::STLLinear(in_features=" << options.in_features() << ", out_features=" << options.out_features()
         << ", bias=" << (options.bias() ? "true" : "false") << ", tile=" << tile().to_string() << ", rank=" << options.rank()
         << ", init=" << options.init() << ", mode=" << options.mode() << ")";
}

STLLinear stl_from_linear(const torch::nn::Linear& linear, const std::string& algorithm, const std::string& mode) {
  Algorithm alg = get(algorithm);
  STL_CHECK(alg.verify() <= 1e-9, "stl_from_linear: algorithm '", algorithm,
            "' is not exact, so the converted layer would not reproduce the linear layer");
  if (torch_ops::parse_mode(mode) == torch_ops::Mode::Causal) {
    // The layer uses the algorithm under the causal masks (levels: the rows each product reads).
    alg = causal_refit(alg).algorithm;
    STL_CHECK(alg.verify() <= 1e-9, "stl_from_linear: algorithm '", algorithm, "' is not causal (its products mix ",
              "rows of a tile), so under mode 'causal' it would not reproduce the linear layer: use 'naive-AxBxC', or ",
              "stl_from_linear(linear, options with init 'truncate:", algorithm, "', calibration) for an approximation");
  }
  const auto& lo = linear->options;
  STLLinearOptions o(lo.in_features(), lo.out_features());
  o.bias(lo.bias())
      .tile({static_cast<int64_t>(alg.tile.a), static_cast<int64_t>(alg.tile.b), static_cast<int64_t>(alg.tile.c)})
      .rank(static_cast<int64_t>(alg.rank()))
      .init(algorithm)
      .mode(mode);
  STLLinear stl(o);
  torch::NoGradGuard no_grad;
  const torch::Tensor weight = linear->weight.detach();
  stl->to(weight.device(), weight.scalar_type());
  // Coefficients straight from double, so rational ones lose nothing beyond the weight's own dtype.
  stl->enc_x.copy_(to_tensor(alg.enc_x));
  stl->enc_w.copy_(to_tensor(alg.enc_w));
  stl->dec.copy_(to_tensor(alg.dec));
  stl->w_hat.copy_(ops::encode_weight(weight.t(), stl->enc_w, o.tile()));
  if (lo.bias()) stl->bias.copy_(linear->bias.detach());
  return stl;
}

CalibrationReport calibrate_to_linear(STLLinear& stl, const torch::nn::Linear& linear, const torch::Tensor& calibration,
                                      const CalibrationOptions& calibrate) {
  torch::NoGradGuard no_grad;
  const torch::Tensor weight = linear->weight.detach();
  const bool has_bias = linear->options.bias();
  const torch::Tensor x = calibration.to(weight.device(), weight.scalar_type());
  const torch::Tensor target = torch::nn::functional::linear(x, weight, has_bias ? linear->bias.detach() : torch::Tensor());
  auto [wh, ex, d, before, after] = torch_ops::calibrate(
      x, target, stl->w_hat, stl->enc_x, stl->dec, stl->options.tile(),
      has_bias ? std::optional<torch::Tensor>(stl->bias) : std::nullopt, calibrate.steps, calibrate.lr,
      calibrate.train_basis);
  stl->w_hat.copy_(wh);
  stl->enc_x.copy_(ex);
  stl->dec.copy_(d);
  return {before, after};
}

STLLinear stl_from_linear(const torch::nn::Linear& linear, STLLinearOptions options, const torch::Tensor& calibration,
                          const CalibrationOptions& calibrate, CalibrationReport* report) {
  const auto& lo = linear->options;
  options.in_features(lo.in_features()).out_features(lo.out_features()).bias(lo.bias());
  STLLinear stl(options);
  const torch::Tensor weight = linear->weight.detach();
  stl->to(weight.device(), weight.scalar_type());
  torch::NoGradGuard no_grad;
  stl->w_hat.copy_(ops::encode_weight(weight.t(), stl->enc_w, options.tile()));
  if (lo.bias()) stl->bias.copy_(linear->bias.detach());
  CalibrationReport r;
  // The calibration op fits in mode tile; a causal basis stored with its masked entries at zero gives the same
  // outputs there as under the masks, so only fitting the basis itself would be wrong.
  STL_CHECK(!(calibration.defined() && calibrate.train_basis && !stl->levels.empty()),
            "stl_from_linear: calibrate.train_basis is not supported in mode 'causal'; calibrate w_hat alone");
  if (calibration.defined()) r = calibrate_to_linear(stl, linear, calibration, calibrate);
  if (report != nullptr) *report = r;
  return stl;
}

}  // namespace strassentile
