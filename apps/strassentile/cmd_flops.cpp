// `strassentile flops M K N --tile T --rank R`: the cost model of STL.md §2 for one layer.
#include <cstdio>

#include "cli_args.hpp"
#include "commands.hpp"
#include "strassentile/cost_model.hpp"

namespace strassentile::cli {

int run_flops(const std::vector<std::string>& argv) {
  const Args args(argv, {"tile", "rank", "bytes"}, {});
  if (args.positionals().size() != 3) throw UsageError("expected three sizes M K N");
  const LayerShape shape{Args::to_size("M", args.positionals()[0]), Args::to_size("K", args.positionals()[1]),
                         Args::to_size("N", args.positionals()[2])};
  TileFormat tile;
  try {
    tile = parse_tile_format(args.get("tile", "4"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--") + e.what());
  }
  const std::size_t rank = args.get_size("rank", 24);
  const StlCost c = stl_cost(shape, tile, rank, args.get_size("bytes", 2));
  std::printf("layer %zux%zux%zu, tile %s, rank %zu\n", shape.m, shape.k, shape.n, tile.to_string().c_str(), rank);
  std::printf("  dense FLOPs        %14.4g\n", c.dense_flops);
  std::printf("  STL batched GEMM   %14.4g   (%.3fx fewer than dense)\n", c.gemm_flops, c.gemm_ratio());
  std::printf("  STL encode X       %14.4g\n", c.encode_flops);
  std::printf("  STL decode         %14.4g\n", c.decode_flops);
  std::printf("  STL total          %14.4g   (%.3fx fewer than dense)\n", c.stl_flops(), c.total_ratio());
  std::printf("  dense parameters   %14.4g\n", c.dense_params);
  std::printf("  STL parameters     %14.4g   (%.3fx dense)\n", c.stl_params, c.param_ratio());
  std::printf("  ideal bytes: encode %.4g, decode %.4g\n", c.encode_bytes, c.decode_bytes);
  return 0;
}

}  // namespace strassentile::cli
