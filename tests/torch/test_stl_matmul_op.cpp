// strassentile::stl_matmul through libtorch: equality with the torch-free core reference, finite-difference
// gradients, dtype coverage and argument errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "strassentile/algorithm.hpp"
#include "strassentile/reference.hpp"
#include "strassentile/torch/ops.hpp"

namespace strassentile {
namespace {

torch::Tensor to_tensor(const Matrix<double>& m) {
  return torch::from_blob(const_cast<double*>(m.data()), {static_cast<int64_t>(m.rows()), static_cast<int64_t>(m.cols())},
                          torch::kDouble)
      .clone();
}
Matrix<double> to_matrix(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  return Matrix<double>(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)),
                        std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel()));
}
Tensor3<double> to_tensor3(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  Tensor3<double> out(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)),
                      static_cast<std::size_t>(c.size(2)));
  std::copy(c.data_ptr<double>(), c.data_ptr<double>() + c.numel(), out.data());
  return out;
}

struct Case {
  TileFormat tile;
  int64_t rank, batch, seq, in, out;
};

// The op on x (B, S, K) equals the core reference applied per sequence (seq_len = S).
TEST(StlMatmulOp, MatchesCoreReferenceOverShapesAndFormats) {
  torch::manual_seed(0);
  const std::vector<Case> cases = {{{2, 2, 2}, 7, 3, 5, 9, 7},  {{4, 4, 4}, 24, 2, 13, 67, 13}, {{3, 3, 3}, 23, 1, 9, 9, 9},
                                   {{1, 4, 4}, 12, 2, 3, 16, 10}, {{2, 4, 4}, 40, 2, 6, 13, 8},  {{4, 2, 3}, 5, 1, 4, 5, 7}};
  for (const Case& c : cases) {
    const int64_t a = static_cast<int64_t>(c.tile.a), b = static_cast<int64_t>(c.tile.b), cc = static_cast<int64_t>(c.tile.c);
    const int64_t k = (c.in + b - 1) / b, n = (c.out + cc - 1) / cc;
    const auto opts = torch::TensorOptions().dtype(torch::kDouble);
    const torch::Tensor x = torch::randn({c.batch, c.seq, c.in}, opts), w_hat = torch::randn({c.rank, k, n}, opts);
    const torch::Tensor enc_x = torch::randn({c.rank, a * b}, opts), dec = torch::randn({a * cc, c.rank}, opts);
    const torch::Tensor bias = torch::randn({c.out}, opts);
    const std::vector<int64_t> tile = {a, b, cc};
    const torch::Tensor y = ops::stl_matmul(x, w_hat, enc_x, dec, tile, bias);
    ASSERT_EQ(y.sizes(), torch::IntArrayRef({c.batch, c.seq, c.out}));

    const Matrix<double> xm = to_matrix(x.reshape({c.batch * c.seq, c.in}));
    Matrix<double> ref = stl_reference<double>(xm, to_tensor3(w_hat), to_matrix(enc_x), to_matrix(dec), c.tile,
                                               static_cast<std::size_t>(c.out), static_cast<std::size_t>(c.seq));
    const torch::Tensor expected = to_tensor(ref).reshape({c.batch, c.seq, c.out}) + bias;
    EXPECT_TRUE(torch::allclose(y, expected, 1e-12, 1e-11)) << c.tile.to_string() << " max diff "
                                                           << (y - expected).abs().max().item<double>();
  }
}

TEST(StlMatmulOp, ExactAlgorithmReproducesTheLinearLayerInEveryDtype) {
  torch::manual_seed(1);
  const Algorithm alg = get("strassen2");
  const torch::Tensor ex = to_tensor(alg.enc_x), ew = to_tensor(alg.enc_w), d = to_tensor(alg.dec);
  const torch::Tensor x = torch::randn({2, 10, 30}, torch::kDouble), w = torch::randn({30, 22}, torch::kDouble);
  const torch::Tensor expected = torch::matmul(x, w);
  // Per-dtype relative tolerance (max-abs error / max-abs value) against the float64 product.
  const std::vector<std::pair<torch::ScalarType, double>> table = {
      {torch::kDouble, 1e-12}, {torch::kFloat, 2e-6}, {torch::kBFloat16, 3e-2}, {torch::kHalf, 4e-3}};
  for (const auto& [dtype, tol] : table) {
    const torch::Tensor w_hat = ops::encode_weight(w.to(dtype), ew.to(dtype), {4});
    const torch::Tensor y = ops::stl_matmul(x.to(dtype), w_hat, ex.to(dtype), d.to(dtype), {4}, std::nullopt, "tile", 22);
    EXPECT_EQ(y.scalar_type(), dtype);
    const double rel = ((y.to(torch::kDouble) - expected).abs().max() / expected.abs().max()).item<double>();
    EXPECT_LE(rel, tol) << dtype;
  }
}

