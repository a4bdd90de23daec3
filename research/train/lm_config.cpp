#include "lm_config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "autocast_scope.hpp"
#include "baselines/baseline_linear.hpp"
#include "config_values.hpp"

namespace strassentile::train {
const std::vector<std::string>& lm_train_config_keys() {
  static const std::vector<std::string> keys = {
      "variants", "seeds",  "tokens",     "batch",    "lr",     "wd",     "beta2",   "warmup",  "clip",
      "curve-points", "curve-tokens", "eval-limit", "eval-batch", "device", "threads", "tf32", "amp", "log-every",
      "deadline", "json",   "save",       "shard",    "data",   "dim",    "depth",   "heads",   "hidden", "context",
      "corpus", "checkpoint-dir", "pause-after-steps", "decode-batch", "decode-tokens"};
  return keys;
}

LmTrainConfig make_lm_train_config(const std::map<std::string, std::string>& v) {
  LmTrainConfig c;
  const auto has = [&](const char* k) { return v.count(k) != 0; };
  const auto get = [&](const char* k) { return v.at(k); };
  const auto get_int = [&](const char* k, int64_t min) { return to_int(k, get(k), min); };
  const auto get_double = [&](const char* k, double min) { return to_double(k, get(k), min); };
  read_variants_and_seeds(v, c.variants, c.seeds, [](const std::string& s) { LinearSpec::parse(s); });
  if (has("tokens")) c.tokens = get_int("tokens", 1);
  if (has("batch")) c.batch = get_int("batch", 1);
  if (has("lr")) c.lr = get_double("lr", 0);
  if (has("wd")) c.weight_decay = get_double("wd", 0);
  if (has("beta2")) c.beta2 = get_double("beta2", 0);
  if (c.beta2 >= 1) throw std::invalid_argument("--beta2 must be < 1");
  if (has("warmup")) c.warmup = get_double("warmup", 0);
  if (c.warmup >= 1) throw std::invalid_argument("--warmup is a fraction of all steps, must be < 1");
  if (has("clip")) c.clip = get_double("clip", 0);
  if (has("curve-points")) c.curve_points = get_int("curve-points", 0);
  if (has("curve-tokens")) c.curve_tokens = get_int("curve-tokens", 1);
  if (has("eval-limit")) c.eval_limit = get_int("eval-limit", 0);
  if (has("eval-batch")) c.eval_batch = get_int("eval-batch", 1);
  if (has("device")) c.device = get("device");
  if (!c.device.empty() && c.device != "cpu" && c.device.rfind("cuda", 0) != 0)
    throw std::invalid_argument("--device must be cpu or cuda[:N], got '" + c.device + "'");
  if (has("threads")) c.threads = get_int("threads", 0);
  if (has("tf32")) {
    if (get("tf32") != "0" && get("tf32") != "1") throw std::invalid_argument("--tf32 must be 0 or 1");
    c.tf32 = get("tf32") == "1";
  }
  if (has("amp")) c.amp = parse_amp(get("amp"));
  if (has("log-every")) c.log_every = get_double("log-every", 0);
  if (has("deadline")) c.deadline = get_double("deadline", 0);
  if (has("json")) c.json = get("json");
  if (has("save")) c.save = get("save");
  if (has("shard")) {
    const auto parts = split_list(get("shard"), '/');
    if (parts.size() != 2) throw std::invalid_argument("--shard must be I/N, got '" + get("shard") + "'");
    c.shard = to_int("shard", parts[0], 0);
    c.shards = to_int("shard", parts[1], 1);
    if (c.shard >= c.shards) throw std::invalid_argument("--shard I/N needs I < N, got '" + get("shard") + "'");
  }
  if (has("data")) c.data = get("data");
  if (has("corpus")) {
    c.corpus = split_list(get("corpus"), ',');
    if (c.corpus.empty()) throw std::invalid_argument("--corpus needs source names, e.g. python,linux");
    for (const std::string& name : c.corpus) {
      try {
        data::text_source(name);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("--corpus: ") + e.what());
      }
    }
  }
  if (has("checkpoint-dir")) c.checkpoint_dir = get("checkpoint-dir");
  if (has("pause-after-steps")) c.pause_after_steps = get_int("pause-after-steps", 0);
  if (c.pause_after_steps > 0 && c.checkpoint_dir.empty())
    throw std::invalid_argument("--pause-after-steps needs --checkpoint-dir DIR to resume from");
  if (has("decode-batch")) c.decode_batch = get_int("decode-batch", 1);
  if (has("decode-tokens")) c.decode_tokens = get_int("decode-tokens", 0);
  if (has("dim")) c.model.dim = get_int("dim", 1);
  if (has("depth")) c.model.depth = get_int("depth", 1);
  if (has("heads")) c.model.heads = get_int("heads", 1);
  if (has("hidden")) c.model.hidden = get_int("hidden", 0);
  if (has("context")) c.model.context = get_int("context", 2);
  c.model.validate();
  if (!has("decode-tokens")) c.decode_tokens = std::min(c.decode_tokens, c.model.context);
  if (c.decode_tokens > c.model.context)
    throw std::invalid_argument("--decode-tokens " + std::to_string(c.decode_tokens) + " exceeds --context " +
                                std::to_string(c.model.context));
  if (c.steps() < 1)
    throw std::invalid_argument("--tokens " + std::to_string(c.tokens) + " is less than one step of --batch " +
                                std::to_string(c.batch) + " × --context " + std::to_string(c.model.context) + " tokens");
  return c;
}

std::map<std::string, std::string> read_lm_config_file(const std::string& path) {
  return read_config_lines(path, lm_train_config_keys());
}

std::string lm_run_settings(const LmTrainConfig& c, const std::string& variant, uint64_t seed) {
  std::ostringstream s;
  s << "variant=" << LinearSpec::parse(variant).to_string() << " seed=" << seed << " model=" << c.model.to_string()
    << " corpus=";
  for (std::size_t i = 0; i < c.corpus.size(); ++i) s << (i ? "," : "") << c.corpus[i];
  s.precision(17);
  s << " steps=" << c.steps() << " batch=" << c.batch << " lr=" << c.lr << " wd=" << c.weight_decay
    << " beta2=" << c.beta2 << " warmup=" << c.warmup << " clip=" << c.clip << " curve=" << c.curve_points << "x"
    << c.curve_tokens << " tf32=" << c.tf32 << (c.amp ? " amp=bf16" : "") << " eval_limit=" << c.eval_limit << " decode=" << c.decode_batch << "x" << c.decode_tokens;
  return s.str();
}

}  // namespace strassentile::train
