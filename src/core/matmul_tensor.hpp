// Internal: the <a,b,c> matmul tensor and CP-factor helpers on Eigen matrices (factors are columns per product:
// U = enc_xᵀ (ab×r), V = enc_wᵀ (bc×r), W = dec (ac×r)).
#pragma once

#include <Eigen/Dense>

#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"

namespace strassentile::detail {

// Mode-n unfoldings of T (I=ab, J=bc, K=ac): T1 is I×(J·K) with column j·K+k; T2 is J×(I·K) with column i·K+k;
// T3 is K×(I·J) with column i·J+j.
struct Unfoldings {
  Eigen::MatrixXd t1, t2, t3;
  double norm = 0;  // ‖T‖_F = √(abc)
};
Unfoldings matmul_unfoldings(TileFormat tile);

// Data-aware errors are errors of T ×₁ Ax ×₂ Aw with AᵀA = Σ (moments scaled to mean eigenvalue 1). Factors map
// as U' = Ax·U, V' = Aw·V; the decoder is unchanged. For fitting, A is the upper Cholesky factor of Σ plus a
// small ridge, so that it can be inverted and directions the data never excites keep bounded encoder
// coefficients; for measuring, A is Σ's exact symmetric square root.
struct Whitening {
  Eigen::MatrixXd ax, aw;
};
Whitening whitening(const TileMoments& data, bool for_fitting);
Unfoldings whiten(const Unfoldings& t, const Whitening& w);

// Khatri–Rao product: column p is kron(A[:,p], B[:,p]), row index i·rows(B) + j.
Eigen::MatrixXd khatri_rao(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b);

// ‖T − Σ_p U[:,p]⊗V[:,p]⊗W[:,p]‖_F via the third unfolding.
double cp_error(const Unfoldings& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v, const Eigen::MatrixXd& w);

// W minimising ‖T3 − W·khatri_rao(U,V)ᵀ‖ (the decoder refit); minimum-norm when the products are dependent.
Eigen::MatrixXd refit_decoder(const Unfoldings& t, const Eigen::MatrixXd& u, const Eigen::MatrixXd& v);

Eigen::MatrixXd to_eigen(const Matrix<double>& m);
Matrix<double> from_eigen(const Eigen::MatrixXd& m);

}  // namespace strassentile::detail
