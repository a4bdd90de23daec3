// Mixed precision for the lab's trainers: inside a scope, matrix products (linear, matmul, the STL op) run in
// bfloat16 on the model's device while parameters, gradients and optimiser state stay fp32 (torch's autocast).
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

#include <stdexcept>
#include <string>

namespace strassentile::train {

// Precision of the forward: "off" (fp32 throughout) or "bf16" (autocast to bfloat16).
inline bool parse_amp(const std::string& text) {
  if (text == "off") return false;
  if (text == "bf16") return true;
  throw std::invalid_argument("--amp must be off or bf16, got '" + text + "'");
}

// Enables bf16 autocast for `device`'s type for its lifetime when `enabled`; restores the previous state after.
class AutocastScope {
 public:
  AutocastScope(const c10::Device& device, bool enabled) : type_(device.type()), enabled_(enabled) {
    if (!enabled_) return;
    was_enabled_ = at::autocast::is_autocast_enabled(type_);
    was_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enabled_) return;
    // Leaving the outermost scope drops the cached bf16 copies of the weights (they change every step).
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(type_, was_enabled_);
    at::autocast::set_autocast_dtype(type_, was_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool enabled_ = false, was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

}  // namespace strassentile::train
