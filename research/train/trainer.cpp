#include "trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "autocast_scope.hpp"
#include "flat_adamw.hpp"
#include "image_augment.hpp"
#include "posix_files.hpp"
#include "run_checkpoint.hpp"
#include "vit_variant.hpp"

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

// Weight decay on the >= 2-D weights except the position embedding; STL's basis at its own learning rate.
FlatAdamW make_optimizer(Vit& model, const TrainConfig& c, double basis_lr) {
  FlatAdamWOptions o;
  o.lr = c.lr;
  return FlatAdamW(weight_decay_groups(model->named_parameters(), c.weight_decay, basis_lr,
                                       [](const std::string& name, const torch::Tensor& p) {
                                         return p.dim() >= 2 && name != "pos";
                                       }),
                   o);
}

// Every epoch's shuffle and augmentation draw from a generator seeded by (seed, epoch): reproducible, and a
// resumed run draws what an uninterrupted one would without any generator state in the checkpoint.
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  return seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1;
}

// Why the run stops after its latest epoch, or "" to go on.
std::string stop_reason(const TrainConfig& c, const std::vector<EpochRecord>& epochs, int64_t step, int64_t total,
                        int64_t scheduled, bool has_val) {
  if (c.plateau_epochs > 0 && has_val) {
    std::size_t best = 0;  // the first epoch reaching the best validation accuracy: later ties are no improvement
    for (std::size_t i = 1; i < epochs.size(); ++i)
      if (epochs[i].val_accuracy > epochs[best].val_accuracy) best = i;
    if (static_cast<int64_t>(epochs.size() - 1 - best) >= c.plateau_epochs) return "plateau";
  }
  if (step >= total) return total < scheduled ? "max_steps" : "epochs";
  return "";
}

// What a checkpoint must have been trained with to be resumed: every setting that changes the run's trajectory.
std::string run_settings(const TrainConfig& c, const RunResult& r, const ImageData& data) {
  std::ostringstream o;
  o.precision(10);
  o << "variant " << r.variant << "; seed " << r.seed << "; model dim " << c.model.dim << " depth " << c.model.depth
    << " heads " << c.model.heads << " patch " << c.model.patch << " mlp_ratio " << r.mlp_ratio << "; epochs "
    << c.epochs << " batch " << c.batch << " lr " << c.lr << " wd " << c.weight_decay << " warmup " << c.warmup
    << " clip " << c.clip << " max_steps " << c.max_steps << " plateau " << c.plateau_epochs << "; augment "
    << c.augment << " pad " << c.augment_pad << " flip " << c.augment_flip << "; images train " << data.train.size()
    << " val " << data.val.size() << " test " << data.test.size() << "; amp " << (c.amp ? "bf16" : "off");
  return o.str();
}

// The run's summary fields from its epochs.
void summarise(RunResult& r, const TrainConfig& c, bool has_val, int64_t steady_from) {
  if (r.epochs.empty()) return;
  std::size_t best = r.epochs.size() - 1;  // without a validation slice: the last epoch
  if (has_val) {
    best = 0;
    for (std::size_t i = 1; i < r.epochs.size(); ++i)
      if (r.epochs[i].val_accuracy >= r.epochs[best].val_accuracy) best = i;  // ties: the later epoch
  }
  r.best_epoch = r.epochs[best].epoch;
  r.best_val_accuracy = r.epochs[best].val_accuracy;
  r.test_accuracy_at_best_val = r.epochs[best].test_accuracy;
  r.final_test_accuracy = r.epochs.back().test_accuracy;
  r.images_per_second = static_cast<double>(r.steps * c.batch) / r.train_seconds;
  if (r.steps > steady_from && r.train_seconds > r.steady_start_seconds)
    r.steady_images_per_second =
        static_cast<double>((r.steps - steady_from) * c.batch) / (r.train_seconds - r.steady_start_seconds);
}

}  // namespace

double accuracy(Vit& model, const Split& split, int64_t batch, bool amp) {
  if (split.size() == 0) return std::numeric_limits<double>::quiet_NaN();
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  const AutocastScope autocast(split.images.device(), amp);
  torch::Tensor correct = torch::zeros({}, split.labels.options());
  for (int64_t i = 0; i < split.size(); i += batch) {
    const int64_t len = std::min(batch, split.size() - i);
    correct += model->forward(split.images.narrow(0, i, len)).argmax(1).eq(split.labels.narrow(0, i, len)).sum();
  }
  model->train(was_training);
  return static_cast<double>(correct.item<int64_t>()) / static_cast<double>(split.size());
}

