// strassentile::stl_reference: the torch-free core reference (src/core/reference.cpp) as an op, so tests in any
// language compare the real implementations against the same, obviously-right code. CPU, float64 only.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "error_message.hpp"
#include "stl_args.hpp"
#include "strassentile/reference.hpp"

namespace strassentile::torch_ops {
namespace {

at::Tensor stl_reference_op(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                            at::IntArrayRef tile_arg, int64_t out_features, int64_t seq_len, std::string_view mode_arg,
                            at::OptionalIntArrayRef levels) {
  for (const auto& [t, name] : {std::pair<const at::Tensor&, const char*>{x, "x"}, {w_hat, "w_hat"}, {enc_x, "enc_x"}, {dec, "dec"}})
    STL_CHECK(t.scalar_type() == at::kDouble && t.device().is_cpu(), "strassentile::stl_reference: ", name,
              " must be a float64 CPU tensor (the reference is for tests)");
  STL_CHECK(x.dim() == 2 && w_hat.dim() == 3 && enc_x.dim() == 2 && dec.dim() == 2,
            "strassentile::stl_reference: expects x (M, K), w_hat (r, k, n), enc_x (r, ab), dec (ac, r)");
  STL_CHECK(out_features >= 1 && seq_len >= 0, "strassentile::stl_reference: out_features >= 1 and seq_len >= 0");
  const TileFormat tile = parse_tile(tile_arg);
  const Mode mode = parse_mode(mode_arg);
  STL_CHECK(mode != Mode::TokenLocal || tile.a == 1, "strassentile::stl_reference: mode 'token-local' needs a = 1");
  STL_CHECK(mode == Mode::Causal || !levels.has_value(), "strassentile::stl_reference: levels need mode='causal'");
  const at::Tensor xc = x.contiguous(), ec = enc_x.contiguous(), dc = dec.contiguous(), wc = w_hat.contiguous();
  const auto view = [](const at::Tensor& t) {
    return MatrixView<const double>(t.data_ptr<double>(), static_cast<std::size_t>(t.size(0)),
                                    static_cast<std::size_t>(t.size(1)));
  };
  Tensor3<double> w(static_cast<std::size_t>(wc.size(0)), static_cast<std::size_t>(wc.size(1)),
                    static_cast<std::size_t>(wc.size(2)));
  std::copy(wc.data_ptr<double>(), wc.data_ptr<double>() + wc.numel(), w.data());
  Matrix<double> y;
  try {
    if (mode == Mode::Causal) {
      const std::vector<int64_t> lv = resolve_causal_levels(levels, enc_x.size(0), static_cast<int64_t>(tile.a));
      y = stl_reference_causal<double>(view(xc), w, view(ec), view(dc), tile, CausalLevels(lv.begin(), lv.end()),
                                       static_cast<std::size_t>(out_features), static_cast<std::size_t>(seq_len));
    } else {
      y = stl_reference<double>(view(xc), w, view(ec), view(dc), tile, static_cast<std::size_t>(out_features),
                                static_cast<std::size_t>(seq_len));
    }
  } catch (const std::invalid_argument& e) {
    STL_CHECK(false, "strassentile::stl_reference: ", e.what());
  }
  return at::from_blob(y.data(), {static_cast<int64_t>(y.rows()), static_cast<int64_t>(y.cols())}, at::kDouble).clone();
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, CPU, m) { m.impl("stl_reference", &stl_reference_op); }

}  // namespace strassentile::torch_ops
