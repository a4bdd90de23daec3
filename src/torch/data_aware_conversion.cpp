// stl_from_linear_data_aware: converting a dense layer with a basis fitted to the layer's own data
// (include/strassentile/torch/convert.hpp).
#include <stdexcept>

#include "error_message.hpp"
#include "calibrate.hpp"
#include "matrix_tensor.hpp"
#include "stl_args.hpp"
#include "stl_init.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/torch/convert.hpp"
#include "strassentile/torch/ops.hpp"

namespace strassentile {
namespace {

// Moments of the calibration inputs' a×b tiles (rows grouped per sequence along dim -2) and of the weight's b×c tiles.
TileMoments layer_moments(TileFormat t, const torch::Tensor& calibration, const torch::Tensor& weight_t) {
  const torch::Tensor x = calibration.detach().to(torch::kCPU, torch::kDouble).reshape({-1, calibration.size(-1)}).contiguous();
  const torch::Tensor w = weight_t.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const auto seq_len = static_cast<std::size_t>(calibration.dim() >= 2 ? calibration.size(-2) : x.size(0));
  return tile_moments(t, MatrixView<const double>(x.data_ptr<double>(), static_cast<std::size_t>(x.size(0)),
                                                  static_cast<std::size_t>(x.size(1))),
                      MatrixView<const double>(w.data_ptr<double>(), static_cast<std::size_t>(w.size(0)),
                                               static_cast<std::size_t>(w.size(1))),
                      seq_len);
}

}  // namespace

STLLinear stl_from_linear_data_aware(const torch::nn::Linear& linear, STLLinearOptions options,
                                     const torch::Tensor& calibration, const CalibrationOptions& calibrate,
                                     CalibrationReport* report) {
  const auto& lo = linear->options;
  STL_CHECK(calibration.defined() && calibration.dim() >= 1 && calibration.size(-1) == lo.in_features(),
            "stl_from_linear_data_aware: calibration must be (..., ", lo.in_features(), ") inputs of the layer, got ",
            calibration.defined() ? calibration.sizes() : at::IntArrayRef{});
  STL_CHECK(options.mode() != "causal", "stl_from_linear_data_aware: mode 'causal' has no data-aware basis; use "
            "mode 'tile' or 'token-local'");
  const std::string init = options.init();
  options.in_features(lo.in_features()).out_features(lo.out_features()).bias(lo.bias());
  const TileFormat t = torch_ops::parse_tile(options.tile());
  const torch::Tensor weight = linear->weight.detach();
  Algorithm basis;
  try {
    const TileMoments data = layer_moments(t, calibration, weight.t());
    basis = torch_ops::algorithm_for_init(t, static_cast<std::size_t>(options.rank()), init, &data);
  } catch (const std::invalid_argument& e) {  // bad moments (e.g. fewer rows than one tile): name the layer's data
    STL_CHECK(false, "stl_from_linear_data_aware: init='", init, "' on the calibration inputs ", calibration.sizes(),
              ": ", e.what());
  }
  // Built with a random basis (cheap) that the data-aware one replaces.
  STLLinear stl(STLLinearOptions(options).init("random"));
  stl->options.init(init);
  stl->to(weight.device(), weight.scalar_type());
  torch::NoGradGuard no_grad;
  stl->enc_x.copy_(torch_ops::to_tensor(basis.enc_x));
  stl->enc_w.copy_(torch_ops::to_tensor(basis.enc_w));
  stl->dec.copy_(torch_ops::to_tensor(basis.dec));
  stl->w_hat.copy_(ops::encode_weight(weight.t(), stl->enc_w, options.tile()));
  if (lo.bias()) stl->bias.copy_(linear->bias.detach());
  const CalibrationReport r = calibrate_to_linear(stl, linear, calibration, calibrate);
  if (report != nullptr) *report = r;
  return stl;
}

}  // namespace strassentile
