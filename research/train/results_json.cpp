#include "results_json.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include <stdexcept>

#include "json_text.hpp"
#include "vit_variant.hpp"

namespace strassentile::train {
std::string results_json(const TrainConfig& c, const DataSizes& d, const std::vector<RunResult>& runs) {
  std::ostringstream o;
  o << "{\n  \"command\": \"strassentile-lab train vit\",\n";
  o << "  \"selection\": \"test_accuracy is the test accuracy at the epoch of best validation accuracy (validation = "
       "the last "
    << d.val << " images of the 60k training split, never trained on); final_test_accuracy is the last epoch's; train_seconds is the device-synchronised time of the training steps "
       "(evaluation excluded), summed over the processes a resumed run took; stopped_by says why training ended "
       "(epochs, max_steps, plateau; null: paused, to be resumed from its checkpoint)\",\n";
  o << "  \"flops\": \"forward FLOPs per image, multiply-add = 2; linear_* counts the spec-built layers (qkv, proj, "
       "fc1, fc2; STL encode and decode included, linear_product_* the batched products alone); patch embedding and "
       "classifier are dense in every variant (embed_head_flops_per_image)\",\n";
  o << "  \"config\": {\"variants\": [";
  for (std::size_t i = 0; i < c.variants.size(); ++i)
    o << (i ? ", " : "") << json_quote(VitVariant::parse(c.variants[i]).to_string());
  o << "], \"seeds\": [";
  for (std::size_t i = 0; i < c.seeds.size(); ++i) o << (i ? ", " : "") << c.seeds[i];
  o << "], \"epochs\": " << json_number(c.epochs) << ", \"batch\": " << json_number(c.batch) << ", \"lr\": " << json_number(c.lr)
    << ", \"weight_decay\": " << json_number(c.weight_decay) << ", \"warmup\": " << json_number(c.warmup) << ", \"clip\": " << json_number(c.clip)
    << ", \"max_steps\": " << json_number(c.max_steps) << ", \"plateau_epochs\": " << json_number(c.plateau_epochs)
    << ", \"augment\": " << (c.augment ? "{\"crop_pad\": " + std::to_string(c.augment_pad) +
                                              ", \"flip\": " + (c.augment_flip ? "true" : "false") + "}"
                                        : std::string("null"))
    << ", \"amp\": " << (c.amp ? "\"bf16\"" : "null")
    << ", \"optimizer\": \"AdamW, linear warm-up, cosine decay to 0\""
    << ", \"data\": " << json_quote(d.source) << ", \"train_images\": " << json_number(d.train) << ", \"val_images\": " << json_number(d.val)
    << ", \"test_images\": " << json_number(d.test) << ", \"shard\": \"" << c.shard << "/" << c.shards << "\""
    << ", \"model\": {\"dim\": " << json_number(c.model.dim) << ", \"depth\": " << json_number(c.model.depth)
    << ", \"heads\": " << json_number(c.model.heads) << ", \"mlp_ratio\": " << json_number(c.model.mlp_ratio)
    << ", \"patch\": " << json_number(c.model.patch) << ", \"tokens\": " << json_number(c.model.tokens()) << "}},\n";
  o << "  \"runs\": [";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    o << (i ? "," : "") << "\n    {\"variant\": " << json_quote(r.variant) << ", \"seed\": " << r.seed
      << ", \"mlp_ratio\": " << json_number(r.mlp_ratio) << ", \"finished\": " << (r.finished() ? "true" : "false")
      << ", \"stopped_by\": " << (r.finished() ? json_quote(r.stopped_by) : std::string("null"))
      << ", \"resumed_from_epoch\": " << json_number(r.resumed_from_epoch)
      << ", \"device\": " << json_quote(r.device)
      << ", \"linear_flops_per_image\": " << json_number(r.cost.linear_flops)
      << ", \"linear_product_flops_per_image\": " << json_number(r.cost.linear_product_flops)
      << ", \"dense_linear_flops_per_image\": " << json_number(r.cost.dense_linear_flops)
      << ", \"embed_head_flops_per_image\": " << json_number(r.cost.embed_head_flops)
      << ", \"attention_flops_per_image\": " << json_number(r.cost.attention_flops)
      << ", \"linear_params\": " << json_number(r.cost.linear_params) << ", \"dense_linear_params\": " << json_number(r.cost.dense_linear_params)
      << ", \"params\": " << json_number(r.params) << ", \"steps\": " << json_number(r.steps) << ", \"best_epoch\": " << json_number(r.best_epoch)
      << ", \"best_val_accuracy\": " << json_number(r.best_val_accuracy) << ", \"test_accuracy\": " << json_number(r.test_accuracy_at_best_val)
      << ", \"final_test_accuracy\": " << json_number(r.final_test_accuracy) << ", \"images_per_second\": " << json_number(r.images_per_second)
      << ", \"steady_images_per_second\": " << json_number(r.steady_images_per_second)
      << ", \"train_seconds\": " << json_number(r.train_seconds) << ", \"wall_seconds\": " << json_number(r.wall_seconds)
      << ", \"init_seconds\": " << json_number(r.init_seconds) << ",\n     \"epochs\": [";
    for (std::size_t j = 0; j < r.epochs.size(); ++j) {
      const EpochRecord& e = r.epochs[j];
      o << (j ? ", " : "") << "{\"epoch\": " << e.epoch << ", \"steps\": " << e.steps << ", \"train_loss\": " << json_number(e.train_loss)
        << ", \"val_accuracy\": " << json_number(e.val_accuracy) << ", \"test_accuracy\": " << json_number(e.test_accuracy)
        << ", \"train_seconds\": " << json_number(e.train_seconds)
        << ", \"images_per_second\": " << json_number(e.images_per_second) << "}";
    }
    o << "]}";
  }
  o << "\n  ]\n}\n";
  return o.str();
}

void write_results_json(const std::string& path, const TrainConfig& c, const DataSizes& d,
                        const std::vector<RunResult>& runs) {
  write_file_atomically(path, results_json(c, d, runs), "--json");
}

}  // namespace strassentile::train
