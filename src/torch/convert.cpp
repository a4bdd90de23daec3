#include "strassentile/torch/convert.hpp"
#include "error_message.hpp"

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "backward_switches.hpp"
#include "stl_args.hpp"
#include "strassentile/algorithm.hpp"

namespace strassentile {

ConvertibleLinearImpl::ConvertibleLinearImpl(int64_t in_features, int64_t out_features, bool bias)
    : ConvertibleLinearImpl(torch::nn::LinearOptions(in_features, out_features).bias(bias)) {}

ConvertibleLinearImpl::ConvertibleLinearImpl(torch::nn::LinearOptions options_) : options(std::move(options_)) { reset(); }

void ConvertibleLinearImpl::reset() {
  stl = nullptr;
  dense = register_module("impl", torch::nn::Linear(options));
}

void ConvertibleLinearImpl::use_stl(STLLinear layer) {
  STL_CHECK(layer->options.in_features() == options.in_features() && layer->options.out_features() == options.out_features(),
            "ConvertibleLinear: STL layer is ", layer->options.in_features(), "->", layer->options.out_features(),
            " but this layer is ", options.in_features(), "->", options.out_features());
  dense = nullptr;
  stl = replace_module("impl", std::move(layer));
}

torch::Tensor ConvertibleLinearImpl::forward(const torch::Tensor& x) { return is_stl() ? stl->forward(x) : dense->forward(x); }

void ConvertibleLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "strassentile::ConvertibleLinear(" << (is_stl() ? "stl" : "dense") << ")";
}

