// SMS sparse-matrix text format (as used by Dumas–Pernet–Sedoglavic's fast-matmul catalogue).
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "strassentile/loaders.hpp"

namespace strassentile {
namespace {

constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{1} << 28;
constexpr std::size_t kMaxSmsSide = 1 << 16;
constexpr std::size_t kMaxSmsEntries = std::size_t{1} << 20;  // far above any known algorithm (48x16)

[[noreturn]] void fail(const std::string& origin, std::size_t line, const std::string& why) {
  throw FormatError(origin + ":" + std::to_string(line) + ": " + why);
}

bool parse_unsigned(const std::string& s, std::size_t& out) {
  if (s.empty() || s.size() > 12) return false;
  out = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    out = out * 10 + static_cast<std::size_t>(ch - '0');
  }
  return true;
}

// "3", "-1/2", "0.25", "1e-3": an integer, a rational p/q or a decimal, as double. std::from_chars rather than
// an istream: it is locale-independent, and istream's double extraction was seen to crash when the op library is
// loaded into a CUDA PyTorch process (an instantiation of num_get in our .so mixed with the process's libstdc++).
bool parse_value(const std::string& s, double& out) {
  const std::size_t slash = s.find('/');
  if (slash != std::string::npos) {
    double num = 0, den = 0;
    if (!parse_value(s.substr(0, slash), num) || !parse_value(s.substr(slash + 1), den)) return false;
    if (den == 0 || s.find('/', slash + 1) != std::string::npos) return false;
    out = num / den;
    return std::isfinite(out);
  }
  if (s.empty() || s.size() > 64) return false;
  const char* first = s.data() + (s[0] == '+' ? 1 : 0);
  const char* last = s.data() + s.size();
  const auto [end, error] = std::from_chars(first, last, out);
  return error == std::errc() && end == last && std::isfinite(out);
}

}  // namespace

