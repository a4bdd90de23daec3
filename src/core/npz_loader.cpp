// AlphaTensor's factorizations_r.npz: a zip of .npy entries named "a,b,c.npy" (read with libzip).
#include <zip.h>

#include <memory>

#include "ndarray.hpp"
#include "strassentile/loaders.hpp"

namespace strassentile {
namespace {

using detail::NdArray;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

[[noreturn]] void fail(const std::string& origin, const std::string& why) {
  throw FormatError(origin + ": " + why);
}

// "a,b,c.npy" → <a,b,c>, or nullopt-like failure message.
TileFormat parse_key(const std::string& entry, const std::string& origin) {
  const std::string suffix = ".npy";
  if (entry.size() <= suffix.size() || entry.compare(entry.size() - suffix.size(), suffix.size(), suffix) != 0)
    fail(origin, "entry '" + entry + "' is not a .npy array");
  const std::string key = entry.substr(0, entry.size() - suffix.size());
  try {
    const TileFormat tile = parse_tile_format(key);
    if (key.find(',') == std::string::npos) throw std::invalid_argument("one size");
    if (tile.a > 64 || tile.b > 64 || tile.c > 64) throw std::invalid_argument("too large");
    return tile;
  } catch (const std::invalid_argument&) {
    fail(origin, "entry '" + entry + "' is not named 'a,b,c.npy' with sides 1..64");
  }
}

// (u, v, w) as three 2-D arrays, from either a (3, n, R) numeric array or a (3,) object array.
std::vector<NdArray> factor_arrays(const NdArray& array, const std::string& where) {
  std::vector<NdArray> factors;
  if (array.is_object) {
    if (array.shape != std::vector<std::size_t>{3}) fail(where, "object array must hold exactly (u, v, w)");
    for (const auto& obj : array.objects) factors.push_back(*obj);
  } else {
    if (array.shape.size() != 3 || array.shape[0] != 3) fail(where, "numeric array must have shape (3, n, R)");
    const std::size_t n = array.shape[1], r = array.shape[2];
    for (std::size_t f = 0; f < 3; ++f) {
      NdArray factor;
      factor.shape = {n, r};
      factor.values.assign(array.values.begin() + static_cast<std::ptrdiff_t>(f * n * r),
                           array.values.begin() + static_cast<std::ptrdiff_t>((f + 1) * n * r));
      factors.push_back(std::move(factor));
    }
  }
  return factors;
}

Algorithm to_algorithm(const NdArray& array, TileFormat tile, const std::string& where) {
  const std::vector<NdArray> f = factor_arrays(array, where);
  const std::size_t expect_rows[3] = {tile.x_size(), tile.w_size(), tile.y_size()};
  const char* names[3] = {"u", "v", "w"};
  for (std::size_t i = 0; i < 3; ++i)
    if (f[i].shape.size() != 2 || f[i].shape[0] != expect_rows[i] || f[i].values.size() != f[i].element_count())
      fail(where, std::string("factor ") + names[i] + " must be " + std::to_string(expect_rows[i]) + " x R for tile " +
                      tile.to_string());
  const std::size_t r = f[0].shape[1];
  if (r == 0 || f[1].shape[1] != r || f[2].shape[1] != r) fail(where, "factors u, v, w disagree on the rank (or it is 0)");

  Matrix<double> enc_x(r, tile.x_size()), enc_w(r, tile.w_size()), dec(tile.y_size(), r);
  for (std::size_t p = 0; p < r; ++p) {
    for (std::size_t q = 0; q < tile.x_size(); ++q) enc_x(p, q) = f[0].values[q * r + p];
    for (std::size_t q = 0; q < tile.w_size(); ++q) enc_w(p, q) = f[1].values[q * r + p];
    // w's row j·a+i is entry (i,j) of (A·B)ᵀ, i.e. entry (i,j) of A·B: our row i·c+j.
    for (std::size_t i = 0; i < tile.a; ++i)
      for (std::size_t j = 0; j < tile.c; ++j) dec(i * tile.c + j, p) = f[2].values[(j * tile.a + i) * r + p];
  }
  const std::string name = "alphatensor-" + std::to_string(tile.a) + "x" + std::to_string(tile.b) + "x" +
                           std::to_string(tile.c);
  try {
    return make_algorithm(name, "AlphaTensor (Fawzi et al., Nature 2022), " + where, tile, std::move(enc_x),
                          std::move(enc_w), std::move(dec));
  } catch (const std::invalid_argument& e) {
    fail(where, e.what());
  }
}

}  // namespace

std::vector<Algorithm> parse_alphatensor_npz(ByteView bytes, const std::string& origin) {
  zip_error_t error;
  zip_error_init(&error);
  // The source does not own the buffer (freep = 0); the archive owns the source once opened.
  zip_source_t* source = zip_source_buffer_create(bytes.data, bytes.size, 0, &error);
  if (source == nullptr) fail(origin, std::string("cannot read as zip: ") + zip_error_strerror(&error));
  std::unique_ptr<zip_t, ZipCloser> archive(zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error));
  if (!archive) {
    zip_source_free(source);
    const std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail(origin, "not a valid .npz (zip) archive: " + why);
  }
  zip_error_fini(&error);

  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  if (count <= 0) fail(origin, "archive holds no arrays");
  std::vector<Algorithm> algorithms;
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    if (zip_stat_index(archive.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE))
      fail(origin, "cannot stat entry " + std::to_string(i));
    const std::string entry = st.name;
    const std::string where = origin + ":" + entry;
    const TileFormat tile = parse_key(entry, origin);
    if (st.size > detail::kMaxEntryBytes) fail(where, "entry larger than 256 MiB");

    std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(archive.get(), static_cast<zip_uint64_t>(i), 0));
    if (!file) fail(where, std::string("cannot open entry: ") + zip_strerror(archive.get()));
    std::vector<std::uint8_t> data(static_cast<std::size_t>(st.size));
    std::size_t got = 0;
    while (got < data.size()) {
      const zip_int64_t n = zip_fread(file.get(), data.data() + got, data.size() - got);
      if (n <= 0) fail(where, std::string("truncated or corrupt entry: ") + zip_file_strerror(file.get()));
      got += static_cast<std::size_t>(n);
    }
    const NdArray array = detail::parse_npy({data.data(), data.size()}, where);
    algorithms.push_back(to_algorithm(array, tile, where));
  }
  return algorithms;
}

std::vector<Algorithm> load_alphatensor_npz(const std::string& path) {
  const std::string bytes = read_file(path);
  return parse_alphatensor_npz({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, path);
}

}  // namespace strassentile
