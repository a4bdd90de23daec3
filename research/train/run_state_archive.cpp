#include "run_state_archive.hpp"

#include <sstream>
#include <stdexcept>

#include "json_text.hpp"

namespace strassentile::train {

torch::serialize::InputArchive open_run_state(const std::string& path, const torch::Device& device, const char* key,
                                              const std::string& settings, const std::string& what,
                                              const std::string& writer) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const c10::Error& e) {
    throw std::runtime_error(what + " " + path + " is not a torch archive: " + e.what_without_backtrace());
  }
  c10::IValue saved;
  if (!archive.try_read(key, saved))
    throw std::runtime_error(what + " " + path + " was not written by '" + writer + "' (no " + key + ")");
  if (saved.toStringRef() != settings)
    throw std::invalid_argument(what + " " + path + " was written under other settings:\n  saved: " +
                                saved.toStringRef() + "\n  now:   " + settings +
                                "\nrerun with the settings it was written with, or give another --checkpoint-dir");
  return archive;
}

void write_model_and_optimizer(torch::serialize::OutputArchive& archive, torch::nn::Module& model,
                               const FlatAdamW& optimizer) {
  const auto params = model.parameters(), buffers = model.buffers();
  for (std::size_t i = 0; i < params.size(); ++i) archive.write("param" + std::to_string(i), params[i].detach());
  for (std::size_t i = 0; i < buffers.size(); ++i) archive.write("buffer" + std::to_string(i), buffers[i], true);
  optimizer.save(archive, "optimizer_");
}

void read_model_and_optimizer(torch::serialize::InputArchive& archive, torch::nn::Module& model, FlatAdamW& optimizer) {
  torch::NoGradGuard no_grad;
  const auto params = model.parameters(), buffers = model.buffers();
  for (std::size_t i = 0; i < params.size(); ++i) {
    torch::Tensor saved;
    archive.read("param" + std::to_string(i), saved);
    params[i].copy_(saved);
  }
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    torch::Tensor saved;
    archive.read("buffer" + std::to_string(i), saved, true);
    buffers[i].copy_(saved);
  }
  optimizer.load(archive, "optimizer_");
}

void save_run_state(torch::serialize::OutputArchive& archive, const std::string& path, const std::string& what) {
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot write " + what + " " + path + ": " + e.what_without_backtrace());
  }
  write_file_atomically(path, bytes.str(), what);
}

}  // namespace strassentile::train
