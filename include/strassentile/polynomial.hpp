// Polynomial-multiplication ("evaluation and interpolation") algorithms for the <a,b,c> tile product: the
// `poly` initialisation of an STL layer (shared/STL.md §5, docs/APPROXIMATION.md).
//
// Construction. Write the tile entries as polynomial coefficients,
//   x(s) = Σ X[i][j] s^(j + b·i),        w(s) = Σ W[j][k] s^((b−1−j) + a·b·k),
// so that in x(s)·w(s) the terms with matching inner index j (the ones C = X·W needs) land on the distinct
// exponents (b−1) + b·i + a·b·k, and every cross term j ≠ j' lands elsewhere (|j − j'| < b). The product has
// degree abc + b − 2, so evaluating x and w at N = abc + b − 1 points and interpolating recovers C exactly.
// With the N-th roots of unity the evaluations are a DFT (well conditioned: unit-modulus coefficients,
// orthogonal rows, unlike real Toom-Cook points whose powers explode at this degree). Conjugate points pair
// up, so the real algorithm needs 1 product for s = 1, 3 per conjugate pair (Gauss's 3-multiplication complex
// product), and 1 for s = −1 when N is even.
//
// It is exact but needs more products than the naive algorithm (100 for <4,4,4>, against 64). As an
// initialisation it is truncated: every product sees every tile entry, the encoders are Fourier modes of the
// tile, and the least-squares decoder is the best interpolation from the kept points.
#pragma once

#include "strassentile/algorithm.hpp"

namespace strassentile {

// Number of evaluation points, abc + b − 1, and the real rank of polynomial_algorithm(tile).
std::size_t polynomial_points(TileFormat tile);
std::size_t polynomial_rank(TileFormat tile);

// The exact real DFT evaluation/interpolation algorithm described above, named "poly-AxBxC".
// Throws std::invalid_argument for an invalid tile.
Algorithm polynomial_algorithm(TileFormat tile);

}  // namespace strassentile
