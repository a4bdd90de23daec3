// Exact algorithms written from the literature, in the notation the papers use, so that each line can be
// checked against its source by eye. Algorithm::verify() checks them against the matmul tensor in the tests.
#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "builtin_algorithms.hpp"

namespace strassentile {
namespace {

// A signed sum of named entries, e.g. "a11+a22-a21" or "m1+m4-m5". Entry names are a letter followed by
// 1-based indices: two digits for matrix entries (row, column), any number for products (m12).
struct LinearTerm {
  std::size_t first = 0;   // row (matrix entry) or product number, 1-based
  std::size_t second = 0;  // column (matrix entry), 1-based; unused for products
  double coef = 0;
};

std::vector<LinearTerm> parse_sum(const std::string& expr, char letter, bool is_product) {
  std::vector<LinearTerm> terms;
  std::size_t i = 0;
  const auto fail = [&](const char* why) {
    throw std::logic_error("built-in algorithm expression '" + expr + "': " + why);
  };
  while (i < expr.size()) {
    double sign = 1;
    if (expr[i] == '+' || expr[i] == '-') sign = expr[i++] == '-' ? -1 : 1;
    if (i >= expr.size() || expr[i] != letter) fail("expected an entry name");
    ++i;
    std::string digits;
    while (i < expr.size() && std::isdigit(static_cast<unsigned char>(expr[i]))) digits += expr[i++];
    LinearTerm term;
    term.coef = sign;
    if (is_product) {
      if (digits.empty()) fail("missing product number");
      term.first = std::stoul(digits);
    } else {
      if (digits.size() != 2) fail("matrix entries need two 1-based digits");
      term.first = static_cast<std::size_t>(digits[0] - '0');
      term.second = static_cast<std::size_t>(digits[1] - '0');
    }
    terms.push_back(term);
  }
  return terms;
}

// One factor of a product: a parenthesised sum "(a11-a21)" or a single entry "b22"; advances `i` past it.
std::string take_factor(const std::string& line, std::size_t& i) {
  if (i < line.size() && line[i] == '(') {
    const std::size_t close = line.find(')', i);
    if (close == std::string::npos) throw std::logic_error("built-in algorithm line '" + line + "': unclosed '('");
    std::string sum = line.substr(i + 1, close - i - 1);
    i = close + 1;
    return sum;
  }
  const std::size_t start = i++;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  return line.substr(start, i - start);
}

// Builds an algorithm from its formulas, one a line, spaces ignored: the products in order, "m1 = (A-sum)(B-sum)"
// with either factor a single entry written bare ("m2 = (a21+a22) b11"), then every output "c12 = m3+m5".
Algorithm from_formulas(std::string name, std::string source, TileFormat tile, const std::string& formulas) {
  std::vector<std::pair<std::string, std::string>> products;
  std::vector<std::string> outputs(tile.y_size());
  std::size_t line_start = 0;
  while (line_start < formulas.size()) {
    std::size_t line_end = formulas.find('\n', line_start);
    if (line_end == std::string::npos) line_end = formulas.size();
    std::string line;
    for (std::size_t i = line_start; i < line_end; ++i)
      if (!std::isspace(static_cast<unsigned char>(formulas[i]))) line += formulas[i];
    line_start = line_end + 1;
    if (line.empty()) continue;
    const auto fail = [&](const std::string& why) {
      throw std::logic_error(name + ": formula '" + line + "': " + why);
    };
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos || eq < 2) fail("expected 'mP = ...' or 'cUW = ...'");
    const std::string lhs = line.substr(0, eq);
    if (lhs[0] == 'm') {
      if (lhs != "m" + std::to_string(products.size() + 1)) fail("products must be numbered m1, m2, ... in order");
      std::size_t i = eq + 1;
      std::string a = take_factor(line, i);
      std::string b = take_factor(line, i);
      if (i != line.size()) fail("expected two factors");
      products.emplace_back(std::move(a), std::move(b));
    } else if (lhs[0] == 'c' && lhs.size() == 3) {
      // 1-based digits; anything below '1' wraps around to a huge index and is rejected with the rest.
      const std::size_t u = static_cast<std::size_t>(lhs[1] - '1'), w = static_cast<std::size_t>(lhs[2] - '1');
      if (u >= tile.a || w >= tile.c) fail("output index outside the tile");
      std::string& slot = outputs[u * tile.c + w];
      if (!slot.empty()) fail("output given twice");
      slot = line.substr(eq + 1);
    } else {
      fail("expected 'mP = ...' or 'cUW = ...'");
    }
  }

