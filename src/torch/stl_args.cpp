#include "stl_args.hpp"
#include "error_message.hpp"

#include <c10/util/Exception.h>
#include <c10/util/safe_numerics.h>

#include "strassentile/causal.hpp"

namespace strassentile::torch_ops {
namespace {

bool is_supported_float(at::ScalarType t) {
  return t == at::kDouble || t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
}

void check_tensor(const at::Tensor& t, const at::Tensor& x, const char* name) {
  STL_CHECK(t.defined(), "strassentile: ", name, " is undefined");
  STL_CHECK(is_supported_float(t.scalar_type()), "strassentile: ", name,
            " must be float64, float32, float16 or bfloat16, got ", t.scalar_type(), " (convert it with .float())");
  STL_CHECK(t.device() == x.device(), "strassentile: ", name, " is on ", t.device(), " but x is on ", x.device(),
            ": move every STL tensor to one device");
}

// x·y for a size of something the op allocates (`what`), refused when it exceeds max_elements. A symbolic factor
// multiplies symbolically: the real kernel repeats the check on the concrete sizes before it allocates.
c10::SymInt mul_checked(const c10::SymInt& x, const c10::SymInt& y, const char* what, const char* fix) {
  const std::optional<int64_t> cx = x.maybe_as_int(), cy = y.maybe_as_int();
  if (!cx || !cy) return x * y;
  int64_t product = 0;
  STL_CHECK(!c10::mul_overflows(*cx, *cy, &product) && product <= max_elements, "strassentile: stl_matmul would ",
            "allocate ", what, " of more than 2^60 elements (", *cx, " * ", *cy, "): ", fix);
  return product;
}

// ⌈n/d⌉ without forming n + d - 1, which wraps for sizes near 2^63 (possible on meta tensors).
c10::SymInt ceil_div(const c10::SymInt& n, int64_t d) {
  if (const std::optional<int64_t> v = n.maybe_as_int()) return *v <= 0 ? *v / d : (*v - 1) / d + 1;
  return (n + d - 1) / d;
}

constexpr const char* split_x = "split x into smaller batches";

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

Mode parse_mode(std::string_view mode) {
  if (mode == "tile") return Mode::Tile;
  if (mode == "token-local") return Mode::TokenLocal;
  if (mode == "causal") return Mode::Causal;
  STL_CHECK(false, "strassentile: mode '", mode, "' is unknown: use 'tile', 'token-local' or 'causal'");
}

TileFormat parse_tile(at::IntArrayRef tile) {
  STL_CHECK(tile.size() == 1 || tile.size() == 3,
            "strassentile: tile must have 1 entry (t means <t,t,t>) or 3 (a, b, c), got ", tile.size());
  for (int64_t s : tile) STL_CHECK(s >= 1, "strassentile: every tile side must be >= 1, got tile=", tile);
  const int64_t a = tile[0], b = tile.size() == 1 ? a : tile[1], c = tile.size() == 1 ? a : tile[2];
  for (const auto& [x, y, name] : {std::tuple{a, b, "a*b"}, {b, c, "b*c"}, {a, c, "a*c"}}) {
    int64_t entries = 0;
    STL_CHECK(!c10::mul_overflows(x, y, &entries) && entries <= max_elements, "strassentile: tile=", tile,
              " is too large: its coefficient matrices need ", name, " = ", x, " * ", y,
              " entries, more than 2^60 (no tensor holds that many): use smaller tile sides, e.g. tile=[4]");
  }
  return TileFormat{static_cast<std::size_t>(a), static_cast<std::size_t>(b), static_cast<std::size_t>(c)};
}

StlSymDims check_stl_args(const StlArgs& args) {
  const at::Tensor &x = args.x, &w_hat = args.w_hat, &enc_x = args.enc_x, &dec = args.dec;
  StlSymDims d;
  d.tile = parse_tile(args.tile);
  const auto a = static_cast<int64_t>(d.tile.a), b = static_cast<int64_t>(d.tile.b), c = static_cast<int64_t>(d.tile.c);
  d.mode = parse_mode(args.mode);
  STL_CHECK(d.mode != Mode::TokenLocal || a == 1, "strassentile: mode='token-local' needs tiles that never span ",
            "tokens (a = 1, e.g. tile=[1, 4, 4]), got tile ", d.tile.to_string());

  check_tensor(x, x, "x");
  check_tensor(w_hat, x, "w_hat");
  check_tensor(enc_x, x, "enc_x");
  check_tensor(dec, x, "dec");
  STL_CHECK(x.dim() >= 1, "strassentile: x must have at least 1 dimension (..., in_features)");

  STL_CHECK(enc_x.dim() == 2 && enc_x.sym_size(1) == a * b, "strassentile: enc_x must be (rank, a*b) = (r, ", a * b,
            ") for tile ", d.tile.to_string(), ", got ", enc_x.sym_sizes());
  d.rank = enc_x.sym_size(0);
  STL_CHECK(d.rank >= 1, "strassentile: enc_x has rank 0 (enc_x.size(0)): an STL layer needs rank >= 1 products");
  STL_CHECK(w_hat.dim() == 3, "strassentile: w_hat must be (rank, k_tiles, n_tiles), got ", w_hat.sym_sizes());
  STL_CHECK(w_hat.sym_size(0) == d.rank, "strassentile: w_hat has ", w_hat.sym_size(0), " products but enc_x has rank ",
            d.rank, ": ranks must match");
  STL_CHECK(dec.dim() == 2 && dec.sym_size(0) == a * c && dec.sym_size(1) == d.rank,
            "strassentile: dec must be (a*c, rank) = (", a * c, ", ", d.rank, ") for tile ", d.tile.to_string(),
            ", got ", dec.sym_sizes());

  // Input width: exactly the layer's in_features when the caller knows it; w_hat alone only fixes ⌈K/b⌉.
  const c10::SymInt width = x.sym_size(-1);
  d.k_tiles = w_hat.sym_size(1);
  d.n_tiles = w_hat.sym_size(2);
  if (args.in_features.has_value()) {
    const int64_t k = *args.in_features;
    STL_CHECK(width == k, "strassentile: stl_matmul: x has in_features K=", width, " (its last dim) but the layer has ",
              "in_features=", k, ": x.size(-1) must match the layer's in_features; pass x[..., :", k,
              "] or a layer of in_features=", width);
    STL_CHECK(ceil_div(k, b) == d.k_tiles, "strassentile: in_features=", k, " needs ", ceil_div(k, b),
              " row tiles of b=", b, " but w_hat has ", d.k_tiles, ": w_hat must be (rank, ceil(in_features/b), ",
              "ceil(out_features/c)) for the layer");
  } else {
    STL_CHECK(ceil_div(width, b) == d.k_tiles, "strassentile: x has in_features K=", width, " (", ceil_div(width, b),
              " tiles of b=", b, ") but w_hat has ", d.k_tiles, " row tiles: x.size(-1) must match the layer's ",
              "in_features (pass in_features= to check it exactly)");
  }
  d.in_features = width;

  if (args.has_bias()) {
    check_tensor(*args.bias, x, "bias");
    STL_CHECK(args.bias->dim() == 1, "strassentile: bias must be 1-D (out_features), got ", args.bias->sym_sizes());
  }
  d.out_features = args.out_features.has_value() ? c10::SymInt(*args.out_features)
                   : args.has_bias()             ? args.bias->sym_size(0)
                                                 : mul_checked(d.n_tiles, c, "the output columns", "use a smaller tile");
  STL_CHECK(d.out_features >= 1 && ceil_div(d.out_features, c) == d.n_tiles, "strassentile: out_features=",
            d.out_features, " needs ", ceil_div(d.out_features, c), " column tiles of c=", c, " but w_hat has ",
            d.n_tiles);
  if (args.has_bias())
    STL_CHECK(args.bias->sym_size(0) == d.out_features, "strassentile: bias has ", args.bias->sym_size(0),
              " entries but out_features is ", d.out_features);

  STL_CHECK(d.mode == Mode::Causal || !args.levels.has_value(), "strassentile: levels apply only to mode='causal', ",
            "got mode='", args.mode, "': drop levels or use mode='causal'");
  if (d.mode == Mode::Causal) d.levels = resolve_causal_levels(args.levels, d.rank.guard_int(__FILE__, __LINE__), a);

  d.seq = x.dim() >= 2 ? x.sym_size(-2) : c10::SymInt(1);
  d.batch = 1;
  for (int64_t i = 0; i + 2 < x.dim(); ++i) d.batch = mul_checked(d.batch, x.sym_size(i), "the rows of x", split_x);
  d.row_tiles = ceil_div(d.seq, a);
  // Element counts of what the kernels allocate (padded x tiles, X̂, Z, padded output tiles), before they do.
  const c10::SymInt mt = mul_checked(d.batch, d.row_tiles, "the row tiles of x", split_x);
  const c10::SymInt padded_rows = mul_checked(mt, a, "the padded rows of x", split_x);
  mul_checked(mul_checked(padded_rows, d.k_tiles, "the padded tiles of x", split_x), b, "the padded tiles of x",
              "use a smaller tile or split x");
  const char* smaller_rank = "use a smaller rank (enc_x.size(0)) or split x";
  mul_checked(mul_checked(d.rank, mt, "X̂ (rank * row tiles)", smaller_rank), d.k_tiles, "X̂ (rank * row tiles * k tiles)",
              smaller_rank);
  mul_checked(mul_checked(d.rank, mt, "Z (rank * row tiles)", smaller_rank), d.n_tiles, "Z (rank * row tiles * n tiles)",
              smaller_rank);
  mul_checked(mul_checked(padded_rows, d.n_tiles, "the padded output tiles", split_x), c, "the padded output tiles",
              "use a smaller tile or split x");

  const bool any_double = x.scalar_type() == at::kDouble || w_hat.scalar_type() == at::kDouble ||
                          enc_x.scalar_type() == at::kDouble || dec.scalar_type() == at::kDouble;
  d.compute_dtype = any_double ? at::kDouble : at::kFloat;
  return d;
}

StlDims stl_dims(const StlArgs& args) {
  StlSymDims s = check_stl_args(args);
  StlDims d;
  d.tile = s.tile;
  d.rank = s.rank.expect_int();
  d.batch = s.batch.expect_int();
  d.seq = s.seq.expect_int();
  d.in_features = s.in_features.expect_int();
  d.out_features = s.out_features.expect_int();
  d.row_tiles = s.row_tiles.expect_int();
  d.k_tiles = s.k_tiles.expect_int();
  d.n_tiles = s.n_tiles.expect_int();
  d.compute_dtype = s.compute_dtype;
  d.mode = s.mode;
  d.levels = std::move(s.levels);
  return d;
}

std::vector<int64_t> output_shape(const at::Tensor& x, const StlDims& d) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = d.out_features;
  return shape;
}

}  // namespace strassentile::torch_ops
