// Causal STL (shared/STL.md §4): the structural masks that stop an output row from reading later rows of its tile.
//
// Every product p has a level ℓ(p) ∈ [0, a). Its encoder row E_X[p] may read only tile rows u ≤ ℓ(p), and the
// decoder may route it only to output rows u ≥ ℓ(p). Output row u then sums products with ℓ(p) ≤ u, each of
// which read rows ≤ ℓ(p) ≤ u: row u never depends on a later row of its tile (nor on any other tile). Every
// implementation (reference, op, CUDA) applies the masks by selection: a masked coefficient is never multiplied
// with anything, whatever its stored value, and its gradient is exactly zero. Multiplying by a zero coefficient
// would not do: 0·Inf = NaN would carry a non-finite later row into the earlier outputs of its tile.
#pragma once

#include <cstddef>
#include <vector>

#include "strassentile/algorithm.hpp"
#include "strassentile/matrix.hpp"
#include "strassentile/tile_format.hpp"

namespace strassentile {

using CausalLevels = std::vector<std::size_t>;  // ℓ(p), one per product

// The default assignment: contiguous, balanced blocks, ℓ(p) = ⌊p·a / r⌋. Each level gets r/a products (± 1), and
// at r = abc it is exactly the naive algorithm's order (product p = u·bc + v·c + w reads and writes row u).
CausalLevels default_causal_levels(std::size_t rank, std::size_t a);

// Throws std::invalid_argument unless there is one level per product and each is < a.
void check_causal_levels(const CausalLevels& levels, std::size_t rank, std::size_t a);

// Whether the masks let product p at `level` read input tile row `row`, and write output tile row `row`.
inline bool causal_reads(std::size_t level, std::size_t row) { return row <= level; }
inline bool causal_writes(std::size_t level, std::size_t row) { return row >= level; }

// enc_x (r × ab) and dec (ac × r) with every masked coefficient set to zero.
template <class T>
Matrix<T> causal_masked_enc_x(MatrixView<const T> enc_x, TileFormat tile, const CausalLevels& levels);
template <class T>
Matrix<T> causal_masked_dec(MatrixView<const T> dec, TileFormat tile, const CausalLevels& levels);

// ℓ(p) = the highest tile row that enc_x[p] reads (0 when it reads nothing): the lowest level that keeps the encoder.
CausalLevels highest_rows_read(const Algorithm& alg);

// An algorithm whose coefficients obey the masks of `levels`.
struct CausalAlgorithm {
  Algorithm algorithm;
  CausalLevels levels;
};

// `alg` with ℓ(p) = highest_rows_read(alg) and the decoder refitted by least squares under the mask (masked
// entries zero). Exact when alg is already causal (the naive algorithm); an approximation otherwise.
CausalAlgorithm causal_refit(const Algorithm& alg);

// Keeps `rank` of alg's products by greedy backward elimination, like truncate(), but with ℓ(p) =
// highest_rows_read and every decoder refit done under the causal mask. Throws unless 1 <= rank <= alg.rank().
CausalAlgorithm causal_truncate(const Algorithm& alg, std::size_t rank);

}  // namespace strassentile
