#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "strassentile/cost_model.hpp"

namespace strassentile {
namespace {

TEST(CostModel, FourByFourRankTwentyFour) {
  const StlCost c = stl_cost({16384, 4096, 4096}, {4, 4, 4}, 24);
  EXPECT_DOUBLE_EQ(c.dense_flops, 2.0 * 16384 * 4096 * 4096);
  EXPECT_NEAR(c.gemm_ratio(), 64.0 / 24.0, 1e-12);
  EXPECT_DOUBLE_EQ(c.encode_flops, 2.0 * 24 * 16384 * 4096);
  EXPECT_DOUBLE_EQ(c.decode_flops, 2.0 * 24 * 16384 * 4096);
  EXPECT_LT(c.total_ratio(), c.gemm_ratio());
  EXPECT_GT(c.total_ratio(), 2.5);
  EXPECT_NEAR(c.param_ratio(), 1.5, 1e-4);  // r/(bc) plus the tiny encoders
  EXPECT_DOUBLE_EQ(c.encode_bytes, 2.0 * (16384.0 * 4096 + 24.0 * 4096 * 1024));
}

TEST(CostModel, PaddingCountsWholeTiles) {
  const StlCost c = stl_cost({5, 5, 5}, {4, 4, 4}, 49);
  EXPECT_DOUBLE_EQ(c.gemm_flops, 2.0 * 49 * 2 * 2 * 2);
  EXPECT_DOUBLE_EQ(c.stl_params, 49.0 * 4 + 49 * 16 + 16 * 49);
}

TEST(CostModel, RejectsZeros) {
  EXPECT_THROW(stl_cost({0, 4, 4}, {4, 4, 4}, 24), std::invalid_argument);
  EXPECT_THROW(stl_cost({4, 4, 4}, {4, 0, 4}, 24), std::invalid_argument);
  EXPECT_THROW(stl_cost({4, 4, 4}, {4, 4, 4}, 0), std::invalid_argument);
}

// The speed model against measured H200 ratios (dense time / STL time), bf16, every parameter learnable in the
// training rows. Single measured ratios move by up to ±15% between runs (docs/PERFORMANCE.md), so the band is ±25%.
struct MeasuredRatio {
  const char* source;
  LayerShape shape;
  TileFormat tile;
  std::size_t rank;
  bool training;
  double measured;
};

constexpr double kBand = 0.25;

const std::vector<MeasuredRatio>& measured_ratios() {
  static const std::vector<MeasuredRatio> rows = {
      // research/results/perf/modules_h200_2026-12-04.md: STLLinear against nn.Linear.
      {"modules_h200_2026-12-04: layer 16384x4096x4096 forward", {16384, 4096, 4096}, {4, 4, 4}, 24, false, 1.50},
      {"modules_h200_2026-12-04: layer 16384x4096x4096 fwd+bwd", {16384, 4096, 4096}, {4, 4, 4}, 24, true, 1.02},
      {"modules_h200_2026-12-04: layer 65536x384x1536 forward", {65536, 384, 1536}, {4, 4, 4}, 24, false, 0.42},
      {"modules_h200_2026-12-04: layer 65536x384x1536 fwd+bwd", {65536, 384, 1536}, {4, 4, 4}, 24, true, 0.38},
      // docs/PERFORMANCE.md, kernel level (2026-12-01): forward, and fwd+bwd (x, W^, E_X, D).
      {"PERFORMANCE.md kernel level: 8192x2048x2048 forward", {8192, 2048, 2048}, {4, 4, 4}, 24, false, 0.89},
      {"PERFORMANCE.md kernel level: 8192x2048x2048 fwd+bwd (all four)", {8192, 2048, 2048}, {4, 4, 4}, 24, true, 0.60},
      {"PERFORMANCE.md kernel level: 16384^3 forward", {16384, 16384, 16384}, {4, 4, 4}, 24, false, 2.13},
      {"PERFORMANCE.md kernel level: 16384^3 fwd+bwd (all four)", {16384, 16384, 16384}, {4, 4, 4}, 24, true, 1.66},
      {"PERFORMANCE.md kernel level: 16384x4096x4096 r=48 forward", {16384, 4096, 4096}, {4, 4, 4}, 48, false, 0.85},
      {"PERFORMANCE.md kernel level: 16384x4096x4096 r=48 fwd+bwd (all four)", {16384, 4096, 4096}, {4, 4, 4}, 48, true,
       0.63},
      // docs/PERFORMANCE.md, op level (2026-12-01): 8192^3 forward 1.80-1.89x, all four gradients 1.33-1.35x.
      {"PERFORMANCE.md op level: 8192^3 forward", {8192, 8192, 8192}, {4, 4, 4}, 24, false, 1.85},
      {"PERFORMANCE.md op level: 8192^3 fwd+bwd (all four)", {8192, 8192, 8192}, {4, 4, 4}, 24, true, 1.34},
      // docs/PERFORMANCE.md, exact modes through the op: dps-4x4x4-48 / strassen2 (r = 49) at 16384x4096x4096.
      {"PERFORMANCE.md exact modes: 16384x4096x4096 r=49 forward", {16384, 4096, 4096}, {4, 4, 4}, 49, false, 0.77},
      // <4,2,4> r = 12 through STLLinear, torch.profiler over five steps, each ratio against dense in the same run
      // (research/results/perf/layer_profile_fold_444_h200_2026-12-05.log, layer_profile_fastsums_768_h200_2026-12-05.log):
      // X's <4,2> tiles run on the CUDA-core codec kernels, dE_X as a tile copy and a GEMM (not folded).
      {"layer_profile_fold_444: <4,2,4> 16384x4096x4096 forward", {16384, 4096, 4096}, {4, 2, 4}, 12, false, 1.43},
      {"layer_profile_fold_444: <4,2,4> 16384x4096x4096 training step", {16384, 4096, 4096}, {4, 2, 4}, 12, true, 1.05},
      {"layer_profile_fastsums_768: <4,2,4> 16384x768x3072 forward", {16384, 768, 3072}, {4, 2, 4}, 12, false, 0.66},
      {"layer_profile_fastsums_768: <4,2,4> 16384x768x3072 training step", {16384, 768, 3072}, {4, 2, 4}, 12, true,
       0.73},
  };
  return rows;
}

TEST(SpeedModel, ReproducesTheMeasuredRatiosWithinTheBand) {
  const GpuSpec h200;
  for (const MeasuredRatio& row : measured_ratios()) {
    const double predicted = predict_speed(row.shape, row.tile, row.rank, h200, 2, row.training).speedup();
    EXPECT_NEAR(predicted / row.measured, 1.0, kBand) << row.source << ": predicted " << predicted
                                                        << "x, measured " << row.measured << "x";
    // The side of dense, which convert(min_speedup=1) decides on, outside the run-to-run spread of 1.0.
    if (std::abs(row.measured - 1.0) > 0.1) {
      EXPECT_EQ(predicted > 1.0, row.measured > 1.0) << row.source << ": predicted " << predicted << "x";
    }
  }
}

// Every specialised tile format through STLLinear on an H100 against the H100's constants (bf16, every parameter
// learnable; research/results/perf/formats_*_h100_2026-12-06.json, one run per format, dD and dE_X folded into the
// codec passes for every format here): the model ranks the formats and says on which side of dense each lies. Its
// worst row is `<2,2,2>` r = 3's training step at 65536x384x1536, 24% optimistic. Not here, because the model misses
// it by more than the band: `<1,4,2>` r = 3's training step at 65536x384x1536, 37% optimistic (0.37x predicted, 0.27x
// measured), where its folded coefficient gradients take 0.6 ms (1.74 ms learnable, 1.13 ms with E_X and D frozen).
TEST(SpeedModel, TileFormatsOnAnH100MatchTheMeasuredRatios) {
  GpuSpec h100 = gpu_spec("NVIDIA H100 80GB HBM3", 132);
  h100.fused_forward = false;  // these runs measured the pipeline's forward
  const std::vector<MeasuredRatio> rows = {
      {"formats_444_r24_h100: 16384x4096x4096 forward", {16384, 4096, 4096}, {4, 4, 4}, 24,
       false, 1.178},
      {"formats_444_r24_h100: 16384x4096x4096 training step", {16384, 4096, 4096}, {4, 4, 4}, 24,
       true, 1.073},
      {"formats_444_r24_h100: 65536x384x1536 forward", {65536, 384, 1536}, {4, 4, 4}, 24,
       false, 0.346},
      {"formats_444_r24_h100: 65536x384x1536 training step", {65536, 384, 1536}, {4, 4, 4}, 24,
       true, 0.335},
      {"formats_444_r24_h100: 16384x768x3072 forward", {16384, 768, 3072}, {4, 4, 4}, 24,
       false, 0.494},
      {"formats_444_r24_h100: 16384x768x3072 training step", {16384, 768, 3072}, {4, 4, 4}, 24,
       true, 0.401},
      {"formats_424_r12_h100: 16384x4096x4096 forward", {16384, 4096, 4096}, {4, 2, 4}, 12,
       false, 1.377},
      {"formats_424_r12_h100: 16384x4096x4096 training step", {16384, 4096, 4096}, {4, 2, 4}, 12,
       true, 1.195},
      {"formats_424_r12_h100: 65536x384x1536 forward", {65536, 384, 1536}, {4, 2, 4}, 12,
       false, 0.445},
      {"formats_424_r12_h100: 65536x384x1536 training step", {65536, 384, 1536}, {4, 2, 4}, 12,
       true, 0.504},
      {"formats_424_r12_h100: 16384x768x3072 forward", {16384, 768, 3072}, {4, 2, 4}, 12,
       false, 0.724},
      {"formats_424_r12_h100: 16384x768x3072 training step", {16384, 768, 3072}, {4, 2, 4}, 12,
       true, 0.728},
      {"formats_242_r6_h100: 16384x4096x4096 forward", {16384, 4096, 4096}, {2, 4, 2}, 6,
       false, 1.387},
      {"formats_242_r6_h100: 16384x4096x4096 training step", {16384, 4096, 4096}, {2, 4, 2}, 6,
       true, 1.147},
      {"formats_242_r6_h100: 65536x384x1536 forward", {65536, 384, 1536}, {2, 4, 2}, 6,
       false, 0.407},
      {"formats_242_r6_h100: 65536x384x1536 training step", {65536, 384, 1536}, {2, 4, 2}, 6,
       true, 0.395},
      {"formats_242_r6_h100: 16384x768x3072 forward", {16384, 768, 3072}, {2, 4, 2}, 6,
       false, 0.586},
      {"formats_242_r6_h100: 16384x768x3072 training step", {16384, 768, 3072}, {2, 4, 2}, 6,
       true, 0.498},
      {"formats_222_r3_h100: 16384x4096x4096 forward", {16384, 4096, 4096}, {2, 2, 2}, 3,
       false, 1.648},
      {"formats_222_r3_h100: 16384x4096x4096 training step", {16384, 4096, 4096}, {2, 2, 2}, 3,
       true, 1.230},
      {"formats_222_r3_h100: 65536x384x1536 forward", {65536, 384, 1536}, {2, 2, 2}, 3,
       false, 0.579},
      // The training steps with the bias's gradient summed in the dZ pass: the stl-unfused rows of
      // bias_fold_222_r3_h100_2026-12-07 (the pipeline's forward, as these rows price it).
      {"bias_fold_222_r3_h100: 65536x384x1536 training step", {65536, 384, 1536}, {2, 2, 2}, 3,
       true, 0.478},
      {"formats_222_r3_h100: 16384x768x3072 forward", {16384, 768, 3072}, {2, 2, 2}, 3,
       false, 0.861},
      {"bias_fold_222_r3_h100: 16384x768x3072 training step", {16384, 768, 3072}, {2, 2, 2}, 3,
       true, 0.724},
      {"formats_441_r6_specialised_h100: 16384x4096x4096 forward", {16384, 4096, 4096}, {4, 4, 1}, 6,
       false, 1.541},
      {"formats_441_r6_specialised_h100: 16384x4096x4096 training step", {16384, 4096, 4096}, {4, 4, 1}, 6,
       true, 1.203},
      {"formats_441_r6_specialised_h100: 65536x384x1536 forward", {65536, 384, 1536}, {4, 4, 1}, 6,
       false, 0.421},
      {"formats_441_r6_specialised_h100: 65536x384x1536 training step", {65536, 384, 1536}, {4, 4, 1}, 6,
       true, 0.375},
      {"formats_441_r6_specialised_h100: 16384x768x3072 forward", {16384, 768, 3072}, {4, 4, 1}, 6,
       false, 0.658},
      {"formats_441_r6_specialised_h100: 16384x768x3072 training step", {16384, 768, 3072}, {4, 4, 1}, 6,
       true, 0.536},
      {"formats_142_r3_h100: 16384x4096x4096 forward", {16384, 4096, 4096}, {1, 4, 2}, 3,
       false, 1.483},
      {"formats_142_r3_h100: 16384x4096x4096 training step", {16384, 4096, 4096}, {1, 4, 2}, 3,
       true, 1.131},
      {"formats_142_r3_h100: 65536x384x1536 forward", {65536, 384, 1536}, {1, 4, 2}, 3,
       false, 0.397},
      {"formats_142_r3_h100: 16384x768x3072 forward", {16384, 768, 3072}, {1, 4, 2}, 3,
       false, 0.658},
      {"formats_142_r3_h100: 16384x768x3072 training step", {16384, 768, 3072}, {1, 4, 2}, 3,
       true, 0.526},
  };
  for (const MeasuredRatio& row : rows) {
    const double predicted = predict_speed(row.shape, row.tile, row.rank, h100, 2, row.training).speedup();
    EXPECT_NEAR(predicted / row.measured, 1.0, kBand) << row.source << ": predicted " << predicted
                                                        << "x, measured " << row.measured << "x";
    if (std::abs(row.measured - 1.0) > 0.1) {
      EXPECT_EQ(predicted > 1.0, row.measured > 1.0) << row.source << ": predicted " << predicted << "x";
    }
  }
}

// The backward as users switch it, against the same run's measured training-step ratios through STLLinear
// (research/results/perf/variants_fold_444_r24_h200_2026-12-05.json, bf16, <4,4,4> r = 24, dD and dE_X folded into the
// codec passes): every parameter learnable (stl), E_X and D frozen, X̂ and Z kept (set_keep_for_backward), the rows in
// blocks (set_lean_backward). The model must say on which side of dense each variant lies, the decision
// convert(min_speedup=1) takes from it. It is optimistic by 7-20% at 16384x768x3072, where the codec passes' fixed
// grid fill and drain (kCodecPassFillSeconds) is a large share of a pass.
TEST(SpeedModel, BackwardSettingsMatchTheMeasuredVariants) {
  const GpuSpec h200;
  BackwardSetup all, frozen, kept, lean;
  frozen.learn_basis = false;
  kept.keep = true;
  lean.lean = true;
  struct Row {
    LayerShape shape;
    double stl, frozen, kept, lean;
  };
  for (const Row& row : {Row{{65536, 384, 1536}, 0.36, 0.48, 0.40, 0.30},
                         Row{{16384, 768, 3072}, 0.51, 0.59, 0.55, 0.36},
                         Row{{16384, 4096, 4096}, 1.14, 1.40, 1.34, 0.97}}) {
    for (const auto& [name, setup, measured] :
         {std::tuple{"stl", all, row.stl}, std::tuple{"frozen", frozen, row.frozen},
          std::tuple{"kept", kept, row.kept}, std::tuple{"lean", lean, row.lean}}) {
      const double predicted = predict_speed(row.shape, {4, 4, 4}, 24, h200, 2, true, false, setup).speedup();
      const std::string what = std::to_string(row.shape.m) + "x" + std::to_string(row.shape.k) + "x" +
                               std::to_string(row.shape.n) + " " + name + ": predicted " + std::to_string(predicted) +
                               "x, measured " + std::to_string(measured) + "x";
      EXPECT_NEAR(predicted / measured, 1.0, kBand) << what;
      // 0.97x and 1.02x lie within the run-to-run spread of 1.0; the side is asserted outside 0.9-1.1.
      if (std::abs(measured - 1.0) > 0.1) {
        EXPECT_EQ(predicted > 1.0, measured > 1.0) << what;
      }
    }
  }
  // The forward does not depend on the backward's settings.
  EXPECT_EQ(predict_speed({16384, 4096, 4096}, {4, 4, 4}, 24, h200, 2, false, false, lean).stl_seconds,
            predict_speed({16384, 4096, 4096}, {4, 4, 4}, 24, h200).stl_seconds);
}

// The same settings for <2,2,2> r = 3 on an H100, against two runs through STLLinear at 16384x4096x4096 (bf16, every
// parameter learnable; research/results/perf/variants_keep_222_r3_h100_2026-12-06.json and its _repeat): plain 1.23x /
// 1.14x, Z kept 1.48x, X̂ and Z kept 1.51x / 1.43x. The kept backward is what makes the d = 4096 block goal.
TEST(SpeedModel, KeptBackwardOfTheSmallestTileOnAnH100MatchesTheMeasuredRatios) {
  const GpuSpec h100 = gpu_spec("NVIDIA H100 80GB HBM3", 132);
  BackwardSetup all, kept, keep_z;
  kept.keep = true;
  keep_z.keep_z = true;
  for (const auto& [name, setup, measured] :
       {std::tuple{"stl", all, 1.23}, std::tuple{"stl", all, 1.14}, std::tuple{"Z kept", keep_z, 1.48},
        std::tuple{"kept", kept, 1.51}, std::tuple{"kept", kept, 1.43}}) {
    const double predicted = predict_speed({16384, 4096, 4096}, {2, 2, 2}, 3, h100, 2, true, false, setup).speedup();
    EXPECT_NEAR(predicted / measured, 1.0, kBand) << name << ": predicted " << predicted << "x, measured " << measured;
    EXPECT_GT(predicted, 1.0) << name;
  }
}

// The fused products + decode on an H100, <2,2,2> r = 3, forward through STLLinear against nn.Linear: fused 1.53x at
// 16384x4096x4096 (research/results/perf/fused_forward_222_r3_interior_h100_2026-12-07.json), 0.86x and 1.11x at
// 65536x384x1536 and 16384x768x3072 (Ŵ read in place,
// research/results/perf/fused_forward_w_in_place_profile_222_r3_h100_2026-12-07.log); the pipeline 1.61x, 0.59x and
// 0.87x (research/results/perf/fused_forward_host_222_r3_h100_2026-12-07.json). The model chooses the faster path at all three, and the pipeline for the d = 4096 block's layers (its
// forward: fused 1.37x, pipeline 1.65x); it prices the forward it chooses. Known GPUs run it; the GPUs gpu_spec scales
// from the H200 do not.
TEST(SpeedModel, FusedForwardIsChosenWhereItMeasuredFaster) {
  const GpuSpec h100 = gpu_spec("NVIDIA H100 80GB HBM3", 132);
  EXPECT_TRUE(h100.fused_forward);
  EXPECT_TRUE(gpu_spec("NVIDIA H200", 132).fused_forward);
  EXPECT_FALSE(gpu_spec("NVIDIA A100-SXM4-80GB", 108).fused_forward);
  GpuSpec unfused = h100;
  unfused.fused_forward = false;
  for (const auto& [shape, fused_measured, pipeline_measured] :
       {std::tuple{LayerShape{16384, 4096, 4096}, 1.53, 1.61}, std::tuple{LayerShape{65536, 384, 1536}, 0.86, 0.59},
        std::tuple{LayerShape{16384, 768, 3072}, 1.11, 0.87}}) {
    const bool fused = fused_forward_wins(shape, {2, 2, 2}, 3, h100);
    EXPECT_EQ(fused, fused_measured > pipeline_measured) << shape.k;
    const double predicted = predict_speed(shape, {2, 2, 2}, 3, h100).speedup();
    EXPECT_NEAR(predicted / (fused ? fused_measured : pipeline_measured), 1.0, kBand)
        << shape.k << ": predicted " << predicted << "x";
    EXPECT_FALSE(fused_forward_wins(shape, {2, 2, 2}, 3, unfused)) << shape.k;
  }
  // The d = 2048 block's down projection: priced equal before the margin, measured fused 1.31x against the
  // pipeline's 1.43x (research/results/perf/fused_forward_d2048_layers_222_r3_h100_2026-12-07.json).
  for (const LayerShape& layer : {LayerShape{8192, 4096, 12288}, LayerShape{8192, 4096, 4096},
                                  LayerShape{8192, 4096, 16384}, LayerShape{8192, 16384, 4096},
                                  LayerShape{16384, 8192, 2048}})
    EXPECT_FALSE(fused_forward_wins(layer, {2, 2, 2}, 3, h100)) << layer.k << "->" << layer.n;
  const LayerShape shape{16384, 768, 3072};
  BackwardSetup keep;
  keep.keep = true;
  // Z kept for the backward, rank 4, fp32, mode causal, <4,4,4>: the pipeline's forward.
  for (const auto& [tile, rank, bytes, causal] :
       {std::tuple{TileFormat{2, 2, 2}, std::size_t{4}, std::size_t{2}, false},
        std::tuple{TileFormat{2, 2, 2}, std::size_t{3}, std::size_t{4}, false},
        std::tuple{TileFormat{2, 2, 2}, std::size_t{3}, std::size_t{2}, true},
        std::tuple{TileFormat{4, 4, 4}, std::size_t{3}, std::size_t{2}, false}})
    EXPECT_EQ(predict_speed(shape, tile, rank, h100, bytes, false, causal).stl_seconds,
              predict_speed(shape, tile, rank, unfused, bytes, false, causal).stl_seconds);
  EXPECT_EQ(predict_speed(shape, {2, 2, 2}, 3, h100, 2, true, false, keep).stl_seconds,
            predict_speed(shape, {2, 2, 2}, 3, unfused, 2, true, false, keep).stl_seconds);
  EXPECT_LT(predict_speed(shape, {2, 2, 2}, 3, h100, 2, true).stl_seconds,
            predict_speed(shape, {2, 2, 2}, 3, unfused, 2, true).stl_seconds);
}

// Z kept alone (set_keep_z_for_backward) skips the product that recomputes Z for dD, not the encode of X: between the
// plain backward and X̂ and Z kept, and nothing to skip where E_X and D are frozen (no dD, Z not needed).
TEST(SpeedModel, KeepingZAloneSkipsOnlyZsProduct) {
  const GpuSpec h200;
  BackwardSetup all, kept, keep_z, frozen, frozen_keep_z;
  kept.keep = true;
  keep_z.keep_z = true;
  frozen.learn_basis = frozen_keep_z.learn_basis = false;
  frozen_keep_z.keep_z = true;
  for (const LayerShape shape : {LayerShape{16384, 4096, 4096}, LayerShape{16384, 768, 3072}}) {
    const auto step = [&](BackwardSetup setup) {
      return predict_speed(shape, {4, 4, 4}, 24, h200, 2, true, false, setup).stl_seconds;
    };
    EXPECT_LT(step(kept), step(keep_z));
    EXPECT_LT(step(keep_z), step(all));
    EXPECT_NEAR(step(all) - step(keep_z), gemm_seconds(h200, 24, static_cast<double>(shape.m / 4), static_cast<double>(shape.k / 4),
                                                              static_cast<double>(shape.n / 4), 2),
                1e-12);
    EXPECT_EQ(step(frozen_keep_z), step(frozen));
  }
}

// The lean backward at 16384x4096x4096 bf16, <4,4,4> r = 24 ran in three row blocks (docs/PERFORMANCE.md): X̂, dZ
// and Z, 1.5x X or Y each, against the bytes of X and Y. Where dD and dE_X fold into the codec passes (16-bit, r <= 32)
// no tile copies are held, so a small rank needs one block; in fp32 the copies of X's and dY's tiles alone take the
// bytes of X and Y, so two blocks at least. Never more blocks than row tiles.
TEST(SpeedModel, LeanRowBlocksFollowTheBackwardsBudget) {
  EXPECT_EQ(lean_row_blocks({16384, 4096, 4096}, {4, 4, 4}, 24), 3u);
  EXPECT_EQ(lean_row_blocks({16384, 4096, 4096}, {4, 4, 4}, 24, 2, /*learn_basis=*/false), 2u);  // no Z region
  EXPECT_EQ(lean_row_blocks({16384, 4096, 4096}, {4, 4, 4}, 1), 1u);
  EXPECT_EQ(lean_row_blocks({16384, 4096, 4096}, {4, 4, 4}, 1, 4), 2u);
  EXPECT_EQ(lean_row_blocks({8, 4096, 4096}, {4, 4, 4}, 24), 2u);
}

// Issue 18's products-only table: dense GEMM time / the r batched products' time.
TEST(SpeedModel, ProductsAloneMatchTheMeasuredProductRatios) {
  const GpuSpec h200;
  const auto products_ratio = [&](double m, double k, double n) {
    return gemm_seconds(h200, 1, m, k, n, 2) / gemm_seconds(h200, 24, m / 4, k / 4, n / 4, 2);
  };
  EXPECT_NEAR(products_ratio(16384, 4096, 4096) / 2.29, 1.0, kBand) << "issue 18: 16384x4096x4096 products 2.29x";
  EXPECT_NEAR(products_ratio(65536, 384, 1536) / 1.19, 1.0, kBand) << "issue 18: 65536x384x1536 products 1.19x";
}

// modules_h200_2026-12-04: a dense 16384x4096x4096 layer forward takes 0.737 ms (cuBLAS alone: 0.695 ms,
// gemm_shapes_h200.log); 65536x384x1536 0.144 ms.
TEST(SpeedModel, DenseTimesMatchTheMeasuredTimes) {
  const GpuSpec h200;
  EXPECT_NEAR(predict_speed({16384, 4096, 4096}, {4, 4, 4}, 24, h200).dense_seconds / 0.737e-3, 1.0, kBand);
  EXPECT_NEAR(predict_speed({65536, 384, 1536}, {4, 4, 4}, 24, h200).dense_seconds / 0.144e-3, 1.0, kBand);
}

// modules_h200_2026-12-04: a pre-norm block, 8 x 2048 tokens, d = 2048: forward 1.07x (dense 2.853 ms), fwd+bwd
// 0.95x (dense 10.074 ms). The model predicts the four linear layers; the rest of the block (attention, norms,
// GELU) is the measured dense time minus the model's dense linears, the same for both.
TEST(SpeedModel, TransformerBlockMatchesTheMeasuredBlockRatios) {
  const GpuSpec h200;
  const std::size_t tokens = 8 * 2048, d = 2048;
  const std::vector<LayerShape> linears = {{tokens, d, 3 * d}, {tokens, d, d}, {tokens, d, 4 * d}, {tokens, 4 * d, d}};
  for (const auto& [training, dense_block_ms, measured] :
       {std::tuple{false, 2.853, 1.07}, std::tuple{true, 10.074, 0.95}}) {
    double dense = 0, stl = 0;
    for (const LayerShape& shape : linears) {
      const SpeedEstimate e = predict_speed(shape, {4, 4, 4}, 24, h200, 2, training);
      dense += e.dense_seconds;
      stl += e.stl_seconds;
    }
    const double rest = dense_block_ms * 1e-3 - dense;
    ASSERT_GT(rest, 0) << "the model's dense linears take longer than the whole measured block";
    const double predicted = (rest + dense) / (rest + stl);
    EXPECT_NEAR(predicted / measured, 1.0, kBand) << (training ? "fwd+bwd" : "forward") << ": predicted " << predicted;
  }
}

// Where the model disagrees with a measurement: <3,3,3> (Laderman, r = 23) forward at 16384x4096x4096 was measured
// at 0.56x, but its codec kernels' own timings (0.569 + 0.477 ms, kernels_stages_h200.log) with the padded products
// (0.706 ms, gemm_shapes_h200.log) add up to about 0.4x, which is what the model predicts. Both say: a loss.
TEST(SpeedModel, LadermanFormatIsALoss) {
  const double predicted = predict_speed({16384, 4096, 4096}, {3, 3, 3}, 23, GpuSpec{}).speedup();
  EXPECT_LT(predicted, 1.0);
  EXPECT_GT(predicted, 0.3);
}

// Mode causal runs the tile kernels plus a repair pass reading each codec pass's input. Measured through STLLinear
// at 16384x4096x4096 (variants_444_r24_h200_2026-12-04.json): forward 0.666 against mode tile's 0.497 ms (0.75),
// a training step 2.771 against 2.386 ms (0.86).
TEST(SpeedModel, CausalModePaysOneMoreReadPerCodecPass) {
  const GpuSpec h200;
  for (const bool training : {false, true}) {
    const SpeedEstimate tile = predict_speed({16384, 4096, 4096}, {4, 4, 4}, 24, h200, 2, training);
    const SpeedEstimate causal = predict_speed({16384, 4096, 4096}, {4, 4, 4}, 24, h200, 2, training, true);
    EXPECT_DOUBLE_EQ(causal.dense_seconds, tile.dense_seconds);
    const double measured = training ? 2.386 / 2.771 : 0.497 / 0.666;
    EXPECT_NEAR(causal.speedup() / tile.speedup(), measured, 0.12) << (training ? "training" : "forward");
  }
}

TEST(SpeedModel, FewTokensAreLaunchBound) {
  const GpuSpec h200;
  EXPECT_LT(predict_speed({16, 4096, 4096}, {4, 4, 4}, 24, h200).speedup(), 1.0);
  EXPECT_GT(predict_speed({16384, 4096, 4096}, {4, 4, 4}, 24, h200).speedup(), 1.0);
}

// One-row tiles run as their dense equivalent where it is predicted faster: at the narrow layers where <1,4,2> r = 3
// measured below dense (0.40x forward at 65536x384x1536, H100, docs/PERFORMANCE.md), not at 16384x4096x4096
// (1.48x). The dense equivalent costs dense's GEMMs plus W's construction: 13-25% more than dense at these widths.
TEST(SpeedModel, DenseEquivalentOfOneRowTiles) {
  const GpuSpec h100 = gpu_spec("NVIDIA H100 80GB HBM3", 132);
  const TileFormat tile{1, 4, 2};
  // Measured through STLLinear on an H100 (2026-12-06, research/NOTEBOOK.md), `<1,4,2>` r = 3, ms: forward 0.197 and
  // 0.179, training step 0.861 and 0.907 at 65536×384×1536 and 16384×768×3072; the model within 25%.
  const struct {
    LayerShape shape;
    double forward_ms, step_ms;
  } measured[] = {{{65536, 384, 1536}, 0.197, 0.861}, {{16384, 768, 3072}, 0.179, 0.907}};
  for (const auto& m : measured) {
    const double forward = dense_equivalent_seconds(m.shape, tile, 3, h100, 2) * 1e3;
    const double step = dense_equivalent_seconds(m.shape, tile, 3, h100, 2, true) * 1e3;
    EXPECT_NEAR(forward, m.forward_ms, 0.25 * m.forward_ms) << m.shape.k;
    EXPECT_NEAR(step, m.step_ms, 0.25 * m.step_ms) << m.shape.k;
    // Faster than the pipeline's forward (measured 0.389 and 0.195 ms), slower than dense.
    GpuSpec pipeline = h100;
    pipeline.fused_forward = false;
    EXPECT_LT(forward, predict_speed(m.shape, tile, 3, pipeline, 2).stl_seconds * 1e3) << m.shape.k;
    EXPECT_GT(forward, predict_speed(m.shape, tile, 3, h100, 2).dense_seconds * 1e3) << m.shape.k;
  }
  const LayerShape wide{16384, 4096, 4096};
  EXPECT_GT(dense_equivalent_seconds(wide, tile, 3, h100, 2), predict_speed(wide, tile, 3, h100, 2).stl_seconds);
  // Without the basis gradients the backward skips one of W's GEMMs.
  EXPECT_LT(dense_equivalent_seconds(wide, tile, 3, h100, 2, true, false),
            dense_equivalent_seconds(wide, tile, 3, h100, 2, true, true));
  EXPECT_THROW(dense_equivalent_seconds(wide, {2, 2, 2}, 3, h100), std::invalid_argument);
}

// What convert(min_speedup=...) prices: the op's choice pass by pass. Where the dense equivalent wins both passes the
// op's time is its; where it loses, the pipeline's; tiles of several rows and mode causal have none.
TEST(SpeedModel, TheOpsSpeedTakesTheFasterPathPerPass) {
  const GpuSpec h100 = gpu_spec("NVIDIA H100 80GB HBM3", 132);
  const TileFormat tile{1, 4, 2};
  const LayerShape narrow{65536, 384, 1536}, wide{16384, 4096, 4096};
  EXPECT_TRUE(dense_equivalent_wins(narrow, tile, 3, h100, 2, false));
  EXPECT_TRUE(dense_equivalent_wins(narrow, tile, 3, h100, 2, true));
  EXPECT_DOUBLE_EQ(predict_op_speed(narrow, tile, 3, h100, 2, true).stl_seconds,
                   dense_equivalent_seconds(narrow, tile, 3, h100, 2, true));
  EXPECT_FALSE(dense_equivalent_wins(wide, tile, 3, h100, 2, false));
  EXPECT_DOUBLE_EQ(predict_op_speed(wide, tile, 3, h100, 2).stl_seconds,
                   predict_speed(wide, tile, 3, h100, 2).stl_seconds);
  EXPECT_FALSE(dense_equivalent_wins(narrow, tile, 3, h100, 2, false, /*causal=*/true));
  EXPECT_FALSE(dense_equivalent_wins(narrow, {2, 2, 2}, 3, h100, 2, false));
  EXPECT_DOUBLE_EQ(predict_op_speed(narrow, {2, 2, 2}, 3, h100, 2, true).stl_seconds,
                   predict_speed(narrow, {2, 2, 2}, 3, h100, 2, true).stl_seconds);
}

TEST(SpeedModel, KnownAndScaledGpus) {
  const GpuSpec h200 = gpu_spec("NVIDIA H200", 132, 1.98e9);
  EXPECT_FALSE(h200.guessed);
  EXPECT_DOUBLE_EQ(h200.matmul_flops, GpuSpec{}.matmul_flops);
  const GpuSpec h100 = gpu_spec("NVIDIA H100 80GB HBM3", 132);
  EXPECT_FALSE(h100.guessed);
  EXPECT_LT(h100.bandwidth, h200.bandwidth);
  const GpuSpec other = gpu_spec("NVIDIA L4", 58, 2.04e9);
  EXPECT_TRUE(other.guessed);
  EXPECT_NEAR(other.matmul_flops, h200.matmul_flops * 58 / 132 * 2.04 / 1.98, 1e3);
  EXPECT_NE(other.name.find("scaled"), std::string::npos);
  EXPECT_THROW(gpu_spec("NVIDIA H200", 0), std::invalid_argument);
}

TEST(SpeedModel, RejectsAnUnusableGpuDescription) {
  GpuSpec broken;
  broken.bandwidth = 0;
  EXPECT_THROW(predict_speed({16, 16, 16}, {4, 4, 4}, 24, broken), std::invalid_argument);
  EXPECT_THROW(predict_speed({16, 16, 16}, {4, 4, 4}, 24, GpuSpec{}, 0), std::invalid_argument);
}

}  // namespace
}  // namespace strassentile
