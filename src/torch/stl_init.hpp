// Internal: initial STL parameters, shared by the C++ STLLinear and the Python one (as an op), so that both
// languages start from the same distribution.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"

namespace strassentile::torch_ops {

// (w_hat, enc_x, enc_w, dec) in float32 on the CPU for a K→N layer.
//   init="random": enc_x ~ N(0, 1/ab), enc_w ~ N(0, 1/bc), dec ~ N(0, 1/r), and w_hat uniform with the variance
//     that gives the default nn.Linear's output variance (1/3 for unit-variance inputs) in expectation.
//   init=<exact algorithm of this tile and rank>: the algorithm's coefficients, and w_hat = E_W(W) of a weight W
//     drawn like nn.Linear's default, i.e. an exact STL copy of a fresh dense layer.
//   init="fit" (ALS fit of the matmul tensor at this rank), "truncate:<algorithm>" (greedy truncation) or "poly"
//     (the DFT evaluation/interpolation algorithm, strassentile/polynomial.hpp, truncated to r products, or
//     padded with products whose decoder column is zero when r exceeds its rank): the same, with w_hat
//     rescaled so the output variance matches nn.Linear's on a Gaussian probe.
// With `data` (moments of the layer's activation and weight tiles), "fit", "truncate:…" and "poly" use the
// data-aware fit and truncation; other inits ignore it.
// The (enc_x, enc_w, dec) an init string names, for tile t and rank r; errors say what would fix the request.
Algorithm algorithm_for_init(TileFormat t, std::size_t r, const std::string& init, const TileMoments* data = nullptr);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> initial_parameters(int64_t in_features, int64_t out_features,
                                                                              at::IntArrayRef tile, int64_t rank,
                                                                              const std::string& init,
                                                                              const TileMoments* data = nullptr);

// Initial parameters of a mode-"causal" layer, and the levels ℓ(p) they are built for (strassentile/causal.hpp).
// Every init respects the masks (masked coefficients are stored as zeros):
//   init="random": as above with enc_x and dec masked, the variance matched after masking; levels as given, else
//     default_causal_levels(r, a).
//   init=<algorithm> or "truncate:<algorithm>": causal_refit / causal_truncate of that algorithm: ℓ(p) = the
//     highest row E_X[p] reads, decoder refitted by least squares under the mask (naive-AxBxC stays exact; any
//     other stays exact only where it already was causal), w_hat = E_W(W) rescaled to nn.Linear's variance when
//     the result is not exact. These choose the levels, so `levels` must be absent.
//   "fit" and "poly" are refused: their encoders read every row, so the mask would leave almost nothing.
struct CausalParameters {
  at::Tensor w_hat, enc_x, enc_w, dec;
  std::vector<int64_t> levels;
};
CausalParameters initial_causal_parameters(int64_t in_features, int64_t out_features, at::IntArrayRef tile, int64_t rank,
                                           const std::string& init, at::OptionalIntArrayRef levels = std::nullopt);

// TileMoments from tensors: both moments or neither (nullopt); shapes checked against the tile.
std::optional<TileMoments> moments_from_tensors(at::IntArrayRef tile, const std::optional<at::Tensor>& x_moment,
                                                const std::optional<at::Tensor>& w_moment);

}  // namespace strassentile::torch_ops