std::string read_file(const std::string& path) {
  // Only regular files of bounded size: a device (/dev/zero) or a huge file would never finish loading.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw FormatError(path + ": cannot open file (it does not exist)");
  if (!std::filesystem::is_regular_file(status)) throw FormatError(path + ": not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw FormatError(path + ": cannot read its size");
  if (size > kMaxFileBytes)
    throw FormatError(path + ": " + std::to_string(size) + " bytes, more than the limit of 256 MiB for an algorithm file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path + ": cannot open file for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FormatError(path + ": read error");
  return buffer.str();
}

Matrix<double> parse_sms(const std::string& text, const std::string& origin) {
  std::istringstream in(text);
  std::string line;
  std::size_t line_no = 0;
  bool have_header = false, terminated = false;
  std::size_t rows = 0, cols = 0;
  Matrix<double> m;
  std::vector<bool> seen;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (terminated) fail(origin, line_no, "data after the '0 0 0' terminator");
    std::istringstream fields(line);
    std::string f1, f2, f3, extra;
    if (!(fields >> f1 >> f2 >> f3) || (fields >> extra)) fail(origin, line_no, "expected three fields");
    if (!have_header) {
      // "rows cols R" (R: rational field) — other field letters (M, I, ...) are accepted as well.
      if (!parse_unsigned(f1, rows) || !parse_unsigned(f2, cols) || rows == 0 || cols == 0)
        fail(origin, line_no, "header must be 'rows cols field' with positive sizes");
      if (rows > kMaxSmsSide || cols > kMaxSmsSide || rows * cols > kMaxSmsEntries)
        fail(origin, line_no, "matrix too large");
      m = Matrix<double>(rows, cols);
      seen.assign(rows * cols, false);
      have_header = true;
      continue;
    }
    std::size_t i = 0, j = 0;
    double value = 0;
    if (!parse_unsigned(f1, i) || !parse_unsigned(f2, j))
      fail(origin, line_no, "row and column must be non-negative integers");
    if (i == 0 && j == 0) {
      if (f3 != "0") fail(origin, line_no, "terminator must be '0 0 0'");
      terminated = true;
      continue;
    }
    if (!parse_value(f3, value)) fail(origin, line_no, "value '" + f3 + "' is not a finite number or p/q");
    if (i < 1 || i > rows || j < 1 || j > cols)
      fail(origin, line_no,
           "entry (" + f1 + "," + f2 + ") outside the " + std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
    if (seen[(i - 1) * cols + (j - 1)]) fail(origin, line_no, "entry (" + f1 + "," + f2 + ") given twice");
    seen[(i - 1) * cols + (j - 1)] = true;
    m(i - 1, j - 1) = value;
  }
  if (!have_header) fail(origin, line_no, "no 'rows cols field' header");
  if (!terminated) fail(origin, line_no, "missing '0 0 0' terminator (truncated file?)");
  return m;
}

Matrix<double> load_sms(const std::string& path) { return parse_sms(read_file(path), path); }

Algorithm load_sms_algorithm(const std::string& path, const std::string& name) {
  // Accept ".../stem_L.sms", "_R.sms", "_P.sms" or the bare stem.
  std::string stem = path;
  for (const char* suffix : {"_L.sms", "_R.sms", "_P.sms"}) {
    const std::string s = suffix;
    if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0) {
      stem.resize(stem.size() - s.size());
      break;
    }
  }
  if (stem == path && stem.size() >= 4 && stem.compare(stem.size() - 4, 4, ".sms") == 0)
    throw FormatError(path + ": an SMS algorithm is three files STEM_L.sms, STEM_R.sms, STEM_P.sms; pass one of them "
                             "or the common STEM");
  Matrix<double> enc_x = load_sms(stem + "_L.sms");
  Matrix<double> enc_w = load_sms(stem + "_R.sms");
  Matrix<double> dec = load_sms(stem + "_P.sms");
  // Infer <a,b,c> from ab, bc and ac: a² = ab·ac/bc.
  const std::size_t ab = enc_x.cols(), bc = enc_w.cols(), ac = dec.rows();
  const double a_real = std::sqrt(static_cast<double>(ab) * static_cast<double>(ac) / static_cast<double>(bc));
  const auto a = static_cast<std::size_t>(std::llround(a_real));
  if (a == 0 || ab % a != 0 || ac % a != 0 || (ab / a) * (ac / a) != bc)
    throw FormatError(stem + ": L, R, P widths " + std::to_string(ab) + ", " + std::to_string(bc) + ", " +
                      std::to_string(ac) + " are not ab, bc, ac of any tile format");
  const TileFormat tile{a, ab / a, ac / a};
  const std::size_t slash = stem.find_last_of('/');
  std::string default_name = stem.substr(slash == std::string::npos ? 0 : slash + 1);
  try {
    return make_algorithm(name.empty() ? default_name : name, stem + "_{L,R,P}.sms", tile, std::move(enc_x),
                          std::move(enc_w), std::move(dec));
  } catch (const std::invalid_argument& e) {
    throw FormatError(stem + ": " + e.what());
  }
}

void save_sms_algorithm(const Algorithm& alg, const std::string& stem) {
  alg.validate();
  const auto write = [&](const Matrix<double>& m, const std::string& suffix, const char* role) {
    const std::string path = stem + suffix;
    std::ofstream out(path);
    if (!out) throw FormatError(path + ": cannot open file for writing");
    out << "# " << role << " of " << alg.name << " " << alg.tile.to_string() << ":" << alg.rank() << "\n";
    out << m.rows() << " " << m.cols() << " R\n";
    for (std::size_t i = 0; i < m.rows(); ++i)
      for (std::size_t j = 0; j < m.cols(); ++j)
        if (m(i, j) != 0.0) {
          char buf[32];  // shortest text that reads back to the same double, locale-free
          const auto [end, error] = std::to_chars(buf, buf + sizeof buf, m(i, j));
          if (error != std::errc()) throw FormatError(path + ": cannot format a coefficient");
          out << i + 1 << " " << j + 1 << " " << std::string(buf, end) << "\n";
        }
    out << "0 0 0\n";
    if (!out) throw FormatError(path + ": write failed");
  };
  write(alg.enc_x, "_L.sms", "enc_x (L)");
  write(alg.enc_w, "_R.sms", "enc_w (R)");
  write(alg.dec, "_P.sms", "dec (P)");
}

}  // namespace strassentile
