// The work of `strassentile verify` after its arguments are parsed: load the file (format from its name), check
// every algorithm against the matmul tensor (the core refuses tensors and work past its limits), print the report.
// fuzz/fuzz_verify.cpp runs this same code on hostile files. Header-only so the harness compiles it without the CLI.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/loaders.hpp"

namespace strassentile::cli {

struct VerifyRequest {
  std::optional<std::string> file;  // an AlphaTensor .npz or one file (or the stem) of an .sms triplet
  std::vector<std::string> names;   // catalogue or built-in algorithm names
  double tolerance = 1e-12;         // the largest deviation from the matmul tensor accepted (>= 0)
};

namespace detail {
inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace detail

inline std::vector<Algorithm> load_algorithm_file(const std::string& path) {
  using detail::ends_with;
  if (ends_with(path, ".npz")) return load_alphatensor_npz(path);
  if (ends_with(path, ".sms") || !ends_with(path, ".npy")) return {load_sms_algorithm(path)};
  throw UsageError("--file " + path + ": expected an AlphaTensor .npz or an .sms triplet (any of _L/_R/_P.sms)");
}

// Verifies the file's algorithms, then the named ones; every available algorithm when the request names none.
// Prints one line per algorithm and a summary to `out`. Returns the exit code: 0 all passed, 1 some failed.
inline int verify_command(const VerifyRequest& request, std::FILE* out) {
  std::vector<Algorithm> algorithms;
  if (request.file) algorithms = load_algorithm_file(*request.file);
  for (const std::string& name : request.names) algorithms.push_back(get(name));
  if (!request.file && request.names.empty())
    for (const std::string& name : available()) algorithms.push_back(get(name));

  std::size_t failures = 0;
  for (const Algorithm& alg : algorithms) {
    const double err = alg.verify();
    const bool ok = err <= request.tolerance;
    failures += ok ? 0 : 1;
    std::fprintf(out, "%-4s %-22s %-10s rank %4zu  max error %.2e\n", ok ? "ok" : "FAIL", alg.name.c_str(),
                 alg.tile.to_string().c_str(), alg.rank(), err);
  }
  std::fprintf(out, "%zu verified, %zu failed (tolerance %.1e)\n", algorithms.size() - failures, failures,
               request.tolerance);
  return failures == 0 ? 0 : 1;
}

}  // namespace strassentile::cli
