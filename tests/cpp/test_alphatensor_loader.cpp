#include <gtest/gtest.h>

#include <map>

#include "ndarray.hpp"
#include "npz_writer.hpp"
#include "strassentile/loaders.hpp"
#include "test_support.hpp"

namespace strassentile {
namespace {

using testing::make_zip;
using testing::npy_int64;
using testing::npy_object_array;
using testing::npy_raw;

ByteView view(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

void expect_format_error(const std::string& bytes, const std::string& needle) {
  try {
    parse_alphatensor_npz(view(bytes), "test.npz");
    ADD_FAILURE() << "accepted; expected an error mentioning '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.npz"), std::string::npos) << e.what();
  }
}

TEST(AlphaTensorCatalogue, AllNinetyThreeFormatsLoadAndAreExact) {
  const auto algorithms = load_alphatensor_npz(testing::fmm_dir() + "/alphatensor/factorizations_r.npz");
  ASSERT_EQ(algorithms.size(), 93u);
  std::map<std::string, std::size_t> rank_of;
  for (const Algorithm& alg : algorithms) {
    EXPECT_LE(alg.verify(), 1e-12) << alg.name;
    rank_of[alg.name] = alg.rank();
  }
  // Ranks quoted in data/fmm/README.md and the AlphaTensor paper.
  EXPECT_EQ(rank_of.at("alphatensor-2x2x2"), 7u);
  EXPECT_EQ(rank_of.at("alphatensor-3x3x3"), 23u);
  EXPECT_EQ(rank_of.at("alphatensor-4x4x4"), 49u);
  EXPECT_EQ(rank_of.at("alphatensor-2x2x4"), 14u);
  EXPECT_EQ(rank_of.at("alphatensor-2x4x4"), 26u);
  EXPECT_EQ(rank_of.at("alphatensor-3x4x4"), 38u);
}

// A synthetic npz built from our own Strassen, in both encodings the catalogue uses, must load back to it.
std::vector<std::int64_t> column_major_factor(const Matrix<double>& m_by_rank_rows) {
  // AlphaTensor stores (n × R) with products as columns.
  std::vector<std::int64_t> out;
  for (std::size_t q = 0; q < m_by_rank_rows.cols(); ++q)
    for (std::size_t p = 0; p < m_by_rank_rows.rows(); ++p)
      out.push_back(static_cast<std::int64_t>(m_by_rank_rows(p, q)));
  return out;
}

TEST(AlphaTensorCatalogue, SyntheticArchiveRoundTripsBothEncodings) {
  const Algorithm s = get("strassen");
  // w holds vec((AB)ᵀ): transpose our dec's output index.
  Matrix<double> dec_t(7, 4);
  for (std::size_t p = 0; p < 7; ++p)
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 2; ++j) dec_t(p, j * 2 + i) = s.dec(i * 2 + j, p);
  const auto u = column_major_factor(s.enc_x), v = column_major_factor(s.enc_w), w = column_major_factor(dec_t);
  std::vector<std::int64_t> stacked = u;
  stacked.insert(stacked.end(), v.begin(), v.end());
  stacked.insert(stacked.end(), w.begin(), w.end());

  for (bool compress : {true, false}) {
    const std::string npz = make_zip({{"2,2,2.npy", npy_int64({3, 4, 7}, stacked)},
                                      {"2,2,2x.npy", npy_object_array({{{4, 7}, u}, {{4, 7}, v}, {{4, 7}, w}})}},
                                     compress);
    // The second key is malformed on purpose; drop it and check the good ones separately.
    expect_format_error(npz, "2,2,2x.npy");
    const std::string good = make_zip({{"2,2,2.npy", npy_int64({3, 4, 7}, stacked)},
                                       {"1,2,2.npy", npy_object_array({{{2, 8}, std::vector<std::int64_t>(16, 0)},
                                                                       {{4, 8}, std::vector<std::int64_t>(32, 0)},
                                                                       {{2, 8}, std::vector<std::int64_t>(16, 0)}})}},
                                      compress);
    const auto algs = parse_alphatensor_npz(view(good), "test.npz");
    ASSERT_EQ(algs.size(), 2u);
    EXPECT_TRUE(algs[0].enc_x == s.enc_x);
    EXPECT_TRUE(algs[0].enc_w == s.enc_w);
    EXPECT_TRUE(algs[0].dec == s.dec);
    EXPECT_LE(algs[0].verify(), 1e-12);
    EXPECT_EQ(algs[1].tile, (TileFormat{1, 2, 2}));
    EXPECT_GT(algs[1].verify(), 0.5);  // all-zero factors load but are not exact
  }
  // The object-array encoding alone.
  const auto obj = parse_alphatensor_npz(
      view(make_zip({{"2,2,2.npy", npy_object_array({{{4, 7}, u}, {{4, 7}, v}, {{4, 7}, w}})}})), "obj.npz");
  ASSERT_EQ(obj.size(), 1u);
  EXPECT_TRUE(obj[0].dec == s.dec);
}

