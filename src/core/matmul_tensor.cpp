#include "matmul_tensor.hpp"

namespace strassentile::detail {

Unfoldings matmul_unfoldings(TileFormat tile) {
  const Eigen::Index I = static_cast<Eigen::Index>(tile.x_size()), J = static_cast<Eigen::Index>(tile.w_size()),
                     K = static_cast<Eigen::Index>(tile.y_size());
  Unfoldings t{Eigen::MatrixXd::Zero(I, J * K), Eigen::MatrixXd::Zero(J, I * K), Eigen::MatrixXd::Zero(K, I * J), 0};
  for (std::size_t u = 0; u < tile.a; ++u)
    for (std::size_t v = 0; v < tile.b; ++v)
      for (std::size_t w = 0; w < tile.c; ++w) {
        const auto i = static_cast<Eigen::Index>(u * tile.b + v), j = static_cast<Eigen::Index>(v * tile.c + w),
                   k = static_cast<Eigen::Index>(u * tile.c + w);
        t.t1(i, j * K + k) = 1;
        t.t2(j, i * K + k) = 1;
        t.t3(k, i * J + j) = 1;
      }
  t.norm = std::sqrt(static_cast<double>(tile.naive_rank()));
  return t;
}

Eigen::MatrixXd khatri_rao(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  Eigen::MatrixXd out(a.rows() * b.rows(), a.cols());
  for (Eigen::Index p = 0; p < a.cols(); ++p)
    for (Eigen::Index i = 0; i < a.rows(); ++i) out.col(p).segment(i * b.rows(), b.rows()) = a(i, p) * b.col(p);
  return out;
}

double cp_error(const Unfoldings& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v, const Eigen::MatrixXd& w) {
  return (t.t3 - w * khatri_rao(u, v).transpose()).norm();
}

Eigen::MatrixXd refit_decoder(const Unfoldings& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v) {
  // QR-based least squares on the Khatri–Rao matrix itself (not its Gram): accurate, and minimum-norm when
  // products are linearly dependent.
  return khatri_rao(u, v).completeOrthogonalDecomposition().solve(t.t3.transpose()).transpose();
}

Eigen::MatrixXd to_eigen(const Matrix<double>& m) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(m.rows()), static_cast<Eigen::Index>(m.cols()));
  for (std::size_t i = 0; i < m.rows(); ++i)
    for (std::size_t j = 0; j < m.cols(); ++j) out(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = m(i, j);
  return out;
}

Matrix<double> from_eigen(const Eigen::MatrixXd& m) {
  Matrix<double> out(static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols()));
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) out(static_cast<std::size_t>(i), static_cast<std::size_t>(j)) = m(i, j);
  return out;
}

}  // namespace strassentile::detail
