// C++ entry points of the strassentile::* operators (the same ops Python sees as torch.ops.strassentile.*).
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

namespace strassentile::ops {

// Y = STL(x, w_hat) (+ bias). x: (..., K); w_hat: (r, ⌈K/b⌉, ⌈N/c⌉); enc_x: (r, a·b); dec: (a·c, r);
// tile: {t} or {a, b, c}. Rows are grouped along dim -2 within each leading index. Differentiable in x, w_hat,
// enc_x, dec and bias. out_features defaults to bias.size(0), else ⌈N/c⌉·c. in_features, when given, must equal
// x.size(-1) (w_hat alone fixes only ⌈K/b⌉, so without it a wider x within the last tile goes unnoticed).
// mode: "tile" (rows of a tile mix), "token-local" (a = 1) or "causal": output row u of a tile depends only on
// input rows <= u, through the structural masks of strassentile/causal.hpp with ℓ(p) = levels[p] (default
// default_causal_levels(r, a)); masked coefficients of enc_x/dec are ignored and get zero gradient.
at::Tensor stl_matmul(const at::Tensor& x, const at::Tensor& w_hat, const at::Tensor& enc_x, const at::Tensor& dec,
                      std::vector<int64_t> tile, const std::optional<at::Tensor>& bias = std::nullopt,
                      const std::string& mode = "tile", std::optional<int64_t> out_features = std::nullopt,
                      const std::optional<std::vector<int64_t>>& levels = std::nullopt,
                      std::optional<int64_t> in_features = std::nullopt);

// One STL layer's parameters, for stl_mlp.
struct StlLayerParams {
  at::Tensor w_hat, enc_x, dec;
  std::optional<at::Tensor> bias;
  std::optional<int64_t> in_features, out_features;  // layer 2's in_features, when given, must be layer 1's out
  std::optional<std::vector<int64_t>> levels;  // mode "causal" only
};

// y = layer2(act(layer1(x))), act: "none", "relu" or "gelu_tanh"; both layers of one tile format and mode. Equal to
// stl_matmul, the activation, stl_matmul, and differentiable the same way; where no gradient is wanted (grad mode
// off, or no input requires one) it runs as one inference op, which on CUDA (bf16/fp16, <4,4,4>, ranks <= 32) fuses
// layer 1's decode, bias and activation with layer 2's encode: the hidden activations never go to memory.
at::Tensor stl_mlp(const at::Tensor& x, const StlLayerParams& layer1, const StlLayerParams& layer2,
                   std::vector<int64_t> tile, const std::string& activation = "gelu_tanh",
                   const std::string& mode = "tile");

// Whether stl_matmul on CUDA keeps its encoded input X̂ and products Z for the backward: each backward then skips one
// encode (and, with the coefficient gradients, one batched product), for about 1.5× x plus 1.5× y (<4,4,4>, r = 24)
// more memory held per layer from forward to backward. Off by default; process-wide; eager mode only. Returns the
// previous setting.
bool set_keep_for_backward(bool keep);

// Whether stl_matmul on CUDA keeps only its products Z for the backward (set_keep_for_backward, when on too, keeps
// both): each backward skips the batched product that recomputes Z for dD, for about 1.5× y (<4,4,4>, r = 24) more
// memory held per layer. Off by default; process-wide; eager mode only. Returns the previous setting.
bool set_keep_z_for_backward(bool keep);

// Whether the CUDA backward runs its rows in blocks so that its scratch stays within the bytes of x and y: a
// training step's peak near 1.5× a dense layer's instead of about 2.1× (<4,4,4>, r = 24), for about a tenth more
// backward time at 16384×4096×4096 (docs/PERFORMANCE.md). Off by default; process-wide. Returns the previous setting.
bool set_lean_backward(bool lean);

// Whether layers of one-row tiles (a = 1, modes "tile" and "token-local"), which compute a dense layer, run as that
// dense layer, W built from Ŵ, E_X and D (the same function; only the rounding differs): "auto" (the default: on CUDA
// where the speed model predicts it faster than the STL pipeline, i.e. narrow layers; never on the CPU), "always" or
// "never". Process-wide. Returns the previous setting.
std::string set_dense_equivalent(const std::string& policy);

// Where stl_matmul on CUDA runs its products and decode as one kernel, among the layers where that applies (bf16,
// rank <= 3, tiles whose (a, c) is (2,2), (1,4), (4,1), (1,2) or (2,1), an H100 or H200; strassentile/cuda/stl_cuda.hpp,
// ForwardPath): "auto" (the default: where the speed model prices it faster than the pipeline for that layer),
// "always" or "never" (the pipeline, encode → batched products → decode, everywhere). Process-wide. Returns the
// previous setting.
std::string set_fused_forward(const std::string& policy);

// Ŵ = E_W(w) for a dense (in_features, out_features) weight, i.e. linear.weight.t().
at::Tensor encode_weight(const at::Tensor& w, const at::Tensor& enc_w, std::vector<int64_t> tile);

}  // namespace strassentile::ops
