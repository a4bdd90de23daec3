// Parsing of the training programs' option values (`strassentile-lab train vit|lm`), shared so that both accept
// and reject the same spellings with the same messages.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace strassentile::train {

// `s` without leading and trailing blanks (spaces, tabs, carriage returns).
std::string trim(const std::string& s);
// The non-empty, trimmed items of `s` separated by `sep`.
std::vector<std::string> split_list(const std::string& s, char sep);
// A non-negative integer >= min, for option --key; otherwise std::invalid_argument naming --key.
int64_t to_int(const std::string& key, const std::string& v, int64_t min);
// A finite number >= min, for option --key; otherwise std::invalid_argument naming --key.
double to_double(const std::string& key, const std::string& v, double min);
// --variants (';'-separated, each passed to `check_variant` now so that a bad one fails before any training) and
// --seeds (','-separated), where given, into `variants` and `seeds`; an empty list is std::invalid_argument.
// The `key = value` lines of a config file (`#` starts a comment; each `variant = ...` line adds one entry to
// "variants", ';'-joined), every key one of `keys`; std::invalid_argument names the file, line and problem.
// `include = other.cfg` (first, path relative to this file) reads that file's values first; this file's lines
// override them, and its variant lines, where it has any, replace the included ones.
std::map<std::string, std::string> read_config_lines(const std::string& path, const std::vector<std::string>& keys);
void read_variants_and_seeds(const std::map<std::string, std::string>& v, std::vector<std::string>& variants,
                             std::vector<uint64_t>& seeds,
                             const std::function<void(const std::string&)>& check_variant);

}  // namespace strassentile::train