  const std::size_t r = products.size();
  Matrix<double> enc_x(r, tile.x_size()), enc_w(r, tile.w_size()), dec(tile.y_size(), r);
  for (std::size_t p = 0; p < r; ++p) {
    for (const auto& t : parse_sum(products[p].first, 'a', false))
      enc_x(p, (t.first - 1) * tile.b + (t.second - 1)) += t.coef;
    for (const auto& t : parse_sum(products[p].second, 'b', false))
      enc_w(p, (t.first - 1) * tile.c + (t.second - 1)) += t.coef;
  }
  for (std::size_t q = 0; q < outputs.size(); ++q) {
    if (outputs[q].empty()) throw std::logic_error(name + ": an output has no formula");
    for (const auto& t : parse_sum(outputs[q], 'm', true)) dec(q, t.first - 1) += t.coef;
  }
  return make_algorithm(std::move(name), std::move(source), tile, std::move(enc_x), std::move(enc_w),
                        std::move(dec));
}

}  // namespace

Algorithm strassen() {
  return from_formulas("strassen", "V. Strassen, Gaussian elimination is not optimal, Numer. Math. 13 (1969)",
                       {2, 2, 2}, R"(
      m1 = (a11+a22)(b11+b22)
      m2 = (a21+a22) b11
      m3 = a11 (b12-b22)
      m4 = a22 (b21-b11)
      m5 = (a11+a12) b22
      m6 = (a21-a11)(b11+b12)
      m7 = (a12-a22)(b21+b22)
      c11 = m1+m4-m5+m7
      c12 = m3+m5
      c21 = m2+m4
      c22 = m1-m2+m3+m6
  )");
}

// Winograd's variant: 7 products and 15 additions when the sums are shared. Expanded here:
//   S1=a21+a22, S2=S1-a11, S3=a11-a21, S4=a12-S2;  T1=b12-b11, T2=b22-T1, T3=b22-b12, T4=T2-b21
//   P1=a11·b11, P2=a12·b21, P3=S4·b22, P4=a22·T4, P5=S1·T1, P6=S2·T2, P7=S3·T3
//   c11=P1+P2, c12=P1+P6+P5+P3, c21=P1+P6+P7-P4, c22=P1+P6+P7+P5
Algorithm winograd() {
  return from_formulas("winograd", "S. Winograd, On multiplication of 2x2 matrices, Lin. Alg. Appl. 4 (1971)",
                       {2, 2, 2}, R"(
      m1 = a11 b11
      m2 = a12 b21
      m3 = (a12-a21-a22+a11) b22
      m4 = a22 (b22-b12+b11-b21)
      m5 = (a21+a22)(b12-b11)
      m6 = (a21+a22-a11)(b22-b12+b11)
      m7 = (a11-a21)(b22-b12)
      c11 = m1+m2
      c12 = m1+m6+m5+m3
      c21 = m1+m6+m7-m4
      c22 = m1+m6+m7+m5
  )");
}

Algorithm laderman() {
  return from_formulas(
      "laderman",
      "J. D. Laderman, A noncommutative algorithm for multiplying 3x3 matrices using 23 multiplications, "
      "Bull. AMS 82 (1976)",
      {3, 3, 3}, R"(
      m1 = (a11+a12+a13-a21-a22-a32-a33) b22
      m2 = (a11-a21)(-b12+b22)
      m3 = a22 (-b11+b12+b21-b22-b23-b31+b33)
      m4 = (-a11+a21+a22)(b11-b12+b22)
      m5 = (a21+a22)(-b11+b12)
      m6 = a11 b11
      m7 = (-a11+a31+a32)(b11-b13+b23)
      m8 = (-a11+a31)(b13-b23)
      m9 = (a31+a32)(-b11+b13)
      m10 = (a11+a12+a13-a22-a23-a31-a32) b23
      m11 = a32 (-b11+b13+b21-b22-b23-b31+b32)
      m12 = (-a13+a32+a33)(b22+b31-b32)
      m13 = (a13-a33)(b22-b32)
      m14 = a13 b31
      m15 = (a32+a33)(-b31+b32)
      m16 = (-a13+a22+a23)(b23+b31-b33)
      m17 = (a13-a23)(b23-b33)
      m18 = (a22+a23)(-b31+b33)
      m19 = a12 b21
      m20 = a23 b32
      m21 = a21 b13
      m22 = a31 b12
      m23 = a33 b33
      c11 = m6+m14+m19
      c12 = m1+m4+m5+m6+m12+m14+m15
      c13 = m6+m7+m9+m10+m14+m16+m18
      c21 = m2+m3+m4+m6+m14+m16+m17
      c22 = m2+m4+m5+m6+m20
      c23 = m14+m16+m17+m18+m21
      c31 = m6+m7+m8+m11+m12+m13+m14
      c32 = m12+m13+m14+m15+m22
      c33 = m6+m7+m8+m9+m23
  )");
}

Algorithm strassen_squared() {
  Algorithm alg = kron(strassen(), strassen());
  alg.name = "strassen2";
  alg.source = "Strassen applied to 2x2 blocks of 2x2 tiles: kron(strassen, strassen)";
  return alg;
}

}  // namespace strassentile
