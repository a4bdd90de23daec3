// `strassentile fit` and `strassentile truncate`: rank-r approximations of the matmul tensor, optionally saved as
// an .sms triplet that `verify --file` and the loaders read back.
#include <cstdio>

#include "cli_args.hpp"
#include "commands.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/loaders.hpp"

namespace strassentile::cli {
namespace {

void report(const Algorithm& alg, const std::string& save) {
  std::printf("%s: %s rank %zu, relative error %.6f (Gaussian tiles), max tensor deviation %.3e, FLOP ratio %.3fx\n",
              alg.name.c_str(), alg.tile.to_string().c_str(), alg.rank(), relative_tensor_error(alg), alg.verify(),
              alg.flop_ratio());
  if (!save.empty()) {
    save_sms_algorithm(alg, save);
    std::printf("saved %s_{L,R,P}.sms\n", save.c_str());
  }
}

TileFormat tile_option(const Args& args) {
  try {
    return parse_tile_format(args.get("tile", "4"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--") + e.what());
  }
}

}  // namespace

int run_fit(const std::vector<std::string>& argv) {
  const Args args(argv, {"tile", "rank", "restarts", "iterations", "seed", "save"}, {});
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  FitOptions o;
  o.restarts = args.get_size("restarts", o.restarts);
  o.iterations = args.get_size("iterations", o.iterations);
  o.seed = args.get_size("seed", o.seed);
  const FitResult r = fit(tile_option(args), args.get_size("rank", 24), o);
  std::printf("restarts:");
  for (double e : r.restart_errors) std::printf(" %.4f", e);
  std::printf("\n");
  report(r.algorithm, args.get("save", ""));
  return 0;
}

int run_truncate(const std::vector<std::string>& argv) {
  const Args args(argv, {"rank", "data-dir", "save"}, {});
  if (args.positionals().size() != 1) throw UsageError("expected one algorithm name");
  apply_data_dir(args.get("data-dir", ""));
  report(truncate(get(args.positionals()[0]), args.get_size("rank", 24)), args.get("save", ""));
  return 0;
}

}  // namespace strassentile::cli
