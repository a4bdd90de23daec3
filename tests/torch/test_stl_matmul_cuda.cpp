// strassentile::stl_matmul on CUDA tensors (the kernels of src/cuda, through src/torch/stl_matmul_cuda.cpp)
// against the same op on the CPU in float64: the output and all five gradients, over shapes (ragged M/K/N,
// batch × seq with seq not a multiple of a, 1-D to 4-D x), tile formats and dtypes; plus mixed dtypes, the
// needs mask, non-contiguous inputs, the float64 fallback, an exact algorithm and mode causal.
//
// Both sides see the same inputs: random float64 values are rounded to the tested dtype first. Error measure:
// max|got − ref| / max|ref|. Rounding to the storage dtype dominates (the kernels round X̂, Z, dZ and dX̂ to it
// and accumulate in fp32): bf16 keeps 8 bits, fp16 11, hence the table.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "strassentile/algorithm.hpp"
#include "strassentile/torch/ops.hpp"

namespace {

using torch::ScalarType;

// Max error / max |ref| allowed per dtype: about 3x the worst measured over this file's cases on an H200
// (bf16 6.1e-3, f16 8.1e-4, f32 7e-7; printed by the "[ worst ]" lines at the end), so that a real regression fails.
double tolerance(ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return 2e-6;
    case torch::kHalf:
      return 2.5e-3;
    case torch::kBFloat16:
      return 1.8e-2;
    default:
      return 1e-10;
  }
}

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA GPU; run on the device"

struct Case {
  std::vector<int64_t> x_shape;  // (..., K)
  int64_t out;                   // N
  std::array<int64_t, 3> tile;
  int64_t rank;
};

std::string name(const Case& c) {
  std::string s = "x(";
  for (std::size_t i = 0; i < c.x_shape.size(); ++i) s += (i ? "," : "") + std::to_string(c.x_shape[i]);
  return s + ") N=" + std::to_string(c.out) + " <" + std::to_string(c.tile[0]) + "," + std::to_string(c.tile[1]) + "," +
         std::to_string(c.tile[2]) + ">:" + std::to_string(c.rank);
}

struct Inputs {
  torch::Tensor x, w_hat, enc_x, dec, bias, grad_y;  // float64, CPU
};

Inputs make_inputs(const Case& c) {
  const auto [a, b, cc] = c.tile;
  const int64_t K = c.x_shape.back(), k = (K + b - 1) / b, n = (c.out + cc - 1) / cc;
  std::vector<int64_t> y_shape = c.x_shape;
  y_shape.back() = c.out;
  const auto f64 = torch::kDouble;
  // Scaled so that X̂, Z and Y stay O(1): no fp16 overflow, errors comparable across formats.
  return {torch::randn(c.x_shape, f64),
          torch::randn({c.rank, k, n}, f64) / std::sqrt(static_cast<double>(k)),
          torch::randn({c.rank, a * b}, f64) / std::sqrt(static_cast<double>(a * b)),
          torch::randn({a * cc, c.rank}, f64) / std::sqrt(static_cast<double>(c.rank)),
          torch::randn({c.out}, f64),
          torch::randn(y_shape, f64)};
}

// x and grad_y in x_dtype, the parameters in param_dtype, values rounded to those dtypes (kept as float64).
Inputs rounded(const Inputs& in, ScalarType x_dtype, ScalarType param_dtype) {
  const auto q = [](const torch::Tensor& t, ScalarType dt) { return t.to(dt).to(torch::kDouble); };
  return {q(in.x, x_dtype),         q(in.w_hat, param_dtype), q(in.enc_x, param_dtype),
          q(in.dec, param_dtype),   q(in.bias, param_dtype),  q(in.grad_y, x_dtype)};
}

struct Outputs {
  torch::Tensor y, gx, gw, ge, gd, gb;
};

