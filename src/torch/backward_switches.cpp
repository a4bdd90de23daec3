#include "backward_switches.hpp"

#include <torch/library.h>

#include <atomic>
#include <tuple>

namespace strassentile::torch_ops {
namespace {

std::atomic<bool> keep_flag{false};
std::atomic<bool> lean_flag{false};
std::atomic<bool> keep_z_flag{false};

// Each returns the previous setting.
bool set_keep_for_backward(bool keep) { return keep_flag.exchange(keep); }
bool set_lean_backward(bool lean) { return lean_flag.exchange(lean); }
bool set_keep_z_for_backward(bool keep) { return keep_z_flag.exchange(keep); }

std::tuple<bool, bool, bool> backward_switches() { return {keep_for_backward(), lean_backward(), keep_z_for_backward()}; }

}  // namespace

bool keep_for_backward() { return keep_flag.load(std::memory_order_relaxed); }
bool lean_backward() { return lean_flag.load(std::memory_order_relaxed); }
bool keep_z_for_backward() { return keep_z_flag.load(std::memory_order_relaxed); }

// No tensor arguments: the catch-all kernel.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("set_keep_for_backward", &set_keep_for_backward);
  m.impl("set_lean_backward", &set_lean_backward);
  m.impl("set_keep_z_for_backward", &set_keep_z_for_backward);
  m.impl("backward_switches", &backward_switches);
}

}  // namespace strassentile::torch_ops
