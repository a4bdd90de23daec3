// The ViT experiment's pieces (research/train): the smoke training run CI relies on (tiny ViT, CPU, a few dozen
// steps, loss must fall for every kind of linear layer), the model's cost accounting, tiles never spanning two
// images, the validation split and the config parser.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

#include "autocast_scope.hpp"
#include "flat_adamw.hpp"
#include "posix_files.hpp"
#include "results_json.hpp"
#include "tiny_vit_config.hpp"
#include "train_config.hpp"
#include "trainer.hpp"
#include "vit_data.hpp"
#include "vit_model.hpp"

namespace strassentile::train {
namespace {

double mean(const std::vector<double>& v, std::size_t first, std::size_t count) {
  return std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(first),
                         v.begin() + static_cast<std::ptrdiff_t>(first + count), 0.0) /
         static_cast<double>(count);
}

TEST(TrainVit, SmokeRunLossFallsForEveryKindOfLinear) {
  torch::set_num_threads(1);
  const TrainConfig c = tiny_vit_config();
  const ImageData data = synthetic_image_data(512, 256, 256);  // 16 steps per epoch
  for (const char* variant : {"dense", "stl:rank=8,init=random", "stl:rank=24,init=truncate:strassen2",
                              "sparse24:mask=learned,every=4", "lowrank:match_rank=8"}) {
    const RunResult r = train_vit_run(c, variant, 0, data, torch::kCPU);
    ASSERT_EQ(r.steps, 48) << variant;
    ASSERT_EQ(r.step_losses.size(), 48u) << variant;
    ASSERT_EQ(r.epochs.size(), 3u) << variant;
    const double first = mean(r.step_losses, 0, 8), last = mean(r.step_losses, 40, 8);
    // Seen on a 2-core CPU: about 2.2 -> 1.35..1.7 depending on the kind; chance level is ln 10 = 2.30.
    EXPECT_LT(last, first - 0.3) << variant << ": loss " << first << " -> " << last;
    EXPECT_GT(r.final_test_accuracy, 0.3) << variant;  // chance is 0.1
    EXPECT_GE(r.best_epoch, 1);
    EXPECT_EQ(r.test_accuracy_at_best_val, r.epochs[static_cast<std::size_t>(r.best_epoch - 1)].test_accuracy);
    EXPECT_GT(r.images_per_second, 0);
  }
}

TEST(TrainVit, MaxStepsStopsEarlyAndTheSameSeedRepeats) {
  torch::set_num_threads(1);
  TrainConfig c = tiny_vit_config();
  c.max_steps = 5;
  const ImageData data = synthetic_image_data(256, 64, 64);
  const RunResult a = train_vit_run(c, "stl:rank=8", 3, data, torch::kCPU);
  const RunResult b = train_vit_run(c, "stl:rank=8", 3, data, torch::kCPU);
  EXPECT_EQ(a.steps, 5);
  EXPECT_EQ(a.epochs.size(), 1u);
  EXPECT_EQ(a.step_losses, b.step_losses);
}

// basis_lr: E_X and D take steps of basis_lr × the learning rate, Ŵ the plain one. Adam's first step moves every
// parameter by about its learning rate, whatever the gradient's scale.
TEST(TrainVit, BasisLrScalesTheBasisStepsOnly) {
  torch::set_num_threads(1);
  TrainConfig c = tiny_vit_config();
  c.max_steps = 1;
  c.warmup = 0;
  const ImageData data = synthetic_image_data(256, 64, 64);
  const auto first_step = [&](const char* variant) {
    torch::manual_seed(5);
    Vit before(c.model, LinearSpec::parse(variant));
    Vit after(c.model, LinearSpec::parse(variant));
    train_vit_run(c, variant, 5, data, torch::kCPU, {}, &after);
    std::map<std::string, double> moved;  // largest step per kind of parameter
    const auto start = before->named_parameters();
    for (const auto& p : after->named_parameters()) {
      const std::string kind = p.key().substr(p.key().rfind('.') + 1);
      moved[kind] = std::max(moved[kind], (p.value() - start[p.key()]).abs().max().item<double>());
    }
    return moved;
  };
  const auto plain = first_step("stl:rank=8"), fast = first_step("stl:rank=8,basis_lr=10");
  EXPECT_NEAR(fast.at("w_hat") / plain.at("w_hat"), 1.0, 1e-3);
  EXPECT_NEAR(fast.at("enc_x") / plain.at("enc_x"), 10.0, 0.1);
  EXPECT_NEAR(fast.at("dec") / plain.at("dec"), 10.0, 0.1);
}

// amp: inside the scope the products run in bf16 (the STL op included) and the loss still falls; outside it, and
// after it, fp32 again; parameters stay fp32.
TEST(TrainVit, AmpTrainsInBf16AndLeavesParametersFp32) {
  torch::set_num_threads(1);
  TrainConfig c = tiny_vit_config();
  c.amp = true;
  const ImageData data = synthetic_image_data(512, 256, 256);
  torch::manual_seed(0);
  Vit model(c.model, LinearSpec::parse("stl:rank=8"));
  const torch::Tensor x = data.train.images.narrow(0, 0, 32);
  AnyLinear stl(LinearSpec::parse("stl:rank=8"), 16, 16);
  const torch::Tensor rows = torch::randn({8, 16});
  {
    const AutocastScope autocast(x.device(), true);
    EXPECT_EQ(model->forward(x).scalar_type(), torch::kBFloat16);
    EXPECT_EQ(stl->forward(rows).scalar_type(), torch::kBFloat16);  // the STL op itself, not only the dense head
  }
  EXPECT_EQ(model->forward(x).scalar_type(), torch::kFloat);
  EXPECT_EQ(stl->forward(rows).scalar_type(), torch::kFloat);
  for (const char* variant : {"dense", "stl:rank=8,init=random"}) {
    Vit trained(c.model, LinearSpec::parse(variant));
    const RunResult r = train_vit_run(c, variant, 0, data, torch::kCPU, {}, &trained);
    const double first = mean(r.step_losses, 0, 8), last = mean(r.step_losses, 40, 8);
    EXPECT_LT(last, first - 0.3) << variant << ": loss " << first << " -> " << last;
    EXPECT_GT(r.final_test_accuracy, 0.3) << variant;
    for (const auto& p : trained->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat) << variant;
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
}

// `steps` steps of `flat` on model a and of libtorch's `reference` on model b (a copy of a), on the same inputs of 5
// features.
template <typename ModelA, typename ModelB>
void step_alongside(FlatAdamW& flat, torch::optim::AdamW& reference, ModelA& a, ModelB& b, int steps) {
  for (int step = 0; step < steps; ++step) {
    const torch::Tensor x = torch::randn({8, 5});
    flat.zero_grad();
    reference.zero_grad();
    a->forward(x).pow(2).mean().backward();
    b->forward(x).pow(2).mean().backward();
    flat.step();
    reference.step();
  }
}

TEST(FlatAdamW, StepsLikeLibtorchAdamWAndClipsTheGlobalNorm) {
  torch::manual_seed(6);
  torch::nn::Sequential a(torch::nn::Linear(5, 4), torch::nn::Tanh(), torch::nn::Linear(4, 3));
  torch::nn::Sequential b(torch::nn::Linear(5, 4), torch::nn::Tanh(), torch::nn::Linear(4, 3));
  {
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < a->parameters().size(); ++i) b->parameters()[i].copy_(a->parameters()[i]);
  }
  const auto split = [](torch::nn::Sequential& m, bool weights) {
    std::vector<torch::Tensor> out;
    for (const auto& p : m->named_parameters())
      if ((p.key().find("weight") != std::string::npos) == weights) out.push_back(p.value());
    return out;
  };
  FlatAdamWOptions o;
  o.lr = 0.05;
  FlatAdamW flat(split(a, true), split(a, false), 0.1, o);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(split(b, true), std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.05).weight_decay(0.1)));
  groups.emplace_back(split(b, false), std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.05).weight_decay(0)));
  torch::optim::AdamW reference(std::move(groups));
  step_alongside(flat, reference, a, b, 6);
  for (std::size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_TRUE(torch::allclose(a->parameters()[i], b->parameters()[i], 1e-5, 1e-6)) << i;
  flat.zero_grad();
  a->forward(torch::randn({8, 5})).sum().mul(100).backward();
  flat.clip_grad_norm(0.5);
  double sq = 0;
  for (const auto& p : a->parameters()) sq += p.grad().pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(sq), 0.5, 1e-4);
}

