#include "strassentile/algorithm.hpp"

#include <cmath>
#include <stdexcept>
#include <utility>

namespace strassentile {
namespace {

std::string shape_of(const Matrix<double>& m) {
  return std::to_string(m.rows()) + "x" + std::to_string(m.cols());
}

// Indices of the non-zero entries of row `row` of `m` (the catalogues are sparse; dense random encoders
// simply list every index).
std::vector<std::size_t> nonzero_cols(const Matrix<double>& m, std::size_t row) {
  std::vector<std::size_t> out;
  for (std::size_t j = 0; j < m.cols(); ++j)
    if (m(row, j) != 0.0) out.push_back(j);
  return out;
}

}  // namespace

void check_algorithm_size(const TileFormat& tile, std::size_t rank, const std::string& who) {
  validate(tile, (who + " tile").c_str());
  const std::size_t per_product = tile.x_size() + tile.w_size() + tile.y_size();  // < 2^26 by the side limit
  if (rank > kMaxAlgorithmCoefficients / per_product)
    throw std::invalid_argument(who + ": tile " + tile.to_string() + " with rank " + std::to_string(rank) +
                                " would hold " + std::to_string(rank) + " x " + std::to_string(per_product) +
                                " coefficients, more than the limit of 2^24; use a smaller tile or rank");
}

double Algorithm::flop_ratio() const {
  return static_cast<double>(tile.naive_rank()) / static_cast<double>(rank());
}

void Algorithm::validate() const {
  const std::string who = "algorithm '" + name + "'";
  strassentile::validate(tile, (who + " tile").c_str());
  const std::size_t r = enc_x.rows();
  if (r < 1) throw std::invalid_argument(who + ": rank must be >= 1 (enc_x has no rows)");
  if (enc_x.cols() != tile.x_size())
    throw std::invalid_argument(who + ": enc_x is " + shape_of(enc_x) + " but tile " + tile.to_string() +
                                " with rank " + std::to_string(r) + " needs " + std::to_string(r) + "x" +
                                std::to_string(tile.x_size()) + " (r x ab)");
  if (enc_w.rows() != r || enc_w.cols() != tile.w_size())
    throw std::invalid_argument(who + ": enc_w is " + shape_of(enc_w) + " but needs " + std::to_string(r) +
                                "x" + std::to_string(tile.w_size()) + " (r x bc, r from enc_x)");
  if (dec.rows() != tile.y_size() || dec.cols() != r)
    throw std::invalid_argument(who + ": dec is " + shape_of(dec) + " but needs " +
                                std::to_string(tile.y_size()) + "x" + std::to_string(r) +
                                " (ac x r, r from enc_x)");
  for (const Matrix<double>* m : {&enc_x, &enc_w, &dec})
    for (std::size_t i = 0; i < m->size(); ++i)
      if (!std::isfinite(m->data()[i]))
        throw std::invalid_argument(who + ": coefficients must be finite");
}

double Algorithm::verify() const {
  validate();
  const std::size_t nx = tile.x_size(), nw = tile.w_size(), ny = tile.y_size();
  const std::string who = "verify '" + name + "' " + tile.to_string() + ":" + std::to_string(rank());
  // Each factor is < 2^24 by the side limit, so the products below cannot wrap.
  if (nx * nw > kMaxVerifyTensorEntries || nx * nw * ny > kMaxVerifyTensorEntries)
    throw std::length_error(who + ": the matmul tensor has " + std::to_string(nx) + "x" + std::to_string(nw) + "x" +
                            std::to_string(ny) + " entries, more than the limit of 2^24");
  std::size_t work = 0;
  for (std::size_t p = 0; p < rank(); ++p) {
    std::size_t ys = 0;
    for (std::size_t q = 0; q < ny; ++q) ys += dec(q, p) != 0.0;
    const std::size_t term = nonzero_cols(enc_x, p).size() * nonzero_cols(enc_w, p).size() * ys;
    if (term > kMaxVerifyWork - work)
      throw std::length_error(who + ": checking it needs more than 2^26 multiply-adds; refused");
    work += term;
  }
  // Reconstruct Σ_p enc_x[p]⊗enc_w[p]⊗dec[:,p] densely, skipping zero coefficients.
  std::vector<double> tensor(nx * nw * ny, 0.0);
  for (std::size_t p = 0; p < rank(); ++p) {
    const auto xs = nonzero_cols(enc_x, p);
    const auto ws = nonzero_cols(enc_w, p);
    std::vector<std::size_t> ys;
    for (std::size_t q = 0; q < ny; ++q)
      if (dec(q, p) != 0.0) ys.push_back(q);
    for (std::size_t x : xs)
      for (std::size_t w : ws) {
        const double xw = enc_x(p, x) * enc_w(p, w);
        double* slab = &tensor[(x * nw + w) * ny];
        for (std::size_t y : ys) slab[y] += xw * dec(y, p);
      }
  }
  // Subtract the matmul tensor: A(u,v)·B(v,w) contributes to C(u,w).
  for (std::size_t u = 0; u < tile.a; ++u)
    for (std::size_t v = 0; v < tile.b; ++v)
      for (std::size_t w = 0; w < tile.c; ++w)
        tensor[((u * tile.b + v) * nw + (v * tile.c + w)) * ny + (u * tile.c + w)] -= 1.0;
  double worst = 0.0;
  for (double e : tensor) worst = std::max(worst, std::abs(e));
  return worst;
}

Algorithm make_algorithm(std::string name, std::string source, TileFormat tile, Matrix<double> enc_x,
                         Matrix<double> enc_w, Matrix<double> dec) {
  Algorithm alg{std::move(name), std::move(source), tile, std::move(enc_x), std::move(enc_w),
                std::move(dec)};
  alg.validate();
  return alg;
}

Algorithm kron(const Algorithm& outer, const Algorithm& inner) {
  outer.validate();
  inner.validate();
  const TileFormat& t1 = outer.tile;
  const TileFormat& t2 = inner.tile;
  const TileFormat t{t1.a * t2.a, t1.b * t2.b, t1.c * t2.c};
  const std::size_t r1 = outer.rank(), r2 = inner.rank(), r = r1 * r2;  // ranks <= 2^24 each: no wrap
  check_algorithm_size(t, r, "kron(" + outer.name + "," + inner.name + ")");

  // A big tile of rows R and cols C is an R1×C1 grid of R2×C2 blocks: big entry (i1·R2+i2, j1·C2+j2)
  // is entry (i2,j2) of block (i1,j1). Its row-major vec index in the big tile:
  const auto big_index = [](std::size_t rows2, std::size_t cols1, std::size_t cols2, std::size_t i1,
                            std::size_t j1, std::size_t i2, std::size_t j2) {
    return (i1 * rows2 + i2) * (cols1 * cols2) + (j1 * cols2 + j2);
  };
  // Product (p1, p2) reads with enc1[p1] on block indices and enc2[p2] inside blocks.
  const auto kron_encoder = [&](const Matrix<double>& e1, const Matrix<double>& e2, std::size_t rows1,
                                std::size_t cols1, std::size_t rows2, std::size_t cols2) {
    Matrix<double> e(r, rows1 * rows2 * cols1 * cols2);
    for (std::size_t p1 = 0; p1 < r1; ++p1)
      for (std::size_t p2 = 0; p2 < r2; ++p2)
        for (std::size_t i1 = 0; i1 < rows1; ++i1)
          for (std::size_t j1 = 0; j1 < cols1; ++j1)
            for (std::size_t i2 = 0; i2 < rows2; ++i2)
              for (std::size_t j2 = 0; j2 < cols2; ++j2)
                e(p1 * r2 + p2, big_index(rows2, cols1, cols2, i1, j1, i2, j2)) =
                    e1(p1, i1 * cols1 + j1) * e2(p2, i2 * cols2 + j2);
    return e;
  };
  Matrix<double> enc_x = kron_encoder(outer.enc_x, inner.enc_x, t1.a, t1.b, t2.a, t2.b);
  Matrix<double> enc_w = kron_encoder(outer.enc_w, inner.enc_w, t1.b, t1.c, t2.b, t2.c);
  Matrix<double> dec(t.y_size(), r);
  for (std::size_t p1 = 0; p1 < r1; ++p1)
    for (std::size_t p2 = 0; p2 < r2; ++p2)
      for (std::size_t i1 = 0; i1 < t1.a; ++i1)
        for (std::size_t j1 = 0; j1 < t1.c; ++j1)
          for (std::size_t i2 = 0; i2 < t2.a; ++i2)
            for (std::size_t j2 = 0; j2 < t2.c; ++j2)
              dec(big_index(t2.a, t1.c, t2.c, i1, j1, i2, j2), p1 * r2 + p2) =
                  outer.dec(i1 * t1.c + j1, p1) * inner.dec(i2 * t2.c + j2, p2);
  return make_algorithm("kron(" + outer.name + "," + inner.name + ")",
                        "tensor product of " + outer.name + " and " + inner.name, t, std::move(enc_x),
                        std::move(enc_w), std::move(dec));
}

Algorithm naive(TileFormat tile) {
  validate(tile);
  const std::size_t r = tile.naive_rank();
  check_algorithm_size(tile, r, "naive-" + std::to_string(tile.a) + "x" + std::to_string(tile.b) + "x" +
                                    std::to_string(tile.c));
  Matrix<double> enc_x(r, tile.x_size()), enc_w(r, tile.w_size()), dec(tile.y_size(), r);
  std::size_t p = 0;
  for (std::size_t u = 0; u < tile.a; ++u)
    for (std::size_t v = 0; v < tile.b; ++v)
      for (std::size_t w = 0; w < tile.c; ++w, ++p) {
        enc_x(p, u * tile.b + v) = 1.0;
        enc_w(p, v * tile.c + w) = 1.0;
        dec(u * tile.c + w, p) = 1.0;
      }
  return make_algorithm("naive-" + std::to_string(tile.a) + "x" + std::to_string(tile.b) + "x" +
                            std::to_string(tile.c),
                        "definition of the matrix product", tile, std::move(enc_x), std::move(enc_w),
                        std::move(dec));
}

}  // namespace strassentile
