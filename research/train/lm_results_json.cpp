#include "lm_results_json.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "json_text.hpp"
#include <stdexcept>

namespace strassentile::train {
std::string lm_results_json(const LmTrainConfig& c, const LmDataSizes& d, const std::vector<LmRunResult>& runs) {
  const double ln2 = std::log(2.0);
  std::ostringstream o;
  o << "{\n  \"command\": \"strassentile-lab train lm\",\n";
  o << "  \"tokens\": \"bytes (vocabulary 256, byte 0 ends a document); perplexities and bits are per byte\",\n";
  o << "  \"flops\": \"forward FLOPs per token, multiply-add = 2; linear_* counts the 7 spec-built layers of every "
       "block (q, k, v, o, gate, up, down; STL encode and decode included), linear_product_* the STL batched products "
       "alone; embedding and head are dense in every variant (head_flops_per_token), attention_flops_per_token is "
       "averaged over a full context\",\n";
  o << "  \"finished\": \"false for a run stopped early that a later call resumes from its --checkpoint-dir state "
       "(no final evaluation yet); curve val_loss is on the first curve_tokens validation bytes, val_*/test_* at the "
       "end on eval_limit bytes (0: all) of the held-out documents\",\n";
  o << "  \"decode_tokens_per_second\": \"incremental decoding (KV cache, STL decode caches) of decode_batch sequences "
       "for decode_tokens positions from the start, greedy, after training; 0 when not measured (STL mode tile cannot "
       "decode token by token)\",\n";
  o << "  \"leaks_future\": \"true for STL mode tile with a > 1: a token's output sees later tokens of its tile, so "
       "its perplexity is not that of a causal language model\",\n";
  o << "  \"config\": {\"variants\": [";
  for (std::size_t i = 0; i < c.variants.size(); ++i)
    o << (i ? ", " : "") << json_quote(LinearSpec::parse(c.variants[i]).to_string());
  o << "], \"seeds\": [";
  for (std::size_t i = 0; i < c.seeds.size(); ++i) o << (i ? ", " : "") << c.seeds[i];
  o << "], \"tokens_per_run\": " << json_number(c.steps() * c.batch * c.model.context) << ", \"steps\": " << json_number(c.steps())
    << ", \"batch\": " << json_number(c.batch) << ", \"lr\": " << json_number(c.lr) << ", \"weight_decay\": " << json_number(c.weight_decay)
    << ", \"beta2\": " << json_number(c.beta2) << ", \"warmup\": " << json_number(c.warmup) << ", \"clip\": " << json_number(c.clip)
    << ", \"tf32\": " << (c.tf32 ? "true" : "false") << ", \"amp\": " << (c.amp ? "\"bf16\"" : "null") << ", \"curve_tokens\": " << json_number(c.curve_tokens)
    << ", \"eval_limit\": " << json_number(c.eval_limit) << ", \"decode_batch\": " << json_number(c.decode_batch)
    << ", \"decode_tokens\": " << json_number(c.decode_tokens) << ", \"corpus\": [";
  for (std::size_t i = 0; i < c.corpus.size(); ++i) o << (i ? ", " : "") << json_quote(c.corpus[i]);
  o << "]"
    << ", \"optimizer\": \"AdamW (beta1 0.9), linear warm-up, cosine decay to 0\", \"shard\": \"" << c.shard << "/"
    << c.shards << "\", \"model\": {\"dim\": " << json_number(c.model.dim) << ", \"depth\": " << json_number(c.model.depth)
    << ", \"heads\": " << json_number(c.model.heads) << ", \"hidden\": " << json_number(c.model.mlp_hidden())
    << ", \"context\": " << json_number(c.model.context) << ", \"vocab\": " << json_number(c.model.vocab) << "}},\n";
  o << "  \"data\": {\"source\": " << json_quote(d.source) << ", \"train_tokens\": " << json_number(d.train_tokens)
    << ", \"val_tokens\": " << json_number(d.val_tokens) << ", \"test_tokens\": " << json_number(d.test_tokens)
    << ", \"train_documents\": " << json_number(d.train_documents) << ", \"val_documents\": " << json_number(d.val_documents)
    << ", \"test_documents\": " << json_number(d.test_documents) << "},\n";
  o << "  \"runs\": [";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const LmRunResult& r = runs[i];
    o << (i ? "," : "") << "\n    {\"variant\": " << json_quote(r.variant) << ", \"seed\": " << r.seed
      << ", \"device\": " << json_quote(r.device) << ", \"leaks_future\": " << (r.leaks_future ? "true" : "false")
      << ", \"linear_flops_per_token\": " << json_number(r.cost.linear_flops)
      << ", \"linear_product_flops_per_token\": " << json_number(r.cost.linear_product_flops)
      << ", \"dense_linear_flops_per_token\": " << json_number(r.cost.dense_linear_flops)
      << ", \"head_flops_per_token\": " << json_number(r.cost.head_flops)
      << ", \"attention_flops_per_token\": " << json_number(r.cost.attention_flops)
      << ", \"linear_params\": " << json_number(r.cost.linear_params) << ", \"dense_linear_params\": " << json_number(r.cost.dense_linear_params)
      << ", \"params\": " << json_number(r.params) << ", \"steps\": " << json_number(r.steps) << ", \"planned_steps\": " << json_number(r.planned_steps)
      << ", \"tokens\": " << json_number(r.tokens) << ", \"stopped_early\": " << (r.stopped_early ? "true" : "false")
      << ", \"finished\": " << (r.finished ? "true" : "false") << ", \"resumed_from_step\": " << json_number(r.resumed_from_step)
      << ", \"val_loss\": " << json_number(r.val_loss) << ", \"val_ppl\": " << json_number(std::exp(r.val_loss))
      << ", \"val_bits_per_byte\": " << json_number(r.val_loss / ln2) << ", \"val_tokens\": " << json_number(r.val_tokens)
      << ", \"test_loss\": " << json_number(r.test_loss) << ", \"test_ppl\": " << json_number(std::exp(r.test_loss))
      << ", \"test_bits_per_byte\": " << json_number(r.test_loss / ln2) << ", \"test_tokens\": " << json_number(r.test_tokens)
      << ", \"tokens_per_second\": " << json_number(r.tokens_per_second)
      << ", \"steady_tokens_per_second\": " << json_number(r.steady_tokens_per_second)
      << ", \"decode_batch\": " << json_number(r.decode_batch) << ", \"decode_tokens\": " << json_number(r.decode_tokens)
      << ", \"decode_tokens_per_second\": " << json_number(r.decode_tokens_per_second)
      << ", \"train_seconds\": " << json_number(r.train_seconds) << ", \"eval_seconds\": " << json_number(r.eval_seconds)
      << ", \"wall_seconds\": " << json_number(r.wall_seconds) << ", \"checkpoint\": " << json_quote(r.checkpoint)
      << ",\n     \"curve\": [";
    for (std::size_t j = 0; j < r.curve.size(); ++j) {
      const LmCurvePoint& p = r.curve[j];
      o << (j ? ", " : "") << "{\"step\": " << p.step << ", \"tokens\": " << p.tokens
        << ", \"train_loss\": " << json_number(p.train_loss) << ", \"val_loss\": " << json_number(p.val_loss)
        << ", \"val_bits_per_byte\": " << json_number(p.val_loss / ln2) << "}";
    }
    o << "],\n     \"step_losses\": [";
    for (std::size_t j = 0; j < r.step_losses.size(); ++j) o << (j ? "," : "") << json_number(r.step_losses[j]);
    o << "]}";
  }
  o << "\n  ]\n}\n";
  return o.str();
}

void write_lm_results_json(const std::string& path, const LmTrainConfig& c, const LmDataSizes& d,
                           const std::vector<LmRunResult>& runs) {
  write_file_atomically(path, lm_results_json(c, d, runs), "--json");
}

}  // namespace strassentile::train
