// FLOPs, parameters and ideal bytes of one STL layer against the dense layer it replaces (STL.md §2).
#pragma once

#include <cstddef>

#include "strassentile/tile_format.hpp"

namespace strassentile {

struct LayerShape {
  std::size_t m = 0;  // rows (tokens)
  std::size_t k = 0;  // in_features
  std::size_t n = 0;  // out_features
};

struct StlCost {
  // Forward FLOPs (a multiply-add counts 2). Padding to whole tiles is included in the STL terms.
  double dense_flops = 0;   // 2·M·K·N
  double gemm_flops = 0;    // 2·r·m·k·n over padded tiles ≈ 2MKN·r/(abc)
  double encode_flops = 0;  // 2·r·ab·m·k ≈ 2·r·M·K
  double decode_flops = 0;  // 2·r·ac·... ≈ 2·r·M·N
  double stl_flops() const { return gemm_flops + encode_flops + decode_flops; }
  double gemm_ratio() const { return dense_flops / gemm_flops; }   // abc/r for divisible shapes
  double total_ratio() const { return dense_flops / stl_flops(); }  // encode/decode included

  // Parameters (no bias).
  double dense_params = 0;  // K·N
  double stl_params = 0;    // r·⌈K/b⌉·⌈N/c⌉ + r·ab + ac·r
  double param_ratio() const { return stl_params / dense_params; }  // ≈ r/(bc)

  // Ideal bytes moved by the memory-bound steps at `bytes_per_element`.
  double encode_bytes = 0;  // read X, write X̂
  double decode_bytes = 0;  // read Z, write Y
};

// Throws std::invalid_argument when a dimension, a tile side or the rank is zero.
StlCost stl_cost(LayerShape shape, TileFormat tile, std::size_t rank, std::size_t bytes_per_element = 2);

}  // namespace strassentile
