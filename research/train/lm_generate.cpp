#include "lm_generate.hpp"
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <memory>
#include <stdexcept>
#include <vector>

#include "lm_data.hpp"
#include "lm_decoder.hpp"

namespace strassentile::train {
namespace {

int64_t sample(const torch::Tensor& logits, const GenerateOptions& o, at::Generator& generator) {
  const torch::Tensor l = logits.reshape({-1}).to(torch::kCPU, torch::kFloat);
  if (o.temperature <= 0) return l.argmax().item<int64_t>();
  torch::Tensor scaled = l / o.temperature;
  if (o.top_k > 0 && o.top_k < scaled.numel()) {
    const torch::Tensor kth = std::get<0>(scaled.topk(o.top_k)).min();
    scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
  }
  return torch::multinomial(torch::softmax(scaled, 0), 1, /*replacement=*/false, generator).item<int64_t>();
}

}  // namespace

torch::Tensor prefix_logits(LmImpl& model, const torch::Tensor& tokens, bool incremental) {
  torch::NoGradGuard no_grad;
  if (!incremental) return model.forward(tokens);
  LmDecoder decoder(model, tokens.size(0));
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < tokens.size(1); ++t) out.push_back(decoder.step(tokens.select(1, t)));
  return torch::stack(out, 1);
}

double decode_tokens_per_second(LmImpl& model, int64_t batch, int64_t positions) {
  if (batch < 1) throw std::invalid_argument("--decode-batch must be >= 1, got " + std::to_string(batch));
  if (positions < 1 || positions > model.config().context)
    throw std::invalid_argument("--decode-tokens must be in [1, context " + std::to_string(model.config().context) +
                                "], got " + std::to_string(positions));
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const torch::Device device = model.rope_cos.device();
  const auto decode = [&](int64_t steps) {
    LmDecoder decoder(model, batch);
    torch::Tensor next = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kLong).device(device));
    for (int64_t t = 0; t < steps; ++t) next = decoder.step(next).argmax(-1);
    return next.sum().item<int64_t>();  // waits for the device
  };
  decode(std::min<int64_t>(positions, 8));  // allocator, cuBLAS handles, cached STL masks
  const auto start = std::chrono::steady_clock::now();
  decode(positions);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model.train(was_training);
  return static_cast<double>(batch * positions) / seconds;
}

Generated generate_text(LmImpl& model, const std::string& prompt, const GenerateOptions& o) {
  if (prompt.empty()) throw std::invalid_argument("--prompt is empty: give at least one byte of text to continue");
  const int64_t context = model.config().context;
  const torch::Device device = model.rope_cos.device();
  model.eval();
  torch::NoGradGuard no_grad;
  at::Generator generator = at::detail::createCPUGenerator(o.seed);
  std::string kept = prompt.size() >= static_cast<std::size_t>(context) ? prompt.substr(prompt.size() - context + 1) : prompt;
  Generated g;
  g.prompt_tokens = static_cast<int64_t>(kept.size());
  torch::Tensor tokens = text_to_tokens(kept).to(torch::kLong).unsqueeze(0).to(device);  // (1, T)
  std::unique_ptr<LmDecoder> decoder;
  torch::Tensor logits;
  if (o.incremental) {
    decoder = std::make_unique<LmDecoder>(model, 1);
    for (int64_t t = 0; t < tokens.size(1); ++t) logits = decoder->step(tokens.select(1, t));
  } else {
    logits = model.forward(tokens).select(1, tokens.size(1) - 1);
  }
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    const int64_t next = sample(logits, o, generator);
    if (o.stop_at_document_end && next == 0) break;
    g.text += static_cast<char>(static_cast<unsigned char>(next));
    ++g.new_tokens;
    if (g.prompt_tokens + g.new_tokens >= context) {
      g.hit_context = true;
      break;
    }
    const torch::Tensor t = torch::full({1}, next, torch::TensorOptions().dtype(torch::kLong).device(device));
    if (o.incremental) {
      logits = decoder->step(t);
    } else {
      tokens = torch::cat({tokens, t.unsqueeze(0)}, 1);
      logits = model.forward(tokens).select(1, tokens.size(1) - 1);
    }
  }
  return g;
}

}  // namespace strassentile::train
