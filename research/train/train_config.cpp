#include "train_config.hpp"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "autocast_scope.hpp"
#include "config_values.hpp"
#include "vit_variant.hpp"

namespace strassentile::train {
const std::vector<std::string>& train_config_keys() {
  static const std::vector<std::string> keys = {
      "variants", "seeds",  "epochs",     "batch",   "lr",          "wd",         "warmup", "clip",
      "max-steps", "device", "threads",   "eval-batch", "log-every", "json",       "shard",  "data",
      "val",      "train-limit", "test-limit", "dim", "depth",      "heads",      "patch",  "mlp-ratio",
      "plateau-epochs", "checkpoint-dir", "checkpoint-every", "pause-after-epochs", "augment", "augment-pad",
      "augment-flip", "amp"};
  return keys;
}

std::map<std::string, std::string> read_config_file(const std::string& path) {
  return read_config_lines(path, train_config_keys());
}

TrainConfig make_train_config(const std::map<std::string, std::string>& v) {
  TrainConfig c;
  const auto has = [&](const char* k) { return v.count(k) != 0; };
  const auto get = [&](const char* k) { return v.at(k); };
  const auto switch_on = [&](const char* k) {
    const int64_t x = to_int(k, get(k), 0);
    if (x > 1) throw std::invalid_argument(std::string("--") + k + " must be 0 or 1, got '" + get(k) + "'");
    return x == 1;
  };
  read_variants_and_seeds(v, c.variants, c.seeds, [](const std::string& s) { VitVariant::parse(s); });
  if (has("epochs")) c.epochs = to_int("epochs", get("epochs"), 1);
  if (has("batch")) c.batch = to_int("batch", get("batch"), 1);
  if (has("lr")) c.lr = to_double("lr", get("lr"), 0);
  if (has("wd")) c.weight_decay = to_double("wd", get("wd"), 0);
  if (has("warmup")) c.warmup = to_double("warmup", get("warmup"), 0);
  if (c.warmup >= 1) throw std::invalid_argument("--warmup is a fraction of all steps, must be < 1");
  if (has("clip")) c.clip = to_double("clip", get("clip"), 0);
  if (has("max-steps")) c.max_steps = to_int("max-steps", get("max-steps"), 0);
  if (has("device")) c.device = get("device");
  if (!c.device.empty() && c.device != "cpu" && c.device.rfind("cuda", 0) != 0)
    throw std::invalid_argument("--device must be cpu or cuda[:N], got '" + c.device + "'");
  if (has("threads")) c.threads = to_int("threads", get("threads"), 0);
  if (has("eval-batch")) c.eval_batch = to_int("eval-batch", get("eval-batch"), 1);
  if (has("log-every")) c.log_every = to_double("log-every", get("log-every"), 0);
  if (has("json")) c.json = get("json");
  if (has("shard")) {
    const auto parts = split_list(get("shard"), '/');
    if (parts.size() != 2) throw std::invalid_argument("--shard must be I/N, got '" + get("shard") + "'");
    c.shard = to_int("shard", parts[0], 0);
    c.shards = to_int("shard", parts[1], 1);
    if (c.shard >= c.shards) throw std::invalid_argument("--shard I/N needs I < N, got '" + get("shard") + "'");
  }
  if (has("data")) c.data.dir = get("data");
  if (has("val")) c.data.val_size = to_int("val", get("val"), 0);
  if (has("train-limit")) c.data.train_limit = to_int("train-limit", get("train-limit"), 0);
  if (has("test-limit")) c.data.test_limit = to_int("test-limit", get("test-limit"), 0);
  if (has("dim")) c.model.dim = to_int("dim", get("dim"), 1);
  if (has("depth")) c.model.depth = to_int("depth", get("depth"), 1);
  if (has("heads")) c.model.heads = to_int("heads", get("heads"), 1);
  if (has("patch")) c.model.patch = to_int("patch", get("patch"), 1);
  if (has("mlp-ratio")) c.model.mlp_ratio = to_int("mlp-ratio", get("mlp-ratio"), 1);
  if (has("plateau-epochs")) c.plateau_epochs = to_int("plateau-epochs", get("plateau-epochs"), 0);
  if (has("checkpoint-dir")) c.checkpoint_dir = get("checkpoint-dir");
  if (has("checkpoint-every")) c.checkpoint_every = to_int("checkpoint-every", get("checkpoint-every"), 1);
  if (has("pause-after-epochs")) c.pause_after_epochs = to_int("pause-after-epochs", get("pause-after-epochs"), 0);
  if (c.pause_after_epochs > 0 && c.checkpoint_dir.empty())
    throw std::invalid_argument("--pause-after-epochs needs --checkpoint-dir DIR (a paused run continues from there)");
  if (has("augment")) c.augment = switch_on("augment");
  if (has("augment-pad")) c.augment_pad = to_int("augment-pad", get("augment-pad"), 0);
  if (has("augment-flip")) c.augment_flip = switch_on("augment-flip");
  if (has("amp")) c.amp = parse_amp(get("amp"));
  c.model.validate();
  return c;
}

}  // namespace strassentile::train
