// The reference STL operator (shared/STL.md §1), torch-free. Its job is to be obviously right, not fast:
// every kernel and binding in the project is tested against it.
//
// Index conventions. X is M×K, W is K×N, Y = STL(X, Ŵ) is M×N. Activation tile (i,κ) holds
// X[row(i,u), κ·b+v] at vec index q = u·b+v; weight tile (κ,j) holds W[κ·b+v, j·c+w] at q = v·c+w; output
// tile (i,j) holds Y[row(i,u), j·c+w] at q = u·c+w. Out-of-range entries are zero padding, which never
// changes a real output. Rows are grouped in consecutive runs of `a` *within one sequence*: with
// seq_len = S the M rows are M/S sequences of S rows, each padded to a multiple of `a` on its own, so a tile
// never spans two sequences; row(i,u) = (i / t)·S + (i mod t)·a + u with t = ⌈S/a⌉ tiles per sequence.
// All sums accumulate in double, whatever T is.
#pragma once

#include <cstddef>

#include "strassentile/causal.hpp"
#include "strassentile/matrix.hpp"
#include "strassentile/tile_format.hpp"

namespace strassentile {

// How the M rows of X are grouped into tiles of `a` rows.
struct RowGrouping {
  std::size_t rows = 0;     // M
  std::size_t seq_len = 0;  // S; 0 means all M rows form one sequence

  std::size_t sequence_length() const { return seq_len == 0 ? rows : seq_len; }
  std::size_t num_sequences() const { return rows == 0 ? 0 : rows / sequence_length(); }
  std::size_t tiles_per_sequence(std::size_t a) const { return (sequence_length() + a - 1) / a; }
  std::size_t num_row_tiles(std::size_t a) const { return num_sequences() * tiles_per_sequence(a); }
  // Row of X for row u of row-tile i, or `rows` (meaning padding) when it falls past its sequence.
  std::size_t row_of(std::size_t tile_row, std::size_t u, std::size_t a) const;
};

// Validates M against seq_len (seq_len must divide M); throws std::invalid_argument naming the argument.
RowGrouping make_row_grouping(std::size_t rows, std::size_t seq_len);

inline std::size_t ceil_div(std::size_t x, std::size_t y) { return (x + y - 1) / y; }

// Ŵ[p, κ, j] = Σ_q enc_w[p, q] · vec(W_{κj})[q]:  W is K×N, result r × ⌈K/b⌉ × ⌈N/c⌉.
template <class T>
Tensor3<T> encode_weight(MatrixView<const T> weight, MatrixView<const T> enc_w, TileFormat tile);

// X̂[p, i, κ] = Σ_q enc_x[p, q] · vec(X_{iκ})[q]:  result r × m × ⌈K/b⌉ with m = grouping.num_row_tiles(a).
template <class T>
Tensor3<T> encode_activation(MatrixView<const T> x, MatrixView<const T> enc_x, TileFormat tile,
                             std::size_t seq_len = 0);

// Z[p] = X̂[p] · Ŵ[p] for every product p:  r × m × n.
template <class T>
Tensor3<T> batched_products(const Tensor3<T>& x_hat, const Tensor3<T>& w_hat);

// vec(Y_{ij})[q] = Σ_p dec[q, p] · Z[p, i, j], cropped to rows × out_features.
template <class T>
Matrix<T> decode_output(const Tensor3<T>& z, MatrixView<const T> dec, TileFormat tile, std::size_t rows,
                        std::size_t out_features, std::size_t seq_len = 0);

// Y = STL(X, Ŵ): encode X, multiply per product, decode. out_features = 0 means n·c.
template <class T>
Matrix<T> stl_reference(MatrixView<const T> x, const Tensor3<T>& w_hat, MatrixView<const T> enc_x,
                        MatrixView<const T> dec, TileFormat tile, std::size_t out_features = 0,
                        std::size_t seq_len = 0);

// Mode "causal" (strassentile/causal.hpp): stl_reference with enc_x and dec masked for `levels`, so output row u
// of a tile depends only on input rows <= u of that tile. Mode "token-local" is stl_reference with a = 1.
template <class T>
Matrix<T> stl_reference_causal(MatrixView<const T> x, const Tensor3<T>& w_hat, MatrixView<const T> enc_x,
                               MatrixView<const T> dec, TileFormat tile, const CausalLevels& levels,
                               std::size_t out_features = 0, std::size_t seq_len = 0);

// Plain X·W in double accumulation, the ground truth for exact algorithms.
template <class T>
Matrix<T> dense_matmul(MatrixView<const T> x, MatrixView<const T> w);

}  // namespace strassentile
