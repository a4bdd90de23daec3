#include "lm_trainer.hpp"
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#include "autocast_scope.hpp"
#include "flat_adamw.hpp"
#include "lm_checkpoint.hpp"
#include "lm_generate.hpp"
#include "posix_files.hpp"
#include "run_checkpoint.hpp"

namespace strassentile::train {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kPi = 3.14159265358979323846;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double learning_rate(const LmTrainConfig& c, int64_t step, int64_t total) {
  const auto warm = static_cast<int64_t>(std::llround(c.warmup * static_cast<double>(total)));
  if (step < warm) return c.lr * static_cast<double>(step + 1) / static_cast<double>(warm);
  const double progress = static_cast<double>(step - warm) / static_cast<double>(std::max<int64_t>(1, total - warm));
  return c.lr * 0.5 * (1.0 + std::cos(kPi * progress));
}

// Weight decay on the >= 2-D weights; STL's basis at its own learning rate.
FlatAdamW make_optimizer(LmImpl& model, const LmTrainConfig& c, double basis_lr) {
  FlatAdamWOptions o;
  o.lr = c.lr;
  o.beta2 = c.beta2;
  return FlatAdamW(weight_decay_groups(model.named_parameters(), c.weight_decay, basis_lr,
                                       [](const std::string&, const torch::Tensor& p) { return p.dim() >= 2; }),
                   o);
}

std::string checkpoint_name(const std::string& prefix, const std::string& variant, uint64_t seed) {
  std::string safe;
  for (const char ch : variant) safe += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return prefix + safe + "_seed" + std::to_string(seed) + ".pt";
}

}  // namespace

LmEval evaluate_lm(LmImpl& model, const torch::Tensor& stream, int64_t batch, int64_t max_tokens, bool amp) {
  const int64_t context = model.config().context;
  int64_t windows = eval_window_count(stream, context);
  if (max_tokens > 0) windows = std::min(windows, std::max<int64_t>(1, max_tokens / context));
  LmEval e;
  if (windows < 1) return e;
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const AutocastScope autocast(stream.device(), amp);
  torch::Tensor sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(stream.device()));
  for (int64_t w = 0; w < windows; w += batch) {
    const LmBatch b = eval_windows(stream, w, std::min(batch, windows - w), context);
    const torch::Tensor logits = model.forward(b.inputs);
    sum += torch::nn::functional::cross_entropy(
               logits.reshape({-1, logits.size(-1)}), b.targets.reshape({-1}),
               torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
               .to(torch::kDouble);
  }
  model.train(was_training);
  e.tokens = windows * context;
  e.loss = sum.item<double>() / static_cast<double>(e.tokens);
  return e;
}