// A group's lr_scale is a per-group learning rate, as libtorch's AdamW param groups have.
TEST(FlatAdamW, GroupLearningRateScalesLikeLibtorchParamGroups) {
  torch::manual_seed(8);
  torch::nn::Linear a(5, 3), b(5, 3);
  {
    torch::NoGradGuard no_grad;
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  FlatAdamWOptions o;
  o.lr = 0.01;
  FlatAdamW flat({{{a->weight}, 0.1, 1.0}, {{a->bias}, 0.1, 10.0}}, o);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{b->weight},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.01).weight_decay(0.1)));
  groups.emplace_back(std::vector<torch::Tensor>{b->bias},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.1).weight_decay(0.1)));
  torch::optim::AdamW reference(std::move(groups));
  const torch::Tensor bias0 = a->bias.detach().clone();
  step_alongside(flat, reference, a, b, 4);
  EXPECT_TRUE(torch::allclose(a->weight, b->weight, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a->bias, b->bias, 1e-5, 1e-6));
  EXPECT_GT((a->bias - bias0).abs().max().item<double>(), 0.05);  // ~4 steps of lr 0.1, not of 0.01
  EXPECT_THROW(FlatAdamW({{{torch::zeros({2}, torch::requires_grad())}, 0.0, 0.0}}, o), c10::Error);
}

