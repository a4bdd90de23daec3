#include "results_json.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace strassentile::train {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string num(int64_t v) { return std::to_string(v); }

}  // namespace

std::string results_json(const TrainConfig& c, const DataSizes& d, const std::vector<RunResult>& runs) {
  std::ostringstream o;
  o << "{\n  \"command\": \"strassentile train vit\",\n";
  o << "  \"selection\": \"test_accuracy is the test accuracy at the epoch of best validation accuracy (validation = "
       "the last "
    << d.val << " images of the 60k training split, never trained on); final_test_accuracy is the last epoch's\",\n";
  o << "  \"flops\": \"forward FLOPs per image, multiply-add = 2; linear_* counts the spec-built layers (qkv, proj, "
       "fc1, fc2; STL encode and decode included, linear_product_* the batched products alone); patch embedding and "
       "classifier are dense in every variant (embed_head_flops_per_image)\",\n";
  o << "  \"config\": {\"variants\": [";
  for (std::size_t i = 0; i < c.variants.size(); ++i)
    o << (i ? ", " : "") << quote(LinearSpec::parse(c.variants[i]).to_string());
  o << "], \"seeds\": [";
  for (std::size_t i = 0; i < c.seeds.size(); ++i) o << (i ? ", " : "") << c.seeds[i];
  o << "], \"epochs\": " << num(c.epochs) << ", \"batch\": " << num(c.batch) << ", \"lr\": " << num(c.lr)
    << ", \"weight_decay\": " << num(c.weight_decay) << ", \"warmup\": " << num(c.warmup) << ", \"clip\": " << num(c.clip)
    << ", \"max_steps\": " << num(c.max_steps) << ", \"optimizer\": \"AdamW, linear warm-up, cosine decay to 0\""
    << ", \"data\": " << quote(d.source) << ", \"train_images\": " << num(d.train) << ", \"val_images\": " << num(d.val)
    << ", \"test_images\": " << num(d.test) << ", \"shard\": \"" << c.shard << "/" << c.shards << "\""
    << ", \"model\": {\"dim\": " << num(c.model.dim) << ", \"depth\": " << num(c.model.depth)
    << ", \"heads\": " << num(c.model.heads) << ", \"mlp_ratio\": " << num(c.model.mlp_ratio)
    << ", \"patch\": " << num(c.model.patch) << ", \"tokens\": " << num(c.model.tokens()) << "}},\n";
  o << "  \"runs\": [";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    o << (i ? "," : "") << "\n    {\"variant\": " << quote(r.variant) << ", \"seed\": " << r.seed
      << ", \"device\": " << quote(r.device)
      << ", \"linear_flops_per_image\": " << num(r.cost.linear_flops)
      << ", \"linear_product_flops_per_image\": " << num(r.cost.linear_product_flops)
      << ", \"dense_linear_flops_per_image\": " << num(r.cost.dense_linear_flops)
      << ", \"embed_head_flops_per_image\": " << num(r.cost.embed_head_flops)
      << ", \"attention_flops_per_image\": " << num(r.cost.attention_flops)
      << ", \"linear_params\": " << num(r.cost.linear_params) << ", \"dense_linear_params\": " << num(r.cost.dense_linear_params)
      << ", \"params\": " << num(r.params) << ", \"steps\": " << num(r.steps) << ", \"best_epoch\": " << num(r.best_epoch)
      << ", \"best_val_accuracy\": " << num(r.best_val_accuracy) << ", \"test_accuracy\": " << num(r.test_accuracy_at_best_val)
      << ", \"final_test_accuracy\": " << num(r.final_test_accuracy) << ", \"images_per_second\": " << num(r.images_per_second)
      << ", \"steady_images_per_second\": " << num(r.steady_images_per_second)
      << ", \"train_seconds\": " << num(r.train_seconds) << ", \"wall_seconds\": " << num(r.wall_seconds)
      << ", \"init_seconds\": " << num(r.init_seconds) << ",\n     \"epochs\": [";
    for (std::size_t j = 0; j < r.epochs.size(); ++j) {
      const EpochRecord& e = r.epochs[j];
      o << (j ? ", " : "") << "{\"epoch\": " << e.epoch << ", \"steps\": " << e.steps << ", \"train_loss\": " << num(e.train_loss)
        << ", \"val_accuracy\": " << num(e.val_accuracy) << ", \"test_accuracy\": " << num(e.test_accuracy)
        << ", \"train_seconds\": " << num(e.train_seconds) << "}";
    }
    o << "]}";
  }
  o << "\n  ]\n}\n";
  return o.str();
}

void write_results_json(const std::string& path, const TrainConfig& c, const DataSizes& d,
                        const std::vector<RunResult>& runs) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write --json " + path);
    out << results_json(c, d, runs);
    if (!out.flush()) throw std::runtime_error("cannot write --json " + path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write --json " + path);
}

}  // namespace strassentile::train
