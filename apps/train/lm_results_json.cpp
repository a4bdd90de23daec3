#include "lm_results_json.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace strassentile::train {
namespace {

// The same escaping and number format as results_json.cpp (the ViT's file).
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

std::string lm_results_json(const LmTrainConfig& c, const LmDataSizes& d, const std::vector<LmRunResult>& runs) {
  const double ln2 = std::log(2.0);
  std::ostringstream o;
  o << "{\n  \"command\": \"strassentile train lm\",\n";
  o << "  \"tokens\": \"bytes (vocabulary 256, byte 0 ends a document); perplexities and bits are per byte\",\n";
  o << "  \"flops\": \"forward FLOPs per token, multiply-add = 2; linear_* counts the 7 spec-built layers of every "
       "block (q, k, v, o, gate, up, down; STL encode and decode included), linear_product_* the STL batched products "
       "alone; embedding and head are dense in every variant (head_flops_per_token), attention_flops_per_token is "
       "averaged over a full context\",\n";
  o << "  \"leaks_future\": \"true for STL mode tile with a > 1: a token's output sees later tokens of its tile, so "
       "its perplexity is not that of a causal language model\",\n";
  o << "  \"config\": {\"variants\": [";
  for (std::size_t i = 0; i < c.variants.size(); ++i)
    o << (i ? ", " : "") << quote(LinearSpec::parse(c.variants[i]).to_string());
  o << "], \"seeds\": [";
  for (std::size_t i = 0; i < c.seeds.size(); ++i) o << (i ? ", " : "") << c.seeds[i];
  o << "], \"tokens_per_run\": " << num(c.steps() * c.batch * c.model.context) << ", \"steps\": " << num(c.steps())
    << ", \"batch\": " << num(c.batch) << ", \"lr\": " << num(c.lr) << ", \"weight_decay\": " << num(c.weight_decay)
    << ", \"beta2\": " << num(c.beta2) << ", \"warmup\": " << num(c.warmup) << ", \"clip\": " << num(c.clip)
    << ", \"tf32\": " << (c.tf32 ? "true" : "false") << ", \"curve_tokens\": " << num(c.curve_tokens)
    << ", \"eval_limit\": " << num(c.eval_limit)
    << ", \"optimizer\": \"AdamW (beta1 0.9), linear warm-up, cosine decay to 0\", \"shard\": \"" << c.shard << "/"
    << c.shards << "\", \"model\": {\"dim\": " << num(c.model.dim) << ", \"depth\": " << num(c.model.depth)
    << ", \"heads\": " << num(c.model.heads) << ", \"hidden\": " << num(c.model.mlp_hidden())
    << ", \"context\": " << num(c.model.context) << ", \"vocab\": " << num(c.model.vocab) << "}},\n";
  o << "  \"data\": {\"source\": " << quote(d.source) << ", \"train_tokens\": " << num(d.train_tokens)
    << ", \"val_tokens\": " << num(d.val_tokens) << ", \"test_tokens\": " << num(d.test_tokens)
    << ", \"train_documents\": " << num(d.train_documents) << ", \"val_documents\": " << num(d.val_documents)
    << ", \"test_documents\": " << num(d.test_documents) << "},\n";
  o << "  \"runs\": [";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const LmRunResult& r = runs[i];
    o << (i ? "," : "") << "\n    {\"variant\": " << quote(r.variant) << ", \"seed\": " << r.seed
      << ", \"device\": " << quote(r.device) << ", \"leaks_future\": " << (r.leaks_future ? "true" : "false")
      << ", \"linear_flops_per_token\": " << num(r.cost.linear_flops)
      << ", \"linear_product_flops_per_token\": " << num(r.cost.linear_product_flops)
      << ", \"dense_linear_flops_per_token\": " << num(r.cost.dense_linear_flops)
      << ", \"head_flops_per_token\": " << num(r.cost.head_flops)
      << ", \"attention_flops_per_token\": " << num(r.cost.attention_flops)
      << ", \"linear_params\": " << num(r.cost.linear_params) << ", \"dense_linear_params\": " << num(r.cost.dense_linear_params)
      << ", \"params\": " << num(r.params) << ", \"steps\": " << num(r.steps) << ", \"planned_steps\": " << num(r.planned_steps)
      << ", \"tokens\": " << num(r.tokens) << ", \"stopped_early\": " << (r.stopped_early ? "true" : "false")
      << ", \"val_loss\": " << num(r.val_loss) << ", \"val_ppl\": " << num(std::exp(r.val_loss))
      << ", \"val_bits_per_byte\": " << num(r.val_loss / ln2) << ", \"val_tokens\": " << num(r.val_tokens)
      << ", \"test_loss\": " << num(r.test_loss) << ", \"test_ppl\": " << num(std::exp(r.test_loss))
      << ", \"test_bits_per_byte\": " << num(r.test_loss / ln2) << ", \"test_tokens\": " << num(r.test_tokens)
      << ", \"tokens_per_second\": " << num(r.tokens_per_second)
      << ", \"steady_tokens_per_second\": " << num(r.steady_tokens_per_second)
      << ", \"train_seconds\": " << num(r.train_seconds) << ", \"eval_seconds\": " << num(r.eval_seconds)
      << ", \"wall_seconds\": " << num(r.wall_seconds) << ", \"checkpoint\": " << quote(r.checkpoint)
      << ",\n     \"curve\": [";
    for (std::size_t j = 0; j < r.curve.size(); ++j) {
      const LmCurvePoint& p = r.curve[j];
      o << (j ? ", " : "") << "{\"step\": " << p.step << ", \"tokens\": " << p.tokens
        << ", \"train_loss\": " << num(p.train_loss) << ", \"val_loss\": " << num(p.val_loss) << "}";
    }
    o << "],\n     \"step_losses\": [";
    for (std::size_t j = 0; j < r.step_losses.size(); ++j) o << (j ? "," : "") << num(r.step_losses[j]);
    o << "]}";
  }
  o << "\n  ]\n}\n";
  return o.str();
}

void write_lm_results_json(const std::string& path, const LmTrainConfig& c, const LmDataSizes& d,
                           const std::vector<LmRunResult>& runs) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write --json " + path);
    out << lm_results_json(c, d, runs);
    if (!out.flush()) throw std::runtime_error("cannot write --json " + path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write --json " + path);
}

}  // namespace strassentile::train
