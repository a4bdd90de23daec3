// `strassentile demo`: the main job. Trains the same small model on Fashion-MNIST with dense layers, with
// exact-STL layers (converted exactly from the dense initialisation, then trained) and with r < exact STL
// layers, and prints test accuracy, linear-layer FLOPs and parameters side by side.
//
// Model: each 28×28 image is a sequence of 28 rows (tokens) of 28 pixels, so STL tiles group rows of one
// image, never rows of different images. fc1 28→H and fc2 H→H act per row (these are converted); the
// classifier reads the flattened H·28 features of one image and stays dense (one row per image: an STL tile
// would mix images).
#include <chrono>
#include <cstdio>
#include <fstream>

#include <torch/torch.h>

#include "cli_args.hpp"
#include "commands.hpp"
#include "fashion_mnist.hpp"
#include "strassentile/torch/convert.hpp"

namespace strassentile::cli {
namespace {

struct RowMlpImpl : torch::nn::Module {
  explicit RowMlpImpl(int64_t hidden)
      : fc1(register_module("fc1", ConvertibleLinear(28, hidden))),
        fc2(register_module("fc2", ConvertibleLinear(hidden, hidden))),
        head(register_module("head", ConvertibleLinear(28 * hidden, 10))) {}
  torch::Tensor forward(torch::Tensor x) {  // x: (B, 28, 28)
    x = torch::gelu(fc1(x));                 // (B, 28, H)
    x = torch::gelu(fc2(x));                 // (B, 28, H)
    return head(x.flatten(1));               // (B, 10)
  }
  ConvertibleLinear fc1, fc2, head;
};
TORCH_MODULE(RowMlp);

struct Variant {
  std::string name;
  bool stl = false;
  ConvertOptions convert;
};

struct Result {
  std::string name;
  double test_accuracy = 0, linear_flops_per_image = 0, linear_params = 0, train_seconds = 0, final_loss = 0;
};

torch::Tensor to_images(const data::ImageSet& set) {
  auto t = torch::from_blob(const_cast<std::uint8_t*>(set.pixels.data()),
                            {static_cast<int64_t>(set.count), 28, 28}, torch::kUInt8)
               .to(torch::kFloat);
  return (t / 255.0 - 0.2860) / 0.3530;  // Fashion-MNIST mean and std
}

torch::Tensor to_labels(const data::ImageSet& set) {
  return torch::from_blob(const_cast<std::uint8_t*>(set.labels.data()), {static_cast<int64_t>(set.count)}, torch::kUInt8)
      .to(torch::kLong);
}

double linear_params(RowMlp& model) {
  double n = 0;
  for (const auto& p : model->named_parameters())
    if (p.key().find("bias") == std::string::npos) n += static_cast<double>(p.value().numel());
  return n;
}

Result train_variant(const Variant& v, const torch::Tensor& train_x, const torch::Tensor& train_y,
                     const torch::Tensor& test_x, const torch::Tensor& test_y, int64_t hidden, int64_t epochs,
                     int64_t batch, uint64_t seed, torch::Device device) {
  torch::manual_seed(seed);
  RowMlp model(hidden);
  Result r;
  r.name = v.name;
  const auto h = static_cast<double>(hidden);
  const double dense_flops = 2.0 * 28 * (28.0 * h + h * h) + 2.0 * 28 * h * 10;
  r.linear_flops_per_image = dense_flops;
  if (v.stl) {
    const ConvertSummary s = convert(*model, v.convert, [](const std::string& name, const ConvertibleLinearImpl&) {
      return name != "head";  // one row per image: keep the classifier dense
    });
    r.linear_flops_per_image = dense_flops - s.dense_flops_per_token * 28 + s.stl_flops_per_token * 28;
  }
  r.linear_params = linear_params(model);
  model->to(device);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  const int64_t n = train_x.size(0);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    model->train();
    const torch::Tensor order = torch::randperm(n, torch::TensorOptions().dtype(torch::kLong));
    double loss_sum = 0;
    int64_t steps = 0;
    for (int64_t i = 0; i + batch <= n; i += batch) {
      const torch::Tensor idx = order.narrow(0, i, batch);
      const torch::Tensor x = train_x.index_select(0, idx).to(device), y = train_y.index_select(0, idx).to(device);
      opt.zero_grad();
      const torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      ++steps;
    }
    r.final_loss = loss_sum / static_cast<double>(steps);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("  %-26s epoch %lld/%lld  train loss %.4f  %6.1f s  %7.0f images/s\n", v.name.c_str(),
                static_cast<long long>(epoch + 1), static_cast<long long>(epochs), r.final_loss, secs,
                static_cast<double>(n * (epoch + 1)) / secs);
    std::fflush(stdout);
  }
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model->eval();
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t i = 0; i < test_x.size(0); i += 1000) {
    const int64_t len = std::min<int64_t>(1000, test_x.size(0) - i);
    const torch::Tensor logits = model->forward(test_x.narrow(0, i, len).to(device));
    correct += logits.argmax(1).eq(test_y.narrow(0, i, len).to(device)).sum().item<int64_t>();
  }
  r.test_accuracy = static_cast<double>(correct) / static_cast<double>(test_x.size(0));
  return r;
}

}  // namespace