TEST(VitModel, CostCountsEveryBlockLinearAndStlSavesTheTileRatioInProducts) {
  VitConfig m;  // dim 256, depth 6, 16 tokens
  const VitCost dense = vit_cost(m, LinearSpec::parse("dense"));
  EXPECT_DOUBLE_EQ(dense.linear_flops, 6.0 * 16 * 2 * (256.0 * 768 + 256.0 * 256 + 2 * 256.0 * 1024));
  EXPECT_DOUBLE_EQ(dense.linear_params, 6.0 * 12 * 256 * 256);
  const VitCost stl = vit_cost(m, LinearSpec::parse("stl:rank=24"));
  EXPECT_NEAR(dense.linear_flops / stl.linear_product_flops, 64.0 / 24, 1e-12);
  EXPECT_GT(stl.linear_flops, stl.linear_product_flops);  // encode and decode are counted too
  const VitCost sparse = vit_cost(m, LinearSpec::parse("sparse24"));
  EXPECT_DOUBLE_EQ(sparse.linear_flops, dense.linear_flops / 2);
  const VitCost low = vit_cost(m, LinearSpec::parse("lowrank:match_rank=24"));
  EXPECT_NEAR(low.linear_flops / stl.linear_flops, 1.0, 0.01);
  // The whole model's parameters as built agree with the cost (dense: linears + biases + the rest).
  Vit model(m, LinearSpec::parse("dense"));
  double linear_weights = 0;
  for (const auto& p : model->named_parameters())
    if (p.key().find(".impl.weight") != std::string::npos) linear_weights += static_cast<double>(p.value().numel());
  EXPECT_DOUBLE_EQ(linear_weights, dense.linear_params);
}

