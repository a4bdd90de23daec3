// Causal levels and masks (strassentile/causal.hpp): the one place that says which coefficients a level allows.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "strassentile/causal.hpp"

namespace strassentile {

CausalLevels default_causal_levels(std::size_t rank, std::size_t a) {
  if (rank < 1 || a < 1) throw std::invalid_argument("causal levels need rank >= 1 and a >= 1");
  CausalLevels levels(rank);
  for (std::size_t p = 0; p < rank; ++p) levels[p] = p * a / rank;
  return levels;
}

void check_causal_levels(const CausalLevels& levels, std::size_t rank, std::size_t a) {
  if (levels.size() != rank)
    throw std::invalid_argument("causal levels: " + std::to_string(levels.size()) + " levels for " + std::to_string(rank) +
                                " products; pass one level per product (or none for the default)");
  for (std::size_t p = 0; p < levels.size(); ++p)
    if (levels[p] >= a)
      throw std::invalid_argument("causal levels: product " + std::to_string(p) + " has level " + std::to_string(levels[p]) +
                                  " but tiles have a=" + std::to_string(a) + " rows: levels must be in 0.." +
                                  std::to_string(a - 1));
}

namespace {

// `coefs` with the entries the levels forbid zeroed: its rank products run along its rows (products_in_rows,
// enc_x: r × a·b) or its columns (dec: a·c × r), its tile positions q of `width` columns the other way, and
// allowed(level of p, tile row of q) says which entries stay. Checks the sizes first; `what` names the matrix.
template <class T, class Allowed>
Matrix<T> causal_masked(MatrixView<const T> coefs, bool products_in_rows, std::size_t positions, std::size_t width,
                        std::size_t a, const CausalLevels& levels, const char* what, Allowed allowed) {
  const std::size_t rank = products_in_rows ? coefs.rows : coefs.cols;
  if ((products_in_rows ? coefs.cols : coefs.rows) != positions)
    throw std::invalid_argument(std::string("causal mask: ") + what);
  check_causal_levels(levels, rank, a);
  Matrix<T> out(coefs.rows, coefs.cols);
  for (std::size_t p = 0; p < rank; ++p)
    for (std::size_t q = 0; q < positions; ++q) {
      const std::size_t row = products_in_rows ? p : q, col = products_in_rows ? q : p;
      if (allowed(levels[p], q / width)) out(row, col) = coefs(row, col);
    }
  return out;
}

}  // namespace

template <class T>
Matrix<T> causal_masked_enc_x(MatrixView<const T> enc_x, TileFormat tile, const CausalLevels& levels) {
  validate(tile);
  return causal_masked(enc_x, true, tile.x_size(), tile.b, tile.a, levels, "enc_x must have a*b columns",
                       causal_reads);
}

template <class T>
Matrix<T> causal_masked_dec(MatrixView<const T> dec, TileFormat tile, const CausalLevels& levels) {
  validate(tile);
  return causal_masked(dec, false, tile.y_size(), tile.c, tile.a, levels, "dec must have a*c rows", causal_writes);
}

CausalLevels highest_rows_read(const Algorithm& alg) {
  alg.validate();
  CausalLevels levels(alg.rank(), 0);
  for (std::size_t p = 0; p < alg.rank(); ++p)
    for (std::size_t q = 0; q < alg.tile.x_size(); ++q)
      if (alg.enc_x(p, q) != 0.0) levels[p] = std::max(levels[p], q / alg.tile.b);
  return levels;
}

template Matrix<float> causal_masked_enc_x<float>(MatrixView<const float>, TileFormat, const CausalLevels&);
template Matrix<double> causal_masked_enc_x<double>(MatrixView<const double>, TileFormat, const CausalLevels&);
template Matrix<float> causal_masked_dec<float>(MatrixView<const float>, TileFormat, const CausalLevels&);
template Matrix<double> causal_masked_dec<double>(MatrixView<const double>, TileFormat, const CausalLevels&);

}  // namespace strassentile
