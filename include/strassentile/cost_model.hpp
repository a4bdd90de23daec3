// FLOPs, parameters and ideal bytes of one STL layer against the dense layer it replaces (STL.md §2), and the
// predicted time of both on a GPU (predict_speed).
#pragma once

#include <cstddef>
#include <string>

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

// What the speed model needs to know of a GPU. The defaults are one H200, calibrated on the measured figures of
// docs/PERFORMANCE.md (tests/cpp/test_cost_model.cpp checks the model against them).
struct GpuSpec {
  std::string name = "NVIDIA H200";
  double matmul_flops = 800e12;      // FLOP/s a large 16-bit GEMM reaches (cuBLAS, 16384x4096x4096: 791 TFLOP/s)
  double matmul_flops_f32 = 60e12;   // 4-byte elements, no TF32: 90% of the datasheet 67 TFLOP/s, not measured
  double bandwidth = 4.0e12;         // B/s of a device-to-device copy (measured 3.8-4.3 TB/s)
  double launch_seconds = 4e-6;      // per kernel, host-side dispatch included
  double gemm_half_inner = 96;       // inner dimension at which a GEMM computes at half its peak rate
  bool guessed = false;              // scaled from another GPU rather than known or measured
  // The GPU runs the forward's products and decode as one kernel (strassentile/cuda/stl_cuda.hpp, ForwardPath) for
  // 16-bit storage, rank <= 3 and tiles whose (a, c) is (2,2), (1,4), (4,1), (1,2) or (2,1), Z not kept, wherever
  // that is predicted faster than the pipeline (fused_forward_wins). On for the H100 and H200 (sm_90, measured);
  // gpu_spec turns it off for the GPUs it scales from the H200.
  bool fused_forward = true;
};

// The H200 and H100 (SXM) constants, or, for another `name`, the H200's scaled by SM count and clock (guessed =
// true). `clock_hz` 0 means the H200's. Throws std::invalid_argument on a zero SM count.
GpuSpec gpu_spec(const std::string& name, std::size_t sm_count, double clock_hz = 0);

// Predicted seconds of one call, dense (nn.Linear) against STL, on `gpu`:
//   GEMM(batch, m×k×n)  = hypot(2·batch·mkn / (rate · k/(k + gemm_half_inner)),
//                               batch·(mk + kn + mn)·bytes / bandwidth) + launch
//                         a smooth roofline whose compute rate (matmul_flops, or _f32 for 4-byte elements) falls
//                         for a short inner dimension.
//   codec pass (bytes)  = bytes / (bandwidth · codec_efficiency(tile pair)) + launch + 10 µs for its grid to fill
//                         and drain the SMs: encode reads X and writes X̂; decode reads Z and writes Y (StlCost's
//                         encode_bytes / decode_bytes).
//   dense forward       = GEMM(1, M×K×N);  STL forward = encode + GEMM(r, Mt×Kt×Nt) + decode. Mode causal adds
//                         one read of each codec pass's input (the repair of tiles with non-finite inputs).
//                         Where GpuSpec::fused_forward applies, the faster of that and encode + Ŵ's transpose +
//                         GEMM(r, Mt×Kt×Nt) / 0.83 + 0.2 · Y's bytes / bandwidth (the fused kernel's products run
//                         slower than cuBLAS's, and most of its Y stores overlap other blocks' products).
//   training adds the backward of every parameter (src/cuda/README.md's backward): dense dX and dW GEMMs and the
//   bias column sums; STL: X̂ again, dZ = decodeᵀ(dY), dŴ (inner Mt), Z again, dD, dX̂ (inner Nt), dX = encodeᵀ(dX̂),
//   dE_X and the bias sums, the coefficient gradients as memory-bound reductions. BackwardSetup removes what a
//   setting skips (a fixed basis: dE_X, dD and Z again; kept: X̂ and Z again; Z kept: Z again) and adds what lean's row blocks cost.
struct SpeedEstimate {
  double dense_seconds = 0;
  double stl_seconds = 0;
  double speedup() const { return dense_seconds / stl_seconds; }  // above 1: STL faster
};

