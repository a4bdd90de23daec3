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

template <class T>
Matrix<T> causal_masked_enc_x(MatrixView<const T> enc_x, TileFormat tile, const CausalLevels& levels) {
  validate(tile);
  if (enc_x.cols != tile.x_size()) throw std::invalid_argument("causal mask: enc_x must have a*b columns");
  check_causal_levels(levels, enc_x.rows, tile.a);
  Matrix<T> out(enc_x.rows, enc_x.cols);
  for (std::size_t p = 0; p < enc_x.rows; ++p)
    for (std::size_t q = 0; q < enc_x.cols; ++q)
      if (causal_reads(levels[p], q / tile.b)) out(p, q) = enc_x(p, q);
  return out;
}

template <class T>
Matrix<T> causal_masked_dec(MatrixView<const T> dec, TileFormat tile, const CausalLevels& levels) {
  validate(tile);
  if (dec.rows != tile.y_size()) throw std::invalid_argument("causal mask: dec must have a*c rows");
  check_causal_levels(levels, dec.cols, tile.a);
  Matrix<T> out(dec.rows, dec.cols);
  for (std::size_t q = 0; q < dec.rows; ++q)
    for (std::size_t p = 0; p < dec.cols; ++p)
      if (causal_writes(levels[p], q / tile.c)) out(q, p) = dec(q, p);
  return out;
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
