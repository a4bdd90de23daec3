#include "trainer.hpp"

#include "flat_adamw.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace strassentile::train {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kPi = 3.14159265358979323846;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

// Warm-up then cosine decay to 0, over `total` steps.
double learning_rate(const TrainConfig& c, int64_t step, int64_t total) {
  const auto warm = static_cast<int64_t>(std::llround(c.warmup * static_cast<double>(total)));
  if (step < warm) return c.lr * static_cast<double>(step + 1) / static_cast<double>(warm);
  const double progress = static_cast<double>(step - warm) / static_cast<double>(std::max<int64_t>(1, total - warm));
  return c.lr * 0.5 * (1.0 + std::cos(kPi * progress));
}

FlatAdamW make_optimizer(Vit& model, const TrainConfig& c) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    (p.value().dim() >= 2 && p.key() != "pos" ? decay : no_decay).push_back(p.value());
  }
  FlatAdamWOptions o;
  o.lr = c.lr;
  return FlatAdamW(decay, no_decay, c.weight_decay, o);
}

}  // namespace

double accuracy(Vit& model, const Split& split, int64_t batch) {
  if (split.size() == 0) return std::numeric_limits<double>::quiet_NaN();
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor correct = torch::zeros({}, split.labels.options());
  for (int64_t i = 0; i < split.size(); i += batch) {
    const int64_t len = std::min(batch, split.size() - i);
    correct += model->forward(split.images.narrow(0, i, len)).argmax(1).eq(split.labels.narrow(0, i, len)).sum();
  }
  model->train(was_training);
  return static_cast<double>(correct.item<int64_t>()) / static_cast<double>(split.size());
}

RunResult train_vit_run(const TrainConfig& c, const std::string& variant, uint64_t seed, const ImageData& data,
                        const torch::Device& device, RunPosition position) {
  const auto wall_start = Clock::now();
  const LinearSpec spec = LinearSpec::parse(variant);
  RunResult r;
  r.variant = spec.to_string();  // canonical: "sparse24" and "sparse24:mask=fixed" are one variant
  r.seed = seed;
  r.device = device.str();
  r.cost = vit_cost(c.model, spec);

  torch::manual_seed(seed);
  Vit model(c.model, spec);
  model->to(device);
  r.init_seconds = seconds_since(wall_start);
  for (const auto& p : model->parameters())
    if (p.requires_grad()) r.params += static_cast<double>(p.numel());
  FlatAdamW opt = make_optimizer(model, c);

  const int64_t n = data.train.size();
  const int64_t per_epoch = n / c.batch;
  if (per_epoch < 1)
    throw std::invalid_argument("--batch " + std::to_string(c.batch) + " is larger than the " + std::to_string(n) +
                                " training images");
  int64_t total = c.epochs * per_epoch;
  if (c.max_steps > 0) total = std::min(total, c.max_steps);
  const int64_t steady_from = std::min<int64_t>(20, total / 4);
  double steady_mark = 0;

  const std::string label = "[" + std::to_string(position.index + 1) + "/" + std::to_string(position.count) + " " +
                            variant + " seed " + std::to_string(seed) + "]";
  std::printf("%s %s, %.3g M params, %.4g MFLOPs/image in spec-built linears (dense: %.4g), %lld steps\n",
              label.c_str(), r.device.c_str(), r.params / 1e6, r.cost.linear_flops / 1e6, r.cost.dense_linear_flops / 1e6,
              static_cast<long long>(total));
  std::fflush(stdout);

  auto last_log = Clock::now();
  int64_t step = 0;
  model->train();
  for (int64_t epoch = 0; step < total; ++epoch) {
    const auto epoch_start = Clock::now();
    const torch::Tensor order = torch::randperm(n, torch::TensorOptions().dtype(torch::kLong).device(device));
    std::vector<torch::Tensor> losses;
    for (int64_t i = 0; i < per_epoch && step < total; ++i) {
      const torch::Tensor idx = order.narrow(0, i * c.batch, c.batch);
      const torch::Tensor x = data.train.images.index_select(0, idx), y = data.train.labels.index_select(0, idx);
      opt.set_lr(learning_rate(c, step, total));
      opt.zero_grad();
      const torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      if (c.clip > 0) opt.clip_grad_norm(c.clip);
      opt.step();
      losses.push_back(loss.detach());
      ++step;
      if (step == steady_from) {
        (void)loss.item<double>();  // wait for the device
        steady_mark = r.train_seconds + seconds_since(epoch_start);
      }
      if (c.log_every > 0 && seconds_since(last_log) >= c.log_every) {
        const double current = loss.item<double>();  // also waits for the device, so the rate is true
        last_log = Clock::now();
        const double elapsed = r.train_seconds + seconds_since(epoch_start);
        const double rate = static_cast<double>(step) / elapsed;
        const double run_eta = static_cast<double>(total - step) / rate;
        const double run_total = static_cast<double>(total) / rate;
        std::printf("%s epoch %lld/%lld step %lld/%lld  loss %.4f  %.1f steps/s  %.0f images/s  ETA run %s, "
                    "all runs %s\n",
                    label.c_str(), static_cast<long long>(epoch + 1), static_cast<long long>(c.epochs),
                    static_cast<long long>(step), static_cast<long long>(total), current, rate,
                    rate * static_cast<double>(c.batch), clock_text(run_eta).c_str(),
                    clock_text(run_eta + run_total * static_cast<double>(position.count - position.index - 1)).c_str());
        std::fflush(stdout);
      }
    }
    const torch::Tensor epoch_losses = torch::stack(losses).to(torch::kCPU, torch::kDouble);  // waits for the device
    r.train_seconds += seconds_since(epoch_start);
    const auto* l = epoch_losses.data_ptr<double>();
    r.step_losses.insert(r.step_losses.end(), l, l + epoch_losses.numel());

    EpochRecord e;
    e.epoch = epoch + 1;
    e.steps = step;
    e.train_loss = epoch_losses.mean().item<double>();
    e.val_accuracy = accuracy(model, data.val, c.eval_batch);
    e.test_accuracy = accuracy(model, data.test, c.eval_batch);
    e.train_seconds = r.train_seconds;
    r.epochs.push_back(e);
    std::printf("%s epoch %lld done: train loss %.4f, val %.2f%%, test %.2f%%, %.1f s training\n", label.c_str(),
                static_cast<long long>(e.epoch), e.train_loss, 100 * e.val_accuracy, 100 * e.test_accuracy,
                r.train_seconds);
    std::fflush(stdout);
  }

  r.steps = step;
  std::size_t best = r.epochs.size() - 1;  // without a validation slice: the last epoch
  if (data.val.size() > 0) {
    best = 0;
    for (std::size_t i = 1; i < r.epochs.size(); ++i)
      if (r.epochs[i].val_accuracy >= r.epochs[best].val_accuracy) best = i;  // ties: the later epoch
  }
  r.best_epoch = r.epochs[best].epoch;
  r.best_val_accuracy = r.epochs[best].val_accuracy;
  r.test_accuracy_at_best_val = r.epochs[best].test_accuracy;
  r.final_test_accuracy = r.epochs.back().test_accuracy;
  const auto images = static_cast<double>(step * c.batch);
  r.images_per_second = images / r.train_seconds;
  if (step > steady_from && r.train_seconds > steady_mark)
    r.steady_images_per_second = static_cast<double>((step - steady_from) * c.batch) / (r.train_seconds - steady_mark);
  r.wall_seconds = seconds_since(wall_start);
  return r;
}

}  // namespace strassentile::train
