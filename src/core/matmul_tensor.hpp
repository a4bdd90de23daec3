// Internal: the <a,b,c> matmul tensor and CP-factor helpers on Eigen matrices (factors are columns per product:
// U = enc_xᵀ (ab×r), V = enc_wᵀ (bc×r), W = dec (ac×r)).
#pragma once

#include <Eigen/Dense>

#include "strassentile/algorithm.hpp"

namespace strassentile::detail {

// Mode-n unfoldings of T (I=ab, J=bc, K=ac): T1 is I×(J·K) with column j·K+k; T2 is J×(I·K) with column i·K+k;
// T3 is K×(I·J) with column i·J+j.
struct Unfoldings {
  Eigen::MatrixXd t1, t2, t3;
  double norm = 0;  // ‖T‖_F = √(abc)
};
Unfoldings matmul_unfoldings(TileFormat tile);

// Khatri–Rao product: column p is kron(A[:,p], B[:,p]), row index i·rows(B) + j.
Eigen::MatrixXd khatri_rao(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b);

// ‖T − Σ_p U[:,p]⊗V[:,p]⊗W[:,p]‖_F via the third unfolding.
double cp_error(const Unfoldings& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v, const Eigen::MatrixXd& w);

// W minimising ‖T3 − W·khatri_rao(U,V)ᵀ‖ (the decoder refit); minimum-norm when the products are dependent.
Eigen::MatrixXd refit_decoder(const Unfoldings& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v);

Eigen::MatrixXd to_eigen(const Matrix<double>& m);
Matrix<double> from_eigen(const Eigen::MatrixXd& m);

}  // namespace strassentile::detail