namespace {

void check_speed_options(const ConvertOptions& options) {
  if (options.min_speedup) {
    STL_CHECK(std::isfinite(*options.min_speedup) && *options.min_speedup > 0, "convert: min_speedup must be a finite "
              "number > 0 (1.0: convert only layers predicted faster than dense), got ", *options.min_speedup);
    STL_CHECK(options.tokens >= 1, "convert: min_speedup needs ConvertOptions::tokens, the tokens per call the model "
              "will run (batch x sequence length), got ", options.tokens);
  }
  STL_CHECK(options.tokens >= 0, "convert: tokens must be >= 1 (batch x sequence length), got ", options.tokens);
  STL_CHECK(options.tokens == 0 || options.gpu, "convert: ", options.min_speedup ? "min_speedup" : "tokens",
            " needs a speed model of the GPU the model will run on: set ConvertOptions::gpu, e.g. "
            "strassentile::gpu_spec(\"NVIDIA H200\", 132)");
}

// snprintf rather than iostreams for numbers: see error_message.hpp.
std::string format_number(const char* format, double value) {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

std::string format_ratio(double ratio) { return format_number("%.2fx", ratio); }

}  // namespace

std::string ConvertSummary::to_string() const {
  std::ostringstream out;
  out << "converted " << converted.size() << " layer(s), skipped " << skipped.size();
  if (dense_params > 0)
    out << "; parameters " << dense_params << " -> " << stl_params << " (" << stl_params / dense_params << "x)"
        << "; FLOPs/token " << dense_flops_per_token << " -> " << stl_flops_per_token << " ("
        << dense_flops_per_token / stl_flops_per_token << "x fewer)";
  for (const auto& [name, e] : calibration_error)
    out << "\n  calibrated " << name << ": relative error " << e.error_before << " -> " << e.error_after;
  for (const auto& name : converted) {
    const auto predicted = predicted_speedup.find(name);
    if (predicted != predicted_speedup.end())
      out << "\n  converted " << name << ": predicted " << format_ratio(predicted->second);
  }
  for (const auto& [name, why] : skipped) out << "\n  skipped " << name << ": " << why;
  return out.str();
}

ConvertSummary convert(torch::nn::Module& model, const ConvertOptions& options, const ConvertFilter& filter) {
  const TileFormat t = torch_ops::parse_tile(options.tile);
  torch_ops::parse_mode(options.mode);
  const auto is_approximate = [](const std::string& init) {
    return init == "fit" || init == "poly" || init.rfind("truncate:", 0) == 0;
  };
  const bool approximate = is_approximate(options.init);
  const bool exact = options.init != "random" && !approximate;
  STL_CHECK(options.calibration.empty() || approximate, "convert: calibration inputs need an approximate init "
            "('fit', 'poly' or 'truncate:<algorithm>'), but init='", options.init, "'");
  STL_CHECK(options.fresh_basis == "random" || (options.init == "random" && is_approximate(options.fresh_basis)),
            "convert: fresh_basis='", options.fresh_basis, "' needs init='random' and a basis 'random', "
            "'truncate:<algorithm>' (e.g. 'truncate:strassen2'), 'fit' or 'poly' (init='", options.init, "')");
  if (exact) {
    const Algorithm alg = get(options.init);  // throws with the list of names when unknown
    STL_CHECK(alg.tile == t && static_cast<int64_t>(alg.rank()) == options.rank, "convert: init='", options.init,
              "' is ", alg.tile.to_string(), ":", alg.rank(), " but tile ", t.to_string(), ", rank ", options.rank,
              " were asked");
  }
  check_speed_options(options);
  ConvertSummary summary;
  const auto modules = model.named_modules("", /*include_self=*/true);
  // The dense implementations inside ConvertibleLinears are handled through their owners.
  std::set<const torch::nn::Module*> owned;
  for (const auto& item : modules)
    if (auto* layer = dynamic_cast<ConvertibleLinearImpl*>(item.value().get()))
      if (!layer->dense.is_empty()) owned.insert(layer->dense.get());
  for (const auto& [name, inputs] : options.calibration) {
    const bool found = modules.contains(name) && dynamic_cast<ConvertibleLinearImpl*>(modules[name].get()) != nullptr;
    STL_CHECK(found, "convert: calibration inputs for '", name, "', which is no ConvertibleLinear of the model; key "
              "them by the qualified names of model.named_modules()");
  }
  for (const auto& item : modules) {
    const std::string& name = item.key();
    const std::shared_ptr<torch::nn::Module>& module = item.value();
    if (auto* layer = dynamic_cast<ConvertibleLinearImpl*>(module.get())) {
      if (layer->is_stl()) {
        summary.skipped.emplace_back(name, "already STL");
        continue;
      }
      const auto& lo = layer->options;
      if (filter ? !filter(name, *layer) : false) {
        summary.skipped.emplace_back(name, "filtered out");
        continue;
      }
      if (!filter && (lo.in_features() < static_cast<int64_t>(t.b) || lo.out_features() < static_cast<int64_t>(t.c))) {
        summary.skipped.emplace_back(name, "smaller than one tile (" + std::to_string(lo.in_features()) + "->" +
                                               std::to_string(lo.out_features()) + " for " + t.to_string() + ")");
        continue;
      }
      if (options.tokens >= 1) {
        const LayerShape shape{static_cast<std::size_t>(options.tokens), static_cast<std::size_t>(lo.in_features()),
                               static_cast<std::size_t>(lo.out_features())};
        const auto bytes = static_cast<std::size_t>(layer->dense->weight.element_size());
        const auto rank = static_cast<std::size_t>(options.rank);
        const bool causal = options.mode == "causal";
        // The backward as it will run: the converted layer trains its basis as options.train_basis says, under the
        // op's switches as they are set now.
        const BackwardSetup backward{options.train_basis, torch_ops::keep_for_backward(), torch_ops::lean_backward(),
                                     torch_ops::keep_z_for_backward()};
        const double predicted =
            predict_op_speed(shape, t, rank, *options.gpu, bytes, options.training, causal, backward).speedup();
        summary.predicted_speedup[name] = predicted;
        if (options.min_speedup && predicted < *options.min_speedup) {
          summary.skipped.emplace_back(
              name, "predicted " + format_ratio(predicted) + " < min_speedup " +
                        format_number("%g", *options.min_speedup) + " at " + std::to_string(options.tokens) +
                        " tokens (model: " + options.gpu->name + ", " +
                        (options.training ? "training" : "inference") + ")");
          continue;
        }
      }
      STLLinear stl{nullptr};
      if (exact) {
        stl = stl_from_linear(layer->dense, options.init, options.mode);
      } else if (approximate) {
        STLLinearOptions so(lo.in_features(), lo.out_features());
        so.tile(options.tile).rank(options.rank).init(options.init).mode(options.mode);
        const auto inputs = options.calibration.find(name);
        if (inputs != options.calibration.end()) {
          CalibrationReport report;
          stl = stl_from_linear_data_aware(layer->dense, so, inputs->second, options.calibrate, &report);
          summary.calibration_error[name] = report;
        } else {
          stl = stl_from_linear(layer->dense, so, torch::Tensor());  // data-free basis, w_hat = E_W(Wᵀ)
        }
      } else {
        STLLinearOptions so(lo.in_features(), lo.out_features());
        so.bias(lo.bias()).tile(options.tile).rank(options.rank).init(options.fresh_basis).mode(options.mode);
        stl = STLLinear(so);
        const torch::Tensor w = layer->dense->weight;
        stl->to(w.device(), w.scalar_type());
      }
      if (!options.train_basis) stl->set_train_basis(false);
      const StlCost cost = stl->cost(1);
      summary.dense_params += cost.dense_params;
      summary.stl_params += cost.stl_params;
      // Per token: one row tile holds `a` tokens.
      const StlCost per = stl->cost(static_cast<int64_t>(t.a));
      summary.dense_flops_per_token += per.dense_flops / static_cast<double>(t.a);
      summary.stl_flops_per_token += per.stl_flops() / static_cast<double>(t.a);
      layer->use_stl(stl);
      summary.converted.push_back(name);
    } else if (dynamic_cast<torch::nn::LinearImpl*>(module.get()) != nullptr && owned.count(module.get()) == 0) {
        summary.skipped.emplace_back(name, "plain torch::nn::Linear cannot be swapped in place in libtorch; declare it as "
                                           "strassentile::ConvertibleLinear");
    }
  }
  return summary;
}

}  // namespace strassentile
