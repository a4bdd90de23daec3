// Rank-r approximations of the <a,b,c> matrix-multiplication tensor: the theory-backed initialisations of an
// STL layer (shared/STL.md §5).
//
// Error measure: relative Frobenius error ‖T − Σ_p enc_x[p]⊗enc_w[p]⊗dec[:,p]‖ / ‖T‖. For tiles with i.i.d.
// standard Gaussian entries it equals the relative RMS output error √(E‖AB − Ĉ‖² / E‖AB‖²), because the error
// is a bilinear form whose coefficients are T − T̂.
//
// Data-aware variants take the second moments Σx = E[x xᵀ] of vectorised activation tiles and Σw = E[w wᵀ] of
// weight tiles. For independent x and w the expected squared output error is ‖(T − T̂) ×₁ Lxᵀ ×₂ Lwᵀ‖² with
// Σ = L Lᵀ, so fitting on data is fitting the "whitened" tensor T ×₁ Lxᵀ ×₂ Lwᵀ and mapping the encoders back.
#pragma once

#include <cstdint>
#include <vector>

#include "strassentile/algorithm.hpp"
#include "strassentile/matrix.hpp"

namespace strassentile {

// ‖T − T̂‖_F / ‖T‖_F for `alg` against the matmul tensor of its tile.
double relative_tensor_error(const Algorithm& alg);

// Second moments of activation and weight tiles: the distribution the data-aware error is measured on.
struct TileMoments {
  TileFormat tile;
  Matrix<double> x;  // (a·b)×(a·b): E[vec(X_tile) vec(X_tile)ᵀ], entries indexed i·b + j as in enc_x
  Matrix<double> w;  // (b·c)×(b·c): E[vec(W_tile) vec(W_tile)ᵀ], entries indexed j·c + k as in enc_w
  std::size_t x_tiles = 0, w_tiles = 0;  // how many tiles were averaged
};

// Moments of the whole a×b tiles of `activations` (M×K; rows grouped in tiles of `a` consecutive rows within
// each sequence of `seq_len` rows, 0 = one sequence) and the whole b×c tiles of `weight` (K×N, the layer's
// x·W orientation, i.e. nn.Linear's weight transposed). Partial tiles at the edges are left out.
// Throws std::invalid_argument when K differs or either matrix has no whole tile.
TileMoments tile_moments(TileFormat tile, MatrixView<const double> activations, MatrixView<const double> weight,
                         std::size_t seq_len = 0);

// Identity moments: i.i.d. unit Gaussian tiles (the data-free case).
TileMoments gaussian_moments(TileFormat tile);

// √(E‖XW − STL(X,W)‖² / E‖XW‖²) over independent tiles with these moments (= relative_tensor_error(alg) for
// gaussian_moments). Throws std::invalid_argument when the tiles differ or a moment is not symmetric PSD.
double relative_tensor_error(const Algorithm& alg, const TileMoments& data);

struct FitOptions {
  std::size_t restarts = 8;          // independent random starts; the best is kept
  std::size_t iterations = 2000;     // ALS sweeps per restart while the regularisation anneals
  double lambda_start = 1e-2;        // Tikhonov weight at the first sweep (keeps factors from diverging)...
  double lambda_end = 1e-12;         // ...decayed geometrically to this at the last
  std::size_t polish_iterations = 3000;  // unregularised sweeps on the best start (exact rediscovery)
  std::uint64_t seed = 0;
};

struct FitResult {
  Algorithm algorithm;                 // named "fit-AxBxC-rR"
  double relative_error = 0;           // of `algorithm`
  std::vector<double> restart_errors;  // after annealing, before polishing, one per restart
};

// Alternating least squares with annealed regularisation, column balancing and restarts. At the exact rank it
// rediscovers exact algorithms (<2,2,2>:7, <2,2,3>:11); below it, it finds good approximations (<4,4,4>:24 ≈ 0.74).
// Throws std::invalid_argument for rank 0, a bad tile or restarts/iterations of 0.
FitResult fit(TileFormat tile, std::size_t rank, const FitOptions& options = {});

// Data-aware fit: minimises the expected output error on tiles with `data`'s moments (the tile is data.tile).
// FitResult::relative_error is relative_tensor_error(algorithm, data); restart_errors are in the slightly
// ridged metric the fit works in.
FitResult fit_to_data(const TileMoments& data, std::size_t rank, const FitOptions& options = {});

// Keeps `rank` of `alg`'s products, chosen by greedy backward elimination (each step drops the product whose
// removal, with the decoder refitted by least squares, raises the error least), and refits the decoder.
// Throws std::invalid_argument unless 1 <= rank <= alg.rank().
Algorithm truncate(const Algorithm& alg, std::size_t rank);

// Data-aware truncation: products chosen, and the decoder refitted, for the expected output error on `data`.
Algorithm truncate(const Algorithm& alg, std::size_t rank, const TileMoments& data);

}  // namespace strassentile
