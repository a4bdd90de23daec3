#include "fused_forward_switch.hpp"

#include <torch/library.h>

#include <atomic>

namespace strassentile::torch_ops {
namespace {

std::atomic<bool> fused_flag{true};  // on: the speed model chooses per layer (ForwardPath::automatic)

// Returns the previous setting.
bool set_fused_forward(bool fused) { return fused_flag.exchange(fused); }

}  // namespace

bool fused_forward() { return fused_flag.load(std::memory_order_relaxed); }

// No tensor arguments: the catch-all kernel.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) { m.impl("set_fused_forward", &set_fused_forward); }

}  // namespace strassentile::torch_ops