// y = stl_matmul(...) and the gradients of <grad_y, y> for the inputs marked in `wants`.
Outputs run(const Inputs& in, const Case& c, torch::Device dev, ScalarType x_dtype, ScalarType param_dtype,
            std::array<bool, 5> wants = {true, true, true, true, true}) {
  const auto leaf = [&](const torch::Tensor& t, ScalarType dt, bool grad) {
    return t.to(dev, dt).detach().requires_grad_(grad);
  };
  const torch::Tensor x = leaf(in.x, x_dtype, wants[0]), w = leaf(in.w_hat, param_dtype, wants[1]);
  const torch::Tensor e = leaf(in.enc_x, param_dtype, wants[2]), d = leaf(in.dec, param_dtype, wants[3]);
  const torch::Tensor b = leaf(in.bias, param_dtype, wants[4]);
  const std::vector<int64_t> tile(c.tile.begin(), c.tile.end());
  torch::Tensor y = strassentile::ops::stl_matmul(x, w, e, d, tile, b, "tile", c.out);
  y.backward(in.grad_y.to(dev, x_dtype));
  return {y.detach(), x.grad(), w.grad(), e.grad(), d.grad(), b.grad()};
}

double rel_error(const torch::Tensor& got, const torch::Tensor& ref) {
  const double scale = ref.abs().max().item<double>();
  return (got.to(torch::kCPU, torch::kDouble) - ref).abs().max().item<double>() / std::max(scale, 1e-300);
}

// Worst error / tolerance seen per dtype, printed at the end (the report quotes it).
std::map<std::string, double>& worst() {
  static std::map<std::string, double> w;
  return w;
}

void expect_close(const char* what, const torch::Tensor& got, const torch::Tensor& ref, ScalarType want_dtype,
                  double tol, const std::string& key) {
  ASSERT_TRUE(got.defined()) << what << " gradient missing";
  EXPECT_EQ(got.scalar_type(), want_dtype) << what;
  ASSERT_EQ(got.sizes(), ref.sizes()) << what;
  const double err = rel_error(got, ref);
  EXPECT_LE(err, tol) << what << ": max error / max |ref| = " << err;
  double& w = worst()[key];
  w = std::max(w, err / tol);
}

void check_case(const Case& c, ScalarType x_dtype, ScalarType param_dtype) {
  SCOPED_TRACE(name(c) + " x:" + std::string(c10::toString(x_dtype)) + " params:" + c10::toString(param_dtype));
  const Inputs base = make_inputs(c);
  const Inputs in = rounded(base, x_dtype, param_dtype);
  const Outputs ref = run(in, c, torch::kCPU, torch::kDouble, torch::kDouble);
  const Outputs got = run(in, c, torch::kCUDA, x_dtype, param_dtype);
  const double tol = tolerance(x_dtype);
  const std::string key = std::string(c10::toString(x_dtype)) +
                          (param_dtype == x_dtype ? "" : std::string(" / params ") + c10::toString(param_dtype));
  expect_close("y", got.y, ref.y, x_dtype, tol, key);
  expect_close("x", got.gx, ref.gx, x_dtype, tol, key);
  expect_close("w_hat", got.gw, ref.gw, param_dtype, tol, key);
  expect_close("enc_x", got.ge, ref.ge, param_dtype, tol, key);
  expect_close("dec", got.gd, ref.gd, param_dtype, tol, key);
  expect_close("bias", got.gb, ref.gb, param_dtype, tol, key);
}

const std::vector<std::array<int64_t, 4>>& formats() {  // a, b, c, rank
  static const std::vector<std::array<int64_t, 4>> f = {{2, 2, 2, 7},   {3, 3, 3, 23}, {4, 4, 4, 24},
                                                        {2, 4, 4, 16},  {1, 4, 4, 12}, {2, 3, 4, 13}};
  return f;
}

std::vector<Case> cases() {
  // (x shape, N): 2-D ragged M/K/N; batch × seq (seq 13: a multiple of no a > 1); 1-D; 4-D (batch 4, seq 7);
  // aligned sizes (vector and staged-decode paths, longer reductions).
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> shapes = {
      {{37, 30}, 22}, {{3, 13, 67}, 45}, {{35}, 18}, {{2, 2, 7, 40}, 33}, {{4, 64, 256}, 192}};
  std::vector<Case> out;
  for (const auto& f : formats())
    for (const auto& [shape, n] : shapes) out.push_back({shape, n, {f[0], f[1], f[2]}, f[3]});
  out.push_back({{2, 256, 1024}, 768, {4, 4, 4}, 24});  // closer to a layer: reductions over 32k tile positions
  return out;
}

class StlMatmulCuda : public ::testing::TestWithParam<ScalarType> {};

