#include "lm_data.hpp"

#include <stdexcept>

namespace strassentile::train {

torch::Tensor text_to_tokens(const std::string& text) {
  return torch::from_blob(const_cast<char*>(text.data()), {static_cast<int64_t>(text.size())}, torch::kUInt8).clone();
}

std::string tokens_to_text(const torch::Tensor& tokens) {
  const torch::Tensor bytes = tokens.to(torch::kCPU, torch::kUInt8).contiguous();
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<std::size_t>(bytes.numel()));
}

LmData load_lm_data(const std::string& dir, const torch::Device& device, int64_t eval_limit,
                    const std::vector<std::string>& sources) {
  const data::TextCorpus corpus = data::load_text_corpus(dir, sources);
  const auto eval = [&](const std::string& bytes) {
    torch::Tensor t = text_to_tokens(bytes);
    if (eval_limit > 0 && t.numel() > eval_limit) t = t.narrow(0, 0, eval_limit).clone();
    return t.to(device);
  };
  LmData d;
  d.source = dir;
  d.train = text_to_tokens(corpus.train.bytes).to(device);
  d.val = eval(corpus.val.bytes);
  d.test = eval(corpus.test.bytes);
  d.train_documents = corpus.train.documents;
  d.val_documents = corpus.val.documents;
  d.test_documents = corpus.test.documents;
  return d;
}

LmBatch sample_lm_batch(const torch::Tensor& stream, int64_t batch, int64_t context, at::Generator& generator) {
  const int64_t n = stream.numel();
  if (n < context + 2)
    throw std::invalid_argument("training stream of " + std::to_string(n) + " tokens is shorter than --context " +
                                std::to_string(context) + " + 2");
  const torch::Tensor offsets = torch::randint(n - context - 1, {batch, 1}, generator, torch::kLong);
  const torch::Tensor index = (offsets + torch::arange(context + 1, torch::kLong)).to(stream.device());
  const torch::Tensor windows = stream.index({index}).to(torch::kLong);  // (B, T+1)
  return {windows.narrow(1, 0, context), windows.narrow(1, 1, context)};
}

int64_t eval_window_count(const torch::Tensor& stream, int64_t context) { return (stream.numel() - 1) / context; }

LmBatch eval_windows(const torch::Tensor& stream, int64_t first, int64_t count, int64_t context) {
  const torch::Tensor inputs = stream.narrow(0, first * context, count * context).view({count, context});
  const torch::Tensor targets = stream.narrow(0, first * context + 1, count * context).view({count, context});
  return {inputs.to(torch::kLong), targets.to(torch::kLong)};
}

}  // namespace strassentile::train
