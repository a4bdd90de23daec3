// Small argument parser for the strassentile subcommands: positionals, --flag VALUE, --flag=VALUE, --switch.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace strassentile::cli {

// A usage error: the message names the argument; main() prints it with the command's usage and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // `options` take a value; `switches` do not. Anything else starting with "--" is an error.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& options, const std::set<std::string>& switches);

  const std::vector<std::string>& positionals() const { return positionals_; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback) const;
  std::size_t get_size(const std::string& name, std::size_t fallback) const;
  double get_double(const std::string& name, double fallback) const;

  static std::size_t to_size(const std::string& what, const std::string& text);

 private:
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
};

}  // namespace strassentile::cli