LmRunResult train_lm_run(const LmTrainConfig& c, const std::string& variant, uint64_t seed, const LmData& data,
                         const torch::Device& device, const LmRunContext& ctx) {
  const auto wall_start = Clock::now();
  const LinearSpec spec = LinearSpec::parse(variant);
  LmRunResult r;
  r.variant = spec.to_string();
  r.seed = seed;
  r.device = device.str();
  r.cost = lm_cost(c.model, spec);
  r.leaks_future = spec_leaks_future(spec);

  torch::manual_seed(seed);
  Lm model(c.model, spec);
  model->to(device);
  for (const auto& p : model->parameters())
    if (p.requires_grad()) r.params += static_cast<double>(p.numel());
  FlatAdamW opt = make_optimizer(*model, c, spec.basis_lr);
  at::Generator windows = at::detail::createCPUGenerator(seed);

  const int64_t total = c.steps(), tokens_per_step = c.batch * c.model.context;
  r.planned_steps = total;
  const int64_t steady_from = std::min<int64_t>(20, total / 4);
  const int64_t points = std::min(c.curve_points, total);
  const std::string label = "[" + std::to_string(ctx.index + 1) + "/" + std::to_string(ctx.count) + " " + r.variant +
                            " seed " + std::to_string(seed) + "]";
  const std::string state_path = c.checkpoint_dir.empty() ? "" : run_checkpoint_path(c.checkpoint_dir, r.variant, seed);
  const std::string settings = lm_run_settings(c, r.variant, seed);
  if (!state_path.empty()) make_directories(c.checkpoint_dir);
  if (!state_path.empty() && load_lm_run_state(state_path, settings, r, *model, opt, windows)) {
    if (r.finished) {
      std::printf("%s finished earlier (%s): val ppl %.4f, test ppl %.4f\n", label.c_str(), state_path.c_str(),
                  std::exp(r.val_loss), std::exp(r.test_loss));
      std::fflush(stdout);
      return r;
    }
    r.resumed_from_step = r.steps;
    r.stopped_early = false;
  }
  const double wall_before = r.wall_seconds;
  int64_t step = r.steps;
  const int64_t first_step = step;
  std::printf("%s %s, %.3g M params, %.4g MFLOPs/token in spec-built linears (products only %.4g; dense %.4g)%s, "
              "%lld steps of %lld tokens%s\n",
              label.c_str(), r.device.c_str(), r.params / 1e6, r.cost.linear_flops / 1e6,
              r.cost.linear_product_flops / 1e6, r.cost.dense_linear_flops / 1e6,
              r.leaks_future ? ", LEAKING (tile mode sees future tokens)" : "", static_cast<long long>(total),
              static_cast<long long>(tokens_per_step),
              step > 0 ? (", resuming after step " + std::to_string(step)).c_str() : "");
  std::fflush(stdout);

  model->train();
  auto last_log = Clock::now();
  std::vector<torch::Tensor> losses;  // of the steps not yet in r.step_losses, on the device
  auto segment_start = Clock::now();  // training time since then is not yet in r.train_seconds
  // Moves the pending losses to r.step_losses (waits for the device) and the pending time to r.train_seconds.
  const auto account = [&]() {
    if (!losses.empty()) {
      const torch::Tensor l = torch::stack(losses).to(torch::kCPU, torch::kDouble);
      r.step_losses.insert(r.step_losses.end(), l.data_ptr<double>(), l.data_ptr<double>() + l.numel());
      losses.clear();
    }
    r.train_seconds += seconds_since(segment_start);
    segment_start = Clock::now();
  };
  const auto save_state = [&]() {
    if (state_path.empty()) return;
    r.wall_seconds = wall_before + seconds_since(wall_start);
    save_lm_run_state(state_path, settings, r, *model, opt, windows);
  };
  const int64_t pause_at = c.pause_after_steps > 0 ? step + c.pause_after_steps : total;
  for (; step < total; ++step) {
    if (Clock::now() >= ctx.stop_training_at || step >= pause_at) {
      r.stopped_early = true;
      std::printf("%s %s: stopping after %lld of %lld steps\n", label.c_str(),
                  step >= pause_at ? "pause" : "deadline", static_cast<long long>(step), static_cast<long long>(total));
      break;
    }
    const LmBatch b = sample_lm_batch(data.train, c.batch, c.model.context, windows);
    opt.set_lr(learning_rate(c, step, total));
    opt.zero_grad();
    torch::Tensor loss;
    {
      const AutocastScope autocast(device, c.amp);
      const torch::Tensor logits = model->forward(b.inputs);
      loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), b.targets.reshape({-1}));
    }
    loss.backward();
    if (c.clip > 0) opt.clip_grad_norm(c.clip);
    opt.step();
    losses.push_back(loss.detach());
    if (step + 1 == steady_from && r.steady_start_seconds < 0) {
      account();
      r.steady_start_seconds = r.train_seconds;
    }
    const bool curve_point = points > 0 && ((step + 1) * points / total != step * points / total || step + 1 == total);
    if (curve_point) {
      account();
      r.steps = step + 1;
      LmCurvePoint pt;
      pt.step = step + 1;
      pt.tokens = (step + 1) * tokens_per_step;
      const auto first = static_cast<std::ptrdiff_t>(r.curve.empty() ? 0 : r.curve.back().step);
      pt.train_loss = std::accumulate(r.step_losses.begin() + first, r.step_losses.end(), 0.0) /
                      static_cast<double>(pt.step - first);
      const auto eval_start = Clock::now();
      pt.val_loss = evaluate_lm(*model, data.val, c.eval_batch, c.curve_tokens, c.amp).loss;
      r.eval_seconds += seconds_since(eval_start);
      r.curve.push_back(pt);
      std::printf("%s step %lld/%lld (%.2f M tokens): train loss %.4f, val loss %.4f (%.3f bits/byte), "
                  "%.0f tokens/s\n",
                  label.c_str(), static_cast<long long>(pt.step), static_cast<long long>(total), static_cast<double>(pt.tokens) / 1e6,
                  pt.train_loss, pt.val_loss, pt.val_loss / std::log(2.0),
                  static_cast<double>(pt.tokens) / r.train_seconds);
      std::fflush(stdout);
      save_state();
      segment_start = Clock::now();
      last_log = Clock::now();
    } else if (c.log_every > 0 && seconds_since(last_log) >= c.log_every) {
      const double current = loss.item<double>();
      last_log = Clock::now();
      const double rate = static_cast<double>(step + 1) / (r.train_seconds + seconds_since(segment_start));
      std::printf("%s step %lld/%lld  loss %.4f  %.0f tokens/s  ETA run %.0f s\n", label.c_str(),
                  static_cast<long long>(step + 1), static_cast<long long>(total), current,
                  rate * static_cast<double>(tokens_per_step), static_cast<double>(total - step - 1) / rate);
      std::fflush(stdout);
    }
  }
  account();
  r.steps = step;
  r.tokens = step * tokens_per_step;
  if (r.train_seconds > 0) r.tokens_per_second = static_cast<double>(r.tokens) / r.train_seconds;
  if (step > steady_from && r.steady_start_seconds >= 0 && r.train_seconds > r.steady_start_seconds)
    r.steady_tokens_per_second =
        static_cast<double>((step - steady_from) * tokens_per_step) / (r.train_seconds - r.steady_start_seconds);
  if (r.stopped_early && !state_path.empty()) {  // to be resumed: no final evaluation
    if (step > first_step) {  // else the file (if any) already holds this state
      save_state();
      std::printf("%s saved after %lld steps: %s\n", label.c_str(), static_cast<long long>(step), state_path.c_str());
      std::fflush(stdout);
    }
    return r;
  }

  const auto eval_start = Clock::now();
  const LmEval val = evaluate_lm(*model, data.val, c.eval_batch, c.eval_limit, c.amp);
  const LmEval test = evaluate_lm(*model, data.test, c.eval_batch, c.eval_limit, c.amp);
  r.eval_seconds += seconds_since(eval_start);
  r.val_loss = val.loss;
  r.val_tokens = val.tokens;
  r.test_loss = test.loss;
  r.test_tokens = test.tokens;
  if (c.decode_tokens > 0 && !r.leaks_future) {
    r.decode_batch = c.decode_batch;
    r.decode_tokens = c.decode_tokens;
    r.decode_tokens_per_second = decode_tokens_per_second(*model, c.decode_batch, c.decode_tokens);
  }
  r.finished = true;
  std::printf("%s done: %lld tokens, val ppl %.4f, test ppl %.4f (%.4f bits/byte)%s, %.0f tokens/s training, "
              "%.0f tokens/s incremental decoding (batch %lld)\n",
              label.c_str(), static_cast<long long>(r.tokens), std::exp(r.val_loss), std::exp(r.test_loss),
              r.test_loss / std::log(2.0), r.leaks_future ? " LEAKING" : "", r.tokens_per_second,
              r.decode_tokens_per_second, static_cast<long long>(r.decode_batch));
  std::fflush(stdout);
  if (!c.save.empty()) {
    r.checkpoint = checkpoint_name(c.save, r.variant, seed);
    save_lm_checkpoint(r.checkpoint, *model, r.variant);
  }
  r.wall_seconds = wall_before + seconds_since(wall_start);
  save_state();
  return r;
}

}  // namespace strassentile::train
