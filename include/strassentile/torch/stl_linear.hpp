// STLLinear: a torch::nn::Module with nn::Linear's interface whose product is a Strassen-Tile operator.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "strassentile/cost_model.hpp"
#include "strassentile/tile_format.hpp"

namespace strassentile {

struct STLLinearOptions {
  STLLinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = true;
  // {t} means <t,t,t>; or {a, b, c}.
  TORCH_ARG(std::vector<int64_t>, tile) = std::vector<int64_t>({4, 4, 4});
  TORCH_ARG(int64_t, rank) = 24;
  // "random", or the name of an exact algorithm of this tile and rank (strassentile::available()); an
  // algorithm init starts as an exact STL copy of a freshly initialised nn::Linear.
  TORCH_ARG(std::string, init) = "random";
  // "tile" (rows of a tile mix: bidirectional models), "token-local" (needs a = 1) or "causal" (output row u of a
  // tile depends only on input rows <= u: autoregressive models; see strassentile/causal.hpp).
  TORCH_ARG(std::string, mode) = "tile";
  // Mode "causal": the level ℓ(p) in [0, a) of every product. Empty: chosen by the init (init="random":
  // default_causal_levels(rank, a) = ⌊p·a/rank⌋; an algorithm or "truncate:<algorithm>": the highest row each
  // product reads). Causal inits: "random", an algorithm (e.g. "naive-4x4x4", exact) or "truncate:<algorithm>".
  TORCH_ARG(std::vector<int64_t>, levels) = std::vector<int64_t>();
  // Learn enc_x and dec (the change of basis) along with w_hat.
  TORCH_ARG(bool, train_basis) = true;
};

// State of one layer for token-by-token decoding (STLLinearImpl::forward_step): the rows of the current tile seen so
// far (at most a-1 of them) and how many tokens came before. Tiles are aligned to the start of each sequence, so
// use one cache per layer per generation, reset() when a new batch of sequences starts.
struct STLDecodeCache {
  torch::Tensor rows;    // (batch, u, in_features): rows 0..u-1 of the current tile, undefined at a tile start
  int64_t position = 0;  // tokens consumed so far; the next token is row position % a of its tile
  void reset() {
    rows = torch::Tensor();
    position = 0;
  }
};

class STLLinearImpl : public torch::nn::Cloneable<STLLinearImpl> {
 public:
  STLLinearImpl(int64_t in_features, int64_t out_features) : STLLinearImpl(STLLinearOptions(in_features, out_features)) {}
  explicit STLLinearImpl(STLLinearOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  // Refuses checkpoints whose shapes differ (another tile, rank or size) instead of silently resizing.
  void load(torch::serialize::InputArchive& archive) override;

  // x: (..., in_features) → (..., out_features).
  torch::Tensor forward(const torch::Tensor& x);

  // The next token of every sequence: x_t (batch, in_features) → (batch, out_features), equal to the matching
  // row of forward() over the whole sequences (mode "causal": from the cached rows of the current tile;
  // "token-local": no cache needed). Mode "tile" throws: its outputs depend on later tokens of the tile.
  torch::Tensor forward_step(const torch::Tensor& x_t, STLDecodeCache& cache);

  // Freezes (false) or unfreezes (true) enc_x and dec.
  void set_train_basis(bool train);

  // The (out_features, in_features) weight W with forward(x) == torch::linear(x, W, bias) for every x, where one
  // exists: tiles of one row (a = 1, as mode "token-local" requires). Computed in float64, returned in w_hat's dtype.
  // With a > 1 a row's output depends on the other rows of its tile: throws c10::Error naming the tile.
  torch::Tensor dense_weight() const;
  // An nn::Linear computing what this layer computes (a = 1 only), on its device and dtype, with its bias and
  // trainability: the way back from a conversion.
  torch::nn::Linear to_linear() const;

  TileFormat tile() const;
  // FLOPs and parameters of one forward over `tokens` rows, against the dense layer.
  StlCost cost(int64_t tokens) const;

  STLLinearOptions options;
  torch::Tensor w_hat;  // (r, ⌈K/b⌉, ⌈N/c⌉), learnable
  torch::Tensor enc_x;  // (r, a·b), learnable unless frozen
  torch::Tensor dec;    // (a·c, r), learnable unless frozen
  torch::Tensor enc_w;  // (r, b·c) buffer: maps dense weights into the basis (conversion, re-encoding)
  torch::Tensor bias;   // (N) or undefined
  // Mode "causal": ℓ(p) per product (also the int64 buffer "levels", so checkpoints carry it); empty otherwise.
  std::vector<int64_t> levels;
};
TORCH_MODULE(STLLinear);

// An STLLinear that computes exactly what `linear` computes, through exact algorithm `algorithm`
// (its tile and rank are the algorithm's). Shares no storage with `linear`.
STLLinear stl_from_linear(const torch::nn::Linear& linear, const std::string& algorithm, const std::string& mode = "tile");

struct CalibrationOptions {
  int64_t steps = 300;       // iterations: preconditioned least squares on w_hat, or Adam steps with train_basis
  double lr = 1e-3;          // Adam's (train_basis only)
  bool train_basis = false;  // also fit enc_x and dec
};

struct CalibrationReport {
  double error_before = 0;  // ‖STL(x) − linear(x)‖ / ‖linear(x)‖ after projecting the weights (w_hat = E_W(Wᵀ))
  double error_after = 0;   // after fitting on the calibration inputs
};

// An approximate STL copy of `linear` for any tile, rank and init (options.in/out_features are taken from
// `linear`): w_hat starts as the projection E_W(Wᵀ) and, when `calibration` inputs (..., in_features) are given,
// is fitted to reproduce linear(calibration). `report` (optional) receives the relative errors.
STLLinear stl_from_linear(const torch::nn::Linear& linear, STLLinearOptions options, const torch::Tensor& calibration,
                          const CalibrationOptions& calibrate = {}, CalibrationReport* report = nullptr);

}  // namespace strassentile
