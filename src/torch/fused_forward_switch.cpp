#include "fused_forward_switch.hpp"

#include <torch/library.h>

#include <atomic>
#include <string>
#include <string_view>

#include "error_message.hpp"

namespace strassentile::torch_ops {
namespace {

std::atomic<FusedForward> setting{FusedForward::Auto};

constexpr std::string_view name_of(FusedForward s) {
  switch (s) {
    case FusedForward::Always:
      return "always";
    case FusedForward::Never:
      return "never";
    default:
      return "auto";
  }
}

// Returns the previous setting.
std::string set_fused_forward(std::string_view policy) {
  FusedForward next = FusedForward::Auto;
  if (policy == "always") {
    next = FusedForward::Always;
  } else if (policy == "never") {
    next = FusedForward::Never;
  } else {
    STL_CHECK(policy == "auto", "strassentile: set_fused_forward(policy='", policy,
              "'): policy must be 'auto' (where the speed model prices the fused kernel faster), 'always' (wherever "
              "it applies) or 'never'");
  }
  return std::string(name_of(setting.exchange(next)));
}

}  // namespace

FusedForward fused_forward_setting() { return setting.load(std::memory_order_relaxed); }

// No tensor arguments: the catch-all kernel.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) { m.impl("set_fused_forward", &set_fused_forward); }

}  // namespace strassentile::torch_ops
