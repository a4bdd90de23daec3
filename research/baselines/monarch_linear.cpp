#include "baselines/monarch_linear.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace strassentile {

namespace {

void check_monarch_shape(const char* where, int64_t in, int64_t out, int64_t blocks) {
  const std::string sizes = "in_features=" + std::to_string(in) + ", out_features=" + std::to_string(out) +
                            ", blocks=" + std::to_string(blocks);
  if (in < 1 || out < 1)
    throw std::invalid_argument(std::string(where) + ": in_features and out_features must be >= 1, got " + sizes);
  if (blocks < 1) throw std::invalid_argument(std::string(where) + ": blocks must be >= 1, got " + sizes);
  if (in % blocks != 0 || out % blocks != 0)
    throw std::invalid_argument(std::string(where) + ": blocks must divide in_features and out_features, got " + sizes +
                                "; choose blocks among the divisors of " + std::to_string(std::gcd(in, out)) +
                                " (or use monarch:match_rank=R, which picks one)");
}

}  // namespace

int64_t monarch_mid_features(int64_t in_features, int64_t out_features) { return std::min(in_features, out_features); }

double monarch_params(int64_t in_features, int64_t out_features, int64_t blocks) {
  check_monarch_shape("monarch_params", in_features, out_features, blocks);
  const auto mid = static_cast<double>(monarch_mid_features(in_features, out_features));
  return mid * static_cast<double>(in_features + out_features) / static_cast<double>(blocks);
}

double monarch_flops_per_row(int64_t in_features, int64_t out_features, int64_t blocks) {
  return 2.0 * monarch_params(in_features, out_features, blocks);
}

int64_t monarch_matching_flops(int64_t in_features, int64_t out_features, double flops_per_row) {
  if (in_features < 1 || out_features < 1)
    throw std::invalid_argument("monarch_matching_flops: in_features and out_features must be >= 1, got " +
                                std::to_string(in_features) + " and " + std::to_string(out_features));
  if (!(flops_per_row > 0) || !std::isfinite(flops_per_row))
    throw std::invalid_argument("monarch_matching_flops: flops_per_row must be a finite number > 0");
  const int64_t g = std::gcd(in_features, out_features);
  int64_t best = 1;
  double best_gap = std::numeric_limits<double>::infinity();
  for (int64_t b = 1; b <= g; ++b) {  // ascending, and only a strictly smaller gap wins: ties keep fewer blocks
    if (g % b != 0) continue;
    const double gap = std::abs(monarch_flops_per_row(in_features, out_features, b) - flops_per_row);
    if (gap < best_gap) {
      best = b;
      best_gap = gap;
    }
  }
  return best;
}

MonarchLinearImpl::MonarchLinearImpl(MonarchLinearOptions options_) : options(std::move(options_)) { reset(); }

void MonarchLinearImpl::reset() {
  const int64_t K = options.in_features(), N = options.out_features(), B = options.blocks();
  check_monarch_shape("MonarchLinear", K, N, B);
  const int64_t in_block = K / B, mid_block = monarch_mid_features(K, N) / B, out_block = N / B;
  // Each output sums mid_block hidden features, each hidden feature in_block inputs. B1 ~ U(±1/√in_block), like
  // nn::Linear(in_block, mid_block), gives hidden variance 1/3 for unit-variance inputs; B2 ~ U(±√(3/mid_block))
  // has variance 1/mid_block, so Var(y) = mid_block · (1/mid_block) · (1/3) = 1/3, nn::Linear's default.
  const double first_bound = 1.0 / std::sqrt(static_cast<double>(in_block));
  const double second_bound = std::sqrt(3.0 / static_cast<double>(mid_block));
  first = register_parameter("first", torch::empty({B, mid_block, in_block}).uniform_(-first_bound, first_bound));
  second = register_parameter("second", torch::empty({B, out_block, mid_block}).uniform_(-second_bound, second_bound));
  const double bias_bound = 1.0 / std::sqrt(static_cast<double>(K));  // nn::Linear's bias
  bias = options.bias() ? register_parameter("bias", torch::empty({N}).uniform_(-bias_bound, bias_bound))
                        : register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
}

torch::Tensor MonarchLinearImpl::forward(const torch::Tensor& x) {
  const int64_t K = options.in_features(), N = options.out_features(), B = options.blocks();
  if (x.dim() < 1 || x.size(-1) != K)
    throw std::invalid_argument("MonarchLinear: x's last dimension must be in_features=" + std::to_string(K) +
                                ", got " + std::to_string(x.dim() < 1 ? 0 : x.size(-1)));
  const int64_t mid_block = second.size(2);
  const int64_t rows = x.numel() / K;
  // B1: block k maps input features k·(in/B) .. of each row to hidden block k.
  torch::Tensor hidden = torch::einsum("bkp,kqp->bkq", {x.reshape({rows, B, K / B}), first});
  // P1: the (B, mid/B) hidden features of a row read as (mid/B, B) and transposed: block l takes l, l + B, ...
  hidden = hidden.reshape({rows, mid_block, B}).transpose(1, 2);
  // B2, then P2: output feature s·B + l is row s of block l.
  const torch::Tensor y = torch::einsum("blr,lsr->bsl", {hidden, second}).reshape({rows, N});
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  return (bias.defined() ? y + bias : y).reshape(shape);
}

void MonarchLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "strassentile::MonarchLinear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features() << ", blocks=" << options.blocks() << ")";
}

}  // namespace strassentile