// Central finite differences of a random linear functional of the output, for each differentiable input.
TEST(StlMatmulOp, GradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const std::vector<int64_t> tile = {2, 3, 2};
  torch::Tensor x = torch::randn({2, 5, 7}, opts).requires_grad_();
  torch::Tensor w_hat = torch::randn({4, 3, 3}, opts).requires_grad_();  // K=7 → 3 tiles; N=5 → 3 tiles
  torch::Tensor enc_x = torch::randn({4, 6}, opts).requires_grad_();
  torch::Tensor dec = torch::randn({4, 4}, opts).requires_grad_();
  torch::Tensor bias = torch::randn({5}, opts).requires_grad_();
  const torch::Tensor probe = torch::randn({2, 5, 5}, opts);
  const auto loss = [&] { return (ops::stl_matmul(x, w_hat, enc_x, dec, tile, bias) * probe).sum(); };
  loss().backward();
  for (torch::Tensor* t : {&x, &w_hat, &enc_x, &dec, &bias}) {
    const torch::Tensor analytic = t->grad().clone();
    torch::Tensor numeric = torch::zeros_like(*t);
    torch::NoGradGuard no_grad;
    auto flat = t->view({-1});
    auto nflat = numeric.view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double orig = flat[i].item<double>(), h = 1e-6;
      flat[i] = orig + h;
      const double up = loss().item<double>();
      flat[i] = orig - h;
      const double down = loss().item<double>();
      flat[i] = orig;
      nflat[i] = (up - down) / (2 * h);
    }
    EXPECT_TRUE(torch::allclose(analytic, numeric, 1e-6, 1e-6)) << "max diff " << (analytic - numeric).abs().max().item<double>();
  }
}

TEST(StlMatmulOp, NoBiasDefaultsOutFeaturesToWholeTilesAndOneDimInputWorks) {
  const torch::Tensor w_hat = torch::randn({7, 2, 3}), ex = torch::randn({7, 4}), d = torch::randn({4, 7});
  EXPECT_EQ(ops::stl_matmul(torch::randn({5, 4}), w_hat, ex, d, {2}).sizes(), torch::IntArrayRef({5, 6}));
  EXPECT_EQ(ops::stl_matmul(torch::randn({5, 4}), w_hat, ex, d, {2}, std::nullopt, "tile", 5).sizes(),
            torch::IntArrayRef({5, 5}));
  EXPECT_EQ(ops::stl_matmul(torch::randn({4}), w_hat, ex, d, {2}).sizes(), torch::IntArrayRef({6}));
}

TEST(StlMatmulOp, NonFiniteValuesPropagate) {
  const Algorithm alg = get("strassen");
  torch::Tensor x = torch::randn({4, 4});
  x[0][0] = std::numeric_limits<float>::quiet_NaN();
  const torch::Tensor y = ops::stl_matmul(x, ops::encode_weight(torch::randn({4, 4}), to_tensor(alg.enc_w).to(torch::kFloat), {2}),
                                          to_tensor(alg.enc_x).to(torch::kFloat), to_tensor(alg.dec).to(torch::kFloat), {2});
  EXPECT_TRUE(y.isnan().any().item<bool>());
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(needle), std::string::npos) << e.what_without_backtrace();
  }
}

