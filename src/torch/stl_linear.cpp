#include "strassentile/torch/stl_linear.hpp"

#include <cmath>

#include "stl_args.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/torch/ops.hpp"

namespace strassentile {
namespace {

torch::Tensor to_tensor(const Matrix<double>& m) {
  return torch::from_blob(const_cast<double*>(m.data()),
                          {static_cast<int64_t>(m.rows()), static_cast<int64_t>(m.cols())}, torch::kDouble)
      .clone();
}

int64_t ceil_div64(int64_t x, int64_t y) { return (x + y - 1) / y; }

}  // namespace

STLLinearImpl::STLLinearImpl(STLLinearOptions options_) : options(std::move(options_)) { reset(); }

TileFormat STLLinearImpl::tile() const { return torch_ops::parse_tile(options.tile()); }

void STLLinearImpl::reset() {
  const TileFormat t = tile();
  const int64_t K = options.in_features(), N = options.out_features(), r = options.rank();
  TORCH_CHECK(K >= 1 && N >= 1, "STLLinear: in_features and out_features must be >= 1, got ", K, " and ", N);
  TORCH_CHECK(r >= 1, "STLLinear: rank must be >= 1, got ", r);
  torch_ops::parse_mode(options.mode());
  const auto a = static_cast<int64_t>(t.a), b = static_cast<int64_t>(t.b), c = static_cast<int64_t>(t.c);
  const int64_t k = ceil_div64(K, b), n = ceil_div64(N, c);
  // nn::Linear's default: U(-1/√K, 1/√K) for weight and bias, i.e. output variance 1/3 for unit inputs.
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));

  torch::NoGradGuard no_grad;
  torch::Tensor ex, ew, d, wh;
  if (options.init() == "random") {
    ex = torch::randn({r, a * b}) / std::sqrt(static_cast<double>(a * b));
    ew = torch::randn({r, b * c}) / std::sqrt(static_cast<double>(b * c));
    d = torch::randn({a * c, r}) / std::sqrt(static_cast<double>(r));
    // Var(y_q) = σ²·k·Σ_p dec[q,p]²·‖enc_x[p]‖² for unit-variance inputs and i.i.d. w_hat of variance σ²;
    // pick σ² so that the mean over q is nn::Linear's 1/3.
    const double gain = (d.pow(2) * ex.pow(2).sum(1).unsqueeze(0)).sum(1).mean().item<double>();
    const double sigma = std::sqrt((1.0 / 3.0) / (static_cast<double>(k) * gain));
    wh = torch::empty({r, k, n}).uniform_(-std::sqrt(3.0) * sigma, std::sqrt(3.0) * sigma);
  } else {
    Algorithm alg;
    try {
      alg = get(options.init());
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "STLLinear: init='", options.init(), "': ", e.what());
    }
    TORCH_CHECK(alg.tile == t, "STLLinear: init='", options.init(), "' is a ", alg.tile.to_string(),
                " algorithm but tile is ", t.to_string(), ": pass tile=", alg.tile.to_string());
    TORCH_CHECK(static_cast<int64_t>(alg.rank()) == r, "STLLinear: init='", options.init(), "' has rank ", alg.rank(),
                " but rank=", r, " was asked: use rank=", alg.rank(), " or init='random'");
    ex = to_tensor(alg.enc_x).to(torch::kFloat);
    ew = to_tensor(alg.enc_w).to(torch::kFloat);
    d = to_tensor(alg.dec).to(torch::kFloat);
    // An exact STL copy of a default-initialised dense layer.
    const torch::Tensor dense = torch::empty({K, N}).uniform_(-bound, bound);
    wh = ops::encode_weight(dense, ew, options.tile());
  }
  w_hat = register_parameter("w_hat", wh);
  enc_x = register_parameter("enc_x", ex, options.train_basis());
  dec = register_parameter("dec", d, options.train_basis());
  enc_w = register_buffer("enc_w", ew);
  if (options.bias()) {
    bias = register_parameter("bias", torch::empty({N}).uniform_(-bound, bound));
  } else {
    bias = register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  }
}

torch::Tensor STLLinearImpl::forward(const torch::Tensor& x) {
  return ops::stl_matmul(x, w_hat, enc_x, dec, options.tile(),
                         bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt, options.mode(),
                         options.out_features());
}

void STLLinearImpl::load(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  const auto restore = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
    if (!target.defined()) return;
    torch::Tensor loaded;
    archive.read(name, loaded, is_buffer);
    TORCH_CHECK(loaded.sizes() == target.sizes(), "STLLinear: checkpoint has ", name, " of shape ", loaded.sizes(),
                " but this layer (", options.in_features(), "->", options.out_features(), ", tile ", tile().to_string(),
                ", rank ", options.rank(), ") needs ", target.sizes(), ": build the layer with the checkpoint's options");
    target.copy_(loaded);
  };
  restore("w_hat", w_hat, false);
  restore("enc_x", enc_x, false);
  restore("dec", dec, false);
  restore("bias", bias, false);
  restore("enc_w", enc_w, true);
}

void STLLinearImpl::set_train_basis(bool train) {
  options.train_basis(train);
  enc_x.set_requires_grad(train);
  dec.set_requires_grad(train);
}

StlCost STLLinearImpl::cost(int64_t tokens) const {
  TORCH_CHECK(tokens >= 1, "STLLinear::cost: tokens must be >= 1");
  return stl_cost({static_cast<std::size_t>(tokens), static_cast<std::size_t>(options.in_features()),
                   static_cast<std::size_t>(options.out_features())},
                  tile(), static_cast<std::size_t>(options.rank()));
}

void STLLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "strassentile::STLLinear(in_features=" << options.in_features() << ", out_features=" << options.out_features()
         << ", bias=" << (options.bias() ? "true" : "false") << ", tile=" << tile().to_string() << ", rank=" << options.rank()
         << ", init=" << options.init() << ", mode=" << options.mode() << ")";
}

STLLinear stl_from_linear(const torch::nn::Linear& linear, const std::string& algorithm, const std::string& mode) {
  const Algorithm alg = get(algorithm);
  TORCH_CHECK(alg.verify() <= 1e-9, "stl_from_linear: algorithm '", algorithm,
              "' is not exact, so the converted layer would not reproduce the linear layer");
  const auto& lo = linear->options;
  STLLinearOptions o(lo.in_features(), lo.out_features());
  o.bias(lo.bias())
      .tile({static_cast<int64_t>(alg.tile.a), static_cast<int64_t>(alg.tile.b), static_cast<int64_t>(alg.tile.c)})
      .rank(static_cast<int64_t>(alg.rank()))
      .init(algorithm)
      .mode(mode);
  STLLinear stl(o);
  torch::NoGradGuard no_grad;
  const torch::Tensor weight = linear->weight.detach();
  stl->to(weight.device(), weight.scalar_type());
  // Coefficients straight from double, so rational ones lose nothing beyond the weight's own dtype.
  stl->enc_x.copy_(to_tensor(alg.enc_x));
  stl->enc_w.copy_(to_tensor(alg.enc_w));
  stl->dec.copy_(to_tensor(alg.dec));
  stl->w_hat.copy_(ops::encode_weight(weight.t(), stl->enc_w, o.tile()));
  if (lo.bias()) stl->bias.copy_(linear->bias.detach());
  return stl;
}

}  // namespace strassentile
