#include <gtest/gtest.h>

#include "strassentile/tile_format.hpp"

namespace strassentile {
namespace {

TEST(TileFormat, ParsesEverySpelling) {
  EXPECT_EQ(parse_tile_format("4"), (TileFormat{4, 4, 4}));
  EXPECT_EQ(parse_tile_format("2,3,4"), (TileFormat{2, 3, 4}));
  EXPECT_EQ(parse_tile_format("2x3x4"), (TileFormat{2, 3, 4}));
  EXPECT_EQ(parse_tile_format("<1,4,4>"), (TileFormat{1, 4, 4}));
  EXPECT_EQ(parse_tile_format("12"), (TileFormat{12, 12, 12}));
}

TEST(TileFormat, SizesAndName) {
  const TileFormat t{2, 3, 4};
  EXPECT_EQ(t.x_size(), 6u);
  EXPECT_EQ(t.w_size(), 12u);
  EXPECT_EQ(t.y_size(), 8u);
  EXPECT_EQ(t.naive_rank(), 24u);
  EXPECT_EQ(t.to_string(), "<2,3,4>");
}

TEST(TileFormat, RejectsMalformedText) {
  for (const char* bad : {"", "2,3", "2,3,4,5", "a", "2,,3", "<2,3,4", "2,3,", "-2", "2 3 4", "0", "2,0,2"}) {
    try {
      parse_tile_format(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("tile"), std::string::npos) << e.what();
    }
  }
}

TEST(TileFormat, ValidateNamesTheArgument) {
  try {
    validate(TileFormat{0, 2, 2}, "my_tile");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("my_tile <0,2,2>"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strassentile
