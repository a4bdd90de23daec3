#include "fused_forward_switch.hpp"

#include <torch/library.h>

#include <atomic>
#include <string>
#include <string_view>

namespace strassentile::torch_ops {
namespace {

std::atomic<PathPolicy> setting{PathPolicy::Auto};

// Returns the previous setting. Takes std::string, the type ops::set_fused_forward's typed call names.
std::string set_fused_forward(std::string policy) {
  return exchange_path_policy(setting, policy, "set_fused_forward",
                              "where the speed model prices the fused kernel faster");
}

}  // namespace

PathPolicy fused_forward_setting() { return setting.load(std::memory_order_relaxed); }

// No tensor arguments: the catch-all kernel.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) { m.impl("set_fused_forward", &set_fused_forward); }

}  // namespace strassentile::torch_ops
