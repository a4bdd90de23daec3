#include "lm_decoder.hpp"

#include <stdexcept>

namespace strassentile::train {

LmDecoder::LmDecoder(LmImpl& model, int64_t batch) : model_(model), batch_(batch), caches_(model.blocks.size()) {
  if (batch < 1) throw std::invalid_argument("LmDecoder: batch must be >= 1");
  const LinearSpec& spec = model.blocks.front()->q->spec();
  if (spec_leaks_future(spec))
    throw std::invalid_argument("LmDecoder: layers '" + spec.to_string() + "' (STL mode tile) mix the tokens of a tile, "
                                "so a token's output needs later tokens: decode by full recompute (generate --recompute)");
}

torch::Tensor LmDecoder::block_step(LmBlockImpl& b, torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin,
                                    BlockCache& cache) {
  const int64_t B = x.size(0), D = x.size(1), H = b.heads(), hd = D / H;
  const torch::Tensor h = b.attn_norm(x);
  const auto heads = [&](const torch::Tensor& t) { return t.view({B, H, 1, hd}); };  // (B, D) → (B, H, 1, hd)
  const torch::Tensor q = apply_rope(heads(b.q->forward_step(h, cache.linear[0])), cos, sin);
  const torch::Tensor k = apply_rope(heads(b.k->forward_step(h, cache.linear[1])), cos, sin);
  const torch::Tensor v = heads(b.v->forward_step(h, cache.linear[2]));
  cache.keys = cache.keys.defined() ? torch::cat({cache.keys, k}, 2) : k;
  cache.values = cache.values.defined() ? torch::cat({cache.values, v}, 2) : v;
  // One query over every key so far: all in its past, so no mask.
  const torch::Tensor att = at::scaled_dot_product_attention(q, cache.keys, cache.values);  // (B, H, 1, hd)
  x = x + b.o->forward_step(att.reshape({B, D}), cache.linear[3]);
  const torch::Tensor m = b.mlp_norm(x);
  const torch::Tensor gated = torch::silu(b.gate->forward_step(m, cache.linear[4])) * b.up->forward_step(m, cache.linear[5]);
  return x + b.down->forward_step(gated, cache.linear[6]);
}

torch::Tensor LmDecoder::step(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 1 && tokens.size(0) == batch_, "LmDecoder::step: tokens must be (", batch_, "), got ",
              tokens.sizes());
  TORCH_CHECK(position_ < model_.config().context, "LmDecoder::step: the context of ", model_.config().context,
              " tokens is full");
  torch::NoGradGuard no_grad;
  const torch::Tensor cos = model_.rope_cos[position_], sin = model_.rope_sin[position_];  // (head_dim)
  torch::Tensor x = model_.embed(tokens);  // (B, D)
  for (std::size_t i = 0; i < caches_.size(); ++i) x = block_step(*model_.blocks[i], x, cos, sin, caches_[i]);
  ++position_;
  return model_.head(model_.norm(x));
}

}  // namespace strassentile::train
