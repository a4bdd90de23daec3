// A small Llama-style decoder over byte tokens: token embedding, pre-norm blocks of RMSNorm → causal multi-head
// attention with rotary position embeddings (RoPE) and RMSNorm → SwiGLU MLP, a final RMSNorm and a linear head.
//
// The seven linear layers of every block (q, k, v, o; gate, up, down; no biases, as in Llama) are built from one
// LinearSpec: dense, STL (mode tile, causal or token-local), 2:4 or low rank. The embedding and the head stay
// dense in every variant (256 byte tokens: they are 1–2% of the FLOPs).
//
// Causality: attention is causal, and every other operation acts on one token at a time — except an STL layer in
// mode `tile`, whose a×b tiles mix the a consecutive tokens they span, so a token's output sees up to a−1 future
// tokens (STL.md §4). Its perplexity is therefore not a language-model perplexity (the results mark it LEAKING).
//
// Incremental decoding (KV cache, STL row caches) lives in lm_decoder.hpp.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "baselines/baseline_linear.hpp"

namespace strassentile::train {

struct LmConfig {
  int64_t vocab = 256;      // byte tokens
  int64_t dim = 256;        // model width
  int64_t depth = 4;        // blocks
  int64_t heads = 4;        // attention heads (dim must be a multiple; head width must be even for RoPE)
  int64_t hidden = 0;       // SwiGLU width; 0: 8/3·dim rounded up to a multiple of 64 (Llama's rule)
  int64_t context = 256;    // training sequence length = longest context (RoPE table, KV cache)
  double rope_base = 10000;
  int64_t mlp_hidden() const { return hidden > 0 ? hidden : (8 * dim / 3 + 63) / 64 * 64; }
  // Throws std::invalid_argument naming the bad field.
  void validate() const;
  std::string to_string() const;  // "dim=256,depth=4,heads=4,hidden=704,context=256,vocab=256,rope_base=10000"
  static LmConfig parse(const std::string& text);
};

// Forward FLOPs per token (multiply-add = 2) and parameter counts, for sequences of `context` tokens.
struct LmCost {
  double linear_flops = 0;          // the 7·depth spec-built layers, STL encode and decode included
  double linear_product_flops = 0;  // the same, STL's batched products alone (others: = linear_flops)
  double dense_linear_flops = 0;    // those layers if they were dense
  double linear_params = 0;         // effective weights of those layers (2:4: kept ones; STL: Ŵ, E_X, D)
  double dense_linear_params = 0;
  double head_flops = 0;            // the dense output head
  double attention_flops = 0;       // q·kᵀ and attention·v, averaged over the positions of a full context
};
LmCost lm_cost(const LmConfig& config, const LinearSpec& spec);

// True when a layer built from `spec` lets a token's output depend on later tokens (STL mode tile with a > 1).
bool spec_leaks_future(const LinearSpec& spec);

// Root-mean-square normalisation with a learned gain (no bias, no mean subtraction).
class RmsNormImpl : public torch::nn::Module {
 public:
  explicit RmsNormImpl(int64_t dim, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RmsNorm);

class LmBlockImpl : public torch::nn::Module {
 public:
  LmBlockImpl(const LmConfig& config, const LinearSpec& spec);
  // x: (B, T, D); cos, sin: (T, head_dim) rotary tables of positions 0..T−1.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin);

  RmsNorm attn_norm{nullptr}, mlp_norm{nullptr};
  AnyLinear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr}, gate{nullptr}, up{nullptr}, down{nullptr};
  int64_t heads() const { return heads_; }

 private:
  int64_t heads_;
};
TORCH_MODULE(LmBlock);

class LmImpl : public torch::nn::Module {
 public:
  LmImpl(const LmConfig& config, const LinearSpec& spec);
  // tokens: (B, T) int64 in [0, vocab), T ≤ context → logits (B, T, vocab).
  torch::Tensor forward(const torch::Tensor& tokens);

  const LmConfig& config() const { return config_; }
  torch::nn::Embedding embed{nullptr};
  std::vector<LmBlock> blocks;
  RmsNorm norm{nullptr};
  torch::nn::Linear head{nullptr};
  torch::Tensor rope_cos, rope_sin;  // (context, head_dim) buffers

 private:
  LmConfig config_;
};
TORCH_MODULE(Lm);

// Rotates pairs (i, i + hd/2) of the last dimension by the position's angles (Llama's "rotate half" form).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace strassentile::train
