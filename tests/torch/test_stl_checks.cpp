// The one argument check of strassentile::stl_matmul (src/torch/stl_args.cpp), as the CPU kernel and the Meta
// kernel (FakeTensor, torch.compile) both run it: the exact input width, sizes whose products would overflow,
// rank 0; and strassentile::build_info.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdint>
#include <functional>
#include <regex>
#include <string>

#include "strassentile/torch/ops.hpp"
#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {
namespace {

// The message of the c10::Error `f` throws; fails the test when it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  ADD_FAILURE() << "no c10::Error was thrown";
  return "";
}

// One layer's tensors for a K→N layer of tile `tile` (sides a, b, c) and rank r, on `device`.
struct Layer {
  torch::Tensor w_hat, enc_x, dec;
};
Layer layer_on(torch::Device device, int64_t K, int64_t N, int64_t a, int64_t b, int64_t c, int64_t r) {
  const auto opts = torch::TensorOptions().device(device);
  return {torch::randn({r, (K + b - 1) / b, (N + c - 1) / c}, opts), torch::randn({r, a * b}, opts),
          torch::randn({a * c, r}, opts)};
}

TEST(StlChecks, InputWiderThanTheLayerRaisesOnCpuAndMetaNamingTheFix) {
  // STLLinear(10, 6) with tile 4: x with 12 features has as many 4-wide tiles as 10, so only in_features tells.
  STLLinear stl(STLLinearOptions(10, 6).tile({4}).rank(8));
  const std::string cpu = error_of([&] { stl->forward(torch::randn({3, 12})); });
  EXPECT_NE(cpu.find("x has in_features K=12"), std::string::npos) << cpu;
  EXPECT_NE(cpu.find("the layer has in_features=10"), std::string::npos) << cpu;
  EXPECT_NE(cpu.find("pass x[..., :10] or a layer of in_features=12"), std::string::npos) << cpu;
  EXPECT_EQ(stl->forward(torch::randn({3, 10})).sizes(), torch::IntArrayRef({3, 6}));

  const Layer meta = layer_on(torch::kMeta, 10, 6, 4, 4, 4, 8);
  const auto on_meta = [&](int64_t width) {
    return ops::stl_matmul(torch::empty({3, width}, torch::kMeta), meta.w_hat, meta.enc_x, meta.dec, {4}, std::nullopt,
                           "tile", 6, std::nullopt, 10);
  };
  EXPECT_EQ(error_of([&] { on_meta(12); }), cpu);
  EXPECT_EQ(on_meta(10).sizes(), torch::IntArrayRef({3, 6}));
}

TEST(StlChecks, InFeaturesMustAgreeWithWHat) {
  const Layer l = layer_on(torch::kCPU, 10, 6, 4, 4, 4, 8);  // 3 row tiles
  const std::string message = error_of([&] {
    ops::stl_matmul(torch::randn({2, 13}), l.w_hat, l.enc_x, l.dec, {4}, std::nullopt, "tile", 6, std::nullopt, 13);
  });
  EXPECT_NE(message.find("in_features=13 needs 4 row tiles of b=4 but w_hat has 3"), std::string::npos) << message;
}

TEST(StlChecks, TileWhoseProductsOverflowRaisesInsteadOfWrapping) {
  const int64_t huge = int64_t{1} << 32;  // a·b = 2^64 wraps int64 to 0
  for (const torch::Device device : {torch::Device(torch::kCPU), torch::Device(torch::kMeta)}) {
    const Layer l = layer_on(device, 8, 8, 2, 2, 2, 4);
    const std::string message = error_of([&] {
      ops::stl_matmul(torch::randn({2, 8}, torch::TensorOptions().device(device)), l.w_hat, l.enc_x, l.dec, {huge});
    });
    EXPECT_NE(message.find("tile=[4294967296] is too large"), std::string::npos) << device << ": " << message;
  }
  // Every op that takes a tile parses it the same way.
  EXPECT_NE(error_of([&] { STLLinear(STLLinearOptions(8, 8).tile({huge})); }).find("is too large"), std::string::npos);
}

