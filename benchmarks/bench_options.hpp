// The benchmarks' command lines: OUT.json first, then `--name value` pairs from a fixed set of names.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace strassentile::bench {

inline std::vector<std::string> split(const std::string& list, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

// "4,8,16" → {4, 8, 16}; an empty list (or ",") gives none.
inline std::vector<std::int64_t> split_numbers(const std::string& list, char sep = ',') {
  std::vector<std::int64_t> out;
  for (const std::string& item : split(list, sep)) out.push_back(std::atoll(item.c_str()));
  return out;
}

class Options {
 public:
  // False, with `usage` printed, when OUT.json is missing, a name is not in `known` or has no value.
  bool parse(int argc, char** argv, const std::set<std::string>& known, const std::string& usage) {
    const auto fail = [&](const std::string& why) {
      if (!why.empty()) std::fprintf(stderr, "%s\n", why.c_str());
      std::fprintf(stderr, "usage: %s %s\n", argv[0], usage.c_str());
      return false;
    };
    if (argc < 2) return fail("");
    out_ = argv[1];
    for (int i = 2; i < argc; i += 2) {
      const std::string name = argv[i];
      if (known.count(name) == 0) return fail("unknown option " + name);
      if (i + 1 >= argc) return fail(name + " needs a value");
      values_[name] = argv[i + 1];
    }
    return true;
  }
  const std::string& out() const { return out_; }
  std::string text(const std::string& name, const std::string& fallback) const {
    const auto found = values_.find(name);
    return found == values_.end() ? fallback : found->second;
  }
  int integer(const std::string& name, int fallback, int at_least) const {
    const auto found = values_.find(name);
    return found == values_.end() ? fallback : std::max(at_least, std::atoi(found->second.c_str()));
  }
  std::vector<std::int64_t> numbers(const std::string& name, const std::vector<std::int64_t>& fallback) const {
    const auto found = values_.find(name);
    return found == values_.end() ? fallback : split_numbers(found->second);
  }

 private:
  std::string out_;
  std::map<std::string, std::string> values_;
};

}  // namespace strassentile::bench
