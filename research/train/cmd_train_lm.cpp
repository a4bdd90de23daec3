// `strassentile-lab train lm`: trains the byte-level Llama-style decoder of research/train/lm_model.hpp on the Debian
// documentation corpus (scripts/fetch-text-corpus.sh) for every (variant, seed) with one token budget, and writes
// one JSON file (research/train/lm_results_json.hpp). `--config FILE` reads the flags from a file
// (research/train/lm_convergence.cfg); `--checkpoint-dir DIR` makes runs resumable across processes.
// `strassentile-lab train lm generate --checkpoint FILE --prompt TEXT` samples from a checkpoint that `--save PREFIX`
// wrote, with incremental decoding.
#include <chrono>
#include <cmath>
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
#include "lm_checkpoint.hpp"
#include "lm_config.hpp"
#include "lm_data.hpp"
#include "lm_generate.hpp"
#include "lm_results_json.hpp"
#include "lm_trainer.hpp"

namespace strassentile::cli {
namespace {

namespace tr = strassentile::train;

torch::Device pick_device(const std::string& requested) {
  const std::string name = requested.empty() ? (torch::cuda::is_available() ? "cuda" : "cpu") : requested;
  if (name.rfind("cuda", 0) == 0 && !torch::cuda::is_available())
    throw std::runtime_error("--device " + name + " but this torch sees no CUDA device");
  if (name != "cpu" && name.rfind("cuda", 0) != 0) throw UsageError("--device must be cpu or cuda[:N], got '" + name + "'");
  return torch::Device(name);
}

int run_generate(const std::vector<std::string>& argv) {
  const Args args(argv, {"checkpoint", "prompt", "tokens", "temperature", "top-k", "seed", "device"}, {"recompute"});
  if (args.positionals().size() != 1) throw UsageError("generate takes no positional arguments besides 'generate'");
  if (!args.has("checkpoint")) throw UsageError("generate needs --checkpoint FILE (written by 'train lm --save PREFIX')");
  const torch::Device device = pick_device(args.get("device", "cpu"));
  tr::LoadedLm lm = tr::load_lm_checkpoint(args.get("checkpoint", ""), device);
  tr::GenerateOptions o;
  o.max_new_tokens = static_cast<int64_t>(args.get_size("tokens", 200));
  o.temperature = args.get_double("temperature", 0.8);
  o.top_k = static_cast<int64_t>(args.get_size("top-k", 0));
  o.seed = args.get_size("seed", 0);
  o.incremental = !args.has("recompute");
  const std::string prompt = args.get("prompt", "");
  const auto start = std::chrono::steady_clock::now();
  const tr::Generated g = tr::generate_text(*lm.model, prompt, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s%s\n", prompt.c_str(), g.text.c_str());
  std::fprintf(stderr, "[%s, %s decoding on %s: %lld prompt + %lld new bytes in %.2f s%s]\n", lm.variant.c_str(),
               o.incremental ? "incremental" : "full-recompute", device.str().c_str(),
               static_cast<long long>(g.prompt_tokens), static_cast<long long>(g.new_tokens), seconds,
               g.hit_context ? "; stopped at the model's context" : "");
  return 0;
}

}  // namespace

int run_train_lm(const std::vector<std::string>& argv) {
  if (!argv.empty() && argv[0] == "generate") return run_generate(argv);
  const auto process_start = std::chrono::steady_clock::now();
  std::set<std::string> options(tr::lm_train_config_keys().begin(), tr::lm_train_config_keys().end());
  options.insert("config");
  const Args args(argv, options, {});
  if (!args.positionals().empty())
    throw UsageError("unexpected argument '" + args.positionals()[0] + "' (train lm [--flags] | train lm generate ...)");
  std::map<std::string, std::string> values;  // the config file's, then the command line's over them
  if (args.has("config")) values = tr::read_lm_config_file(args.get("config", ""));
  for (const auto& key : tr::lm_train_config_keys())
    if (args.has(key)) values[key] = args.get(key, "");
  const tr::LmTrainConfig config = tr::make_lm_train_config(values);

  const torch::Device device = pick_device(config.device);
  if (config.threads > 0) torch::set_num_threads(static_cast<int>(config.threads));
  if (device.is_cuda() && config.tf32) at::globalContext().setFloat32MatmulPrecision("high");  // TF32

  const tr::LmData data = tr::load_lm_data(config.data, device, config.eval_limit, config.corpus);
  const tr::LmDataSizes sizes{data.source,          data.train.numel(),     data.val.numel(),      data.test.numel(),
                              data.train_documents, data.val_documents,     data.test_documents};

  std::vector<std::pair<std::string, uint64_t>> runs;  // seed-major, so an interrupted sweep has whole seeds
  int64_t index = 0;
  for (uint64_t seed : config.seeds)
    for (const auto& variant : config.variants)
      if (index++ % config.shards == config.shard) runs.emplace_back(variant, seed);
  std::printf("LM %s; bytes of %s: train %lld (%lld docs), val %lld (%lld docs), test %lld (%lld docs); %lld steps of "
              "%lld x %lld tokens = %.2f M tokens per run, AdamW lr %g wd %g; device %s, %d threads; %zu run(s)\n",
              config.model.to_string().c_str(), data.source.c_str(), static_cast<long long>(sizes.train_tokens),
              static_cast<long long>(sizes.train_documents), static_cast<long long>(sizes.val_tokens),
              static_cast<long long>(sizes.val_documents), static_cast<long long>(sizes.test_tokens),
              static_cast<long long>(sizes.test_documents), static_cast<long long>(config.steps()),
              static_cast<long long>(config.batch), static_cast<long long>(config.model.context),
              static_cast<double>(config.steps() * config.batch * config.model.context) / 1e6, config.lr,
              config.weight_decay, device.str().c_str(), torch::get_num_threads(), runs.size());
  std::fflush(stdout);

  tr::LmRunContext ctx;
  ctx.count = static_cast<int64_t>(runs.size());
  if (config.deadline > 0)
    ctx.stop_training_at = process_start + std::chrono::milliseconds(static_cast<int64_t>(config.deadline * 1000));
  std::vector<tr::LmRunResult> results;
  std::vector<std::string> failed, unfinished;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    ctx.index = static_cast<int64_t>(i);
    try {
      results.push_back(tr::train_lm_run(config, runs[i].first, runs[i].second, data, device, ctx));
    } catch (const std::exception& e) {  // one bad variant must not stop the sweep
      failed.push_back(runs[i].first + " seed " + std::to_string(runs[i].second) + ": " + e.what());
      std::fprintf(stderr, "strassentile-lab train lm: run failed: %s\n", failed.back().c_str());
      continue;
    }
    if (!results.back().finished)
      unfinished.push_back(runs[i].first + " seed " + std::to_string(runs[i].second) + " after " +
                           std::to_string(results.back().steps) + " of " + std::to_string(results.back().planned_steps) +
                           " steps");
    if (!config.json.empty()) tr::write_lm_results_json(config.json, config, sizes, results);
  }

  std::printf("\n| variant | seed | val ppl | test ppl | linear MFLOPs/token (products only) | params | tokens | "
              "tokens/s |\n|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    if (!r.finished) continue;
    std::printf("| %s%s | %llu | %.4f | %.4f | %.3f (%.3f) | %.0f | %lld%s | %.0f |\n", r.variant.c_str(),
                r.leaks_future ? " (LEAKING)" : "", static_cast<unsigned long long>(r.seed), std::exp(r.val_loss),
                std::exp(r.test_loss), r.cost.linear_flops / 1e6, r.cost.linear_product_flops / 1e6, r.params,
                static_cast<long long>(r.tokens), r.stopped_early ? " (stopped early)" : "", r.tokens_per_second);
  }
  if (!config.json.empty()) std::printf("results: %s\n", config.json.c_str());
  for (const auto& u : unfinished) std::printf("UNFINISHED (resume with the same --checkpoint-dir): %s\n", u.c_str());
  for (const auto& f : failed) std::printf("FAILED: %s\n", f.c_str());
  return failed.empty() ? 0 : 1;
}

}  // namespace strassentile::cli
