// strassentile::stl_matmul under at::autocast from C++ (the Autocast kernels of src/torch/stl_matmul_autocast.cpp):
// the op runs in the autocast dtype, as torch::nn::Linear does, while the parameters and their gradients stay fp32.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/autocast_mode.h>

#include "strassentile/torch/stl_linear.hpp"

namespace strassentile {
namespace {

// C++ has no torch.autocast context manager: this is one, for one device type.
class AutocastGuard {
 public:
  AutocastGuard(at::DeviceType device, at::ScalarType dtype)
      : device_(device), was_enabled_(at::autocast::is_autocast_enabled(device)),
        old_dtype_(at::autocast::get_autocast_dtype(device)) {
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();  // drop the cached casts of parameters
    at::autocast::set_autocast_enabled(device_, was_enabled_);
    at::autocast::set_autocast_dtype(device_, old_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType device_;
  bool was_enabled_;
  at::ScalarType old_dtype_;
};

TEST(STLAutocast, CpuAutocastRunsInBf16AndKeepsFp32MasterParameters) {
  torch::manual_seed(5);
  STLLinear layer(STLLinearOptions(24, 20));
  const torch::Tensor x = torch::randn({3, 8, 24});
  const torch::Tensor reference = layer->forward(x).detach();
  torch::Tensor y;
  {
    AutocastGuard autocast(at::kCPU, at::kBFloat16);
    y = layer->forward(x);
    EXPECT_EQ(torch::nn::Linear(24, 20)->forward(x).scalar_type(), at::kBFloat16);  // what STL stands in for
  }
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  EXPECT_LT(((y.to(at::kFloat) - reference).abs().max() / reference.abs().max()).item<double>(), 0.12);
  y.to(at::kFloat).square().mean().backward();
  for (const auto& p : layer->named_parameters()) {
    EXPECT_EQ(p.value().scalar_type(), at::kFloat) << p.key();
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_EQ(p.value().grad().scalar_type(), at::kFloat) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}

TEST(STLAutocast, OutsideAutocastNothingIsCast) {
  torch::manual_seed(6);
  STLLinear layer(STLLinearOptions(24, 20));
  const torch::Tensor x = torch::randn({2, 4, 24});
  { AutocastGuard autocast(at::kCPU, at::kBFloat16); }
  EXPECT_EQ(layer->forward(x).scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace strassentile
