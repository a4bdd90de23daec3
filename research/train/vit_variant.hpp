// One variant of the ViT experiment: the LinearSpec of the blocks' linear layers, optionally with its own MLP width
// (a dense model whose wider MLP matches an STL variant's parameter count is a variant like the others).
//
// Text form: "<LinearSpec>" or "<LinearSpec> mlp_ratio=<N>", e.g. "stl:rank=24,init=random", "dense mlp_ratio=7".
#pragma once

#include <cstdint>
#include <string>

#include "baselines/baseline_linear.hpp"
#include "vit_model.hpp"

namespace strassentile::train {

struct VitVariant {
  LinearSpec spec;
  int64_t mlp_ratio = 0;  // > 0: overrides the config's MLP ratio for this variant

  // Throws std::invalid_argument naming the text and the fix.
  static VitVariant parse(const std::string& text);
  // Canonical text: the spec's canonical form, then " mlp_ratio=N" where set.
  std::string to_string() const;
  // `base` with this variant's overrides applied.
  VitConfig model(const VitConfig& base) const;
};

}  // namespace strassentile::train