// How the backward runs, as the layer and the op's switches set it (training only).
struct BackwardSetup {
  bool learn_basis = true;  // E_X and D are trained (STLLinear's train_basis): dE_X, dD, and Z recomputed for dD
  bool keep = false;        // strassentile::ops::set_keep_for_backward: the forward's X̂ and Z serve the backward
  bool lean = false;        // strassentile::ops::set_lean_backward: the rows in blocks, dŴ summed in fp32
  bool keep_z = false;      // strassentile::ops::set_keep_z_for_backward: the forward's Z serves the backward
};

// Throws std::invalid_argument on a zero size or rank and on a GPU without positive rates and bandwidth.
SpeedEstimate predict_speed(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                            std::size_t bytes_per_element = 2, bool training = false, bool causal = false,
                            BackwardSetup backward = {});

// One-row tiles (a = 1, modes "tile" and "token-local") compute a dense layer, W[κ·b+v, j·c+w] = Σ_p E_X[p, v]·
// Ŵ[p, κ, j]·D[w, p], which the op runs where it is predicted faster than the STL pipeline (narrow layers). Predicted
// seconds of one call of that path: dense's (predict_speed's dense_seconds) plus building W (a bc×r by r×(k·n)
// fp32 GEMM, its cast and layout copy); training adds W again, dW's cast, and the fp32 GEMMs that take dŴ and (with
// learn_basis) the basis gradients from dW. Throws std::invalid_argument where tile.a != 1.
double dense_equivalent_seconds(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                                std::size_t bytes_per_element = 2, bool training = false, bool learn_basis = true);

// Whether the forward runs its products and decode as one kernel on `gpu` (ForwardPath::automatic): where
// GpuSpec::fused_forward applies (16-bit, rank <= 3, the (a, c) pairs above, no mode causal) and predict_speed prices
// it below the pipeline: the narrow layers, where the pipeline's pass over Z costs most beside the products.
bool fused_forward_wins(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                        std::size_t bytes_per_element = 2, bool causal = false);

// Whether the op runs this pass (the forward, or with `backward_pass` the backward alone, as `backward` sets it up) as
// the dense equivalent: one-row tiles outside mode causal where dense_equivalent_seconds is below the pipeline's.
bool dense_equivalent_wins(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                           std::size_t bytes_per_element, bool backward_pass, bool causal = false,
                           BackwardSetup backward = {});

// predict_speed for what the op runs: its stl_seconds takes, pass by pass, the dense equivalent where
// dense_equivalent_wins (what convert(min_speedup=...) prices).
SpeedEstimate predict_op_speed(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                               std::size_t bytes_per_element = 2, bool training = false, bool causal = false,
                               BackwardSetup backward = {});

// Row blocks of the lean backward (src/cuda/backward.cpp's row_blocks, the gradients of x, Ŵ and bias asked for, and
// of E_X and D where learn_basis): as few as keep one block's product-sized scratch regions within the bytes of X and
// Y together.
std::size_t lean_row_blocks(LayerShape shape, TileFormat tile, std::size_t rank, std::size_t bytes_per_element = 2,
                            bool learn_basis = true);

// One batched GEMM of `batch` m×k by k×n products on `gpu` (the first formula above).
double gemm_seconds(const GpuSpec& gpu, double batch, double m, double k, double n, std::size_t bytes_per_element);

// Fraction of copy bandwidth the encode (pair a,b) or decode (pair a,c) kernels reach, measured on the H200
// (research/results/perf/kernels_stages_h200.log): the tensor-core <4,4> kernels, the CUDA-core tile families, and
// the generic kernel for the rest. Mode causal runs on the same kernels.
double codec_efficiency(std::size_t rows, std::size_t cols, std::size_t rank);

}  // namespace strassentile
