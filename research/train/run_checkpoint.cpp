#include "run_checkpoint.hpp"

#include <stdexcept>
#include <vector>

#include "posix_files.hpp"
#include "run_state_archive.hpp"

namespace strassentile::train {
namespace {

constexpr const char* kSettingsKey = "strassentile_vit_run_settings";
constexpr int64_t kEpochColumns = 7;

torch::Tensor epochs_to_tensor(const std::vector<EpochRecord>& epochs) {
  std::vector<double> flat;
  for (const EpochRecord& e : epochs)
    flat.insert(flat.end(), {static_cast<double>(e.epoch), static_cast<double>(e.steps), e.train_loss, e.val_accuracy,
                             e.test_accuracy, e.train_seconds, e.images_per_second});
  return torch::tensor(flat, torch::kDouble).view({static_cast<int64_t>(epochs.size()), kEpochColumns});
}

std::vector<EpochRecord> epochs_from_tensor(const torch::Tensor& t) {
  const torch::Tensor rows = t.to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<EpochRecord> epochs;
  const double* v = rows.data_ptr<double>();
  for (int64_t i = 0; i < rows.size(0); ++i, v += kEpochColumns)
    epochs.push_back({static_cast<int64_t>(v[0]), static_cast<int64_t>(v[1]), v[2], v[3], v[4], v[5], v[6]});
  return epochs;
}

}  // namespace

std::string run_checkpoint_path(const std::string& dir, const std::string& variant, uint64_t seed) {
  std::string name = variant;
  for (char& ch : name) {
    const bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                      ch == '_' || ch == '-';
    if (!keep) ch = '_';
  }
  return dir + "/" + name + ".seed" + std::to_string(seed) + ".pt";
}

void save_run_checkpoint(const std::string& path, const std::string& settings, const RunResult& run, VitImpl& model,
                         const FlatAdamW& optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write(kSettingsKey, c10::IValue(settings));
  archive.write("stopped_by", c10::IValue(run.stopped_by));
  archive.write("epochs", epochs_to_tensor(run.epochs));
  archive.write("step_losses", torch::tensor(run.step_losses, torch::kDouble));
  archive.write("totals", torch::tensor({static_cast<double>(run.steps), run.train_seconds, run.steady_start_seconds},
                                        torch::kDouble));
  if (!run.finished()) write_model_and_optimizer(archive, model, optimizer);
  save_run_state(archive, path, "checkpoint");
}

bool load_run_checkpoint(const std::string& path, const std::string& settings, RunResult& run, VitImpl& model,
                         FlatAdamW& optimizer) {
  if (!is_regular_file(path)) return false;
  torch::serialize::InputArchive archive = open_run_state(path, model.pos.device(), kSettingsKey, settings,
                                                          "checkpoint", "strassentile-lab train vit");
  c10::IValue stopped_by;
  if (!archive.try_read("stopped_by", stopped_by))
    throw std::runtime_error("checkpoint " + path + " was not written by 'strassentile-lab train vit' (no stopped_by)");
  try {
    torch::Tensor epochs, losses, totals;
    archive.read("epochs", epochs);
    archive.read("step_losses", losses);
    archive.read("totals", totals);
    run.stopped_by = stopped_by.toStringRef();
    run.epochs = epochs_from_tensor(epochs);
    const torch::Tensor l = losses.to(torch::kCPU, torch::kDouble).contiguous();
    run.step_losses.assign(l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
    const torch::Tensor t = totals.to(torch::kCPU, torch::kDouble).contiguous();
    run.steps = static_cast<int64_t>(t[0].item<double>());
    run.train_seconds = t[1].item<double>();
    run.steady_start_seconds = t[2].item<double>();
    run.resumed_from_epoch = static_cast<int64_t>(run.epochs.size());
    if (run.finished()) return true;
    read_model_and_optimizer(archive, model, optimizer);
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint " + path + " is incomplete: " + e.what_without_backtrace());
  }
  return true;
}

}  // namespace strassentile::train
