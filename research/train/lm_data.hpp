// Byte-level tokens for the language model: token = byte (vocabulary 256; byte 0 ends a document). No tokenizer
// to train, ship or version, and a perplexity per byte that any other model of the same bytes can be compared to.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "text_corpus.hpp"

namespace strassentile::train {

struct LmData {
  torch::Tensor train, val, test;  // (n) uint8 token streams, on one device
  int64_t train_documents = 0, val_documents = 0, test_documents = 0;
  std::string source;
};

// The corpus of `dir` made of `sources` (text_corpus.hpp) as byte streams on `device`. `eval_limit` > 0 keeps only
// the first eval_limit tokens of validation and of test (the same prefix for every variant).
LmData load_lm_data(const std::string& dir, const torch::Device& device, int64_t eval_limit = 0,
                    const std::vector<std::string>& sources = data::default_text_sources());

torch::Tensor text_to_tokens(const std::string& text);      // (n) uint8, CPU
std::string tokens_to_text(const torch::Tensor& tokens);    // (n) any integer dtype, any device

struct LmBatch {
  torch::Tensor inputs, targets;  // (B, T) int64; targets are inputs shifted by one token
};

// B windows of T+1 consecutive tokens at uniformly random offsets of `stream` (offsets drawn from `generator`, a
// CPU generator, so that every variant of one seed sees the same data).
LmBatch sample_lm_batch(const torch::Tensor& stream, int64_t batch, int64_t context, at::Generator& generator);

// Window w of an evaluation pass: inputs stream[w·T, w·T+T), targets one token later. count = ⌊(n−1)/T⌋ windows.
int64_t eval_window_count(const torch::Tensor& stream, int64_t context);
LmBatch eval_windows(const torch::Tensor& stream, int64_t first, int64_t count, int64_t context);

}  // namespace strassentile::train
