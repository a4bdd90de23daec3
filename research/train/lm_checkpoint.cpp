#include "lm_checkpoint.hpp"

#include <stdexcept>
#include <vector>

#include "baselines/baseline_linear.hpp"
#include "posix_files.hpp"
#include "run_state_archive.hpp"

namespace strassentile::train {
namespace {
constexpr const char* kVariantKey = "strassentile_lm_variant";
constexpr const char* kConfigKey = "strassentile_lm_config";
constexpr const char* kSettingsKey = "strassentile_lm_run_settings";
constexpr int64_t kCurveColumns = 4;

// The run's numbers in one fixed order; unpack_numbers reads them back in the same order.
torch::Tensor pack_numbers(const LmRunResult& r) {
  const std::vector<double> v = {static_cast<double>(r.steps),  static_cast<double>(r.tokens),
                                 r.stopped_early ? 1.0 : 0.0,   r.finished ? 1.0 : 0.0,
                                 r.train_seconds,               r.eval_seconds,
                                 r.wall_seconds,                r.steady_start_seconds,
                                 r.val_loss,                    static_cast<double>(r.val_tokens),
                                 r.test_loss,                   static_cast<double>(r.test_tokens),
                                 r.tokens_per_second,           r.steady_tokens_per_second,
                                 static_cast<double>(r.decode_batch), static_cast<double>(r.decode_tokens),
                                 r.decode_tokens_per_second};
  return torch::tensor(v, torch::kDouble);
}

void unpack_numbers(const torch::Tensor& t, LmRunResult& r, const std::string& path) {
  const torch::Tensor n = t.to(torch::kCPU, torch::kDouble).contiguous();
  if (n.numel() != pack_numbers(r).numel())
    throw std::runtime_error("run state " + path + " holds " + std::to_string(n.numel()) + " numbers, expected " +
                             std::to_string(pack_numbers(r).numel()) + ": written by another version; delete it");
  const double* v = n.data_ptr<double>();
  const auto i64 = [](double x) { return static_cast<int64_t>(x); };
  r.steps = i64(v[0]);
  r.tokens = i64(v[1]);
  r.stopped_early = v[2] != 0;
  r.finished = v[3] != 0;
  r.train_seconds = v[4];
  r.eval_seconds = v[5];
  r.wall_seconds = v[6];
  r.steady_start_seconds = v[7];
  r.val_loss = v[8];
  r.val_tokens = i64(v[9]);
  r.test_loss = v[10];
  r.test_tokens = i64(v[11]);
  r.tokens_per_second = v[12];
  r.steady_tokens_per_second = v[13];
  r.decode_batch = i64(v[14]);
  r.decode_tokens = i64(v[15]);
  r.decode_tokens_per_second = v[16];
}

torch::Tensor curve_to_tensor(const std::vector<LmCurvePoint>& curve) {
  std::vector<double> flat;
  for (const LmCurvePoint& p : curve)
    flat.insert(flat.end(), {static_cast<double>(p.step), static_cast<double>(p.tokens), p.train_loss, p.val_loss});
  return torch::tensor(flat, torch::kDouble).view({static_cast<int64_t>(curve.size()), kCurveColumns});
}

std::vector<LmCurvePoint> curve_from_tensor(const torch::Tensor& t) {
  const torch::Tensor rows = t.to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<LmCurvePoint> curve;
  const double* v = rows.data_ptr<double>();
  for (int64_t i = 0; i < rows.size(0); ++i, v += kCurveColumns)
    curve.push_back({static_cast<int64_t>(v[0]), static_cast<int64_t>(v[1]), v[2], v[3]});
  return curve;
}

}  // namespace

void save_lm_checkpoint(const std::string& path, LmImpl& model, const std::string& variant) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  archive.write(kVariantKey, c10::IValue(variant));
  archive.write(kConfigKey, c10::IValue(model.config().to_string()));
  try {
    archive.save_to(path);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot write checkpoint " + path + ": " + e.what_without_backtrace());
  }
}

LoadedLm load_lm_checkpoint(const std::string& path, const torch::Device& device) {
  if (!is_regular_file(path))
    throw std::runtime_error("checkpoint " + path + " does not exist (write one with 'strassentile-lab train lm --save PREFIX')");
  torch::serialize::InputArchive archive;
  c10::IValue variant, config;
  try {
    archive.load_from(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint " + path + " is not a torch archive: " + e.what_without_backtrace());
  }
  if (!archive.try_read(kVariantKey, variant) || !archive.try_read(kConfigKey, config))
    throw std::runtime_error("checkpoint " + path + " was not written by 'strassentile-lab train lm' (no " + kVariantKey + ")");
  LoadedLm loaded;
  loaded.variant = variant.toStringRef();
  loaded.model = Lm(LmConfig::parse(config.toStringRef()), LinearSpec::parse(loaded.variant));
  loaded.model->load(archive);
  loaded.model->to(device);
  loaded.model->eval();
  return loaded;
}

void save_lm_run_state(const std::string& path, const std::string& settings, const LmRunResult& run, LmImpl& model,
                       const FlatAdamW& optimizer, const at::Generator& windows) {
  torch::serialize::OutputArchive archive;
  archive.write(kSettingsKey, c10::IValue(settings));
  archive.write("numbers", pack_numbers(run));
  archive.write("curve", curve_to_tensor(run.curve));
  archive.write("step_losses", torch::tensor(run.step_losses, torch::kDouble));
  if (!run.finished) {
    write_model_and_optimizer(archive, model, optimizer);
    archive.write("windows_generator", windows.get_state());
  }
  save_run_state(archive, path, "run state");
}

bool load_lm_run_state(const std::string& path, const std::string& settings, LmRunResult& run, LmImpl& model,
                       FlatAdamW& optimizer, at::Generator& windows) {
  if (!is_regular_file(path)) return false;
  torch::serialize::InputArchive archive = open_run_state(path, model.rope_cos.device(), kSettingsKey, settings,
                                                          "run state", "strassentile-lab train lm --checkpoint-dir");
  try {
    torch::Tensor numbers, curve, losses;
    archive.read("numbers", numbers);
    archive.read("curve", curve);
    archive.read("step_losses", losses);
    unpack_numbers(numbers, run, path);
    run.curve = curve_from_tensor(curve);
    const torch::Tensor l = losses.to(torch::kCPU, torch::kDouble).contiguous();
    run.step_losses.assign(l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
    if (run.finished) return true;
    read_model_and_optimizer(archive, model, optimizer);
    torch::Tensor generator_state;
    archive.read("windows_generator", generator_state);
    windows.set_state(generator_state.to(torch::kCPU));
  } catch (const c10::Error& e) {
    throw std::runtime_error("run state " + path + " is incomplete: " + e.what_without_backtrace());
  }
  // 2:4 layers with learned masks count their training forwards (mask refresh every N); that count is the step.
  for (const auto& module : model.modules()) {
    if (auto* sparse = dynamic_cast<Sparse24LinearImpl*>(module.get())) sparse->steps = run.steps;
  }
  return true;
}

}  // namespace strassentile::train