TEST(VitModel, StlTilesNeverSpanTwoImages) {
  // A random-init STL mixes the rows of a tile; with 16 tokens per image and a = 4 a tile holds rows of one image,
  // so an image's logits do not depend on which images share its batch.
  torch::manual_seed(5);
  VitConfig m;
  m.dim = 32;
  m.depth = 2;
  m.heads = 2;
  Vit model(m, LinearSpec::parse("stl:rank=8"));
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor images = torch::randn({3, 28, 28});
  const torch::Tensor together = model->forward(images);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::allclose(model->forward(images.narrow(0, i, 1)), together.narrow(0, i, 1), 1e-4, 1e-5)) << i;
  EXPECT_EQ(patchify(torch::arange(2 * 28 * 28).reshape({2, 28, 28}), 7).sizes(), (std::vector<int64_t>{2, 16, 49}));
  // Patch 1 of image 0 is rows 0..6, columns 7..13.
  EXPECT_EQ(patchify(torch::arange(28 * 28).reshape({1, 28, 28}), 7)[0][1][8].item<int64_t>(), 28 + 8);
}

void write_idx(const std::string& path, const std::vector<std::uint8_t>& header, const std::vector<std::uint8_t>& body) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, header.data(), static_cast<unsigned>(header.size()));
  gzwrite(f, body.data(), static_cast<unsigned>(body.size()));
  gzclose(f);
}

TEST(VitData, ValidationIsTheLastTrainingImagesAndNeverTrainedOn) {
  const std::string dir = make_scratch_directory("strassentile_vit_data_");
  // 20 training and 6 test images of 2×2 pixels; image i has every pixel = i, label i % 10.
  for (auto [prefix, n] : {std::pair<const char*, std::uint8_t>{"train", 20}, {"t10k", 6}}) {
    std::vector<std::uint8_t> pixels, labels;
    for (std::uint8_t i = 0; i < n; ++i) {
      pixels.insert(pixels.end(), 4, i);
      labels.push_back(i % 10);
    }
    write_idx(dir + "/" + prefix + "-images-idx3-ubyte.gz", {0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 2, 0, 0, 0, 2}, pixels);
    write_idx(dir + "/" + prefix + "-labels-idx1-ubyte.gz", {0, 0, 8, 1, 0, 0, 0, n}, labels);
  }
  DataOptions o;
  o.dir = dir;
  o.val_size = 5;
  const ImageData d = load_image_data(o);
  ASSERT_EQ(d.train.size(), 15);
  ASSERT_EQ(d.val.size(), 5);
  ASSERT_EQ(d.test.size(), 6);
  const auto raw = [](const Split& s, int64_t i) { return std::lround(s.images[i][0][0].item<double>() * 0.3530 * 255 + 0.2860 * 255); };
  EXPECT_EQ(raw(d.train, 14), 14);
  EXPECT_EQ(raw(d.val, 0), 15);
  EXPECT_EQ(raw(d.val, 4), 19);
  EXPECT_EQ(d.val.labels[4].item<int64_t>(), 9);
  o.train_limit = 4;
  o.test_limit = 2;
  const ImageData limited = load_image_data(o);
  EXPECT_EQ(limited.train.size(), 4);
  EXPECT_EQ(raw(limited.val, 0), 15);  // the validation slice does not move with --train-limit
  EXPECT_EQ(limited.test.size(), 2);
  o.val_size = 20;
  EXPECT_THROW(load_image_data(o), std::invalid_argument);
  remove_tree(dir);
  o.val_size = 5;
  try {
    load_image_data(o);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("lacks train-images-idx3-ubyte.gz"), std::string::npos) << e.what();
  }
}