int run_demo(const std::vector<std::string>& argv) {
  const Args args(argv, {"data", "epochs", "batch", "hidden", "seed", "json", "train-limit", "device"}, {});
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  const int64_t epochs = static_cast<int64_t>(args.get_size("epochs", 2));
  const int64_t batch = static_cast<int64_t>(args.get_size("batch", 128));
  const int64_t hidden = static_cast<int64_t>(args.get_size("hidden", 256));
  const uint64_t seed = args.get_size("seed", 0);
  const std::size_t limit = args.get_size("train-limit", 60000);
  if (epochs < 1 || batch < 1 || hidden < 4) throw UsageError("--epochs, --batch must be >= 1 and --hidden >= 4");
  const std::string device_name = args.get("device", torch::cuda::is_available() ? "cuda" : "cpu");
  const torch::Device device(device_name);

  const std::string dir = data::find_fashion_mnist(args.get("data", ""));
  const data::ImageSet train = data::load_fashion_mnist(dir, "train"), test = data::load_fashion_mnist(dir, "test");
  const int64_t n_train = static_cast<int64_t>(std::min(limit, train.count));
  const torch::Tensor train_x = to_images(train).narrow(0, 0, n_train), train_y = to_labels(train).narrow(0, 0, n_train);
  const torch::Tensor test_x = to_images(test), test_y = to_labels(test);
  std::printf("Fashion-MNIST from %s: %lld training images, %zu test images; %lld epoch(s), batch %lld, hidden %lld, "
              "device %s, %d threads\n",
              dir.c_str(), static_cast<long long>(n_train), test.count, static_cast<long long>(epochs),
              static_cast<long long>(batch), static_cast<long long>(hidden), device_name.c_str(),
              torch::get_num_threads());

  ConvertOptions exact;
  exact.tile = {4, 4, 4};
  exact.rank = 49;
  exact.init = "strassen2";
  ConvertOptions approx;
  approx.tile = {4, 4, 4};
  approx.rank = 24;
  approx.init = "random";
  const std::vector<Variant> variants = {{"dense", false, {}},
                                         {"STL <4,4,4> r=49 exact", true, exact},
                                         {"STL <4,4,4> r=24 random", true, approx}};
  std::vector<Result> results;
  for (const Variant& v : variants)
    results.push_back(train_variant(v, train_x, train_y, test_x, test_y, hidden, epochs, batch, seed, device));

  std::printf("\n| model | test accuracy | linear MFLOPs/image | dense / model FLOPs | linear params | train s |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Result& r : results)
    std::printf("| %s | %.2f%% | %.3f | %.2fx | %.0f | %.1f |\n", r.name.c_str(), 100 * r.test_accuracy,
                r.linear_flops_per_image / 1e6, results[0].linear_flops_per_image / r.linear_flops_per_image,
                r.linear_params, r.train_seconds);
  std::printf("(linear FLOPs include STL's encode and decode; the classifier stays dense in every model)\n");

  if (args.has("json")) {
    std::ofstream out(args.get("json", ""));
    if (!out) throw std::runtime_error("cannot write --json " + args.get("json", ""));
    out << "{\"seed\": " << seed << ", \"epochs\": " << epochs << ", \"train_images\": " << n_train
        << ", \"hidden\": " << hidden << ", \"device\": \"" << device_name << "\", \"results\": [";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      out << (i ? ", " : "") << "{\"model\": \"" << r.name << "\", \"test_accuracy\": " << r.test_accuracy
          << ", \"linear_flops_per_image\": " << r.linear_flops_per_image << ", \"linear_params\": " << r.linear_params
          << ", \"train_seconds\": " << r.train_seconds << ", \"final_train_loss\": " << r.final_loss << "}";
    }
    out << "]}\n";
  }
  return 0;
}

}  // namespace strassentile::cli
