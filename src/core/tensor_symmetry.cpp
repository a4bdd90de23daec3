// The matrix-multiplication tensor's symmetries: an algorithm for <a,b,c> gives one of the same rank for every
// order of (a, b, c). AlphaTensor ships only a <= b <= c; these give the other orders (e.g. <4,2,4> from <2,4,4>).
#include <stdexcept>

#include "strassentile/algorithm.hpp"

namespace strassentile {

// tr(A·B·Zᵀ) = tr(B·Zᵀ·A): the inputs B (b×c) and Zᵀ (c×a) give B·Zᵀ (b×a), read against A. So the new
// encoders are enc_w and the decoder transposed per product, and the new decoder is enc_x transposed per product.
Algorithm cyclic_shift(const Algorithm& alg) {
  alg.validate();
  const TileFormat& t = alg.tile;
  const TileFormat shifted{t.b, t.c, t.a};
  const std::size_t r = alg.rank();
  Matrix<double> enc_x = alg.enc_w;  // B is the new left input, indexed (j, k) as before
  Matrix<double> enc_w(r, shifted.w_size()), dec(shifted.y_size(), r);
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t i = 0; i < t.a; ++i) {
      for (std::size_t k = 0; k < t.c; ++k) enc_w(p, k * t.a + i) = alg.dec(i * t.c + k, p);
      for (std::size_t j = 0; j < t.b; ++j) dec(j * t.a + i, p) = alg.enc_x(p, i * t.b + j);
    }
  return make_algorithm("cyclic(" + alg.name + ")", "cyclic shift <a,b,c> -> <b,c,a> of " + alg.name, shifted,
                        std::move(enc_x), std::move(enc_w), std::move(dec));
}

// (A·B)ᵀ = Bᵀ·Aᵀ: <c,b,a> with the encoders swapped and every coefficient matrix read transposed.
Algorithm transpose(const Algorithm& alg) {
  alg.validate();
  const TileFormat& t = alg.tile;
  const TileFormat flipped{t.c, t.b, t.a};
  const std::size_t r = alg.rank();
  Matrix<double> enc_x(r, flipped.x_size()), enc_w(r, flipped.w_size()), dec(flipped.y_size(), r);
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t j = 0; j < t.b; ++j) {
      for (std::size_t k = 0; k < t.c; ++k) enc_x(p, k * t.b + j) = alg.enc_w(p, j * t.c + k);
      for (std::size_t i = 0; i < t.a; ++i) enc_w(p, j * t.a + i) = alg.enc_x(p, i * t.b + j);
    }
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t i = 0; i < t.a; ++i)
      for (std::size_t k = 0; k < t.c; ++k) dec(k * t.a + i, p) = alg.dec(i * t.c + k, p);
  return make_algorithm("transpose(" + alg.name + ")", "transpose <a,b,c> -> <c,b,a> of " + alg.name, flipped,
                        std::move(enc_x), std::move(enc_w), std::move(dec));
}

Algorithm reorder(const Algorithm& alg, TileFormat target) {
  // The six orders: identity, two cyclic shifts, and the transpose of each.
  for (int flip = 0; flip < 2; ++flip) {
    Algorithm candidate = flip ? transpose(alg) : alg;
    for (int shift = 0; shift < 3; ++shift) {
      if (candidate.tile == target) return candidate;
      candidate = cyclic_shift(candidate);
    }
  }
  throw std::invalid_argument("reorder: " + alg.name + " is " + alg.tile.to_string() + ", which is no reordering of " +
                              target.to_string());
}

}  // namespace strassentile
