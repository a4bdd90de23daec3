// `strassentile-lab train vit`: trains the small ViT of research/train on Fashion-MNIST for every (variant, seed) and
// writes one JSON file (research/train/results_json.hpp). The linear layers of each variant come from a LinearSpec
// string (research/baselines/baseline_linear.hpp), optionally with its own MLP ratio (vit_variant.hpp).
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "cli_args.hpp"
#include "lab_commands.hpp"
#include "results_json.hpp"
#include "train_config.hpp"
#include "trainer.hpp"
#include "vit_data.hpp"

namespace strassentile::cli {
namespace {

namespace tr = strassentile::train;

tr::Split to_device(const tr::Split& s, const torch::Device& device) {
  if (s.size() == 0) return s;
  return {s.images.to(device), s.labels.to(device)};
}

}  // namespace

int run_train(const std::vector<std::string>& argv) {
  if (!argv.empty() && argv[0] == "lm") return run_train_lm({argv.begin() + 1, argv.end()});  // cmd_train_lm.cpp
  std::set<std::string> options(tr::train_config_keys().begin(), tr::train_config_keys().end());
  options.insert("config");
  const Args args(argv, options, {});
  if (args.positionals().size() != 1 || args.positionals()[0] != "vit")
    throw UsageError(args.positionals().empty() ? "expected the model to train: vit or lm"
                                                : "unknown model '" + args.positionals()[0] + "' (known: vit, lm)");
  std::map<std::string, std::string> values;
  if (args.has("config")) values = tr::read_config_file(args.get("config", ""));
  for (const auto& key : tr::train_config_keys())
    if (args.has(key)) values[key] = args.get(key, "");
  const tr::TrainConfig config = tr::make_train_config(values);

  const std::string device_name = config.device.empty() ? (torch::cuda::is_available() ? "cuda" : "cpu") : config.device;
  if (device_name.rfind("cuda", 0) == 0 && !torch::cuda::is_available())
    throw std::runtime_error("--device " + device_name + " but this torch sees no CUDA device");
  const torch::Device device(device_name);
  if (config.threads > 0) torch::set_num_threads(static_cast<int>(config.threads));

  const tr::ImageData host = tr::load_image_data(config.data);
  tr::ImageData data;
  data.source = host.source;
  data.train = to_device(host.train, device);
  data.val = to_device(host.val, device);
  data.test = to_device(host.test, device);
  const tr::DataSizes sizes{data.source, data.train.size(), data.val.size(), data.test.size()};

  std::vector<std::pair<std::string, uint64_t>> runs;  // seed-major, so an interrupted sweep has whole seeds
  int64_t index = 0;
  for (uint64_t seed : config.seeds)
    for (const auto& variant : config.variants)
      if (index++ % config.shards == config.shard) runs.emplace_back(variant, seed);
  std::printf("ViT dim %lld, depth %lld, heads %lld, %lld tokens of %lldx%lld pixels; data %s: %lld train, %lld val, "
              "%lld test; %lld epoch(s), batch %lld, AdamW lr %g wd %g; device %s, %d threads; %zu run(s)\n",
              static_cast<long long>(config.model.dim), static_cast<long long>(config.model.depth),
              static_cast<long long>(config.model.heads), static_cast<long long>(config.model.tokens()),
              static_cast<long long>(config.model.patch), static_cast<long long>(config.model.patch), data.source.c_str(),
              static_cast<long long>(sizes.train), static_cast<long long>(sizes.val), static_cast<long long>(sizes.test),
              static_cast<long long>(config.epochs), static_cast<long long>(config.batch), config.lr, config.weight_decay,
              device_name.c_str(), torch::get_num_threads(), runs.size());
  std::fflush(stdout);

  std::vector<tr::RunResult> results;
  std::vector<std::string> failed;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const tr::RunPosition position{static_cast<int64_t>(i), static_cast<int64_t>(runs.size())};
    try {
      results.push_back(tr::train_vit_run(config, runs[i].first, runs[i].second, data, device, position));
    } catch (const std::exception& e) {  // one bad variant (an init that cannot load, say) must not stop the sweep
      failed.push_back(runs[i].first + " seed " + std::to_string(runs[i].second) + ": " + e.what());
      std::fprintf(stderr, "strassentile-lab train: run failed: %s\n", failed.back().c_str());
      continue;
    }
    if (!config.json.empty()) tr::write_results_json(config.json, config, sizes, results);
  }

  std::printf("\n| variant | seed | test acc (best val epoch) | final test acc | epochs (stopped by) | linear "
              "MFLOPs/image | params | images/s |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results)
    std::printf("| %s | %llu | %.2f%% (epoch %lld) | %.2f%% | %zu (%s) | %.3f | %.0f | %.0f |\n", r.variant.c_str(),
                static_cast<unsigned long long>(r.seed), 100 * r.test_accuracy_at_best_val,
                static_cast<long long>(r.best_epoch), 100 * r.final_test_accuracy, r.epochs.size(),
                r.finished() ? r.stopped_by.c_str() : "paused", r.cost.linear_flops / 1e6, r.params, r.images_per_second);
  if (!config.json.empty()) std::printf("results: %s\n", config.json.c_str());
  for (const auto& f : failed) std::printf("FAILED: %s\n", f.c_str());
  return failed.empty() ? 0 : 1;
}

}  // namespace strassentile::cli
