#include "strassentile/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "strassentile/reference.hpp"

namespace strassentile {

StlCost stl_cost(LayerShape shape, TileFormat tile, std::size_t rank, std::size_t bytes_per_element) {
  if (shape.m == 0 || shape.k == 0 || shape.n == 0)
    throw std::invalid_argument("M, K and N must all be >= 1 (got " + std::to_string(shape.m) + ", " +
                                std::to_string(shape.k) + ", " + std::to_string(shape.n) + ")");
  validate(tile);
  if (rank == 0) throw std::invalid_argument("rank must be >= 1");
  const double m = static_cast<double>(ceil_div(shape.m, tile.a));
  const double k = static_cast<double>(ceil_div(shape.k, tile.b));
  const double n = static_cast<double>(ceil_div(shape.n, tile.c));
  const double r = static_cast<double>(rank);
  const double ab = static_cast<double>(tile.x_size()), ac = static_cast<double>(tile.y_size());
  const double bytes = static_cast<double>(bytes_per_element);

  StlCost cost;
  cost.dense_flops = 2.0 * static_cast<double>(shape.m) * static_cast<double>(shape.k) * static_cast<double>(shape.n);
  cost.gemm_flops = 2.0 * r * m * k * n;
  cost.encode_flops = 2.0 * r * ab * m * k;
  cost.decode_flops = 2.0 * r * ac * m * n;
  cost.dense_params = static_cast<double>(shape.k) * static_cast<double>(shape.n);
  cost.stl_params = r * k * n + r * ab + ac * r;
  cost.encode_bytes = bytes * (static_cast<double>(shape.m) * static_cast<double>(shape.k) + r * m * k);
  cost.decode_bytes = bytes * (r * m * n + static_cast<double>(shape.m) * static_cast<double>(shape.n));
  return cost;
}

namespace {

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// The H200's boost clock, against which other GPUs' compute is scaled.
constexpr double kH200ClockHz = 1.98e9;
constexpr std::size_t kH200Sms = 132;

}  // namespace

GpuSpec gpu_spec(const std::string& name, std::size_t sm_count, double clock_hz) {
  if (sm_count == 0) throw std::invalid_argument("gpu_spec: sm_count must be >= 1 (the GPU's multiprocessor count)");
  GpuSpec spec;  // the H200's
  if (contains(name, "H200")) {
    spec.name = name;
    return spec;
  }
  if (contains(name, "H100") && sm_count == kH200Sms) {
    // Same GH100 compute as the H200 (777 TFLOP/s measured at 16384x4096x4096); HBM3 at 3.35 of HBM3e's 4.8 TB/s.
    spec.name = name;
    spec.bandwidth *= 3.35 / 4.8;
    return spec;
  }
  const double scale = static_cast<double>(sm_count) / kH200Sms * (clock_hz > 0 ? clock_hz / kH200ClockHz : 1.0);
  spec.name = name + " (scaled from the H200 by SM count and clock)";
  spec.matmul_flops *= scale;
  spec.matmul_flops_f32 *= scale;
  spec.bandwidth *= scale;
  spec.guessed = true;
  spec.fused_forward = false;  // its speed there unmeasured
  return spec;
}

// The causal repair passes (src/cuda/kernels/causal_repair.cuh) read their input at 0.37 (encode side: X, 0.087 ms for
// 128 MiB) and 0.65 (decode side: Z, 0.074 ms for 192 MiB) of copy bandwidth on the H200 at 16384x4096x4096 bf16
// (research/scripts/layer_profile.py): the lower, to stay on the safe side of convert(min_speedup=...).
constexpr double kCausalRepairEfficiency = 0.37;

// A codec pass's grid filling the SMs and draining them, which its bytes do not carry: at 16384x768x3072 on the
// H200 the small passes on the K = 768 side reach only 0.46-0.54 of copy bandwidth against 0.76 for the large ones,
// 10-20 µs more per pass (research/results/perf/layer_profile_fastsums_768_h200_2026-12-05.log). The lower end, so
// that the wide layers, where it is small beside the bytes, are not made pessimistic.
constexpr double kCodecPassFillSeconds = 10e-6;

// The fused products + decode kernel against the modelled batched GEMM of the same products, and a fifth of Y's write
// time not hidden behind other blocks' products. What the dispatch needs is the ratio of the fused forward to the
// pipeline's, so 0.70 is fitted to that: the kernel and Ŵ's transpose measured 1.11×, 0.66× and 0.86× cuBLAS's
// products plus the decode at 16384x4096x4096, 65536x384x1536 and 16384x768x3072 (<2,2,2> r = 3, H100;
// research/results/perf/fused_forward_profile_interior_h100_2026-12-07.log); the model gives 1.15×, 0.60×, 0.70×,
// choosing right at all three. Its fused seconds then run 0-20% above the kernel's, as its pipeline seconds run
// 17-32% above the pipeline's there.
constexpr double kFusedProductsEfficiency = 0.70;
constexpr double kFusedOutputExposed = 0.2;
// The fused forward reads Ŵ in place; where its rows are not 16-byte aligned (n not a multiple of 8) it first copies
// it into aligned rows (r × k × n, read and written once), priced at the rate measured for a pass over Ŵ's bytes:
// 0.033 ms for 3 × 2048 × 2048 bf16 on an H100, 0.55 of the model's bandwidth there
// (research/results/perf/fused_forward_profile_interior_h100_2026-12-07.log).
constexpr double kWeightCopyEfficiency = 0.55;
// The fused forward is taken only where priced at least 5% below the products and decode it replaces: near a tie the
// model's error is the larger (16384x8192x2048, <2,2,2> r = 3, H100: priced equal, measured 10% slower than the
// pipeline; research/results/perf/fused_forward_d2048_layers_222_r3_h100_2026-12-07.json), and the pipeline is the
// path whose price is the better known.
constexpr double kFusedMargin = 0.95;

namespace {
// The (a,b) or (a,c) tiles with their own codec kernels (src/cuda/dispatch.cpp's with_tile_pair): sides in {1, 2, 4}
// but 1×1, and 3×3; the rest run the generic ones.
bool has_specialised_codec(std::size_t rows, std::size_t cols) {
  const auto side = [](std::size_t v) { return v == 1 || v == 2 || v == 4; };
  return (side(rows) && side(cols) && rows * cols > 1) || (rows == 3 && cols == 3);
}

// Where the fused products + decode kernel runs (src/cuda/dispatch.cpp's fused_forward_unavailable): the specialised
// (a,c) pairs with a·c <= 4, ranks up to 3.
bool fused_forward_applies(const GpuSpec& gpu, TileFormat tile, std::size_t rank, std::size_t bytes_per_element,
                           bool causal) {
  const bool pair = tile.a * tile.c <= 4 && has_specialised_codec(tile.a, tile.c);
  return gpu.fused_forward && bytes_per_element == 2 && rank >= 1 && rank <= 3 && pair && !causal;
}
}  // namespace

double codec_efficiency(std::size_t rows, std::size_t cols, std::size_t rank) {
  if (!has_specialised_codec(rows, cols)) return 0.05;  // the generic kernel
  if (rows == 4 && cols == 4) return rank <= 64 ? 0.80 : 0.60;  // tensor-core kernels; CUDA-core past rank 64
  if (rows == 3 && cols == 3) return 0.22;
  // CUDA-core kernels. <4,2> tiles (X's in <4,2,4>): encode 0.74 and the backward's dX pass 0.78 of copy bandwidth at
  // 16384x4096, 0.70 and 0.64 at 16384x768 (research/results/perf/layer_profile_fold_444_h200_2026-12-05.log,
  // layer_profile_fastsums_768_h200_2026-12-05.log); <2,4> and <1,4> likewise.
  if ((rows == 4 && cols == 2) || (rows == 2 && cols == 4) || (rows == 1 && cols == 4)) return 0.75;
  // <2,2>, <1,2>, <2,1>, <4,1>: with 0.90, the forward of <4,4,1> r=6 and <1,4,2> r=3 is predicted at 0.79-0.94 of
  // the measured ratio on an H100, as the other formats'
  // (research/results/perf/formats_441_r6_specialised_h100_2026-12-06.json, formats_142_r3_h100_2026-12-06.json).
  return 0.90;
}

double gemm_seconds(const GpuSpec& gpu, double batch, double m, double k, double n, std::size_t bytes_per_element) {
  const double bytes = static_cast<double>(bytes_per_element);
  const double peak = bytes_per_element >= 4 ? gpu.matmul_flops_f32 : gpu.matmul_flops;
  const double rate = peak * k / (k + gpu.gemm_half_inner);
  const double compute = 2.0 * batch * m * k * n / rate;
  const double memory = batch * (m * k + k * n + m * n) * bytes / gpu.bandwidth;
  return std::hypot(compute, memory) + gpu.launch_seconds;
}

// dD summed inside the dZ pass and dE_X inside the dX pass: on the tensor-core codec kernels for <4,4> tiles on
// that side (src/cuda/kernels/coef_grad_fold.cuh), on the staged CUDA-core passes for the other specialised tiles
// (kernels/staged_fold.cuh); 16-bit, r <= 32 (src/cuda/dispatch.cpp's folds_coef_grad). Elsewhere the tiles are
// copied and each gradient is a flat GEMM.
namespace {
bool folds_coef_grad(std::size_t rows, std::size_t cols, std::size_t rank, std::size_t bytes_per_element) {
  return bytes_per_element == 2 && has_specialised_codec(rows, cols) && rank >= 1 && rank <= 32;
}
}  // namespace

std::size_t lean_row_blocks(LayerShape shape, TileFormat tile, std::size_t rank, std::size_t bytes_per_element,
                            bool learn_basis) {
  validate(tile, "lean_row_blocks");
  const auto round8 = [](std::size_t v) { return (v + 7) / 8 * 8; };
  const double mt = static_cast<double>(ceil_div(shape.m, tile.a)), r = static_cast<double>(rank);
  const double lx = mt * static_cast<double>(round8(ceil_div(shape.k, tile.b)));
  const double ly = mt * static_cast<double>(round8(ceil_div(shape.n, tile.c)));
  // The tile copies of dY (for dD) and X (for dE_X), where those gradients are not folded into a pass.
  const double dy_tiles = learn_basis && !folds_coef_grad(tile.a, tile.c, rank, bytes_per_element)
                              ? static_cast<double>(tile.y_size()) * ly : 0;
  const double x_tiles = learn_basis && !folds_coef_grad(tile.a, tile.b, rank, bytes_per_element)
                             ? static_cast<double>(tile.x_size()) * lx : 0;
  const double regions = (std::max(r * lx, dy_tiles) + std::max(r * ly, x_tiles) + (learn_basis ? r * ly : 0)) *
                         static_cast<double>(bytes_per_element);
  const double budget = static_cast<double>(shape.m) * static_cast<double>(shape.k + shape.n) *
                        static_cast<double>(bytes_per_element);
  const double wanted = budget > 0 ? std::ceil(regions / budget) : 1.0;
  return static_cast<std::size_t>(std::clamp(wanted, 1.0, std::max(mt, 1.0)));
}

SpeedEstimate predict_speed(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                            std::size_t bytes_per_element, bool training, bool causal, BackwardSetup backward) {
  if (bytes_per_element == 0) throw std::invalid_argument("predict_speed: bytes_per_element must be >= 1");
  if (!(gpu.matmul_flops > 0 && gpu.matmul_flops_f32 > 0 && gpu.bandwidth > 0 && gpu.launch_seconds >= 0 &&
        gpu.gemm_half_inner >= 0))
    throw std::invalid_argument("predict_speed: the GPU's matmul rates and bandwidth must be > 0, its launch time and "
                                "gemm_half_inner >= 0");
  const StlCost cost = stl_cost(shape, tile, rank, bytes_per_element);
  const double M = static_cast<double>(shape.m), K = static_cast<double>(shape.k), N = static_cast<double>(shape.n);
  const double mt = static_cast<double>(ceil_div(shape.m, tile.a)), kt = static_cast<double>(ceil_div(shape.k, tile.b)),
               nt = static_cast<double>(ceil_div(shape.n, tile.c)), r = static_cast<double>(rank);
  const double bytes = static_cast<double>(bytes_per_element);
  const auto pass = [&](double moved, double efficiency) {
    return moved / (gpu.bandwidth * efficiency) + gpu.launch_seconds;
  };
  // A kernel of the codec family (encode, decode, their transposes, tile copies, causal repairs): its own grid.
  const auto codec_pass = [&](double moved, double efficiency) {
    return pass(moved, efficiency) + kCodecPassFillSeconds;
  };
  const double encode_efficiency = codec_efficiency(tile.a, tile.b, rank);
  const double decode_efficiency = codec_efficiency(tile.a, tile.c, rank);
  // Mode causal: one more read of each codec pass's input (the repair of tiles with non-finite inputs).
  const auto repair = [&](double input_elements) {
    return causal ? codec_pass(input_elements * bytes, kCausalRepairEfficiency) : 0.0;
  };

  const double encode = codec_pass(cost.encode_bytes, encode_efficiency) + repair(M * K);
  const double decode = codec_pass(cost.decode_bytes, decode_efficiency) + repair(r * mt * nt);
  const double products = gemm_seconds(gpu, r, mt, kt, nt, bytes_per_element);
  SpeedEstimate est;
  est.dense_seconds = gemm_seconds(gpu, 1, M, K, N, bytes_per_element);
  // The products and decode summed first, as with the fused forward below: so that where the fused kernel is not
  // chosen both GpuSpecs give the same bits (fused_forward_wins compares them).
  est.stl_seconds = encode + (products + decode);
  // The fused forward where it runs (not when the forward keeps Z for the backward) and is the faster: the dispatch
  // takes it only there (fused_forward_wins).
  if (fused_forward_applies(gpu, tile, rank, bytes_per_element, causal) &&
      !(training && (backward.keep || backward.keep_z))) {
    const bool w_rows_aligned = ceil_div(shape.n, tile.c) % 8 == 0;  // 16-byte rows of bf16 Ŵ
    const double w_copy = w_rows_aligned ? 0.0 : pass(2 * r * kt * nt * bytes, kWeightCopyEfficiency);
    const double fused = w_copy + (products - gpu.launch_seconds) / kFusedProductsEfficiency +
                         kFusedOutputExposed * M * N * bytes / gpu.bandwidth + gpu.launch_seconds;
    est.stl_seconds = encode + (fused < kFusedMargin * (products + decode) ? fused : products + decode);
  }
  if (!training) return est;

  const double bias_sums = pass(M * N * bytes, 1.0);
  est.dense_seconds += gemm_seconds(gpu, 1, M, N, K, bytes_per_element)  // dX = dY·W, inner N
                       + gemm_seconds(gpu, 1, N, M, K, bytes_per_element)  // dW = dYᵀ·X, inner M
                       + bias_sums;
  // The coefficient gradients: folded, one more read in the pass that reads dZ's input (Z beside dY) or dX's (X beside
  // dX̂), plus the sum of the per-block partials; else a tile-layout copy of dY (or X) and a reduction reading it and
  // dZ (or dX̂) once.
  const double ab = static_cast<double>(tile.x_size()), ac = static_cast<double>(tile.y_size());
  const double d_dec = folds_coef_grad(tile.a, tile.c, rank, bytes_per_element)
                           ? pass(r * mt * nt * bytes, decode_efficiency)
                           : codec_pass(2 * M * N * bytes, decode_efficiency) + pass((ac + r) * mt * nt * bytes, 1.0);
  const double d_enc_x = folds_coef_grad(tile.a, tile.b, rank, bytes_per_element)
                             ? pass(M * K * bytes, encode_efficiency)
                             : codec_pass(2 * M * K * bytes, encode_efficiency) + pass((ab + r) * mt * kt * bytes, 1.0);
  const bool basis = backward.learn_basis;
  // Lean: each of `blocks` row blocks runs dŴ's GEMM on its rows into an fp32 sum (written, and read again from the
  // second block on), stored once in the parameters' dtype where that is 16-bit; every block launches its own kernels.
  const double blocks =
      backward.lean ? static_cast<double>(lean_row_blocks(shape, tile, rank, bytes_per_element, basis)) : 1;
  const double dw_elements = r * kt * nt;
  const double dw_store = bytes < 4 ? 4 + bytes : 0;
  const double dw_sum_bytes = dw_elements * (blocks * std::max(0.0, 4 - bytes) + (blocks - 1) * 4 + dw_store);
  const double dw = blocks > 1 ? blocks * gemm_seconds(gpu, r, kt, mt / blocks, nt, bytes_per_element) +
                                     pass(dw_sum_bytes, 1.0)
                               : gemm_seconds(gpu, r, kt, mt, nt, bytes_per_element);
  // Each block past the first launches its own kernels, three of them codec passes (X̂ again, dZ and dX).
  const double block_launches = (blocks - 1) * ((basis ? 10 : 6) * gpu.launch_seconds + 3 * kCodecPassFillSeconds);
  // The bias's gradient (dY's column sums): summed in the dZ pass where that pass folds dD (one row block), else a
  // pass over dY of its own.
  const bool bias_in_dz_pass = basis && blocks == 1 && folds_coef_grad(tile.a, tile.c, rank, bytes_per_element);
  const double stl_bias_sums = bias_in_dz_pass ? gpu.launch_seconds : bias_sums;
  est.stl_seconds += (backward.keep ? 0 : encode)                            // X̂ again
                     + codec_pass(cost.decode_bytes, decode_efficiency) + repair(M * N)  // dZ = decodeᵀ(dY)
                     + dw                                                    // dŴ = X̂ᵀ·dZ, inner Mt
                     + (basis ? (backward.keep || backward.keep_z ? 0 : products) + d_dec : 0)  // Z again, dD
                     + gemm_seconds(gpu, r, mt, nt, kt, bytes_per_element)   // dX̂ = dZ·Ŵᵀ, inner Nt
                     + codec_pass(cost.encode_bytes, encode_efficiency) + repair(r * mt * kt)  // dX = encodeᵀ(dX̂)
                     + (basis ? d_enc_x : 0) + stl_bias_sums + block_launches;
  return est;
}

namespace {
// Host time per ATen call of the dense equivalent's composition (dispatch, allocation, launch), fitted to its
// measured cost above dense on an H100 host (2026-12-06: forward +0.057 ms, backward +0.34 to +0.47 ms at
// 65536×384×1536 and 16384×768×3072, `<1,4,2>` r = 3), far above what its extra bytes take: the model's account of
// the rest is that the GPU waits for the host (not profiled).
constexpr double kAtenCallSeconds = 15e-6;
constexpr double kForwardAtenCalls = 2, kBackwardAtenCalls = 22;

// What the dense equivalent adds to dense's time: building W (W = Bᵀ·Ŵ with B[p, (v, w)] = E_X[p, v]·D[w, p], one fp32
// GEMM, then the layout copy and cast to x's dtype); training: W again for dX, dW cast to fp32 in Ŵ's tile layout,
// dŴ = B·dW and, for the basis, dB = Ŵ·dWᵀ (fp32 GEMMs); and the host time of its ATen calls.
double dense_equivalent_extra(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                              std::size_t bytes_per_element, bool training, bool learn_basis) {
  const double bc = static_cast<double>(tile.b * tile.c), r = static_cast<double>(rank);
  const double kn = static_cast<double>(ceil_div(shape.k, tile.b) * ceil_div(shape.n, tile.c));
  const double weight = static_cast<double>(shape.k * shape.n), bytes = static_cast<double>(bytes_per_element);
  const auto pass = [&](double moved) { return moved / gpu.bandwidth + gpu.launch_seconds; };
  const double build = gemm_seconds(gpu, 1, bc, r, kn, 4) + pass(weight * (4 + bytes)) + 2 * gpu.launch_seconds;
  const double forward = build + kForwardAtenCalls * kAtenCallSeconds;
  if (!training) return forward;
  return forward + build + pass(weight * (bytes + 4)) + gemm_seconds(gpu, 1, r, bc, kn, 4) +
         (learn_basis ? gemm_seconds(gpu, 1, r, kn, bc, 4) + 2 * gpu.launch_seconds : 0) +
         kBackwardAtenCalls * kAtenCallSeconds;
}

// Seconds of each pass on each path (one-row tiles); the backward alone is the step less the forward.
struct PassSeconds {
  double dense_forward = 0, pipeline_forward = 0, dense_equivalent_forward = 0;
  double dense_backward = 0, pipeline_backward = 0, dense_equivalent_backward = 0;
};

PassSeconds pass_seconds(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu, std::size_t bytes,
                         bool training, BackwardSetup backward) {
  const SpeedEstimate forward = predict_speed(shape, tile, rank, gpu, bytes);
  const double extra_forward = dense_equivalent_extra(shape, tile, rank, gpu, bytes, false, backward.learn_basis);
  PassSeconds p;
  p.dense_forward = forward.dense_seconds;
  p.pipeline_forward = forward.stl_seconds;
  p.dense_equivalent_forward = forward.dense_seconds + extra_forward;
  if (!training) return p;
  const SpeedEstimate step = predict_speed(shape, tile, rank, gpu, bytes, true, false, backward);
  p.dense_backward = step.dense_seconds - forward.dense_seconds;
  p.pipeline_backward = step.stl_seconds - forward.stl_seconds;
  const double extra_step = dense_equivalent_extra(shape, tile, rank, gpu, bytes, true, backward.learn_basis);
  p.dense_equivalent_backward = p.dense_backward + extra_step - extra_forward;
  return p;
}
}  // namespace

double dense_equivalent_seconds(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                                std::size_t bytes_per_element, bool training, bool learn_basis) {
  if (tile.a != 1)
    throw std::invalid_argument("dense_equivalent_seconds: only one-row tiles (a = 1) have a dense equivalent");
  BackwardSetup backward;
  backward.learn_basis = learn_basis;
  const PassSeconds p = pass_seconds(shape, tile, rank, gpu, bytes_per_element, training, backward);
  return p.dense_equivalent_forward + p.dense_equivalent_backward;
}

bool dense_equivalent_wins(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                           std::size_t bytes_per_element, bool backward_pass, bool causal, BackwardSetup backward) {
  if (tile.a != 1 || causal) return false;
  const PassSeconds p = pass_seconds(shape, tile, rank, gpu, bytes_per_element, backward_pass, backward);
  return backward_pass ? p.dense_equivalent_backward < p.pipeline_backward
                       : p.dense_equivalent_forward < p.pipeline_forward;
}

SpeedEstimate predict_op_speed(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                               std::size_t bytes_per_element, bool training, bool causal, BackwardSetup backward) {
  if (tile.a != 1 || causal)
    return predict_speed(shape, tile, rank, gpu, bytes_per_element, training, causal, backward);
  const PassSeconds p = pass_seconds(shape, tile, rank, gpu, bytes_per_element, training, backward);
  SpeedEstimate est;
  est.dense_seconds = p.dense_forward + p.dense_backward;
  est.stl_seconds = std::min(p.pipeline_forward, p.dense_equivalent_forward) +
                    (training ? std::min(p.pipeline_backward, p.dense_equivalent_backward) : 0);
  return est;
}

bool fused_forward_wins(LayerShape shape, TileFormat tile, std::size_t rank, const GpuSpec& gpu,
                        std::size_t bytes_per_element, bool causal) {
  if (!fused_forward_applies(gpu, tile, rank, bytes_per_element, causal)) return false;
  GpuSpec pipeline = gpu;
  pipeline.fused_forward = false;
  return predict_speed(shape, tile, rank, gpu, bytes_per_element, false, causal).stl_seconds <
         predict_speed(shape, tile, rank, pipeline, bytes_per_element, false, causal).stl_seconds;
}

}  // namespace strassentile