TEST_P(StlMatmulCuda, ForwardAndAllGradientsMatchTheCpuOp) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  for (const Case& c : cases()) check_case(c, GetParam(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, StlMatmulCuda, ::testing::Values(torch::kFloat, torch::kHalf, torch::kBFloat16),
                         [](const ::testing::TestParamInfo<ScalarType>& p) {
                           return std::string(c10::toString(p.param));
                         });

// Autocast-style: 16-bit activations with fp32 parameters. Gradients come back in the parameters' dtype.
TEST(StlMatmulCudaMixed, HalfPrecisionActivationsWithFloatParameters) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(1);
  for (const ScalarType x_dtype : {torch::kBFloat16, torch::kHalf}) {
    check_case({{3, 13, 67}, 45, {4, 4, 4}, 24}, x_dtype, torch::kFloat);
    check_case({{4, 64, 256}, 192, {2, 3, 4}, 13}, x_dtype, torch::kFloat);
  }
}

// Only the gradients asked for are computed (the op's needs mask), and each equals the full computation's.
TEST(StlMatmulCudaNeeds, EachGradientAlone) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(2);
  const Case c{{3, 13, 67}, 45, {4, 4, 4}, 24};
  const Inputs in = rounded(make_inputs(c), torch::kFloat, torch::kFloat);
  const Outputs ref = run(in, c, torch::kCPU, torch::kDouble, torch::kDouble);
  const std::array<torch::Tensor, 5> ref_grads = {ref.gx, ref.gw, ref.ge, ref.gd, ref.gb};
  for (int i = 0; i < 5; ++i) {
    std::array<bool, 5> wants{};
    wants[static_cast<std::size_t>(i)] = true;
    const Outputs got = run(in, c, torch::kCUDA, torch::kFloat, torch::kFloat, wants);
    const std::array<torch::Tensor, 5> grads = {got.gx, got.gw, got.ge, got.gd, got.gb};
    for (int j = 0; j < 5; ++j) {
      if (j == i) {
        expect_close("the one gradient", grads[static_cast<std::size_t>(j)], ref_grads[static_cast<std::size_t>(j)],
                     torch::kFloat, tolerance(torch::kFloat), "float (needs mask)");
      } else {
        EXPECT_FALSE(grads[static_cast<std::size_t>(j)].defined()) << "gradient " << j << " with only " << i << " wanted";
      }
    }
  }
}

// Transposed views for x, w_hat and enc_x go through .contiguous() in the op.
TEST(StlMatmulCudaLayout, NonContiguousInputs) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(3);
  const int64_t M = 45, K = 30, N = 22, r = 24;
  const auto f64 = torch::kDouble;
  const torch::Tensor x = torch::randn({K, M}, f64).t();
  const torch::Tensor w_hat = torch::randn({r, 6, 8}, f64).transpose(1, 2) / 3.0;  // (r, k=8, n=6)
  const torch::Tensor enc = torch::randn({16, r}, f64).t() / 4.0, dec = torch::randn({16, r}, f64) / 5.0;
  ASSERT_FALSE(x.is_contiguous());
  const torch::Tensor ref = strassentile::ops::stl_matmul(x, w_hat, enc, dec, {4}, std::nullopt, "tile", N);
  const auto cuda32 = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kFloat);
  const torch::Tensor got = strassentile::ops::stl_matmul(x.to(cuda32), w_hat.to(cuda32), enc.to(cuda32), dec.to(cuda32),
                                                          {4}, std::nullopt, "tile", N);
  EXPECT_LE(rel_error(got, ref), tolerance(torch::kFloat));
  const torch::Tensor g = torch::randn({N, M}, f64).t();  // a non-contiguous upstream gradient
  const torch::Tensor xc = x.to(cuda32).detach().requires_grad_(true);
  strassentile::ops::stl_matmul(xc, w_hat.to(cuda32), enc.to(cuda32), dec.to(cuda32), {4}, std::nullopt, "tile", N)
      .backward(g.to(cuda32));
  const torch::Tensor xr = x.detach().requires_grad_(true);
  strassentile::ops::stl_matmul(xr, w_hat, enc, dec, {4}, std::nullopt, "tile", N).backward(g);
  EXPECT_LE(rel_error(xc.grad(), xr.grad()), tolerance(torch::kFloat));
}

