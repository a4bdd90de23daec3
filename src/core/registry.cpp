// Name → algorithm lookup: the built-ins plus, when a data directory is set, the shipped catalogues.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include "builtin_algorithms.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/loaders.hpp"
#include "strassentile/polynomial.hpp"

namespace strassentile {
namespace {

struct DataCatalogue {
  std::mutex mutex;
  bool dir_initialised = false;
  std::string dir;
  bool loaded = false;
  std::vector<Algorithm> algorithms;  // loaded lazily from `dir`
};

DataCatalogue& catalogue() {
  static DataCatalogue instance;
  return instance;
}

// Caller holds the mutex.
const std::string& current_dir(DataCatalogue& cat) {
  if (!cat.dir_initialised) {
    const char* env = std::getenv("STRASSENTILE_FMM_DIR");
    cat.dir = env != nullptr ? env : default_data_dir();
    cat.dir_initialised = true;
  }
  return cat.dir;
}

const std::vector<Algorithm>& data_algorithms(DataCatalogue& cat) {
  if (!cat.loaded) {
    const std::string& dir = current_dir(cat);
    if (!dir.empty()) {
      cat.algorithms = load_alphatensor_npz(dir + "/alphatensor/factorizations_r.npz");
      Algorithm dps = load_sms_algorithm(dir + "/dumas-pernet-sedoglavic/4x4x4_48_rational", "dps-4x4x4-48");
      dps.source = "Dumas, Pernet, Sedoglavic, rational <4,4,4>:48 (hal-05112145), " + dps.source;
      cat.algorithms.push_back(std::move(dps));
    }
    cat.loaded = true;
  }
  return cat.algorithms;
}

// "<prefix>AxBxC" → <A,B,C>; false for other names.
bool parse_sized_name(const std::string& name, const std::string& prefix, TileFormat& tile) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string spec = name.substr(prefix.size());
  if (spec.find('x') == std::string::npos) return false;
  try {
    tile = parse_tile_format(spec);
  } catch (const std::invalid_argument&) {
    return false;
  }
  return true;
}

}  // namespace

// The build's own data/fmm (a compile definition), when it is still there: a library moved away from its source
// tree falls back to the built-ins instead of failing on a missing file.
std::string default_data_dir() {
#ifdef STRASSENTILE_DEFAULT_FMM_DIR
  const std::string dir = STRASSENTILE_DEFAULT_FMM_DIR;
  if (std::ifstream(dir + "/alphatensor/factorizations_r.npz").good()) return dir;
#endif
  return "";
}

void set_data_dir(const std::string& dir) {
  // Checked here, where the mistake is made: a bad folder would otherwise surface later, in every call that lists
  // or loads algorithms, built-ins included.
  if (!dir.empty() && !std::ifstream(dir + "/alphatensor/factorizations_r.npz").good())
    throw std::invalid_argument("set_data_dir('" + dir + "'): no alphatensor/factorizations_r.npz there; pass a folder "
                                "laid out like the repository's data/fmm, or '' for the built-in algorithms only");
  DataCatalogue& cat = catalogue();
  std::lock_guard<std::mutex> lock(cat.mutex);
  cat.dir = dir;
  cat.dir_initialised = true;
  cat.loaded = false;
  cat.algorithms.clear();
}

std::string data_dir() {
  DataCatalogue& cat = catalogue();
  std::lock_guard<std::mutex> lock(cat.mutex);
  return current_dir(cat);
}

Algorithm get(const std::string& name) {
  if (name == "strassen") return strassen();
  if (name == "winograd") return winograd();
  if (name == "laderman") return laderman();
  if (name == "strassen2") return strassen_squared();
  TileFormat tile;
  if (parse_sized_name(name, "naive-", tile)) return naive(tile);
  if (parse_sized_name(name, "poly-", tile)) return polynomial_algorithm(tile);
  {
    DataCatalogue& cat = catalogue();
    std::lock_guard<std::mutex> lock(cat.mutex);
    for (const Algorithm& alg : data_algorithms(cat))
      if (alg.name == name) return alg;
    // AlphaTensor lists each format once, in one order of its sizes; the other orders follow by the tensor's
    // symmetries.
    if (parse_sized_name(name, "alphatensor-", tile)) {
      const std::array<std::size_t, 3> wanted{tile.a, tile.b, tile.c};
      for (const Algorithm& alg : data_algorithms(cat)) {
        const std::array<std::size_t, 3> listed{alg.tile.a, alg.tile.b, alg.tile.c};
        if (alg.name.rfind("alphatensor-", 0) == 0 &&
            std::is_permutation(listed.begin(), listed.end(), wanted.begin())) {
          Algorithm reordered = reorder(alg, tile);
          reordered.name = name;
          reordered.source =
              tile.to_string() + " from " + alg.name + " by the matmul tensor's symmetries; " + alg.source;
          return reordered;
        }
      }
    }
  }
  std::string known;
  for (const std::string& n : available()) known += (known.empty() ? "" : ", ") + n;
  std::string hint;
  if (name.rfind("alphatensor-", 0) == 0 || name.rfind("dps-", 0) == 0)
    hint = " (catalogue algorithms need the data directory: set STRASSENTILE_FMM_DIR to the repository's data/fmm)";
  throw std::invalid_argument("unknown algorithm '" + name + "'" + hint + "; available: " + known +
                              ", naive-AxBxC and poly-AxBxC for any sizes, alphatensor-AxBxC in any order of a listed "
                              "format's sizes");
}

std::vector<std::string> available() {
  std::vector<std::string> names = {"strassen", "winograd", "laderman", "strassen2",
                                    "naive-2x2x2", "naive-3x3x3", "naive-4x4x4",
                                    "poly-2x2x2",  "poly-3x3x3",  "poly-4x4x4"};
  DataCatalogue& cat = catalogue();
  std::lock_guard<std::mutex> lock(cat.mutex);
  for (const Algorithm& alg : data_algorithms(cat)) names.push_back(alg.name);
  return names;
}

}  // namespace strassentile
