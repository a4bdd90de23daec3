// The pieces a convergence run of the ViT needs: augmentation of the training images, per-variant MLP width, the
// validation-plateau stop, and checkpoints from which a rerun continues exactly where an uninterrupted run would be.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <functional>
#include <string>
#include <vector>

#include "image_augment.hpp"
#include "posix_files.hpp"
#include "results_json.hpp"
#include "tiny_vit_config.hpp"
#include "train_config.hpp"
#include "trainer.hpp"
#include "vit_data.hpp"
#include "vit_variant.hpp"

namespace strassentile::train {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(ImageAugment, CropsThePaddedImageAtTheDrawnOffsetAndFlips) {
  const torch::Tensor images = torch::arange(2 * 5 * 6, torch::kFloat).view({2, 5, 6}) + 1;  // no zero pixel
  AugmentOptions o;
  o.pad = 2;
  o.flip = true;
  o.fill = -7;
  // Row/column offset 2 = the original window; 0 = shifted down-right by the padding; flip mirrors the columns.
  const torch::Tensor choices = torch::tensor({2, 2, 0, 0, 0, 1}, torch::kLong).view({2, 3});
  const torch::Tensor out = augment_images(images, choices, o);
  ASSERT_EQ(out.sizes(), images.sizes());
  EXPECT_TRUE(torch::equal(out[0], images[0]));
  const torch::Tensor shifted = out[1].flip(1);  // undo the flip: the image moved 2 down and 2 right
  EXPECT_TRUE(torch::equal(shifted.narrow(0, 2, 3).narrow(1, 2, 4), images[1].narrow(0, 0, 3).narrow(1, 0, 4)));
  EXPECT_TRUE((shifted.narrow(0, 0, 2) == -7).all().item<bool>());
  EXPECT_TRUE((shifted.narrow(1, 0, 2) == -7).all().item<bool>());
}

TEST(ImageAugment, DrawsAreInRangeAndRepeatWithTheGeneratorSeed) {
  AugmentOptions o;
  o.pad = 3;
  o.flip = true;
  auto draw = [&](uint64_t seed) {
    torch::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
    return draw_augment_choices(o, 4000, g);
  };
  const torch::Tensor a = draw(5), b = draw(5), c = draw(6);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{4000, 3}));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  const torch::Tensor offsets = a.narrow(1, 0, 2), flips = a.select(1, 2);
  EXPECT_EQ(offsets.min().item<int64_t>(), 0);
  EXPECT_EQ(offsets.max().item<int64_t>(), 6);
  EXPECT_NEAR(flips.to(torch::kDouble).mean().item<double>(), 0.5, 0.05);
  o.flip = false;
  torch::Generator g = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_EQ(draw_augment_choices(o, 100, g).select(1, 2).sum().item<int64_t>(), 0);
}

TEST(VitVariant, MlpRatioOverridesTheConfigAndBadSuffixesAreNamed) {
  const VitVariant wide = VitVariant::parse("dense  mlp_ratio=7");
  EXPECT_EQ(wide.to_string(), "dense mlp_ratio=7");
  EXPECT_EQ(wide.model(VitConfig{}).mlp_ratio, 7);
  EXPECT_EQ(VitVariant::parse("stl:rank=24").to_string(), "stl:rank=24,init=random");
  EXPECT_EQ(VitVariant::parse("stl:rank=24").model(VitConfig{}).mlp_ratio, 4);
  // The convergence config's claim: at width 256, a dense MLP of ratio 7 has STL <4,4,4> r=24's parameters (to
  // STL's basis matrices, 0.3%; ratio 6 or 8 would be 11% off).
  EXPECT_NEAR(vit_cost(wide.model(VitConfig{}), wide.spec).linear_params /
                  vit_cost(VitConfig{}, LinearSpec::parse("stl:rank=24")).linear_params,
              1.0, 0.005);
  EXPECT_NE(message_of([] { VitVariant::parse("dense mlp=7"); }).find("only 'mlp_ratio=N' may follow"), std::string::npos);
  EXPECT_NE(message_of([] { VitVariant::parse("dense mlp_ratio=0"); }).find("mlp_ratio must be an integer >= 1"),
            std::string::npos);
  EXPECT_THROW(make_train_config({{"variants", "dense mlp_ratio=x"}}), std::invalid_argument);
}

TEST(TrainConfig, ConvergenceKeysParseAndPauseNeedsACheckpointDir) {
  const TrainConfig c = make_train_config({{"plateau-epochs", "8"}, {"checkpoint-dir", "/tmp/x"},
                                           {"pause-after-epochs", "2"}, {"augment", "1"}, {"augment-pad", "4"},
                                           {"augment-flip", "1"}, {"mlp-ratio", "2"}, {"checkpoint-every", "5"}});
  EXPECT_EQ(c.plateau_epochs, 8);
  EXPECT_EQ(c.checkpoint_every, 5);
  EXPECT_EQ(make_train_config({}).checkpoint_every, 1);
  EXPECT_THROW(make_train_config({{"checkpoint-every", "0"}}), std::invalid_argument);
  EXPECT_EQ(c.checkpoint_dir, "/tmp/x");
  EXPECT_EQ(c.pause_after_epochs, 2);
  EXPECT_TRUE(c.augment && c.augment_flip);
  EXPECT_EQ(c.augment_pad, 4);
  EXPECT_EQ(c.model.mlp_ratio, 2);
  EXPECT_NE(message_of([] { make_train_config({{"pause-after-epochs", "1"}}); }).find("needs --checkpoint-dir"),
            std::string::npos);
  EXPECT_NE(message_of([] { make_train_config({{"augment", "2"}}); }).find("--augment must be 0 or 1"),
            std::string::npos);
}

