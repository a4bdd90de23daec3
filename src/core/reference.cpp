#include "strassentile/reference.hpp"

#include <stdexcept>
#include <string>

namespace strassentile {
namespace {

std::string dims(std::size_t r, std::size_t c) { return std::to_string(r) + "x" + std::to_string(c); }

template <class T>
void check_shape(MatrixView<const T> m, std::size_t rows, std::size_t cols, const char* name, const char* meaning) {
  if (m.rows != rows || m.cols != cols)
    throw std::invalid_argument(std::string(name) + " is " + dims(m.rows, m.cols) + " but must be " +
                                dims(rows, cols) + " (" + meaning + ")");
}

}  // namespace

std::size_t RowGrouping::row_of(std::size_t tile_row, std::size_t u, std::size_t a) const {
  const std::size_t per_seq = tiles_per_sequence(a);
  const std::size_t seq = tile_row / per_seq;
  const std::size_t pos = (tile_row % per_seq) * a + u;
  return pos < sequence_length() ? seq * sequence_length() + pos : rows;
}

RowGrouping make_row_grouping(std::size_t rows, std::size_t seq_len) {
  if (seq_len != 0 && rows % seq_len != 0)
    throw std::invalid_argument("seq_len " + std::to_string(seq_len) + " must divide the number of rows " +
                                std::to_string(rows) + " (rows are batch x seq_len)");
  return RowGrouping{rows, seq_len};
}

template <class T>
Tensor3<T> encode_weight(MatrixView<const T> weight, MatrixView<const T> enc_w, TileFormat tile) {
  validate(tile);
  if (enc_w.rows < 1) throw std::invalid_argument("enc_w has no rows: rank must be >= 1");
  check_shape(enc_w, enc_w.rows, tile.w_size(), "enc_w", "rank x b*c for the tile format");
  const std::size_t r = enc_w.rows, k = ceil_div(weight.rows, tile.b), n = ceil_div(weight.cols, tile.c);
  Tensor3<T> w_hat(r, k, n);
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t j = 0; j < n; ++j) {
        double acc = 0;
        for (std::size_t v = 0; v < tile.b; ++v)
          for (std::size_t w = 0; w < tile.c; ++w) {
            const std::size_t row = kk * tile.b + v, col = j * tile.c + w;
            if (row < weight.rows && col < weight.cols)
              acc += static_cast<double>(enc_w(p, v * tile.c + w)) * static_cast<double>(weight(row, col));
          }
        w_hat(p, kk, j) = static_cast<T>(acc);
      }
  return w_hat;
}

namespace {

// Every product and tile row: the tile and token-local modes read every coefficient.
bool every_row(std::size_t /*product*/, std::size_t /*tile_row*/) { return true; }

// encode_activation where product p reads tile row u only when reads(p, u). Selection, not a zero coefficient:
// 0·Inf = NaN would let a non-finite row reach products that must not see it.
template <class T, class Reads>
Tensor3<T> encode_rows(MatrixView<const T> x, MatrixView<const T> enc_x, TileFormat tile, std::size_t seq_len,
                       Reads reads) {
  validate(tile);
  if (enc_x.rows < 1) throw std::invalid_argument("enc_x has no rows: rank must be >= 1");
  check_shape(enc_x, enc_x.rows, tile.x_size(), "enc_x", "rank x a*b for the tile format");
  const RowGrouping groups = make_row_grouping(x.rows, seq_len);
  const std::size_t r = enc_x.rows, m = groups.num_row_tiles(tile.a), k = ceil_div(x.cols, tile.b);
  Tensor3<T> x_hat(r, m, k);
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t kk = 0; kk < k; ++kk) {
        double acc = 0;
        for (std::size_t u = 0; u < tile.a; ++u) {
          const std::size_t row = groups.row_of(i, u, tile.a);
          if (row >= x.rows || !reads(p, u)) continue;  // padding row, or a row the product may not read
          for (std::size_t v = 0; v < tile.b; ++v) {
            const std::size_t col = kk * tile.b + v;
            if (col < x.cols) acc += static_cast<double>(enc_x(p, u * tile.b + v)) * static_cast<double>(x(row, col));
          }
        }
        x_hat(p, i, kk) = static_cast<T>(acc);
      }
  return x_hat;
}

}  // namespace

