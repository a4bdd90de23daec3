#include "strassentile/cost_model.hpp"

#include <stdexcept>
#include <string>

#include "strassentile/reference.hpp"

namespace strassentile {

StlCost stl_cost(LayerShape shape, TileFormat tile, std::size_t rank, std::size_t bytes_per_element) {
  if (shape.m == 0 || shape.k == 0 || shape.n == 0)
    throw std::invalid_argument("M, K and N must all be >= 1 (got " + std::to_string(shape.m) + ", " +
                                std::to_string(shape.k) + ", " + std::to_string(shape.n) + ")");
  validate(tile);
  if (rank == 0) throw std::invalid_argument("rank must be >= 1");
  const double m = static_cast<double>(ceil_div(shape.m, tile.a));
  const double k = static_cast<double>(ceil_div(shape.k, tile.b));
  const double n = static_cast<double>(ceil_div(shape.n, tile.c));
  const double r = static_cast<double>(rank);
  const double ab = static_cast<double>(tile.x_size()), ac = static_cast<double>(tile.y_size());
  const double bytes = static_cast<double>(bytes_per_element);

  StlCost cost;
  cost.dense_flops = 2.0 * static_cast<double>(shape.m) * static_cast<double>(shape.k) * static_cast<double>(shape.n);
  cost.gemm_flops = 2.0 * r * m * k * n;
  cost.encode_flops = 2.0 * r * ab * m * k;
  cost.decode_flops = 2.0 * r * ac * m * n;
  cost.dense_params = static_cast<double>(shape.k) * static_cast<double>(shape.n);
  cost.stl_params = r * k * n + r * ab + ac * r;
  cost.encode_bytes = bytes * (static_cast<double>(shape.m) * static_cast<double>(shape.k) + r * m * k);
  cost.decode_bytes = bytes * (r * m * n + static_cast<double>(shape.m) * static_cast<double>(shape.n));
  return cost;
}

}  // namespace strassentile
