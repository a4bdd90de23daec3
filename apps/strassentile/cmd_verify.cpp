// `strassentile verify [NAME...] [--file PATH]`: checks algorithms against the matmul tensor.
#include <cstdio>

#include "cli_args.hpp"
#include "commands.hpp"
#include "strassentile/algorithm.hpp"
#include "strassentile/loaders.hpp"

namespace strassentile::cli {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<Algorithm> load_file(const std::string& path) {
  if (ends_with(path, ".npz")) return load_alphatensor_npz(path);
  if (ends_with(path, ".sms") || !ends_with(path, ".npy")) return {load_sms_algorithm(path)};
  throw UsageError("--file " + path + ": expected an AlphaTensor .npz or an .sms triplet (any of _L/_R/_P.sms)");
}

}  // namespace

int run_verify(const std::vector<std::string>& argv) {
  const Args args(argv, {"file", "data-dir", "tol"}, {});
  apply_data_dir(args.get("data-dir", ""));
  const double tol = args.get_double("tol", 1e-12);
  if (!(tol >= 0.0)) throw UsageError("--tol must be >= 0 (the largest deviation accepted), got " + args.get("tol", ""));
  std::vector<Algorithm> algorithms;
  if (args.has("file")) {
    algorithms = load_file(args.get("file", ""));
  }
  for (const std::string& name : args.positionals()) algorithms.push_back(get(name));
  if (!args.has("file") && args.positionals().empty())
    for (const std::string& name : available()) algorithms.push_back(get(name));

  std::size_t failures = 0;
  for (const Algorithm& alg : algorithms) {
    const double err = alg.verify();
    const bool ok = err <= tol;
    failures += ok ? 0 : 1;
    std::printf("%-4s %-22s %-10s rank %4zu  max error %.2e\n", ok ? "ok" : "FAIL", alg.name.c_str(),
                alg.tile.to_string().c_str(), alg.rank(), err);
  }
  std::printf("%zu verified, %zu failed (tolerance %.1e)\n", algorithms.size() - failures, failures, tol);
  return failures == 0 ? 0 : 1;
}

}  // namespace strassentile::cli