TEST(TrainConfig, FileAndFlagsShareKeysAndBadValuesAreNamed) {
  const std::string scratch = make_scratch_directory("strassentile_vit_cfg_"), path = scratch + "/vit.cfg";
  {
    std::ofstream f(path);
    f << "# comment\nvariant = dense\nvariant = stl:rank=24,init=fit   # trailing comment\nseeds = 0, 1,2\n"
         "epochs = 7\nlr = 2e-3\ndim = 128\nheads = 4\n";
  }
  auto values = read_config_file(path);
  values["epochs"] = "9";  // a flag overrides the file
  const TrainConfig c = make_train_config(values);
  EXPECT_EQ(c.variants, (std::vector<std::string>{"dense", "stl:rank=24,init=fit"}));
  EXPECT_EQ(c.seeds, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(c.epochs, 9);
  EXPECT_DOUBLE_EQ(c.lr, 2e-3);
  EXPECT_EQ(c.model.dim, 128);
  {
    std::ofstream f(path);
    f << "epochs = 3\nfrobnicate = 1\n";
  }
  try {
    read_config_file(path);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(":2: unknown key 'frobnicate'"), std::string::npos) << e.what();
  }
  // include: the other file's values first, this file's lines over them, its variants instead of the other's.
  {
    std::ofstream base(scratch + "/base.cfg"), sweep(path);
    base << "epochs = 60\nlr = 1e-3\nvariant = dense\nvariant = stl:rank=24,init=random\n";
    sweep << "include = base.cfg\nlr = 5e-4\nvariant = stl:rank=24,init=fit,basis_scale=0.25\n";
  }
  const TrainConfig swept = make_train_config(read_config_file(path));
  EXPECT_EQ(swept.epochs, 60);
  EXPECT_DOUBLE_EQ(swept.lr, 5e-4);
  EXPECT_EQ(swept.variants, (std::vector<std::string>{"stl:rank=24,init=fit,basis_scale=0.25"}));
  {
    std::ofstream sweep(path);
    sweep << "include = base.cfg\nepochs = 3\n";
  }
  EXPECT_EQ(make_train_config(read_config_file(path)).variants,
            (std::vector<std::string>{"dense", "stl:rank=24,init=random"}));
  {
    std::ofstream sweep(path);
    sweep << "epochs = 3\ninclude = base.cfg\n";
  }
  EXPECT_THROW(read_config_file(path), std::invalid_argument);
  remove_tree(scratch);
  EXPECT_THROW(make_train_config({{"variants", "stl:rank=0"}}), std::invalid_argument);
  EXPECT_THROW(make_train_config({{"epochs", "0"}}), std::invalid_argument);
  EXPECT_THROW(make_train_config({{"shard", "2/2"}}), std::invalid_argument);
  EXPECT_THROW(make_train_config({{"dim", "30"}, {"heads", "4"}}), std::invalid_argument);
  EXPECT_THROW(make_train_config({{"device", "tpu"}}), std::invalid_argument);
  EXPECT_TRUE(make_train_config({{"amp", "bf16"}}).amp);
  EXPECT_FALSE(make_train_config({{"amp", "off"}}).amp);
  try {
    make_train_config({{"amp", "fp16"}});
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--amp must be off or bf16"), std::string::npos) << e.what();
  }
}

TEST(ResultsJson, HoldsEveryRunWithItsCurves) {
  TrainConfig c = tiny_vit_config();
  c.max_steps = 2;
  const ImageData data = synthetic_image_data(128, 0, 64);  // no validation slice: the last epoch is reported
  std::vector<RunResult> runs = {train_vit_run(c, "dense", 0, data, torch::kCPU),
                                 train_vit_run(c, "sparse24", 1, data, torch::kCPU)};
  EXPECT_EQ(runs[0].best_epoch, 1);
  const std::string json = results_json(c, {"synthetic", 128, 0, 64}, runs);
  for (const char* key : {"\"variant\": \"dense\"", "\"variant\": \"sparse24:mask=fixed\"", "\"seed\": 1",
                          "\"linear_flops_per_image\": ", "\"test_accuracy\": ", "\"images_per_second\": ",
                          "\"epochs\": [{\"epoch\": 1", "\"train_loss\": ", "\"val_accuracy\": null", "\"params\": "})
    EXPECT_NE(json.find(key), std::string::npos) << key;
  EXPECT_EQ(json.find("nan"), std::string::npos);
  EXPECT_EQ(std::count(json.begin(), json.end(), '{'), std::count(json.begin(), json.end(), '}'));
}

}  // namespace
}  // namespace strassentile::train
