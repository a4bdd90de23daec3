#include "vit_model.hpp"

#include <stdexcept>
#include <string>

namespace strassentile::train {

void VitConfig::validate() const {
  const auto bad = [](const std::string& why) { throw std::invalid_argument("ViT config: " + why); };
  if (patch < 1 || image_size < patch || image_size % patch != 0)
    bad("patch " + std::to_string(patch) + " must divide image size " + std::to_string(image_size));
  if (dim < 1 || depth < 1 || heads < 1 || mlp_ratio < 1 || classes < 2) bad("dim, depth, heads, mlp_ratio must be >= 1");
  if (dim % heads != 0) bad("dim " + std::to_string(dim) + " must be a multiple of heads " + std::to_string(heads));
}

VitCost vit_cost(const VitConfig& c, const LinearSpec& spec) {
  const int64_t T = c.tokens(), D = c.dim, H = c.mlp_ratio * c.dim;
  VitCost cost;
  const auto add = [&](int64_t in, int64_t out) {
    const LinearCost l = linear_cost(spec, in, out, T);
    const auto t = static_cast<double>(T), depth = static_cast<double>(c.depth);
    cost.linear_flops += depth * t * l.flops_per_row;
    cost.linear_product_flops += depth * t * l.product_flops_per_row;
    cost.dense_linear_flops += depth * t * l.dense_flops_per_row;
    cost.linear_params += depth * l.params;
    cost.dense_linear_params += depth * l.dense_params;
  };
  add(D, 3 * D);  // qkv
  add(D, D);      // proj
  add(D, H);      // fc1
  add(H, D);      // fc2
  const auto t = static_cast<double>(T), d = static_cast<double>(D);
  cost.embed_head_flops = 2.0 * t * static_cast<double>(c.patch * c.patch) * d + 2.0 * d * static_cast<double>(c.classes);
  cost.attention_flops = static_cast<double>(c.depth) * 2.0 * (2.0 * t * t * d);
  return cost;
}

torch::Tensor patchify(const torch::Tensor& images, int64_t p) {
  const int64_t B = images.size(0), gh = images.size(1) / p, gw = images.size(2) / p;
  return images.reshape({B, gh, p, gw, p}).permute({0, 1, 3, 2, 4}).reshape({B, gh * gw, p * p});
}

VitBlockImpl::VitBlockImpl(const VitConfig& c, const LinearSpec& spec) : heads_(c.heads) {
  const int64_t D = c.dim;
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D})));
  qkv = register_module("qkv", AnyLinear(spec, D, 3 * D));
  proj = register_module("proj", AnyLinear(spec, D, D));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D})));
  fc1 = register_module("fc1", AnyLinear(spec, D, c.mlp_ratio * D));
  fc2 = register_module("fc2", AnyLinear(spec, c.mlp_ratio * D, D));
}

torch::Tensor VitBlockImpl::forward(torch::Tensor x) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2), hd = D / heads_;
  // (B, T, 3D) → 3 × (B, heads, T, hd)
  const torch::Tensor q_k_v = qkv(norm1(x)).reshape({B, T, 3, heads_, hd}).permute({2, 0, 3, 1, 4});
  const torch::Tensor att = at::scaled_dot_product_attention(q_k_v[0], q_k_v[1], q_k_v[2]);  // (B, heads, T, hd)
  x = x + proj(att.transpose(1, 2).reshape({B, T, D}));
  return x + fc2(torch::gelu(fc1(norm2(x))));
}

VitImpl::VitImpl(const VitConfig& c, const LinearSpec& spec) : config_(c) {
  c.validate();
  patch_embed = register_module("patch_embed", torch::nn::Linear(c.patch * c.patch, c.dim));
  pos = register_parameter("pos", torch::randn({1, c.tokens(), c.dim}) * 0.02);
  for (int64_t i = 0; i < c.depth; ++i)
    blocks.push_back(register_module("block" + std::to_string(i), VitBlock(c, spec)));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim})));
  head = register_module("head", torch::nn::Linear(c.dim, c.classes));
}

torch::Tensor VitImpl::forward(const torch::Tensor& images) {
  torch::Tensor x = patch_embed(patchify(images, config_.patch)) + pos;  // (B, T, D)
  for (auto& block : blocks) x = block(x);
  return head(norm(x).mean(1));  // mean over tokens → (B, classes)
}

}  // namespace strassentile::train