TEST(NpyReader, FortranOrderIsReordered) {
  // 2×3 matrix [[0,1,2],[3,4,5]] stored column-major is 0,3,1,4,2,5.
  const std::string npy = npy_int64({2, 3}, {0, 3, 1, 4, 2, 5}, /*fortran_order=*/true);
  const auto arr = detail::parse_npy(view(npy), "f.npy");
  ASSERT_EQ(arr.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(arr.values, (std::vector<double>{0, 1, 2, 3, 4, 5}));
}

TEST(NpyReader, MalformedHeadersAreRejected) {
  const std::string body(8 * 6, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {npy_raw("{'descr': '>i8', 'fortran_order': False, 'shape': (2, 3), }", body), "little-endian"},
      {npy_raw("{'descr': '<c16', 'fortran_order': False, 'shape': (2, 3), }", body), "unsupported dtype"},
      {npy_raw("{'descr': '<i8', 'fortran_order': Maybe, 'shape': (2, 3), }", body), "fortran_order"},
      {npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 4), }", body), "shape needs 64"},
      {npy_raw("{'descr': '<i8', 'fortran_order': False, }", body), "lacks"},
      {npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (99999999, 99999999), }", body), "2^24"},
      {npy_raw("{'descr': '<i8', 'shape': (2, 3), 'evil': 1}", body), "unexpected header key"},
      {std::string("\x93NUMPX\x01\x00", 8), "magic"},
      {std::string("\x93NUMPY\x01\x00\xff\x00", 10), "past the end"},
  };
  for (const auto& [bytes, needle] : cases) {
    try {
      detail::parse_npy(view(bytes), "bad.npy");
      ADD_FAILURE() << "accepted; expected '" << needle << "'";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

TEST(RestrictedUnpickler, RefusesArbitraryGlobals) {
  // pickle.dumps(os.system) style payload inside an object array.
  const std::string evil = std::string("\x80\x03", 2) + "cos\nsystem\n" + "X\x02\x00\x00\x00ls" + "\x85R.";
  const std::string npy = npy_raw("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", evil);
  try {
    detail::parse_npy(view(npy), "evil.npy");
    FAIL() << "an arbitrary global was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("refusing global 'os.system'"), std::string::npos) << e.what();
  }
}

TEST(RestrictedUnpickler, TruncationAndStructureErrors) {
  const std::string good =
      testing::pickle_object_array({{{2, 2}, {1, 2, 3, 4}}, {{2, 2}, {5, 6, 7, 8}}, {{2, 2}, {0, 0, 0, 0}}});
  const auto ok = detail::unpickle_object_array(view(good), {3}, "ok");
  ASSERT_EQ(ok.objects.size(), 3u);
  EXPECT_EQ(ok.objects[1]->values, (std::vector<double>{5, 6, 7, 8}));
  // Every proper prefix is truncated and must be rejected cleanly.
  for (std::size_t len = 0; len < good.size(); ++len)
    EXPECT_THROW(detail::unpickle_object_array(view(good.substr(0, len)), {3}, "cut"), FormatError) << len;
  EXPECT_THROW(detail::unpickle_object_array(view(good), {4}, "shape"), FormatError);
  // An unknown opcode.
  EXPECT_THROW(detail::unpickle_object_array(view(std::string("\x80\x03\xff.", 4)), {3}, "op"), FormatError);
}

TEST(AlphaTensorCatalogue, BrokenArchivesNameTheProblem) {
  const std::string ok_npy = npy_int64({3, 4, 7}, std::vector<std::int64_t>(84, 1));
  expect_format_error("definitely not a zip", "not a valid .npz");
  expect_format_error(make_zip({}), "");
  expect_format_error(make_zip({{"2,2,2.txt", ok_npy}}), "is not a .npy array");
  expect_format_error(make_zip({{"2,2.npy", ok_npy}}), "'a,b,c.npy'");
  expect_format_error(make_zip({{"2,2,3.npy", ok_npy}}), "factor v must be 6 x R for tile <2,2,3>");
  expect_format_error(make_zip({{"2,2,2.npy", npy_int64({4, 7}, std::vector<std::int64_t>(28, 1))}}),
                      "numeric array must have shape (3, n, R)");
  expect_format_error(make_zip({{"2,2,2.npy", npy_int64({3, 4, 0}, {})}}), "rank");
  expect_format_error(make_zip({{"2,2,3.npy", npy_object_array({{{4, 7}, std::vector<std::int64_t>(28)},
                                                               {{4, 7}, std::vector<std::int64_t>(28)},
                                                               {{4, 7}, std::vector<std::int64_t>(28)}})}}),
                      "factor v must be 6 x R");
  // Truncating a real archive anywhere is an error, never a crash.
  const std::string real = read_file(testing::fmm_dir() + "/alphatensor/factorizations_r.npz");
  for (std::size_t len : {std::size_t{0}, std::size_t{10}, real.size() / 2, real.size() - 1})
    EXPECT_THROW(parse_alphatensor_npz(view(real.substr(0, len)), "cut.npz"), FormatError) << len;
}

TEST(AlphaTensorCatalogue, MissingFileNamesThePath) {
  try {
    load_alphatensor_npz("/no/such/file.npz");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/file.npz: cannot open"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strassentile
