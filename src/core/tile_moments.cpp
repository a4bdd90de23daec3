// Second moments of activation and weight tiles, and the whitening that turns data-aware fitting into plain
// CP fitting of a transformed matmul tensor (include/strassentile/approximation.hpp).
#include <cmath>
#include <stdexcept>
#include <string>

#include "matmul_tensor.hpp"
#include "strassentile/approximation.hpp"

namespace strassentile {
namespace {

// Adds v·vᵀ to `sum` for the tile at (row0, col0) of `m`, read as rows×cols row-major.
void accumulate(Matrix<double>& sum, std::vector<double>& v, MatrixView<const double> m, std::size_t row0,
                std::size_t col0, std::size_t rows, std::size_t cols) {
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) v[i * cols + j] = m(row0 + i, col0 + j);
  const std::size_t n = v.size();
  for (std::size_t p = 0; p < n; ++p)
    for (std::size_t q = 0; q < n; ++q) sum(p, q) += v[p] * v[q];
}

void scale(Matrix<double>& m, double s) {
  for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] *= s;
}

void check_moment(const Matrix<double>& m, std::size_t n, const char* which) {
  if (m.rows() != n || m.cols() != n)
    throw std::invalid_argument(std::string("tile moments: ") + which + " must be " + std::to_string(n) + "x" +
                                std::to_string(n) + " for this tile, got " + std::to_string(m.rows()) + "x" +
                                std::to_string(m.cols()));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      if (!std::isfinite(m(i, j)) || std::abs(m(i, j) - m(j, i)) > 1e-9 * (std::abs(m(i, j)) + std::abs(m(j, i)) + 1e-300))
        throw std::invalid_argument(std::string("tile moments: ") + which + " must be finite and symmetric (E[v vᵀ])");
}

}  // namespace

TileMoments tile_moments(TileFormat tile, MatrixView<const double> activations, MatrixView<const double> weight,
                         std::size_t seq_len) {
  validate(tile);
  if (activations.cols != weight.rows)
    throw std::invalid_argument("tile_moments: activations have " + std::to_string(activations.cols) +
                                " columns but weight has " + std::to_string(weight.rows) +
                                " rows; pass the weight as in_features × out_features (nn.Linear's weight transposed)");
  const std::size_t seq = seq_len == 0 ? activations.rows : seq_len;
  if (seq_len != 0 && activations.rows % seq_len != 0)
    throw std::invalid_argument("tile_moments: seq_len=" + std::to_string(seq_len) + " does not divide the " +
                                std::to_string(activations.rows) + " activation rows");
  TileMoments out{tile, Matrix<double>(tile.x_size(), tile.x_size()), Matrix<double>(tile.w_size(), tile.w_size())};
  std::vector<double> vx(tile.x_size()), vw(tile.w_size());
  for (std::size_t s0 = 0; s0 + seq <= activations.rows && seq > 0; s0 += seq)
    for (std::size_t r0 = s0; r0 + tile.a <= s0 + seq; r0 += tile.a)
      for (std::size_t c0 = 0; c0 + tile.b <= activations.cols; c0 += tile.b, ++out.x_tiles)
        accumulate(out.x, vx, activations, r0, c0, tile.a, tile.b);
  for (std::size_t r0 = 0; r0 + tile.b <= weight.rows; r0 += tile.b)
    for (std::size_t c0 = 0; c0 + tile.c <= weight.cols; c0 += tile.c, ++out.w_tiles)
      accumulate(out.w, vw, weight, r0, c0, tile.b, tile.c);
  if (out.x_tiles == 0 || out.w_tiles == 0)
    throw std::invalid_argument("tile_moments: no whole " + tile.to_string() + " tile in a " +
                                std::to_string(activations.rows) + "x" + std::to_string(activations.cols) +
                                " activation matrix and a " + std::to_string(weight.rows) + "x" +
                                std::to_string(weight.cols) + " weight");
  scale(out.x, 1.0 / static_cast<double>(out.x_tiles));
  scale(out.w, 1.0 / static_cast<double>(out.w_tiles));
  return out;
}

TileMoments gaussian_moments(TileFormat tile) {
  validate(tile);
  TileMoments out{tile, Matrix<double>(tile.x_size(), tile.x_size()), Matrix<double>(tile.w_size(), tile.w_size()), 1, 1};
  for (std::size_t i = 0; i < tile.x_size(); ++i) out.x(i, i) = 1;
  for (std::size_t i = 0; i < tile.w_size(); ++i) out.w(i, i) = 1;
  return out;
}

namespace detail {
namespace {

// A with AᵀA = Σ/mean-eigenvalue (+ ridge·I when fitting). Fitting needs A invertible and well conditioned, so it
// uses the Cholesky factor Lᵀ of the ridged moment; measuring uses the exact symmetric square root (PSD clamp).
Eigen::MatrixXd moment_factor(const Matrix<double>& moment, const char* which, bool for_fitting) {
  const Eigen::MatrixXd m = to_eigen(moment);
  const double mean_eig = m.trace() / static_cast<double>(m.rows());
  if (!(mean_eig > 0)) throw std::invalid_argument(std::string("tile moments: ") + which + " is zero (no signal)");
  const Eigen::MatrixXd normalised = m / mean_eig;
  if (!for_fitting) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(normalised);
    if (eig.eigenvalues().minCoeff() < -1e-8)
      throw std::invalid_argument(std::string("tile moments: ") + which + " is not positive semidefinite");
    return eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() * eig.eigenvectors().transpose();
  }
  constexpr double kRidge = 1e-3;  // relative to the mean eigenvalue: bounds encoders in unexcited directions
  Eigen::LLT<Eigen::MatrixXd> llt(normalised + kRidge * Eigen::MatrixXd::Identity(m.rows(), m.cols()));
  if (llt.info() != Eigen::Success)
    throw std::invalid_argument(std::string("tile moments: ") + which + " is not positive semidefinite");
  return llt.matrixU();
}

}  // namespace

Whitening whitening(const TileMoments& data, bool for_fitting) {
  validate(data.tile);
  check_moment(data.x, data.tile.x_size(), "x (activation moment)");
  check_moment(data.w, data.tile.w_size(), "w (weight moment)");
  return {moment_factor(data.x, "x (activation moment)", for_fitting),
          moment_factor(data.w, "w (weight moment)", for_fitting)};
}

Unfoldings whiten(const Unfoldings& t, const Whitening& w) {
  const Eigen::Index I = t.t1.rows(), J = t.t2.rows(), K = t.t3.rows();
  const Eigen::MatrixXd mode1 = w.ax * t.t1;  // I × (J·K), column j·K + k
  Unfoldings out{Eigen::MatrixXd(I, J * K), Eigen::MatrixXd(J, I * K), Eigen::MatrixXd(K, I * J), 0};
  for (Eigen::Index i = 0; i < I; ++i) {
    // The J×K slice of row i, transformed along j.
    Eigen::MatrixXd slice(J, K);
    for (Eigen::Index j = 0; j < J; ++j) slice.row(j) = mode1.row(i).segment(j * K, K);
    slice = w.aw * slice;
    for (Eigen::Index j = 0; j < J; ++j)
      for (Eigen::Index k = 0; k < K; ++k) {
        const double v = slice(j, k);
        out.t1(i, j * K + k) = v;
        out.t2(j, i * K + k) = v;
        out.t3(k, i * J + j) = v;
      }
  }
  out.norm = out.t1.norm();
  return out;
}

}  // namespace detail
}  // namespace strassentile
