// Internal: the arguments of the strassentile::stl_matmul family and their one validation, shared by the CPU,
// CUDA and Meta kernels. Every check names the offending argument and says what would fix it (TORCH_CHECK →
// c10::Error).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/SymInt.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "strassentile/tile_format.hpp"

namespace strassentile::torch_ops {

enum class Mode { Tile, TokenLocal, Causal };

// Parses mode strings: "tile", "token-local", "causal".
Mode parse_mode(std::string_view mode);

// mode "causal": `levels` checked (one per product, each in [0, a)), or the default assignment when absent.
std::vector<int64_t> resolve_causal_levels(at::OptionalIntArrayRef levels, int64_t rank, int64_t a);

// int[] tile of length 1 (t means <t,t,t>) or 3. The tile matrices hold a·b, b·c and a·c entries: each must be an
// element count a tensor can have (below max_elements), so no later size computation wraps.
TileFormat parse_tile(at::IntArrayRef tile);

// The most elements one buffer of the op may have: its float64 bytes still fit in int64.
inline constexpr int64_t max_elements = INT64_MAX / 8;

// The arguments every stl_matmul op takes, in schema order (op_schemas.cpp).
struct StlArgs {
  const at::Tensor& x;
  const at::Tensor& w_hat;
  const at::Tensor& enc_x;
  const at::Tensor& dec;
  at::IntArrayRef tile;
  const std::optional<at::Tensor>& bias;
  std::string_view mode;
  std::optional<int64_t> out_features;
  at::OptionalIntArrayRef levels;
  std::optional<int64_t> in_features;  // absent: taken from x (then only its tile count is checked against w_hat)

  bool has_bias() const { return bias.has_value() && bias->defined(); }
};

// Sizes of one call after validation. Int is c10::SymInt where shapes may be symbolic (Meta: FakeTensor and
// torch.compile with dynamic shapes) and int64_t for the kernels that compute.
template <class Int>
struct BasicStlDims {
  TileFormat tile;
  Int rank = 0;          // r
  Int batch = 0;         // B: product of x's leading dims (before the row dim)
  Int seq = 0;           // S: rows per sequence (x.size(-2), or 1 for 1-D x)
  Int in_features = 0;   // K
  Int out_features = 0;  // N
  Int row_tiles = 0;     // ms = ⌈S/a⌉ per sequence
  Int k_tiles = 0;       // k = ⌈K/b⌉
  Int n_tiles = 0;       // n = ⌈N/c⌉
  at::ScalarType compute_dtype = at::kFloat;  // fp32, or fp64 when any input is fp64
  Mode mode = Mode::Tile;
  std::vector<int64_t> levels;  // mode causal: ℓ(p) for every product (given or the default); empty otherwise
  Int total_row_tiles() const { return batch * row_tiles; }  // Mt
};
using StlSymDims = BasicStlDims<c10::SymInt>;
using StlDims = BasicStlDims<int64_t>;

// The one argument check of stl_matmul, on symbolic sizes: each size comparison is a guard, so a compiled graph is
// reused only for inputs that pass the same checks. Also refuses, before anything is allocated, any buffer of the
// op (padded tiles of x, X̂, Z, padded output tiles) whose element count would overflow (concrete sizes only:
// symbolic ones are checked again when the real kernel runs on the concrete sizes).
StlSymDims check_stl_args(const StlArgs& args);

// check_stl_args for the kernels that compute (every size concrete).
StlDims stl_dims(const StlArgs& args);

// Output shape: x.shape[:-1] + [N].
std::vector<int64_t> output_shape(const at::Tensor& x, const StlDims& d);

}  // namespace strassentile::torch_ops
