// `strassentile fit` and `strassentile truncate`: rank-r approximations of the matmul tensor, optionally saved as
// an .sms triplet that `verify --file` and the loaders read back. With --activations X.npy (M×K) and --weight
// W.npy (K×N) both fit for the expected output error on that layer's tiles instead of on Gaussian tiles.
#include <cstdio>
#include <optional>

#include "cli_args.hpp"
#include "commands.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/loaders.hpp"

namespace strassentile::cli {
namespace {

void report(const Algorithm& alg, const std::string& save, const std::optional<TileMoments>& data) {
  std::printf("%s: %s rank %zu, relative error %.6f (Gaussian tiles), max tensor deviation %.3e, FLOP ratio %.3fx\n",
              alg.name.c_str(), alg.tile.to_string().c_str(), alg.rank(), relative_tensor_error(alg), alg.verify(),
              alg.flop_ratio());
  if (data)
    std::printf("relative error %.6f on the data's tiles (%zu activation tiles, %zu weight tiles)\n",
                relative_tensor_error(alg, *data), data->x_tiles, data->w_tiles);
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

// Moments of --activations/--weight (.npy), or nothing when neither is given.
std::optional<TileMoments> data_option(const Args& args, TileFormat tile) {
  if (!args.has("activations") && !args.has("weight")) return std::nullopt;
  if (!args.has("activations") || !args.has("weight"))
    throw UsageError("--activations X.npy (M×K) and --weight W.npy (K×N) go together");
  const Matrix<double> x = load_npy_matrix(args.get("activations", "")), w = load_npy_matrix(args.get("weight", ""));
  try {
    return tile_moments(tile, x, w, args.get_size("seq-len", 0));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

}  // namespace

int run_fit(const std::vector<std::string>& argv) {
  const Args args(argv, {"tile", "rank", "restarts", "iterations", "seed", "save", "activations", "weight", "seq-len"}, {});
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  FitOptions o;
  o.restarts = args.get_size("restarts", o.restarts);
  o.iterations = args.get_size("iterations", o.iterations);
  o.seed = args.get_size("seed", o.seed);
  const TileFormat tile = tile_option(args);
  const std::optional<TileMoments> data = data_option(args, tile);
  const std::size_t rank = args.get_size("rank", 24);
  const FitResult r = data ? fit_to_data(*data, rank, o) : fit(tile, rank, o);
  std::printf("restarts:");
  for (double e : r.restart_errors) std::printf(" %.4f", e);
  std::printf("\n");
  report(r.algorithm, args.get("save", ""), data);
  return 0;
}

int run_truncate(const std::vector<std::string>& argv) {
  const Args args(argv, {"rank", "data-dir", "save", "activations", "weight", "seq-len"}, {});
  if (args.positionals().size() != 1) throw UsageError("expected one algorithm name");
  apply_data_dir(args.get("data-dir", ""));
  const Algorithm alg = get(args.positionals()[0]);
  const std::optional<TileMoments> data = data_option(args, alg.tile);
  const std::size_t rank = args.get_size("rank", 24);
  report(data ? truncate(alg, rank, *data) : truncate(alg, rank), args.get("save", ""), data);
  return 0;
}

}  // namespace strassentile::cli