TEST(StlMatmulOp, BadArgumentsNameTheProblem) {
  const torch::Tensor x = torch::randn({4, 8}), w_hat = torch::randn({7, 4, 2}), ex = torch::randn({7, 4}), d = torch::randn({4, 7});
  expect_error([&] { ops::stl_matmul(torch::randn({4, 9}), w_hat, ex, d, {2}); }, "x has in_features K=9");
  expect_error([&] { ops::stl_matmul(x, torch::randn({6, 4, 2}), ex, d, {2}); }, "w_hat has 6 products but enc_x has rank 7");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, torch::randn({4, 6}), {2}); }, "dec must be (a*c, rank) = (4, 7)");
  expect_error([&] { ops::stl_matmul(x, w_hat, torch::randn({7, 9}), d, {2}); }, "enc_x must be (rank, a*b) = (r, 4)");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {3}); }, "enc_x must be (rank, a*b) = (r, 9)");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {2, 2}); }, "tile must have 1 entry");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {0}); }, "tile side must be >= 1");
  expect_error([&] { ops::stl_matmul(x.to(torch::kInt), w_hat, ex, d, {2}); }, "x must be float64, float32, float16 or bfloat16");
  expect_error([&] { ops::stl_matmul(x, w_hat.to(torch::kLong), ex, d, {2}); }, "w_hat must be float64");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {2}, torch::randn({5})); }, "out_features=5 needs 3 column tiles");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {2}, torch::randn({5}), "tile", 4); }, "bias has 5 entries");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {2}, std::nullopt, "sideways"); }, "mode 'sideways' is unknown");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {2}, std::nullopt, "token-local"); }, "needs tiles that never span tokens");
  expect_error([&] { ops::stl_matmul(x, w_hat, ex, d, {2}, std::nullopt, "tile", 9); }, "out_features=9 needs 5 column tiles");
  expect_error([&] { ops::stl_matmul(x.to(torch::kMeta), w_hat, ex, d, {2}); }, "w_hat is on cpu but x is on meta");
  expect_error([&] { ops::encode_weight(torch::randn({8, 4}), torch::randn({7, 3}), {2}); }, "enc_w must be (rank, b*c)");
}

TEST(StlMatmulOp, MetaTensorsGiveShapesWithoutCompute) {
  const auto meta = torch::TensorOptions().device(torch::kMeta);
  const torch::Tensor y = ops::stl_matmul(torch::empty({3, 10, 64}, meta), torch::empty({24, 16, 8}, meta),
                                          torch::empty({24, 16}, meta), torch::empty({16, 24}, meta), {4},
                                          torch::empty({30}, meta));
  EXPECT_EQ(y.sizes(), torch::IntArrayRef({3, 10, 30}));
  EXPECT_TRUE(y.is_meta());
}

// stl_mlp from C++: stl_matmul, the activation, stl_matmul, with and without gradients.
TEST(StlMlpOp, EqualsTheCompositionAndDifferentiatesLikeIt) {
  torch::manual_seed(5);
  const auto layer = [](int64_t r, int64_t fin, int64_t fout) {
    ops::StlLayerParams l;
    l.w_hat = torch::randn({r, (fin + 3) / 4, (fout + 3) / 4}, torch::kDouble).requires_grad_();
    l.enc_x = torch::randn({r, 16}, torch::kDouble).requires_grad_();
    l.dec = torch::randn({16, r}, torch::kDouble).requires_grad_();
    l.bias = torch::randn({fout}, torch::kDouble).requires_grad_();
    return l;
  };
  const ops::StlLayerParams one = layer(24, 18, 30), two = layer(16, 30, 10);
  const torch::Tensor x = torch::randn({2, 9, 18}, torch::kDouble).requires_grad_();
  const torch::Tensor y = ops::stl_mlp(x, one, two, {4}, "gelu_tanh");
  const torch::Tensor h = ops::stl_matmul(x, one.w_hat, one.enc_x, one.dec, {4}, one.bias);
  const torch::Tensor ref = ops::stl_matmul(torch::gelu(h, "tanh"), two.w_hat, two.enc_x, two.dec, {4}, two.bias);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({2, 9, 10}));
  EXPECT_TRUE(torch::equal(y, ref));
  const std::vector<torch::Tensor> leaves = {x, one.w_hat, one.enc_x, one.dec, *one.bias, two.w_hat, two.dec};
  const torch::Tensor g = torch::randn_like(y);
  const auto grads = torch::autograd::grad({y}, leaves, {g});
  const auto ref_grads = torch::autograd::grad({ref}, leaves, {g});
  for (std::size_t i = 0; i < leaves.size(); ++i) EXPECT_TRUE(torch::allclose(grads[i], ref_grads[i], 1e-12, 1e-12)) << i;
  const torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(ops::stl_mlp(x, one, two, {4}, "gelu_tanh"), ref));
  try {
    ops::stl_mlp(x, one, two, {4}, "swish");
    ADD_FAILURE() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("activation 'swish' is unknown: use 'none', 'relu' or 'gelu_tanh'"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace strassentile
