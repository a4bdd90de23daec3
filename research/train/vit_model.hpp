// A small Vision Transformer for 28×28 one-channel images (Fashion-MNIST): patchify, pre-norm blocks, MLP
// ratio 4, mean-pooled tokens, linear classifier.
//
// Every linear layer inside the blocks (qkv, attention output proj, MLP fc1 and fc2) is built from one
// LinearSpec (dense, STL, 2:4 or low rank). The patch embedding and the classifier stay dense in every variant:
// the embedding reads raw 7×7 pixels (49 inputs) and the classifier acts on one pooled row per image, so an
// STL tile there would be mostly padding or would mix images.
//
// No class token: the 16 patch tokens of a 28×28 image with 7×7 patches are a multiple of STL's a = 4, so STL
// tiles (a consecutive rows of one image) never need padding and never span two images.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "baselines/baseline_linear.hpp"

namespace strassentile::train {

struct VitConfig {
  int64_t image_size = 28;  // square, one channel
  int64_t patch = 7;        // patch side; (28/7)² = 16 tokens
  int64_t dim = 256;        // token width
  int64_t depth = 6;        // blocks
  int64_t heads = 4;        // attention heads (dim must be a multiple)
  int64_t mlp_ratio = 4;    // MLP hidden = mlp_ratio·dim
  int64_t classes = 10;
  int64_t tokens() const { return (image_size / patch) * (image_size / patch); }
  // Throws std::invalid_argument naming the bad field.
  void validate() const;
};

// FLOPs per image (forward, multiply-add = 2) and parameter counts of a ViT built with one LinearSpec.
struct VitCost {
  double linear_flops = 0;          // the spec-built layers (qkv, proj, fc1, fc2), STL encode/decode included
  double linear_product_flops = 0;  // the same, STL's batched products alone
  double dense_linear_flops = 0;    // those layers if they were dense
  double linear_params = 0;         // effective weights of those layers (2:4: kept ones), biases excluded
  double dense_linear_params = 0;
  double embed_head_flops = 0;      // patch embedding and classifier (dense in every variant)
  double attention_flops = 0;       // q·kᵀ and attention·v
};
VitCost vit_cost(const VitConfig& config, const LinearSpec& spec);

class VitBlockImpl : public torch::nn::Module {
 public:
  VitBlockImpl(const VitConfig& config, const LinearSpec& spec);
  torch::Tensor forward(torch::Tensor x);  // (B, T, D) → (B, T, D)

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  AnyLinear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(VitBlock);

class VitImpl : public torch::nn::Module {
 public:
  VitImpl(const VitConfig& config, const LinearSpec& spec);
  torch::Tensor forward(const torch::Tensor& images);  // (B, 28, 28) normalised pixels → (B, classes) logits

  const VitConfig& config() const { return config_; }
  std::vector<VitBlock> blocks;
  torch::nn::Linear patch_embed{nullptr}, head{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::Tensor pos;  // (1, T, D) learned position embedding

 private:
  VitConfig config_;
};
TORCH_MODULE(Vit);

// (B, H, W) → (B, T, p²): non-overlapping p×p patches in row-major patch order, each flattened row-major.
torch::Tensor patchify(const torch::Tensor& images, int64_t patch);

}  // namespace strassentile::train
