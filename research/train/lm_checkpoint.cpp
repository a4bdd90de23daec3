#include "lm_checkpoint.hpp"

#include <stdexcept>

#include "posix_files.hpp"

namespace strassentile::train {
namespace {
constexpr const char* kVariantKey = "strassentile_lm_variant";
constexpr const char* kConfigKey = "strassentile_lm_config";
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

}  // namespace strassentile::train
