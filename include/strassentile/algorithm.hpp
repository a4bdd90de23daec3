// Bilinear tile algorithms: the (enc_x, enc_w, dec) triple that defines an STL layer's change of basis.
//
// Convention (shared/STL.md §1 and the .sms files: L = enc_x, R = enc_w, P = dec):
//   product p:  m_p = (enc_x[p,:] · vec(A)) * (enc_w[p,:] · vec(B))
//   output:     vec(A·B) ≈ dec · m
// with A an a×b tile, B a b×c tile and row-major vec (entry (u,v) of A is vec index u·b+v).
// An algorithm is *exact* when Σ_p enc_x[p]⊗enc_w[p]⊗dec[:,p] equals the matrix-multiplication tensor.
#pragma once

#include <string>
#include <vector>

#include "strassentile/matrix.hpp"
#include "strassentile/tile_format.hpp"

namespace strassentile {

// Most coefficients an algorithm may hold, r·(ab + bc + ac): 128 MiB of doubles, far above any known exact
// algorithm (<5,5,5>:98 holds 7,350). Constructors refuse larger ones before allocating.
inline constexpr std::size_t kMaxAlgorithmCoefficients = std::size_t{1} << 24;
// Most multiply-adds `verify` may spend (Σ_p of the non-zeros of enc_x[p]·enc_w[p]·dec[:,p]) and most entries
// of the matmul tensor it may build ((ab)(bc)(ac)): a fraction of a second and 128 MiB at the most. The largest
// catalogue algorithm needs about 2^20 multiply-adds; 2^32 took 9 s of CPU.
inline constexpr std::size_t kMaxVerifyWork = std::size_t{1} << 26;
inline constexpr std::size_t kMaxVerifyTensorEntries = std::size_t{1} << 24;

// Throws std::invalid_argument naming `who` when an algorithm of this tile and rank would exceed
// kMaxAlgorithmCoefficients.
void check_algorithm_size(const TileFormat& tile, std::size_t rank, const std::string& who);

struct Algorithm {
  std::string name;    // registry name, e.g. "strassen" or "alphatensor-4x4x4"
  std::string source;  // where the coefficients come from (paper, file path, "kron(...)")
  TileFormat tile;
  Matrix<double> enc_x;  // r × ab
  Matrix<double> enc_w;  // r × bc
  Matrix<double> dec;    // ac × r

  std::size_t rank() const { return enc_x.rows(); }

  // Ratio of the naive algorithm's multiplications to this one's: abc / r.
  double flop_ratio() const;

  // Throws std::invalid_argument unless the three matrices have the shapes that `tile` and a common rank
  // imply (rank >= 1) and all coefficients are finite.
  void validate() const;

  // Largest absolute deviation of Σ_p enc_x[p]⊗enc_w[p]⊗dec[:,p] from the <a,b,c> matmul tensor.
  // 0 for an exact algorithm (up to rounding of rational coefficients). Throws std::length_error, before any
  // work, when the tensor or the work would exceed kMaxVerifyTensorEntries or kMaxVerifyWork (an algorithm
  // read from an untrusted file can ask for hours and hundreds of gigabytes).
  double verify() const;
};

// Constructs an algorithm from its parts and validates it.
Algorithm make_algorithm(std::string name, std::string source, TileFormat tile, Matrix<double> enc_x,
                         Matrix<double> enc_w, Matrix<double> dec);

// Tensor (Kronecker) product: `outer` applied to blocks whose products use `inner`.
// <a1,b1,c1>:r1 ⊗ <a2,b2,c2>:r2 = <a1·a2, b1·b2, c1·c2>:r1·r2; exact when both factors are exact
// (Strassen ⊗ Strassen = <4,4,4>:49).
Algorithm kron(const Algorithm& outer, const Algorithm& inner);

// The matrix-multiplication tensor's symmetries (src/core/tensor_symmetry.cpp): each maps an algorithm to one of
// the same rank, exact when it is.
//   cyclic_shift: <a,b,c> -> <b,c,a>   (tr(A·B·Zᵀ) = tr(B·Zᵀ·A))
//   transpose:    <a,b,c> -> <c,b,a>   ((A·B)ᵀ = Bᵀ·Aᵀ)
//   reorder:      to `target`, any order of the algorithm's (a, b, c); throws std::invalid_argument otherwise.
Algorithm cyclic_shift(const Algorithm& alg);
Algorithm transpose(const Algorithm& alg);
Algorithm reorder(const Algorithm& alg, TileFormat target);

// The naive algorithm: one product per (i, k, j) triple, r = abc.
Algorithm naive(TileFormat tile);

// Built-in algorithms, written from the mathematics (no data files):
//   "strassen"   <2,2,2>:7   Strassen (1969)
//   "winograd"   <2,2,2>:7   Winograd's variant (7 mults, 15 adds)
//   "laderman"   <3,3,3>:23  Laderman (1976)
//   "strassen2"  <4,4,4>:49  kron(strassen, strassen)
//   "naive-AxBxC"            naive(<A,B,C>) for any A, B, C >= 1
//   "poly-AxBxC"             polynomial_algorithm(<A,B,C>): exact DFT evaluation/interpolation, r > abc
//                            (strassentile/polynomial.hpp; an initialisation to truncate, not a speedup)
// and, when a data directory is known (see `set_data_dir`), those of the shipped catalogues:
//   "alphatensor-AxBxC"      every format of AlphaTensor's factorizations_r.npz (A <= B <= C), and every other
//                            order of those sizes through `reorder` (e.g. "alphatensor-4x2x4", <4,2,4>:26)
//   "dps-4x4x4-48"           Dumas–Pernet–Sedoglavic rational <4,4,4>:48
// Throws std::invalid_argument for an unknown name, listing what is available.
Algorithm get(const std::string& name);

// Names `get` accepts (naive and poly formats are listed for <2,2,2>, <3,3,3>, <4,4,4> but any size works).
std::vector<std::string> available();

// Directory holding alphatensor/ and dumas-pernet-sedoglavic/ (the layout of the vendored data/fmm).
// Defaults to the environment variable STRASSENTILE_FMM_DIR, else default_data_dir(); empty means "built-ins only".
void set_data_dir(const std::string& dir);
std::string data_dir();
// The data/fmm of the source tree this library was built from, while it exists; else empty.
std::string default_data_dir();

}  // namespace strassentile
