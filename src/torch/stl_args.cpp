#include "stl_args.hpp"
#include "error_message.hpp"

#include <c10/util/Exception.h>

#include "strassentile/causal.hpp"

namespace strassentile::torch_ops {
namespace {

bool is_supported_float(at::ScalarType t) {
  return t == at::kDouble || t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
}

void check_float(const at::Tensor& t, const char* name) {
  STL_CHECK(t.defined(), "strassentile: ", name, " is undefined");
  STL_CHECK(is_supported_float(t.scalar_type()), "strassentile: ", name,
            " must be float64, float32, float16 or bfloat16, got ", t.scalar_type(),
            " (convert it with .float())");
}

void check_device(const at::Tensor& t, const at::Tensor& x, const char* name) {
  STL_CHECK(t.device() == x.device(), "strassentile: ", name, " is on ", t.device(), " but x is on ", x.device(),
            ": move every STL tensor to one device");
}

}  // namespace

std::vector<int64_t> resolve_causal_levels(at::OptionalIntArrayRef levels, int64_t rank, int64_t a) {
  if (!levels.has_value()) {
    const CausalLevels def = default_causal_levels(static_cast<std::size_t>(rank), static_cast<std::size_t>(a));
    return std::vector<int64_t>(def.begin(), def.end());
  }
  STL_CHECK(static_cast<int64_t>(levels->size()) == rank, "strassentile: levels has ", levels->size(),
            " entries but the rank is ", rank, ": pass one level per product, or none for the default");
  for (std::size_t p = 0; p < levels->size(); ++p)
    STL_CHECK((*levels)[p] >= 0 && (*levels)[p] < a, "strassentile: levels[", p, "] = ", (*levels)[p],
              " is out of range: causal levels must be in 0..", a - 1, " (a-1 for tiles of a=", a, " rows)");
  return levels->vec();
}

Mode parse_mode(const std::string& mode) {
  if (mode == "tile") return Mode::Tile;
  if (mode == "token-local") return Mode::TokenLocal;
  if (mode == "causal") return Mode::Causal;
  STL_CHECK(false, "strassentile: mode '", mode, "' is unknown: use 'tile', 'token-local' or 'causal'");
}

TileFormat parse_tile(at::IntArrayRef tile) {
  STL_CHECK(tile.size() == 1 || tile.size() == 3, "strassentile: tile must have 1 entry (t means <t,t,t>) or 3 (a, b, c), got ",
            tile.size());
  for (int64_t s : tile) STL_CHECK(s >= 1, "strassentile: every tile side must be >= 1, got tile=", tile);
  if (tile.size() == 1) return TileFormat{static_cast<std::size_t>(tile[0]), static_cast<std::size_t>(tile[0]),
                                          static_cast<std::size_t>(tile[0])};
  return TileFormat{static_cast<std::size_t>(tile[0]), static_cast<std::size_t>(tile[1]), static_cast<std::size_t>(tile[2])};
}

StlDims check_stl_args(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                       at::IntArrayRef tile_arg, const std::optional<at::Tensor>& bias, const std::string& mode_arg,
                       std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  StlDims d;
  d.tile = parse_tile(tile_arg);
  const auto a = static_cast<int64_t>(d.tile.a), b = static_cast<int64_t>(d.tile.b), c = static_cast<int64_t>(d.tile.c);
  const Mode mode = parse_mode(mode_arg);
  d.mode = mode;
  STL_CHECK(mode != Mode::TokenLocal || a == 1, "strassentile: mode='token-local' needs tiles that never span tokens "
                                                  "(a = 1, e.g. tile=[1, 4, 4]), got tile ", d.tile.to_string());

  check_float(x, "x");
  check_float(w_hat, "w_hat");
  check_float(enc_x, "enc_x");
  check_float(dec, "dec");
  check_device(w_hat, x, "w_hat");
  check_device(enc_x, x, "enc_x");
  check_device(dec, x, "dec");
  STL_CHECK(x.dim() >= 1, "strassentile: x must have at least 1 dimension (..., in_features)");

  STL_CHECK(enc_x.dim() == 2 && enc_x.size(0) >= 1 && enc_x.size(1) == a * b, "strassentile: enc_x must be (rank, a*b) = (r, ",
            a * b, ") for tile ", d.tile.to_string(), " with rank >= 1, got ", enc_x.sizes());
  d.rank = enc_x.size(0);
  STL_CHECK(w_hat.dim() == 3, "strassentile: w_hat must be (rank, k_tiles, n_tiles), got ", w_hat.sizes());
  STL_CHECK(w_hat.size(0) == d.rank, "strassentile: w_hat has ", w_hat.size(0), " products but enc_x has rank ", d.rank,
            ": ranks must match");
  STL_CHECK(dec.dim() == 2 && dec.size(0) == a * c && dec.size(1) == d.rank, "strassentile: dec must be (a*c, rank) = (",
            a * c, ", ", d.rank, ") for tile ", d.tile.to_string(), ", got ", dec.sizes());

  d.in_features = x.size(-1);
  d.k_tiles = w_hat.size(1);
  d.n_tiles = w_hat.size(2);
  STL_CHECK((d.in_features + b - 1) / b == d.k_tiles, "strassentile: x has in_features K=", d.in_features, " (",
            (d.in_features + b - 1) / b, " tiles of b=", b, ") but w_hat has ", d.k_tiles,
            " row tiles: x.size(-1) must match the layer's in_features");
  if (bias.has_value() && bias->defined()) {
    check_float(*bias, "bias");
    check_device(*bias, x, "bias");
    STL_CHECK(bias->dim() == 1, "strassentile: bias must be 1-D (out_features), got ", bias->sizes());
  }
  if (out_features.has_value()) {
    d.out_features = *out_features;
  } else if (bias.has_value() && bias->defined()) {
    d.out_features = bias->size(0);
  } else {
    d.out_features = d.n_tiles * c;
  }
  STL_CHECK(d.out_features >= 1 && (d.out_features + c - 1) / c == d.n_tiles, "strassentile: out_features=", d.out_features,
            " needs ", (d.out_features + c - 1) / c, " column tiles of c=", c, " but w_hat has ", d.n_tiles);
  if (bias.has_value() && bias->defined())
    STL_CHECK(bias->size(0) == d.out_features, "strassentile: bias has ", bias->size(0), " entries but out_features is ",
              d.out_features);

  STL_CHECK(mode == Mode::Causal || !levels.has_value(), "strassentile: levels apply only to mode='causal', got mode='",
            mode_arg, "': drop levels or use mode='causal'");
  if (mode == Mode::Causal) d.levels = resolve_causal_levels(levels, d.rank, a);

  d.seq = x.dim() >= 2 ? x.size(-2) : 1;
  d.batch = 1;
  for (int64_t i = 0; i + 2 < x.dim(); ++i) d.batch *= x.size(i);
  d.row_tiles = (d.seq + a - 1) / a;

  const bool any_double = x.scalar_type() == at::kDouble || w_hat.scalar_type() == at::kDouble ||
                          enc_x.scalar_type() == at::kDouble || dec.scalar_type() == at::kDouble;
  d.compute_dtype = any_double ? at::kDouble : at::kFloat;
  return d;
}

std::vector<int64_t> output_shape(const at::Tensor& x, const StlDims& d) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = d.out_features;
  return shape;
}

}  // namespace strassentile::torch_ops
