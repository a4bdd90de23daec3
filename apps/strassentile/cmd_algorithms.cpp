// `strassentile algorithms`: every known algorithm with its tile, rank, FLOP ratio and verification error.
#include <cstdio>

#include "cli_args.hpp"
#include "commands.hpp"
#include "strassentile/algorithm.hpp"

namespace strassentile::cli {

void apply_data_dir(const std::string& dir) {
  if (!dir.empty()) set_data_dir(dir);
}

int run_algorithms(const std::vector<std::string>& argv) {
  const Args args(argv, {"data-dir"}, {});
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  apply_data_dir(args.get("data-dir", ""));
  const std::vector<std::string> names = available();
  std::printf("%-22s %-10s %5s %10s %12s\n", "name", "tile", "rank", "flop ratio", "max error");
  for (const std::string& name : names) {
    const Algorithm alg = get(name);
    std::printf("%-22s %-10s %5zu %9.3fx %12.2e\n", alg.name.c_str(), alg.tile.to_string().c_str(), alg.rank(),
                alg.flop_ratio(), alg.verify());
  }
  if (data_dir().empty())
    std::printf("(built-ins only: pass --data-dir DIR or set STRASSENTILE_FMM_DIR for the catalogues)\n");
  return 0;
}

}  // namespace strassentile::cli