// float64 on CUDA keeps the ATen composition: same result as the CPU to rounding.
TEST(StlMatmulCudaFallback, Float64UsesTheAtenPath) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(4);
  const Case c{{3, 13, 67}, 45, {2, 3, 4}, 13};
  const Inputs in = make_inputs(c);
  const Outputs ref = run(in, c, torch::kCPU, torch::kDouble, torch::kDouble);
  const Outputs got = run(in, c, torch::kCUDA, torch::kDouble, torch::kDouble);
  EXPECT_LE(rel_error(got.y, ref.y), 1e-10);
  EXPECT_LE(rel_error(got.gx, ref.gx), 1e-10);
  EXPECT_LE(rel_error(got.gd, ref.gd), 1e-10);
}

// Strassen² (<4,4,4>, rank 49, exact): the CUDA op reproduces X·W in bf16.
TEST(StlMatmulCudaExact, Strassen2ReproducesTheProduct) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(5);
  const strassentile::Algorithm alg = strassentile::get("strassen2");
  const auto to_tensor = [](const strassentile::Matrix<double>& m) {
    return torch::from_blob(const_cast<double*>(m.data()),
                            {static_cast<int64_t>(m.rows()), static_cast<int64_t>(m.cols())}, torch::kDouble)
        .clone();
  };
  const auto bf16 = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  const torch::Tensor x = torch::randn({2, 50, 96}, torch::kDouble), w = torch::randn({96, 80}, torch::kDouble);
  const torch::Tensor w_hat = strassentile::ops::encode_weight(w.to(bf16), to_tensor(alg.enc_w).to(bf16), {4});
  const torch::Tensor y = strassentile::ops::stl_matmul(x.to(bf16), w_hat, to_tensor(alg.enc_x).to(bf16),
                                                        to_tensor(alg.dec).to(bf16), {4}, std::nullopt, "tile", 80);
  EXPECT_LE(rel_error(y, torch::matmul(x, w)), 3e-2);
}

// Mode causal: the kernels see the masked basis. Dense enc_x/dec (masked entries nonzero) and explicit levels;
// the CUDA op against the CPU op in float64, and the gradients of masked coefficients exactly zero.
TEST(StlMatmulCudaCausal, MatchesTheCpuOpAndMasksTheGradients) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(6);
  const std::vector<int64_t> tile = {4, 4, 4}, levels = {3, 0, 1, 2, 0, 0, 1, 3, 2, 2, 1, 0, 3, 3, 1, 0, 2, 1, 0, 3, 2, 1, 0, 1};
  const int64_t r = 24, N = 45;
  const auto f64 = torch::kDouble;
  const torch::Tensor x = torch::randn({3, 13, 67}, f64), w = torch::randn({r, 17, 12}, f64) / 4;
  const torch::Tensor e = torch::randn({r, 16}, f64) / 4, d = torch::randn({16, r}, f64) / 5, gy = torch::randn({3, 13, N}, f64);
  const auto run_on = [&](torch::Device dev, ScalarType dt) {
    std::vector<torch::Tensor> leaves;
    for (const torch::Tensor& t : {x, w, e, d}) leaves.push_back(t.to(torch::kFloat).to(dev, dt).detach().requires_grad_(true));
    torch::Tensor y = strassentile::ops::stl_matmul(leaves[0], leaves[1], leaves[2], leaves[3], tile, std::nullopt, "causal", N,
                                                    levels);
    y.backward(gy.to(dev, dt));
    return std::vector<torch::Tensor>{y.detach(), leaves[0].grad(), leaves[1].grad(), leaves[2].grad(), leaves[3].grad()};
  };
  const std::vector<torch::Tensor> ref = run_on(torch::kCPU, torch::kDouble), got = run_on(torch::kCUDA, torch::kFloat);
  const char* names[] = {"y", "x", "w_hat", "enc_x", "dec"};
  for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_LE(rel_error(got[i], ref[i]), tolerance(torch::kFloat)) << names[i];
  torch::Tensor ex_masked = torch::zeros({r, 16}, f64), dec_masked = torch::zeros({16, r}, f64);
  for (int64_t p = 0; p < r; ++p)
    for (int64_t q = 0; q < 16; ++q) {
      ex_masked[p][q] = q / 4 > levels[p] ? 1.0 : 0.0;
      dec_masked[q][p] = q / 4 < levels[p] ? 1.0 : 0.0;
    }
  EXPECT_EQ((got[3].to(torch::kCPU, f64) * ex_masked).abs().max().item<double>(), 0.0) << "masked enc_x got gradient";
  EXPECT_EQ((got[4].to(torch::kCPU, f64) * dec_masked).abs().max().item<double>(), 0.0) << "masked dec got gradient";
  EXPECT_GT((ref[1].reshape({3, 13, 67}).select(1, 0)).abs().max().item<double>(), 0.0);
}

