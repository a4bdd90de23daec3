#include "fused_switches.hpp"

#include <torch/library.h>

#include <atomic>
#include <string>
#include <string_view>

namespace strassentile::torch_ops {
namespace {

std::atomic<PathPolicy> forward_setting{PathPolicy::Auto};
std::atomic<PathPolicy> backward_setting{PathPolicy::Auto};

// Each returns the previous setting. They take std::string, the type the typed calls of ops.cpp name.
std::string set_fused_forward(std::string policy) {
  return exchange_path_policy(forward_setting, policy, "set_fused_forward",
                              "where the speed model prices the fused kernel faster");
}

std::string set_fused_backward(std::string policy) {
  return exchange_path_policy(backward_setting, policy, "set_fused_backward", "BackwardPath::automatic");
}

}  // namespace

PathPolicy fused_forward_setting() { return forward_setting.load(std::memory_order_relaxed); }
PathPolicy fused_backward_setting() { return backward_setting.load(std::memory_order_relaxed); }

// No tensor arguments: the catch-all kernel.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("set_fused_forward", &set_fused_forward);
  m.impl("set_fused_backward", &set_fused_backward);
}

}  // namespace strassentile::torch_ops
