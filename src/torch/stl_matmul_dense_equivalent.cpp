#include "stl_matmul_dense_equivalent.hpp"

#include <torch/library.h>

#include <atomic>
#include <string_view>

#include "backward_switches.hpp"
#include "error_message.hpp"

namespace strassentile::torch_ops {
namespace {

std::atomic<PathPolicy> setting{PathPolicy::Auto};

// Returns the previous setting.
std::string set_dense_equivalent(std::string_view policy) {
  return exchange_path_policy(setting, policy, "set_dense_equivalent",
                              "where the speed model predicts it faster, on CUDA");
}

// One pass's choice: "always" / "never" settle it; under "auto" the speed model does, where a GPU is described and
// the call is not float64 (the reference precision stays on its path).
bool as_dense(const StlDims& d, const at::Tensor& x, GpuOf gpu_of, bool backward_pass, BackwardSetup setup) {
  if (!has_dense_equivalent(d)) return false;
  const PathPolicy s = dense_equivalent_setting();
  if (s != PathPolicy::Auto) return s == PathPolicy::Always;
  if (gpu_of == nullptr || d.compute_dtype == at::kDouble || d.batch * d.seq == 0) return false;
  const LayerShape shape{static_cast<std::size_t>(d.batch * d.seq), static_cast<std::size_t>(d.in_features),
                         static_cast<std::size_t>(d.out_features)};
  return dense_equivalent_wins(shape, d.tile, static_cast<std::size_t>(d.rank), gpu_of(x),
                               static_cast<std::size_t>(x.element_size()), backward_pass, false, setup);
}

// The GEMMs run in x's dtype (16-bit on the tensor cores), or in float64 where the call computes in it.
at::ScalarType gemm_dtype(const StlDims& d, const at::Tensor& x) {
  return d.compute_dtype == at::kDouble ? at::kDouble : x.scalar_type();
}

// B[p, (v, w)] = E_X[p, v] · D[w, p]: (r, b·c), so that W's tiles are Bᵀ·Ŵ.
at::Tensor tile_basis(const StlArgs& args, const StlDims& d) {
  const at::ScalarType ct = d.compute_dtype;
  const at::Tensor enc = args.enc_x.to(ct), dec_t = args.dec.to(ct).t();  // (r, b), (r, c)
  return (enc.unsqueeze(2) * dec_t.unsqueeze(1)).reshape({d.rank, -1});
}

// W (K×N) in `dtype` from Ŵ in the compute dtype: the tile layout and the cast in one copy.
at::Tensor dense_weight(const at::Tensor& w_hat, const StlDims& d, const at::Tensor& basis, at::ScalarType dtype) {
  const auto b = static_cast<int64_t>(d.tile.b), c = static_cast<int64_t>(d.tile.c);
  const at::Tensor tiles =
      at::matmul(basis.t(), w_hat.reshape({d.rank, d.k_tiles * d.n_tiles})).view({b, c, d.k_tiles, d.n_tiles});
  at::Tensor w = at::empty({d.k_tiles, b, d.n_tiles, c}, w_hat.options().dtype(dtype));
  w.copy_(tiles.permute({2, 0, 3, 1}));
  return w.view({d.k_tiles * b, d.n_tiles * c}).narrow(0, 0, d.in_features).narrow(1, 0, d.out_features);
}

}  // namespace

PathPolicy dense_equivalent_setting() { return setting.load(std::memory_order_relaxed); }

bool has_dense_equivalent(const StlDims& d) { return d.tile.a == 1 && d.mode != Mode::Causal && d.in_features > 0; }

bool forward_as_dense(const StlDims& d, const at::Tensor& x, GpuOf gpu_of) {
  return as_dense(d, x, gpu_of, false, {});
}

bool backward_as_dense(const StlDims& d, const at::Tensor& x, Needs needs, GpuOf gpu_of) {
  return as_dense(d, x, gpu_of, true,
                  {needs[2] || needs[3], keep_for_backward(), lean_backward(), keep_z_for_backward()});
}

at::Tensor stl_matmul_dense_equivalent(const StlArgs& args, const StlDims& d) {
  const at::Tensor& x = args.x;
  const at::ScalarType g = gemm_dtype(d, x);
  const at::Tensor w = dense_weight(args.w_hat.to(d.compute_dtype), d, tile_basis(args, d), g);
  const at::Tensor x2d = x.reshape({-1, d.in_features}).to(g);
  const at::Tensor y = args.has_bias() ? at::addmm(args.bias->to(g), x2d, w) : at::mm(x2d, w);
  return y.to(x.scalar_type()).view(output_shape(x, d));
}

Gradients stl_matmul_backward_dense_equivalent(const at::Tensor& grad_y, const StlArgs& args, const StlDims& d,
                                               Needs needs) {
  const at::Tensor& x = args.x;
  const at::ScalarType ct = d.compute_dtype, g = gemm_dtype(d, x);
  const auto b = static_cast<int64_t>(d.tile.b), c = static_cast<int64_t>(d.tile.c);
  const at::Tensor gy = grad_y.reshape({-1, d.out_features}).to(g);
  const at::Tensor basis = tile_basis(args, d);
  const at::Tensor w_hat = needs[0] || needs[2] || needs[3] ? args.w_hat.to(ct) : at::Tensor();  // dX, dE_X, dD
  at::Tensor gx, gw, ge, gd, gb;
  if (needs[0]) gx = at::mm(gy, dense_weight(w_hat, d, basis, g).t()).to(x.scalar_type()).view(x.sizes());
  if (needs[1] || needs[2] || needs[3]) {
    // dW in Ŵ's tile layout: (b·c, k·n), the padding zero.
    const at::Tensor dw = at::mm(x.reshape({-1, d.in_features}).to(g).t(), gy).to(ct);
    const int64_t pad_n = d.n_tiles * c - d.out_features, pad_k = d.k_tiles * b - d.in_features;
    const at::Tensor padded = pad_n > 0 || pad_k > 0 ? at::constant_pad_nd(dw, {0, pad_n, 0, pad_k}) : dw;
    const at::Tensor tiles = padded.view({d.k_tiles, b, d.n_tiles, c})
                                 .permute({1, 3, 0, 2})
                                 .reshape({b * c, d.k_tiles * d.n_tiles});
    if (needs[1]) gw = at::matmul(basis, tiles).view({d.rank, d.k_tiles, d.n_tiles}).to(args.w_hat.scalar_type());
    if (needs[2] || needs[3]) {
      // dL/dB[p, v, w] = Σ_{κ,j} Ŵ[p, κ, j]·tiles[(v, w), κ, j]: one small GEMM per tile row κ, then their sum. As one
      // GEMM its inner dimension (k·n) is the whole weight and its output only r × b·c, which a GEMM runs on few SMs.
      const at::Tensor per_row = tiles.view({b * c, d.k_tiles, d.n_tiles}).permute({1, 2, 0});  // (κ, j, (v, w))
      const at::Tensor by_row = w_hat.reshape({d.rank, d.k_tiles, d.n_tiles}).transpose(0, 1);  // (κ, p, j)
      const at::Tensor d_basis = at::bmm(by_row, per_row).sum(0).view({d.rank, b, c});
      if (needs[2]) ge = (d_basis * args.dec.to(ct).t().unsqueeze(1)).sum(2).to(args.enc_x.scalar_type());
      if (needs[3]) gd = (d_basis * args.enc_x.to(ct).unsqueeze(2)).sum(1).t().to(args.dec.scalar_type());
    }
  }
  // Summed in the compute dtype as it is read: no copy of dY in it.
  if (needs[4] && args.has_bias()) gb = at::sum(gy, {0}, false, ct).to(args.bias->scalar_type());
  return {gx, gw, ge, gd, gb};
}

// No tensor arguments: the catch-all kernel.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("set_dense_equivalent", [](std::string policy) { return set_dense_equivalent(policy); });
}

}  // namespace strassentile::torch_ops