// Printed last: the worst error seen per dtype, as a fraction of its tolerance.
class WorstErrorReport : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& [key, ratio] : worst()) std::printf("[ worst    ] %s: %.3f of tolerance\n", key.c_str(), ratio);
  }
};
[[maybe_unused]] const auto* const kReport = ::testing::AddGlobalTestEnvironment(new WorstErrorReport);

}  // namespace

// A process-wide switch of the CUDA op set from C++ (`set` returns the previous setting, off before): with it on,
// the output equals the plain one bit for bit (dX too where same_dx) and every gradient matches the float64 CPU op
// within bf16's tolerance; the switch is restored after.
static void expect_switch_keeps_results(bool (*set)(bool), const std::vector<Case>& cases, bool same_dx,
                                        const std::string& key) {
  for (const Case& c : cases) {
    const Inputs in = rounded(make_inputs(c), torch::kBFloat16, torch::kFloat);
    const Outputs ref = run(in, c, torch::kCPU, torch::kDouble, torch::kDouble);
    const Outputs plain = run(in, c, torch::kCUDA, torch::kBFloat16, torch::kFloat);
    const bool previous = set(true);
    const Outputs on = run(in, c, torch::kCUDA, torch::kBFloat16, torch::kFloat);
    EXPECT_TRUE(set(previous));
    EXPECT_FALSE(previous);
    EXPECT_TRUE(torch::equal(plain.y, on.y)) << name(c);
    if (same_dx) {
      EXPECT_TRUE(torch::equal(plain.gx, on.gx)) << name(c);
    }
    const double tol = tolerance(torch::kBFloat16);
    expect_close("y", on.y, ref.y, torch::kBFloat16, tol, key);
    expect_close("dx", on.gx, ref.gx, torch::kBFloat16, tol, key);
    expect_close("dw_hat", on.gw, ref.gw, torch::kFloat, tol, key);
    expect_close("d_enc_x", on.ge, ref.ge, torch::kFloat, tol, key);
    expect_close("d_dec", on.gd, ref.gd, torch::kFloat, tol, key);
    expect_close("d_bias", on.gb, ref.gb, torch::kFloat, tol, key);
  }
}

// set_keep_for_backward(true) from C++: the CUDA forward keeps X̂ and Z and the backward uses them; dX never reads
// them, so it equals the recomputing path's bit for bit.
TEST(StlMatmulCudaKeep, KeptForwardGivesTheSameGradients) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(5);
  expect_switch_keeps_results(&strassentile::ops::set_keep_for_backward,
                              {Case{{4, 64, 256}, 192, {4, 4, 4}, 24}, Case{{37, 30}, 22, {4, 4, 4}, 24}}, true,
                              "BFloat16 params Float, X^/Z kept");
}

// set_keep_z_for_backward(true) from C++: the CUDA forward writes Z to a tensor of its own and keeps only that; the
// backward encodes X again and skips Z's product.
TEST(StlMatmulCudaKeep, KeptZGivesTheSameGradients) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(7);
  expect_switch_keeps_results(&strassentile::ops::set_keep_z_for_backward,
                              {Case{{4, 64, 256}, 192, {4, 4, 4}, 24}, Case{{37, 30}, 22, {4, 4, 4}, 24}}, true,
                              "BFloat16 params Float, Z kept");
}

// set_lean_backward(true) from C++: the CUDA backward runs its rows in blocks (three or more here).
TEST(StlMatmulCudaLean, RowBlockedBackwardGivesTheSameGradients) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(6);
  expect_switch_keeps_results(&strassentile::ops::set_lean_backward,
                              {Case{{4, 64, 256}, 192, {4, 4, 4}, 24}, Case{{203, 96}, 72, {2, 2, 2}, 7}}, false,
                              "BFloat16 params Float, lean backward");
}
