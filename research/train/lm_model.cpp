#include "lm_model.hpp"

#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

namespace strassentile::train {

void LmConfig::validate() const {
  const auto bad = [](const std::string& why) { throw std::invalid_argument("LM config: " + why); };
  if (vocab < 2 || dim < 1 || depth < 1 || heads < 1 || context < 1) bad("vocab >= 2; dim, depth, heads, context >= 1");
  if (dim % heads != 0) bad("dim " + std::to_string(dim) + " must be a multiple of heads " + std::to_string(heads));
  if ((dim / heads) % 2 != 0) bad("head width dim/heads = " + std::to_string(dim / heads) + " must be even (RoPE)");
  if (hidden < 0) bad("hidden must be >= 0 (0: 8/3·dim rounded up to a multiple of 64)");
  if (!(rope_base > 1)) bad("rope_base must be > 1");
}

std::string LmConfig::to_string() const {
  std::ostringstream o;
  o << "dim=" << dim << ",depth=" << depth << ",heads=" << heads << ",hidden=" << mlp_hidden() << ",context=" << context
    << ",vocab=" << vocab << ",rope_base=" << rope_base;
  return o.str();
}

LmConfig LmConfig::parse(const std::string& text) {
  LmConfig c;
  std::map<std::string, int64_t*> ints = {{"dim", &c.dim},         {"depth", &c.depth},     {"heads", &c.heads},
                                          {"hidden", &c.hidden},   {"context", &c.context}, {"vocab", &c.vocab}};
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("LM config '" + text + "': expected key=value, got '" + item + "'");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    try {
      if (key == "rope_base") {
        c.rope_base = std::stod(value);
      } else if (ints.count(key)) {
        *ints[key] = std::stoll(value);
      } else {
        throw std::invalid_argument("unknown key");
      }
    } catch (const std::exception&) {
      throw std::invalid_argument("LM config '" + text + "': bad entry '" + item + "'");
    }
  }
  c.validate();
  return c;
}

LmCost lm_cost(const LmConfig& c, const LinearSpec& spec) {
  const int64_t D = c.dim, H = c.mlp_hidden();
  const auto depth = static_cast<double>(c.depth);
  LmCost cost;
  const auto add = [&](int64_t in, int64_t out) {
    const LinearCost l = linear_cost(spec, in, out, c.context);
    cost.linear_flops += depth * l.flops_per_row;
    cost.linear_product_flops += depth * l.product_flops_per_row;
    cost.dense_linear_flops += depth * l.dense_flops_per_row;
    cost.linear_params += depth * l.params;
    cost.dense_linear_params += depth * l.dense_params;
  };
  for (int i = 0; i < 4; ++i) add(D, D);  // q, k, v, o
  add(D, H);                              // gate
  add(D, H);                              // up
  add(H, D);                              // down
  cost.head_flops = 2.0 * static_cast<double>(D) * static_cast<double>(c.vocab);
  // Position t attends to t+1 keys: 2·(t+1)·D for the scores and as much for attention·values; mean over t.
  cost.attention_flops = depth * 2.0 * static_cast<double>(D) * static_cast<double>(c.context + 1);
  return cost;
}

bool spec_leaks_future(const LinearSpec& spec) {
  return spec.kind == LinearSpec::Kind::Stl && spec.mode == "tile" && !spec.tile.empty() && spec.tile[0] > 1;
}

RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) { weight = register_parameter("weight", torch::ones({dim})); }

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps_) * weight;
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

LmBlockImpl::LmBlockImpl(const LmConfig& c, const LinearSpec& spec) : heads_(c.heads) {
  const int64_t D = c.dim, H = c.mlp_hidden();
  attn_norm = register_module("attn_norm", RmsNorm(D));
  q = register_module("q", AnyLinear(spec, D, D, /*bias=*/false));
  k = register_module("k", AnyLinear(spec, D, D, false));
  v = register_module("v", AnyLinear(spec, D, D, false));
  o = register_module("o", AnyLinear(spec, D, D, false));
  mlp_norm = register_module("mlp_norm", RmsNorm(D));
  gate = register_module("gate", AnyLinear(spec, D, H, false));
  up = register_module("up", AnyLinear(spec, D, H, false));
  down = register_module("down", AnyLinear(spec, H, D, false));
}

torch::Tensor LmBlockImpl::forward(torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2), hd = D / heads_;
  const torch::Tensor h = attn_norm(x);
  // (B, T, D) → (B, heads, T, hd)
  const auto split_heads = [&](const torch::Tensor& t) { return t.view({B, T, heads_, hd}).transpose(1, 2); };
  const torch::Tensor qh = apply_rope(split_heads(q(h)), cos, sin), kh = apply_rope(split_heads(k(h)), cos, sin);
  const torch::Tensor att = at::scaled_dot_product_attention(qh, kh, split_heads(v(h)), /*attn_mask=*/{},
                                                             /*dropout_p=*/0.0, /*is_causal=*/true);
  x = x + o(att.transpose(1, 2).reshape({B, T, D}));
  const torch::Tensor m = mlp_norm(x);
  return x + down(torch::silu(gate(m)) * up(m));
}

LmImpl::LmImpl(const LmConfig& c, const LinearSpec& spec) : config_(c) {
  c.validate();
  embed = register_module("embed", torch::nn::Embedding(c.vocab, c.dim));
  torch::nn::init::normal_(embed->weight, 0.0, 0.02);  // Llama's scale; the first RMSNorm makes it irrelevant
  for (int64_t i = 0; i < c.depth; ++i) blocks.push_back(register_module("block" + std::to_string(i), LmBlock(c, spec)));
  norm = register_module("norm", RmsNorm(c.dim));
  head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(c.dim, c.vocab).bias(false)));
  const int64_t hd = c.dim / c.heads;
  const torch::Tensor inv_freq =
      torch::pow(c.rope_base, -torch::arange(0, hd, 2, torch::kDouble) / static_cast<double>(hd));  // (hd/2)
  const torch::Tensor angles = torch::outer(torch::arange(c.context, torch::kDouble), inv_freq);  // (context, hd/2)
  const torch::Tensor full = torch::cat({angles, angles}, -1).to(torch::kFloat);
  rope_cos = register_buffer("rope_cos", full.cos());
  rope_sin = register_buffer("rope_sin", full.sin());
}

torch::Tensor LmImpl::forward(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 2, "Lm: tokens must be (batch, time), got ", tokens.sizes());
  const int64_t T = tokens.size(1);
  TORCH_CHECK(T >= 1 && T <= config_.context, "Lm: sequence of ", T, " tokens; the context is ", config_.context);
  const torch::Tensor cos = rope_cos.narrow(0, 0, T), sin = rope_sin.narrow(0, 0, T);
  torch::Tensor x = embed(tokens);
  for (auto& block : blocks) x = block(x, cos, sin);
  return head(norm(x));
}

}  // namespace strassentile::train