template <class T>
Tensor3<T> encode_activation(MatrixView<const T> x, MatrixView<const T> enc_x, TileFormat tile, std::size_t seq_len) {
  return encode_rows(x, enc_x, tile, seq_len, every_row);
}

template <class T>
Tensor3<T> batched_products(const Tensor3<T>& x_hat, const Tensor3<T>& w_hat) {
  if (x_hat.dim0() != w_hat.dim0())
    throw std::invalid_argument("x_hat has " + std::to_string(x_hat.dim0()) + " products but w_hat has " +
                                std::to_string(w_hat.dim0()) + ": both must use the same rank");
  if (x_hat.dim2() != w_hat.dim1())
    throw std::invalid_argument("x_hat has " + std::to_string(x_hat.dim2()) + " column tiles but w_hat has " +
                                std::to_string(w_hat.dim1()) + " row tiles: in_features do not match");
  const std::size_t r = x_hat.dim0(), m = x_hat.dim1(), k = x_hat.dim2(), n = w_hat.dim2();
  Tensor3<T> z(r, m, n);
  for (std::size_t p = 0; p < r; ++p)
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double acc = 0;
        for (std::size_t kk = 0; kk < k; ++kk)
          acc += static_cast<double>(x_hat(p, i, kk)) * static_cast<double>(w_hat(p, kk, j));
        z(p, i, j) = static_cast<T>(acc);
      }
  return z;
}

namespace {

// decode_output where output tile row u sums product p only when writes(p, u) (selection, as in encode_rows).
template <class T, class Writes>
Matrix<T> decode_rows(const Tensor3<T>& z, MatrixView<const T> dec, TileFormat tile, std::size_t rows,
                      std::size_t out_features, std::size_t seq_len, Writes writes) {
  validate(tile);
  check_shape(dec, tile.y_size(), z.dim0(), "dec", "a*c x rank, rank from the products");
  const RowGrouping groups = make_row_grouping(rows, seq_len);
  if (groups.num_row_tiles(tile.a) != z.dim1())
    throw std::invalid_argument("products have " + std::to_string(z.dim1()) + " row tiles but " +
                                std::to_string(rows) + " rows need " + std::to_string(groups.num_row_tiles(tile.a)));
  if (ceil_div(out_features, tile.c) != z.dim2())
    throw std::invalid_argument("out_features " + std::to_string(out_features) + " needs " +
                                std::to_string(ceil_div(out_features, tile.c)) + " column tiles but the products have " +
                                std::to_string(z.dim2()));
  Matrix<T> y(rows, out_features);
  for (std::size_t i = 0; i < z.dim1(); ++i)
    for (std::size_t j = 0; j < z.dim2(); ++j)
      for (std::size_t u = 0; u < tile.a; ++u) {
        const std::size_t row = groups.row_of(i, u, tile.a);
        if (row >= rows) continue;
        for (std::size_t w = 0; w < tile.c; ++w) {
          const std::size_t col = j * tile.c + w;
          if (col >= out_features) continue;
          double acc = 0;
          for (std::size_t p = 0; p < z.dim0(); ++p)
            if (writes(p, u)) acc += static_cast<double>(dec(u * tile.c + w, p)) * static_cast<double>(z(p, i, j));
          y(row, col) = static_cast<T>(acc);
        }
      }
  return y;
}

}  // namespace

template <class T>
Matrix<T> decode_output(const Tensor3<T>& z, MatrixView<const T> dec, TileFormat tile, std::size_t rows,
                        std::size_t out_features, std::size_t seq_len) {
  return decode_rows(z, dec, tile, rows, out_features, seq_len, every_row);
}

namespace {

// The checks stl_reference and stl_reference_causal share; returns the number of output columns.
template <class T>
std::size_t checked_out_features(MatrixView<const T> x, const Tensor3<T>& w_hat, MatrixView<const T> enc_x,
                                 TileFormat tile, std::size_t out_features) {
  validate(tile);
  if (enc_x.rows != w_hat.dim0())
    throw std::invalid_argument("enc_x has rank " + std::to_string(enc_x.rows) + " but w_hat has " +
                                std::to_string(w_hat.dim0()) + " products: ranks must match");
  if (ceil_div(x.cols, tile.b) != w_hat.dim1())
    throw std::invalid_argument("x has " + std::to_string(x.cols) + " columns (" +
                                std::to_string(ceil_div(x.cols, tile.b)) + " tiles of b=" + std::to_string(tile.b) +
                                ") but w_hat has " + std::to_string(w_hat.dim1()) + " row tiles");
  return out_features == 0 ? w_hat.dim2() * tile.c : out_features;
}

}  // namespace

