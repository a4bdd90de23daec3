// Internal: validated arguments of strassentile::stl_matmul and the tensor layout they imply.
// Every check names the offending argument and says what would fix it (TORCH_CHECK → c10::Error).
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "strassentile/tile_format.hpp"

namespace strassentile::torch_ops {

enum class Mode { Tile, TokenLocal, Causal };

// Parses mode strings: "tile", "token-local", "causal".
Mode parse_mode(const std::string& mode);

// mode "causal": `levels` checked (one per product, each in [0, a)), or the default assignment when absent.
std::vector<int64_t> resolve_causal_levels(at::OptionalIntArrayRef levels, int64_t rank, int64_t a);

// int[] tile of length 1 (t means <t,t,t>) or 3.
TileFormat parse_tile(at::IntArrayRef tile);

// Sizes of one stl_matmul call, after validation.
struct StlDims {
  TileFormat tile;
  int64_t rank = 0;          // r
  int64_t batch = 0;         // B: product of x's leading dims (before the row dim)
  int64_t seq = 0;           // S: rows per sequence (x.size(-2), or 1 for 1-D x)
  int64_t in_features = 0;   // K
  int64_t out_features = 0;  // N
  int64_t row_tiles = 0;     // ms = ⌈S/a⌉ per sequence
  int64_t k_tiles = 0;       // k = ⌈K/b⌉
  int64_t n_tiles = 0;       // n = ⌈N/c⌉
  at::ScalarType compute_dtype = at::kFloat;  // fp32, or fp64 when any input is fp64
  Mode mode = Mode::Tile;
  std::vector<int64_t> levels;  // mode causal: ℓ(p) for every product (given or the default); empty otherwise
  int64_t total_row_tiles() const { return batch * row_tiles; }  // Mt
};

StlDims check_stl_args(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                       at::IntArrayRef tile, const std::optional<at::Tensor>& bias, const std::string& mode,
                       std::optional<int64_t> out_features, at::OptionalIntArrayRef levels = std::nullopt);

// Output shape: x.shape[:-1] + [N].
std::vector<int64_t> output_shape(const at::Tensor& x, const StlDims& d);

}  // namespace strassentile::torch_ops
