// Readers for the machine-readable exact algorithms (the catalogues vendored in data/fmm).
//
// Both loaders accept untrusted bytes: every malformed or truncated input raises `FormatError` naming the
// file and the problem (the fuzz harnesses in fuzz/ hold them to that).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "strassentile/algorithm.hpp"

namespace strassentile {

// A malformed, truncated or unreadable algorithm file.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Non-owning view of raw bytes (std::span<const std::byte> in spirit).
struct ByteView {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// ---- AlphaTensor catalogue (factorizations_r.npz) ----
// Keys are "a,b,c"; each value is (u, v, w) with shapes (ab×R, bc×R, ca×R), stored either as one
// 3-D integer array (square formats) or as a pickled object array of three arrays. `w` yields
// vec((A·B)ᵀ); the loader re-indexes it to our row-major `dec`.
std::vector<Algorithm> load_alphatensor_npz(const std::string& path);
std::vector<Algorithm> parse_alphatensor_npz(ByteView bytes, const std::string& origin = "<memory>");

// ---- Plain NumPy matrices (.npy), e.g. a layer's activations or weight for data-aware fitting ----
// A 2-D numeric array (any integer or float dtype, C or Fortran order) as doubles. Throws FormatError naming
// the path for anything else (other ranks, object arrays, truncated or malformed files).
Matrix<double> load_npy_matrix(const std::string& path);

// ---- SMS sparse matrices (Dumas–Pernet–Sedoglavic) ----
// Header "rows cols R", then 1-based "i j value" lines (value an integer, a rational "p/q" or a decimal),
// terminated by "0 0 0". Lines starting with '#' are comments.
Matrix<double> parse_sms(const std::string& text, const std::string& origin = "<memory>");
Matrix<double> load_sms(const std::string& path);

// Loads the L (enc_x), R (enc_w) and P (dec) files of one algorithm. `path` may be any of the three files
// or their common stem (".../4x4x4_48_rational"); the tile format is inferred from the shapes.
Algorithm load_sms_algorithm(const std::string& path, const std::string& name = "");

// Writes `alg` as STEM_L.sms, STEM_R.sms, STEM_P.sms (shortest round-trip decimals), readable by load_sms_algorithm.
// Throws FormatError naming the path when a file cannot be written.
void save_sms_algorithm(const Algorithm& alg, const std::string& stem);

// Reads a whole regular file of at most 256 MiB; throws FormatError naming the path otherwise.
std::string read_file(const std::string& path);

}  // namespace strassentile