RunResult train_vit_run(const TrainConfig& c, const std::string& variant_text, uint64_t seed, const ImageData& data,
                        const torch::Device& device, RunPosition position, Vit* trained_model) {
  const auto wall_start = Clock::now();
  const VitVariant variant = VitVariant::parse(variant_text);
  const VitConfig model_config = variant.model(c.model);
  RunResult r;
  r.variant = variant.to_string();  // canonical: "sparse24" and "sparse24:mask=fixed" are one variant
  r.mlp_ratio = model_config.mlp_ratio;
  r.seed = seed;
  r.device = device.str();
  r.cost = vit_cost(model_config, variant.spec);

  torch::manual_seed(seed);
  Vit model(model_config, variant.spec);
  model->to(device);
  r.init_seconds = seconds_since(wall_start);
  for (const auto& p : model->parameters())
    if (p.requires_grad()) r.params += static_cast<double>(p.numel());
  FlatAdamW opt = make_optimizer(model, c, variant.spec.basis_lr);

  const int64_t n = data.train.size();
  const int64_t per_epoch = n / c.batch;
  if (per_epoch < 1)
    throw std::invalid_argument("--batch " + std::to_string(c.batch) + " is larger than the " + std::to_string(n) +
                                " training images");
  const int64_t scheduled = c.epochs * per_epoch;
  const int64_t total = c.max_steps > 0 ? std::min(scheduled, c.max_steps) : scheduled;
  const int64_t steady_from = std::min<int64_t>(20, total / 4);
  AugmentOptions augment;
  if (c.augment) {
    augment.pad = c.augment_pad;
    augment.flip = c.augment_flip;
    augment.fill = data.black;
  }

  const std::string label = "[" + std::to_string(position.index + 1) + "/" + std::to_string(position.count) + " " +
                            r.variant + " seed " + std::to_string(seed) + "]";
  std::string checkpoint;
  if (!c.checkpoint_dir.empty()) {
    make_directories(c.checkpoint_dir);
    checkpoint = run_checkpoint_path(c.checkpoint_dir, r.variant, seed);
    if (load_run_checkpoint(checkpoint, run_settings(c, r, data), r, *model, opt))
      std::printf("%s %s: %s after epoch %lld\n", label.c_str(), checkpoint.c_str(),
                  (r.finished() ? "finished (stopped by " + r.stopped_by + ")" : std::string("resuming")).c_str(),
                  static_cast<long long>(r.epochs.size()));
  }
  std::printf("%s %s, %.3g M params, %.4g MFLOPs/image in spec-built linears (dense: %.4g), %lld steps\n",
              label.c_str(), r.device.c_str(), r.params / 1e6, r.cost.linear_flops / 1e6, r.cost.dense_linear_flops / 1e6,
              static_cast<long long>(total));
  std::fflush(stdout);

  auto last_log = Clock::now();
  int64_t step = r.steps;
  model->train();
  for (int64_t epoch = static_cast<int64_t>(r.epochs.size()), here = 0; !r.finished(); ++epoch, ++here) {
    if (c.pause_after_epochs > 0 && here == c.pause_after_epochs) break;  // the rest is for a rerun
    torch::Generator draws = at::make_generator<at::CPUGeneratorImpl>(epoch_seed(seed, epoch));
    const torch::Tensor order = torch::randperm(n, draws, torch::TensorOptions().dtype(torch::kLong)).to(device);
    const torch::Tensor choices =
        augment.enabled() ? draw_augment_choices(augment, n, draws).to(device) : torch::Tensor();
    const auto epoch_start = Clock::now();
    const int64_t first_step = step;
    std::vector<torch::Tensor> losses;
    for (int64_t i = 0; i < per_epoch && step < total; ++i) {
      const torch::Tensor idx = order.narrow(0, i * c.batch, c.batch);
      torch::Tensor x = data.train.images.index_select(0, idx);
      const torch::Tensor y = data.train.labels.index_select(0, idx);
      if (augment.enabled()) x = augment_images(x, choices.narrow(0, i * c.batch, c.batch), augment);
      opt.set_lr(learning_rate(c, step, total));
      opt.zero_grad();
      torch::Tensor loss;
      {
        const AutocastScope autocast(device, c.amp);
        loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      }
      loss.backward();
      if (c.clip > 0) opt.clip_grad_norm(c.clip);
      opt.step();
      losses.push_back(loss.detach());
      ++step;
      if (step == steady_from) {
        (void)loss.item<double>();  // wait for the device
        r.steady_start_seconds = r.train_seconds + seconds_since(epoch_start);
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
    const double epoch_seconds = seconds_since(epoch_start);
    r.train_seconds += epoch_seconds;
    const auto* l = epoch_losses.data_ptr<double>();
    r.step_losses.insert(r.step_losses.end(), l, l + epoch_losses.numel());
    r.steps = step;

    EpochRecord e;
    e.epoch = epoch + 1;
    e.steps = step;
    e.train_loss = epoch_losses.mean().item<double>();
    e.val_accuracy = accuracy(model, data.val, c.eval_batch, c.amp);
    e.test_accuracy = accuracy(model, data.test, c.eval_batch, c.amp);
    e.train_seconds = r.train_seconds;
    e.images_per_second = static_cast<double>((step - first_step) * c.batch) / epoch_seconds;
    r.epochs.push_back(e);
    r.stopped_by = stop_reason(c, r.epochs, step, total, scheduled, data.val.size() > 0);
    std::printf("%s epoch %lld done: train loss %.4f, val %.2f%%, test %.2f%%, %.1f s training%s\n", label.c_str(),
                static_cast<long long>(e.epoch), e.train_loss, 100 * e.val_accuracy, 100 * e.test_accuracy,
                r.train_seconds, r.stopped_by == "plateau" ? " (validation plateau: stop)" : "");
    std::fflush(stdout);
    const bool pausing = c.pause_after_epochs > 0 && here + 1 == c.pause_after_epochs;
    if (!checkpoint.empty() && (r.finished() || pausing || e.epoch % c.checkpoint_every == 0))
      save_run_checkpoint(checkpoint, run_settings(c, r, data), r, *model, opt);
  }

  summarise(r, c, data.val.size() > 0, steady_from);
  r.wall_seconds = seconds_since(wall_start);
  if (trained_model != nullptr) *trained_model = model;
  return r;
}

}  // namespace strassentile::train
