// Rank-r approximations of the <a,b,c> matrix-multiplication tensor: the theory-backed initialisations of an
// STL layer (shared/STL.md §5).
//
// Error measure: relative Frobenius error ‖T − Σ_p enc_x[p]⊗enc_w[p]⊗dec[:,p]‖ / ‖T‖. For tiles with i.i.d.
// standard Gaussian entries it equals the relative RMS output error √(E‖AB − Ĉ‖² / E‖AB‖²), because the error
// is a bilinear form whose coefficients are T − T̂.
#pragma once

#include <cstdint>
#include <vector>

#include "strassentile/algorithm.hpp"

namespace strassentile {

// ‖T − T̂‖_F / ‖T‖_F for `alg` against the matmul tensor of its tile.
double relative_tensor_error(const Algorithm& alg);

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

// Keeps `rank` of `alg`'s products, chosen by greedy backward elimination (each step drops the product whose
// removal, with the decoder refitted by least squares, raises the error least), and refits the decoder.
// Throws std::invalid_argument unless 1 <= rank <= alg.rank().
Algorithm truncate(const Algorithm& alg, std::size_t rank);

}  // namespace strassentile
