#include "config_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace strassentile::train {

namespace {

std::map<std::string, std::string> read_config_lines(const std::string& path, const std::vector<std::string>& keys,
                                                     int depth) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("config file " + path + ": cannot open");
  std::map<std::string, std::string> values;
  bool own_variants = false;  // this file's variant lines replace an included file's
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    const std::string where = path + ":" + std::to_string(number);
    if (eq == std::string::npos) throw std::invalid_argument(where + ": expected 'key = value', got '" + line + "'");
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "include") {
      if (!values.empty()) throw std::invalid_argument(where + ": 'include' must come before every other key");
      if (depth >= 4) throw std::invalid_argument(where + ": includes nest deeper than 4 files");
      const std::size_t slash = path.rfind('/');
      const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
      values = read_config_lines(value.empty() || value[0] == '/' ? value : dir + value, keys, depth + 1);
    } else if (key == "variant") {
      if (!own_variants) values.erase("variants");
      own_variants = true;
      values["variants"] += (values["variants"].empty() ? "" : ";") + value;
    } else if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      values[key] = value;
    } else {
      throw std::invalid_argument(where + ": unknown key '" + key + "'");
    }
  }
  return values;
}

}  // namespace

std::map<std::string, std::string> read_config_lines(const std::string& path, const std::vector<std::string>& keys) {
  return read_config_lines(path, keys, 0);
}

std::string trim(const std::string& s) {
  const std::size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    const std::string item = trim(s.substr(start, end - start));
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

int64_t to_int(const std::string& key, const std::string& v, int64_t min) {
  if (v.empty() || v.size() > 15 || v.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("--" + key + " must be a non-negative integer, got '" + v + "'");
  const int64_t x = std::stoll(v);
  if (x < min) throw std::invalid_argument("--" + key + " must be >= " + std::to_string(min) + ", got " + v);
  return x;
}

double to_double(const std::string& key, const std::string& v, double min) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x) || x < min)
    throw std::invalid_argument("--" + key + " must be a number >= " + std::to_string(min) + ", got '" + v + "'");
  return x;
}

void read_variants_and_seeds(const std::map<std::string, std::string>& v, std::vector<std::string>& variants,
                             std::vector<uint64_t>& seeds,
                             const std::function<void(const std::string&)>& check_variant) {
  if (v.count("variants") != 0) {
    variants = split_list(v.at("variants"), ';');
    if (variants.empty()) throw std::invalid_argument("--variants is empty");
  }
  for (const auto& s : variants) check_variant(s);
  if (v.count("seeds") != 0) {
    seeds.clear();
    for (const auto& s : split_list(v.at("seeds"), ',')) seeds.push_back(static_cast<uint64_t>(to_int("seeds", s, 0)));
    if (seeds.empty()) throw std::invalid_argument("--seeds is empty");
  }
}

}  // namespace strassentile::train
