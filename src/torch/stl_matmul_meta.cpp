#include "stl_matmul_meta.hpp"
#include "error_message.hpp"

#include <string>
#include <vector>

#include "stl_args.hpp"

namespace strassentile::torch_ops {
namespace {

bool is_supported_float(at::ScalarType t) {
  return t == at::kDouble || t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
}

void check_tensor(const at::Tensor& t, const at::Tensor& x, const char* name) {
  STL_CHECK(t.defined() && is_supported_float(t.scalar_type()), "strassentile: ", name,
            " must be float64, float32, float16 or bfloat16 (convert it with .float())");
  STL_CHECK(t.device() == x.device(), "strassentile: ", name, " is on ", t.device(), " but x is on ", x.device(),
            ": move every STL tensor to one device");
}

// check_stl_args (stl_args.cpp) on symbolic sizes: each size comparison is a guard, so a compiled graph is reused
// only for inputs that pass the same checks. Returns out_features (N).
c10::SymInt check_stl_args_sym(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                               at::IntArrayRef tile_arg, const std::optional<at::Tensor>& bias, const std::string& mode_arg,
                               std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  const TileFormat t = parse_tile(tile_arg);
  const auto a = static_cast<int64_t>(t.a), b = static_cast<int64_t>(t.b), c = static_cast<int64_t>(t.c);
  const Mode mode = parse_mode(mode_arg);
  STL_CHECK(mode != Mode::TokenLocal || a == 1, "strassentile: mode='token-local' needs tiles that never span tokens "
                                                  "(a = 1, e.g. tile=[1, 4, 4]), got tile ", t.to_string());
  for (const auto& [v, name] : {std::pair{&w_hat, "w_hat"}, {&enc_x, "enc_x"}, {&dec, "dec"}}) check_tensor(*v, x, name);
  check_tensor(x, x, "x");
  STL_CHECK(x.dim() >= 1, "strassentile: x must have at least 1 dimension (..., in_features)");
  STL_CHECK(enc_x.dim() == 2 && enc_x.sym_size(1) == a * b, "strassentile: enc_x must be (rank, a*b) = (r, ", a * b,
            ") for tile ", t.to_string(), ", got ", enc_x.sym_sizes());
  const c10::SymInt rank = enc_x.sym_size(0);
  STL_CHECK(w_hat.dim() == 3 && w_hat.sym_size(0) == rank, "strassentile: w_hat must be (rank, k_tiles, n_tiles) with the "
            "rank of enc_x, got ", w_hat.sym_sizes(), " and enc_x ", enc_x.sym_sizes());
  STL_CHECK(dec.dim() == 2 && dec.sym_size(0) == a * c && dec.sym_size(1) == rank, "strassentile: dec must be (a*c, rank) = (",
            a * c, ", ", rank, ") for tile ", t.to_string(), ", got ", dec.sym_sizes());
  STL_CHECK((x.sym_size(-1) + b - 1) / b == w_hat.sym_size(1), "strassentile: x has in_features K=", x.sym_size(-1),
            " but w_hat has ", w_hat.sym_size(1), " row tiles of b=", b, ": x.size(-1) must match the layer's in_features");
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias) {
    check_tensor(*bias, x, "bias");
    STL_CHECK(bias->dim() == 1, "strassentile: bias must be 1-D (out_features), got ", bias->sym_sizes());
  }
  const c10::SymInt n = out_features.has_value() ? c10::SymInt(*out_features)
                        : has_bias               ? bias->sym_size(0)
                                                 : w_hat.sym_size(2) * c;
  STL_CHECK(n >= 1 && (n + c - 1) / c == w_hat.sym_size(2), "strassentile: out_features=", n, " needs column tiles of c=",
            c, " but w_hat has ", w_hat.sym_size(2));
  if (has_bias)
    STL_CHECK(bias->sym_size(0) == n, "strassentile: bias has ", bias->sym_size(0), " entries but out_features is ", n);
  STL_CHECK(mode == Mode::Causal || !levels.has_value(), "strassentile: levels apply only to mode='causal', got mode='",
            mode_arg, "': drop levels or use mode='causal'");
  if (mode == Mode::Causal) resolve_causal_levels(levels, rank.guard_int(__FILE__, __LINE__), a);
  return n;
}

std::string to_string(c10::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

at::Tensor stl_matmul_meta(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                           at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode,
                           std::optional<int64_t> out_features, at::OptionalIntArrayRef levels) {
  const c10::SymInt n = check_stl_args_sym(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels);
  std::vector<c10::SymInt> shape(x.sym_sizes().begin(), x.sym_sizes().end());
  shape.back() = n;
  return at::empty_symint(shape, x.options());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> stl_matmul_backward_meta(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
    at::IntArrayRef tile, const std::optional<at::Tensor>& bias, c10::string_view mode, std::optional<int64_t> out_features,
    at::OptionalIntArrayRef levels, std::array<bool, 5> needs) {
  check_stl_args_sym(x, w_hat, enc_x, dec, tile, bias, to_string(mode), out_features, levels);
  (void)grad_y;
  // The real kernels return each gradient contiguous, in its input's shape and dtype.
  const auto like = [](bool need, const at::Tensor& t) {
    return need ? at::empty_symint(t.sym_sizes(), t.options()) : at::Tensor();
  };
  const bool has_bias = bias.has_value() && bias->defined();
  return {like(needs[0], x), like(needs[1], w_hat), like(needs[2], enc_x), like(needs[3], dec),
          has_bias ? like(needs[4], *bias) : at::Tensor()};
}

}  // namespace strassentile::torch_ops
