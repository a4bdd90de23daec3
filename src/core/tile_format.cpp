#include "strassentile/tile_format.hpp"

#include <cctype>
#include <stdexcept>
#include <vector>

namespace strassentile {

std::string TileFormat::to_string() const {
  return "<" + std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(c) + ">";
}

void validate(const TileFormat& tile, const char* what) {
  if (tile.a == 0 || tile.b == 0 || tile.c == 0)
    throw std::invalid_argument(std::string(what) + " " + tile.to_string() +
                                ": every side of a tile format must be >= 1");
  if (tile.a > kMaxTileSide || tile.b > kMaxTileSide || tile.c > kMaxTileSide)
    throw std::invalid_argument(std::string(what) + " " + tile.to_string() + ": every side must be <= " +
                                std::to_string(kMaxTileSide) + " (useful formats have sides of 2 to 16)");
}

TileFormat parse_tile_format(const std::string& text) {
  const auto fail = [&]() -> TileFormat {
    throw std::invalid_argument("tile '" + text +
                                "': expected one size (4 means <4,4,4>) or three, as 2,3,4 / 2x3x4 / <2,3,4>");
  };
  std::string body = text;
  if (!body.empty() && body.front() == '<') {
    if (body.back() != '>') return fail();
    body = body.substr(1, body.size() - 2);
  }
  std::vector<std::size_t> sides;
  std::size_t value = 0;
  bool in_number = false;
  for (char ch : body) {
    if (std::isdigit(static_cast<unsigned char>(ch))) {
      if (value > 100000) return fail();  // no tile is that large; also guards overflow
      value = value * 10 + static_cast<std::size_t>(ch - '0');
      in_number = true;
    } else if (ch == ',' || ch == 'x' || ch == 'X') {
      if (!in_number) return fail();
      sides.push_back(value);
      value = 0;
      in_number = false;
    } else {
      return fail();
    }
  }
  if (!in_number) return fail();
  sides.push_back(value);
  TileFormat tile;
  if (sides.size() == 1) {
    tile = {sides[0], sides[0], sides[0]};
  } else if (sides.size() == 3) {
    tile = {sides[0], sides[1], sides[2]};
  } else {
    return fail();
  }
  validate(tile, ("tile '" + text + "'").c_str());
  return tile;
}

}  // namespace strassentile