template <class T>
Matrix<T> stl_reference(MatrixView<const T> x, const Tensor3<T>& w_hat, MatrixView<const T> enc_x,
                        MatrixView<const T> dec, TileFormat tile, std::size_t out_features, std::size_t seq_len) {
  const std::size_t n_out = checked_out_features(x, w_hat, enc_x, tile, out_features);
  const Tensor3<T> x_hat = encode_activation(x, enc_x, tile, seq_len);
  const Tensor3<T> z = batched_products(x_hat, w_hat);
  return decode_output(z, dec, tile, x.rows, n_out, seq_len);
}

// The causal masks by selection: masked coefficients are never read, so a non-finite input row reaches exactly
// the output rows that depend on it (a zeroed coefficient would still turn Inf into NaN: 0·Inf = NaN).
template <class T>
Matrix<T> stl_reference_causal(MatrixView<const T> x, const Tensor3<T>& w_hat, MatrixView<const T> enc_x,
                               MatrixView<const T> dec, TileFormat tile, const CausalLevels& levels,
                               std::size_t out_features, std::size_t seq_len) {
  const std::size_t n_out = checked_out_features(x, w_hat, enc_x, tile, out_features);
  check_causal_levels(levels, enc_x.rows, tile.a);
  const Tensor3<T> x_hat =
      encode_rows(x, enc_x, tile, seq_len, [&](std::size_t p, std::size_t u) { return causal_reads(levels[p], u); });
  const Tensor3<T> z = batched_products(x_hat, w_hat);
  return decode_rows(z, dec, tile, x.rows, n_out, seq_len,
                     [&](std::size_t p, std::size_t u) { return causal_writes(levels[p], u); });
}

template <class T>
Matrix<T> dense_matmul(MatrixView<const T> x, MatrixView<const T> w) {
  if (x.cols != w.rows)
    throw std::invalid_argument("x is " + dims(x.rows, x.cols) + " and w is " + dims(w.rows, w.cols) +
                                ": x.cols must equal w.rows");
  Matrix<T> y(x.rows, w.cols);
  for (std::size_t i = 0; i < x.rows; ++i)
    for (std::size_t j = 0; j < w.cols; ++j) {
      double acc = 0;
      for (std::size_t k = 0; k < x.cols; ++k) acc += static_cast<double>(x(i, k)) * static_cast<double>(w(k, j));
      y(i, j) = static_cast<T>(acc);
    }
  return y;
}

#define STRASSENTILE_INSTANTIATE(T)                                                                              \
  template Tensor3<T> encode_weight<T>(MatrixView<const T>, MatrixView<const T>, TileFormat);                     \
  template Tensor3<T> encode_activation<T>(MatrixView<const T>, MatrixView<const T>, TileFormat, std::size_t);   \
  template Tensor3<T> batched_products<T>(const Tensor3<T>&, const Tensor3<T>&);                                 \
  template Matrix<T> decode_output<T>(const Tensor3<T>&, MatrixView<const T>, TileFormat, std::size_t,           \
                                      std::size_t, std::size_t);                                                 \
  template Matrix<T> stl_reference<T>(MatrixView<const T>, const Tensor3<T>&, MatrixView<const T>,               \
                                      MatrixView<const T>, TileFormat, std::size_t, std::size_t);                \
  template Matrix<T> stl_reference_causal<T>(MatrixView<const T>, const Tensor3<T>&, MatrixView<const T>,        \
                                             MatrixView<const T>, TileFormat, const CausalLevels&, std::size_t,  \
                                             std::size_t);                                                       \
  template Matrix<T> dense_matmul<T>(MatrixView<const T>, MatrixView<const T>);

STRASSENTILE_INSTANTIATE(float)
STRASSENTILE_INSTANTIATE(double)
#undef STRASSENTILE_INSTANTIATE

}  // namespace strassentile
