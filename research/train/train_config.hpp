// Settings of `strassentile-lab train vit`: one struct, filled from flags and/or a config file. Both use the same
// keys (a flag --key VALUE is the file line `key = VALUE`); flags override the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vit_data.hpp"
#include "vit_model.hpp"

namespace strassentile::train {

struct TrainConfig {
  std::vector<std::string> variants = {"dense"};  // VitVariant strings (vit_variant.hpp)
  std::vector<uint64_t> seeds = {0};
  int64_t epochs = 10;
  int64_t batch = 256;
  double lr = 1e-3;            // AdamW peak learning rate
  double weight_decay = 0.05;  // on ≥2-D weights, not on biases, norms or the position embedding
  double warmup = 0.05;        // linear warm-up over this fraction of all steps, then cosine decay to 0
  double clip = 0;             // > 0: clip the global gradient norm to this
  int64_t max_steps = 0;       // > 0: stop each run after this many steps (smoke tests, timing probes)
  std::string device = "";     // "" = cuda when available, else cpu
  int64_t threads = 0;         // > 0: torch intra-op threads
  int64_t eval_batch = 1000;
  double log_every = 10;       // seconds between progress lines
  std::string json;            // output file ("" = none); rewritten after every run
  int64_t shard = 0, shards = 1;  // run only runs i with i % shards == shard (parallel processes on one GPU)
  int64_t plateau_epochs = 0;  // > 0: stop a run when validation accuracy has not improved for this many epochs
  std::string checkpoint_dir;  // "": none; else each run's state after every epoch, and a rerun continues from it
  int64_t pause_after_epochs = 0;  // > 0: each run trains at most this many epochs in this process (needs checkpoints)
  int64_t checkpoint_every = 1;    // epochs between checkpoints (a run's last epoch and a pause always save one):
                                   // a wide model's state is GBs, and writing it every epoch costs its wall time
  bool augment = false;        // random crop (and flip) of the training images
  int64_t augment_pad = 2;     // the crop's padding, pixels on every side
  bool augment_flip = false;   // random horizontal flip too
  bool amp = false;            // bf16 autocast for the forward (parameters, gradients, AdamW state stay fp32)
  DataOptions data;
  VitConfig model;
};

// Keys, as flags and config-file keys. `variants` separates specs with ';'; a file may also repeat `variant`.
const std::vector<std::string>& train_config_keys();

// Parses `key = value` lines ('#' starts a comment). `variant` lines accumulate into "variants" (';'-joined).
// Throws std::invalid_argument naming the file and line on unknown keys or malformed lines.
std::map<std::string, std::string> read_config_file(const std::string& path);

// Builds the config from key → value text; throws std::invalid_argument naming the key on bad values.
TrainConfig make_train_config(const std::map<std::string, std::string>& values);

}  // namespace strassentile::train
