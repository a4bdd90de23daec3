// The tile format <a,b,c>: X is cut into a×b tiles, W into b×c tiles, Y into a×c tiles.
#pragma once

#include <cstddef>
#include <string>

namespace strassentile {

struct TileFormat {
  std::size_t a = 0;  // rows of an activation / output tile (tokens per tile)
  std::size_t b = 0;  // inner dimension of a tile
  std::size_t c = 0;  // columns of a weight / output tile

  std::size_t x_size() const { return a * b; }  // entries of an activation tile
  std::size_t w_size() const { return b * c; }  // entries of a weight tile
  std::size_t y_size() const { return a * c; }  // entries of an output tile
  std::size_t naive_rank() const { return a * b * c; }

  bool operator==(const TileFormat& o) const { return a == o.a && b == o.b && c == o.c; }
  bool operator!=(const TileFormat& o) const { return !(*this == o); }

  std::string to_string() const;  // "<a,b,c>"
};

// Largest tile side accepted anywhere: a <4096,4096,4096> tile already has 2^36 naive products, far past any
// useful format, and every product of two or three sides then fits in 64 bits.
inline constexpr std::size_t kMaxTileSide = 4096;

// Throws std::invalid_argument naming `what` unless every side is in [1, kMaxTileSide].
void validate(const TileFormat& tile, const char* what = "tile");

// Parses "4" (meaning <4,4,4>), "2,3,4", "2x3x4" or "<2,3,4>". Throws std::invalid_argument on anything else.
TileFormat parse_tile_format(const std::string& text);

}  // namespace strassentile
