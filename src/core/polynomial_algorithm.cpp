// The DFT evaluation/interpolation algorithm of include/strassentile/polynomial.hpp.
#include <cmath>
#include <string>

#include "strassentile/polynomial.hpp"

namespace strassentile {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Exponents of the polynomial code: distinct useful exponents, cross terms elsewhere.
std::size_t x_exponent(TileFormat t, std::size_t i, std::size_t j) { return j + t.b * i; }
std::size_t w_exponent(TileFormat t, std::size_t j, std::size_t k) { return (t.b - 1 - j) + t.a * t.b * k; }
std::size_t y_exponent(TileFormat t, std::size_t i, std::size_t k) { return (t.b - 1) + t.b * i + t.a * t.b * k; }

// Accumulates one real product: enc_x row p, enc_w row p and decoder column p.
struct Builder {
  TileFormat t;
  Matrix<double> enc_x, enc_w, dec;
  std::size_t next = 0;

  template <class FX, class FW, class FD>
  void add(FX x_coef, FW w_coef, FD y_coef) {
    for (std::size_t i = 0; i < t.a; ++i)
      for (std::size_t j = 0; j < t.b; ++j) enc_x(next, i * t.b + j) = x_coef(x_exponent(t, i, j));
    for (std::size_t j = 0; j < t.b; ++j)
      for (std::size_t k = 0; k < t.c; ++k) enc_w(next, j * t.c + k) = w_coef(w_exponent(t, j, k));
    for (std::size_t i = 0; i < t.a; ++i)
      for (std::size_t k = 0; k < t.c; ++k) dec(i * t.c + k, next) = y_coef(y_exponent(t, i, k));
    ++next;
  }
};

}  // namespace

std::size_t polynomial_points(TileFormat tile) {
  validate(tile);
  return tile.a * tile.b * tile.c + tile.b - 1;
}

std::size_t polynomial_rank(TileFormat tile) {
  const std::size_t n = polynomial_points(tile);
  return 1 + 3 * ((n - 1) / 2) + (n % 2 == 0 ? 1 : 0);
}

Algorithm polynomial_algorithm(TileFormat tile) {
  const std::size_t n = polynomial_points(tile), r = polynomial_rank(tile);
  const std::string spec = std::to_string(tile.a) + "x" + std::to_string(tile.b) + "x" + std::to_string(tile.c);
  check_algorithm_size(tile, r, "poly-" + spec);
  Builder b{tile, Matrix<double>(r, tile.x_size()), Matrix<double>(r, tile.w_size()), Matrix<double>(tile.y_size(), r)};
  const double inv_n = 1.0 / static_cast<double>(n);
  const auto one = [](std::size_t) { return 1.0; };
  // s = 1: C gets (1/N)·x(1)·w(1).
  b.add(one, one, [&](std::size_t) { return inv_n; });
  // Conjugate pair s = e^{±iθ}, θ = 2πp/N: C gets (2/N)·Re(x̂ŵ·e^{−iθE}). With x̂ = α + iβ, ŵ = γ + iδ:
  // Re(x̂ŵ) = k1 − k3 and Im(x̂ŵ) = k1 + k2 for k1 = (α+β)γ, k2 = α(δ−γ), k3 = β(γ+δ) (Gauss), and
  // Re(x̂ŵ·e^{−iθE}) = Re(x̂ŵ)·cos θE + Im(x̂ŵ)·sin θE.
  for (std::size_t p = 1; 2 * p < n; ++p) {
    const double theta = 2 * kPi * static_cast<double>(p) / static_cast<double>(n);
    const auto c = [theta, n](std::size_t e) { return std::cos(theta * static_cast<double>(e % n)); };
    const auto s = [theta, n](std::size_t e) { return std::sin(theta * static_cast<double>(e % n)); };
    b.add([&](std::size_t e) { return c(e) + s(e); }, c, [&](std::size_t e) { return 2 * inv_n * (c(e) + s(e)); });
    b.add(c, [&](std::size_t e) { return s(e) - c(e); }, [&](std::size_t e) { return 2 * inv_n * s(e); });
    b.add(s, [&](std::size_t e) { return c(e) + s(e); }, [&](std::size_t e) { return -2 * inv_n * c(e); });
  }
  // s = −1 when N is even: a real point.
  if (n % 2 == 0) {
    const auto sign = [](std::size_t e) { return e % 2 == 0 ? 1.0 : -1.0; };
    b.add(sign, sign, [&](std::size_t e) { return inv_n * sign(e); });
  }
  return make_algorithm("poly-" + spec,
                        "DFT evaluation/interpolation at " + std::to_string(n) + " roots of unity (polynomial code)",
                        tile, std::move(b.enc_x), std::move(b.enc_w), std::move(b.dec));
}

}  // namespace strassentile