TEST(StlChecks, RankZeroRaisesOnMetaAsOnCpu) {
  std::string messages[2];
  int i = 0;
  for (const torch::Device device : {torch::Device(torch::kCPU), torch::Device(torch::kMeta)}) {
    const Layer l = layer_on(device, 8, 8, 4, 4, 4, 0);
    messages[i++] = error_of([&] {
      ops::stl_matmul(torch::randn({2, 8}, torch::TensorOptions().device(device)), l.w_hat, l.enc_x, l.dec, {4});
    });
  }
  EXPECT_NE(messages[0].find("enc_x has rank 0"), std::string::npos) << messages[0];
  EXPECT_EQ(messages[1], messages[0]);
}

TEST(StlChecks, WorkspaceTooLargeForInt64RaisesBeforeAllocating) {
  // 2^56 rows of x on the meta device (no memory): 2^54 row tiles of a=4, and rank 2^10: X̂ would hold 2^64
  // elements.
  const torch::Tensor x = torch::empty({int64_t{1} << 30, int64_t{1} << 26, 4}, torch::kMeta);
  const Layer l = layer_on(torch::kMeta, 4, 4, 4, 4, 4, int64_t{1} << 10);
  const std::string message = error_of([&] { ops::stl_matmul(x, l.w_hat, l.enc_x, l.dec, {4}); });
  EXPECT_NE(message.find("would allocate X̂"), std::string::npos) << message;
  EXPECT_NE(message.find("use a smaller rank (enc_x.size(0))"), std::string::npos) << message;
}

TEST(BuildInfo, IsAJsonObjectWithVersionTorchAndCuda) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("strassentile::build_info", "").typed<std::string()>();
  const std::string info = op.call();
  // The whole object, key by key: strings quoted, cuda_kernels a JSON boolean.
  const std::regex object(R"re(\{"version": "[0-9]+\.[0-9]+\.[0-9]+", "torch": "[0-9][^"]*", )re"
                          R"re("cuda_kernels": (true|false), "cuda_archs": "[^"]+"\})re");
  EXPECT_TRUE(std::regex_match(info, object)) << info;
  EXPECT_NE(info.find(std::string("\"torch\": \"") + TORCH_VERSION + "\""), std::string::npos) << info;
  const bool has_kernels = info.find("\"cuda_kernels\": true") != std::string::npos;
  EXPECT_EQ(info.find("\"cuda_archs\": \"none\"") == std::string::npos, has_kernels) << info;
}

// ops::set_fused_forward: the previous policy back, an unknown one refused naming the three, and nothing changed on
// the CPU (the fused kernel is CUDA's).
TEST(StlChecks, FusedForwardPolicyReturnsThePreviousAndRefusesUnknownOnes) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({9, 13}, torch::kDouble), w_hat = torch::randn({3, 7, 6}, torch::kDouble);
  const torch::Tensor enc_x = torch::randn({3, 4}, torch::kDouble), dec = torch::randn({4, 3}, torch::kDouble);
  const torch::Tensor y0 = ops::stl_matmul(x, w_hat, enc_x, dec, {2, 2, 2}, std::nullopt, "tile", 11);
  const std::string previous = ops::set_fused_forward("always");
  EXPECT_EQ(ops::set_fused_forward("never"), "always");
  EXPECT_TRUE(torch::equal(ops::stl_matmul(x, w_hat, enc_x, dec, {2, 2, 2}, std::nullopt, "tile", 11), y0));
  const std::string message = error_of([] { ops::set_fused_forward("sometimes"); });
  EXPECT_NE(message.find("'auto'"), std::string::npos) << message;
  EXPECT_NE(message.find("'always' or 'never'"), std::string::npos) << message;
  EXPECT_EQ(ops::set_fused_forward(previous), "never");
}

}  // namespace
}  // namespace strassentile