TEST(TrainVit, PlateauStopsWhenValidationAccuracyStopsImproving) {
  torch::set_num_threads(1);
  TrainConfig c = tiny_vit_config();
  c.lr = 0;  // nothing learns, so validation accuracy never improves after the first epoch
  c.epochs = 10;
  c.plateau_epochs = 2;
  const ImageData data = synthetic_image_data(128, 64, 64);
  const RunResult r = train_vit_run(c, "dense", 0, data, torch::kCPU);
  EXPECT_EQ(r.stopped_by, "plateau");
  EXPECT_EQ(r.epochs.size(), 3u);
  EXPECT_EQ(r.test_accuracy_at_best_val, r.epochs[static_cast<std::size_t>(r.best_epoch - 1)].test_accuracy);
  c.plateau_epochs = 0;
  c.epochs = 2;
  EXPECT_EQ(train_vit_run(c, "dense", 0, data, torch::kCPU).stopped_by, "epochs");
}

TEST(TrainVit, ResumedRunEqualsUninterruptedRun) {
  torch::set_num_threads(1);
  const ImageData data = synthetic_image_data(256, 64, 64);  // 8 steps per epoch
  TrainConfig c = tiny_vit_config();
  c.augment = true;
  c.augment_flip = true;
  // sparse24's learned mask is a buffer, so the checkpoint must carry buffers as well as parameters.
  for (const char* variant : {"stl:rank=8,init=random", "sparse24:mask=learned,every=4"}) {
    Vit whole{nullptr}, resumed{nullptr};
    const RunResult straight = train_vit_run(c, variant, 3, data, torch::kCPU, {}, &whole);

    TrainConfig split = c;
    split.checkpoint_dir = make_scratch_directory("strassentile_vit_resume_");
    split.pause_after_epochs = 2;
    split.checkpoint_every = 100;  // a pause saves the run's state whatever the interval
    const RunResult first = train_vit_run(split, variant, 3, data, torch::kCPU);
    EXPECT_FALSE(first.finished()) << variant;
    EXPECT_EQ(first.epochs.size(), 2u) << variant;
    split.pause_after_epochs = 0;
    const RunResult second = train_vit_run(split, variant, 3, data, torch::kCPU, {}, &resumed);
    EXPECT_EQ(second.resumed_from_epoch, 2) << variant;
    EXPECT_EQ(second.stopped_by, "epochs") << variant;

    EXPECT_EQ(second.step_losses, straight.step_losses) << variant;
    ASSERT_EQ(second.epochs.size(), 3u) << variant;
    EXPECT_EQ(second.epochs.back().val_accuracy, straight.epochs.back().val_accuracy) << variant;
    const auto a = whole->named_parameters(), b = resumed->named_parameters();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::equal(a[i].value(), b[i].value())) << variant << ": " << a[i].key();
    const auto ab = whole->buffers(), bb = resumed->buffers();
    for (std::size_t i = 0; i < ab.size(); ++i) EXPECT_TRUE(torch::equal(ab[i], bb[i])) << variant << " buffer " << i;

    // A finished run is reported from its (now small) checkpoint without training.
    const RunResult again = train_vit_run(split, variant, 3, data, torch::kCPU);
    EXPECT_EQ(again.step_losses, straight.step_losses);
    EXPECT_EQ(again.best_epoch, straight.best_epoch);
    // Other settings must not silently continue the file.
    split.lr = 1e-2;
    EXPECT_NE(message_of([&] { train_vit_run(split, variant, 3, data, torch::kCPU); }).find("other settings"),
              std::string::npos);
    remove_tree(split.checkpoint_dir);
  }
}

TEST(ResultsJson, RecordsStopReasonAndPerEpochRate) {
  TrainConfig c = tiny_vit_config();
  c.epochs = 1;
  c.augment = true;
  const ImageData data = synthetic_image_data(128, 32, 32);
  const std::vector<RunResult> runs = {train_vit_run(c, "dense mlp_ratio=2", 0, data, torch::kCPU)};
  const std::string json = results_json(c, {"synthetic", 128, 32, 32}, runs);
  for (const char* key : {"\"variant\": \"dense mlp_ratio=2\"", "\"mlp_ratio\": 2", "\"stopped_by\": \"epochs\"",
                          "\"finished\": true", "\"augment\": {\"crop_pad\": 2, \"flip\": false}",
                          "\"plateau_epochs\": 0", "\"train_seconds\": ", "\"images_per_second\": "})
    EXPECT_NE(json.find(key), std::string::npos) << key;
}

}  // namespace
}  // namespace strassentile::train
