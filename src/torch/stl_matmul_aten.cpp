#include "stl_matmul_aten.hpp"
#include "error_message.hpp"

#include <torch/library.h>

#include "causal_basis.hpp"
#include "stl_args.hpp"
#include "stl_matmul_dense_equivalent.hpp"

namespace strassentile::torch_ops {
namespace {

// (..., S, K) → padded activation tiles (Mt·k, a·b) in compute dtype; row tile i covers rows i·a.. of one sequence.
at::Tensor activation_tiles(const at::Tensor& x, const StlDims& d) {
  const auto a = static_cast<int64_t>(d.tile.a), b = static_cast<int64_t>(d.tile.b);
  at::Tensor x3 = x.reshape({d.batch, d.seq, d.in_features}).to(d.compute_dtype);
  x3 = at::constant_pad_nd(x3, {0, d.k_tiles * b - d.in_features, 0, d.row_tiles * a - d.seq});
  return x3.view({d.batch, d.row_tiles, a, d.k_tiles, b}).permute({0, 1, 3, 2, 4}).reshape({-1, a * b});
}

// Inverse of activation_tiles for a gradient: (Mt·k, a·b) → x's shape, padding cropped.
at::Tensor untile_activation(const at::Tensor& tiles, const at::Tensor& x, const StlDims& d) {
  const auto a = static_cast<int64_t>(d.tile.a), b = static_cast<int64_t>(d.tile.b);
  at::Tensor full = tiles.view({d.batch, d.row_tiles, d.k_tiles, a, b}).permute({0, 1, 3, 2, 4})
                        .reshape({d.batch, d.row_tiles * a, d.k_tiles * b});
  return full.narrow(1, 0, d.seq).narrow(2, 0, d.in_features).reshape(x.sizes());
}

// Output tiles (a·c, Mt·n) → (B, S, N): row q = u·c + w of the tile, column (tile row, tile col).
at::Tensor untile_output(const at::Tensor& y_tiles, const StlDims& d) {
  const auto a = static_cast<int64_t>(d.tile.a), c = static_cast<int64_t>(d.tile.c);
  return y_tiles.view({a, c, d.batch, d.row_tiles, d.n_tiles}).permute({2, 3, 0, 4, 1})
      .reshape({d.batch, d.row_tiles * a, d.n_tiles * c})
      .narrow(1, 0, d.seq)
      .narrow(2, 0, d.out_features);
}

// dL/dY (..., S, N) → padded output tiles (a·c, Mt·n).
at::Tensor output_tiles(const at::Tensor& grad_y, const StlDims& d) {
  const auto a = static_cast<int64_t>(d.tile.a), c = static_cast<int64_t>(d.tile.c);
  at::Tensor g = grad_y.reshape({d.batch, d.seq, d.out_features}).to(d.compute_dtype);
  g = at::constant_pad_nd(g, {0, d.n_tiles * c - d.out_features, 0, d.row_tiles * a - d.seq});
  return g.view({d.batch, d.row_tiles, a, d.n_tiles, c}).permute({2, 4, 0, 1, 3}).reshape({a * c, -1});
}

}  // namespace

at::Tensor stl_matmul_aten(const StlArgs& args) { return stl_matmul_aten(args, stl_dims(args)); }

at::Tensor stl_matmul_aten(const StlArgs& args, const StlDims& d) {
  const at::Tensor &x = args.x, &w_hat = args.w_hat, &enc_x = args.enc_x, &dec = args.dec;
  const at::Tensor tiles = activation_tiles(x, d);  // (Mt·k, ab)
  const at::Tensor enc = enc_x.to(d.compute_dtype), dc = dec.to(d.compute_dtype), wh = w_hat.to(d.compute_dtype);
  at::Tensor y_tiles;  // (ac, Mt·n)
  if (d.mode == Mode::Causal) {
    const CausalSchedule s = causal_schedule(d, x.device());
    const at::Tensor x_hat =
        causal_encode(s.sorted(enc, 0), tiles, d, s).view({d.rank, d.total_row_tiles(), d.k_tiles});
    const at::Tensor z = at::bmm(x_hat, s.sorted(wh, 0));  // (r, Mt, n), products in level order
    y_tiles = causal_decode(s.sorted(dc, 1), z.view({d.rank, -1}), d, s);
  } else {
    const at::Tensor x_hat = at::matmul(enc, tiles.t()).view({d.rank, d.total_row_tiles(), d.k_tiles});  // (r, Mt·k)
    const at::Tensor z = at::bmm(x_hat, wh);                                                             // (r, Mt, n)
    y_tiles = at::matmul(dc, z.view({d.rank, -1}));
  }
  at::Tensor y = untile_output(y_tiles, d);
  if (args.has_bias()) y = y + args.bias->to(d.compute_dtype);
  // Contiguous, as the CUDA kernels' output and the Meta kernel's: without bias y is a view into the padded tiles.
  return y.reshape(output_shape(x, d)).to(x.scalar_type()).contiguous();
}

Gradients stl_matmul_backward_aten(const at::Tensor& grad_y, const StlArgs& args, Needs needs, const at::Tensor& /*kept*/) {
  return stl_matmul_backward_aten(grad_y, args, stl_dims(args), needs);
}

Gradients stl_matmul_backward_aten(const at::Tensor& grad_y, const StlArgs& args, const StlDims& d, Needs needs) {
  const at::Tensor &x = args.x, &w_hat = args.w_hat, &enc_x = args.enc_x, &dec = args.dec;
  const at::ScalarType ct = d.compute_dtype;
  const bool causal = d.mode == Mode::Causal;
  // Mode causal runs on the products in level order (the identity otherwise) and puts the gradients back.
  const CausalSchedule s = causal ? causal_schedule(d, x.device()) : CausalSchedule{};
  const at::Tensor enc = s.sorted(enc_x.to(ct), 0), dc = s.sorted(dec.to(ct), 1), wh = s.sorted(w_hat.to(ct), 0);
  const at::Tensor g_tiles = output_tiles(grad_y, d);  // (ac, Mt·n)
  const at::Tensor tiles = activation_tiles(x, d);      // (Mt·k, ab)
  const at::Tensor x_hat = (causal ? causal_encode(enc, tiles, d, s) : at::matmul(enc, tiles.t()))
                               .view({d.rank, d.total_row_tiles(), d.k_tiles});
  const at::Tensor grad_z = (causal ? causal_decode_transposed(dc, g_tiles, d, s) : at::matmul(dc.t(), g_tiles))
                                .view({d.rank, d.total_row_tiles(), d.n_tiles});

  // The masked basis entries never reached the output: their gradients are selected to zero (causal_enc_x,
  // causal_dec), whatever the full products computed there.
  at::Tensor grad_x, grad_w_hat, grad_enc_x, grad_dec, grad_bias;
  if (needs[3]) {
    const at::Tensor z = at::bmm(x_hat, wh);  // recomputed: cheaper in memory than saving it
    grad_dec = causal_dec(s.unsorted(at::matmul(g_tiles, z.view({d.rank, -1}).t()), 1), d).to(dec.scalar_type());
  }
  if (needs[1]) grad_w_hat = s.unsorted(at::bmm(x_hat.transpose(1, 2), grad_z), 0).to(w_hat.scalar_type());
  if (needs[0] || needs[2]) {
    const at::Tensor grad_x_hat = at::bmm(grad_z, wh.transpose(1, 2)).view({d.rank, -1});  // (r, Mt·k)
    if (needs[2])
      grad_enc_x = causal_enc_x(s.unsorted(at::matmul(grad_x_hat, tiles), 0), d).to(enc_x.scalar_type());
    if (needs[0]) {
      const at::Tensor grad_tiles =
          causal ? causal_encode_transposed(enc, grad_x_hat, d, s) : at::matmul(grad_x_hat.t(), enc);
      grad_x = untile_activation(grad_tiles, x, d).to(x.scalar_type()).contiguous();
    }
  }
  if (needs[4] && args.has_bias())
    grad_bias = grad_y.reshape({-1, d.out_features}).to(ct).sum(0).to(args.bias->scalar_type());
  return {grad_x, grad_w_hat, grad_enc_x, grad_dec, grad_bias};
}

at::Tensor encode_weight_aten(const at::Tensor& w, const at::Tensor& enc_w, at::IntArrayRef tile_arg) {
  const TileFormat t = parse_tile(tile_arg);
  const auto b = static_cast<int64_t>(t.b), c = static_cast<int64_t>(t.c);
  STL_CHECK(w.dim() == 2, "strassentile: encode_weight expects w as (in_features, out_features) = linear.weight.T, got ",
            w.sizes());
  STL_CHECK(w.sym_size(0) >= 1 && w.sym_size(1) >= 1, "strassentile: encode_weight: w is ", w.sym_sizes(),
            " but a layer needs in_features >= 1 and out_features >= 1 (w = linear.weight.T)");
  STL_CHECK(enc_w.dim() == 2 && enc_w.size(0) >= 1 && enc_w.size(1) == b * c, "strassentile: enc_w must be (rank, b*c) = (r, ",
            b * c, ") for tile ", t.to_string(), ", got ", enc_w.sizes());
  STL_CHECK(w.device() == enc_w.device(), "strassentile: enc_w is on ", enc_w.device(), " but w is on ", w.device());
  STL_CHECK(at::isFloatingType(w.scalar_type()) && at::isFloatingType(enc_w.scalar_type()),
            "strassentile: encode_weight needs floating tensors, got ", w.scalar_type(), " and ", enc_w.scalar_type());
  const at::ScalarType ct = (w.scalar_type() == at::kDouble || enc_w.scalar_type() == at::kDouble) ? at::kDouble : at::kFloat;
  // Symbolic sizes, so that FakeTensor and torch.compile with dynamic shapes trace it too.
  const c10::SymInt K = w.sym_size(0), N = w.sym_size(1), k = (K + b - 1) / b, n = (N + c - 1) / c;
  const at::Tensor wp = at::constant_pad_nd_symint(w.to(ct), {0, n * c - N, 0, k * b - K});
  const at::Tensor tiles = wp.view_symint({k, b, n, c}).permute({0, 2, 1, 3}).reshape_symint({k * n, b * c});  // (k·n, bc)
  return at::matmul(enc_w.to(ct), tiles.t()).view_symint({-1, k, n}).to(w.scalar_type());
}

namespace {

// The composition, or the dense equivalent where set_dense_equivalent("always") asks for it (no speed model here).
at::Tensor stl_matmul_composition(const StlArgs& args) {
  const StlDims d = stl_dims(args);
  return forward_as_dense(d, args.x, nullptr) ? stl_matmul_dense_equivalent(args, d) : stl_matmul_aten(args, d);
}

Gradients stl_matmul_backward_composition(const at::Tensor& grad_y, const StlArgs& args, Needs needs,
                                          const at::Tensor& /*kept*/) {
  const StlDims d = stl_dims(args);
  return backward_as_dense(d, args.x, needs, nullptr) ? stl_matmul_backward_dense_equivalent(grad_y, args, d, needs)
                                                      : stl_matmul_backward_aten(grad_y, args, d, needs);
}

void impl_composition(torch::Library& m) {
  m.impl("stl_matmul", &forward_kernel<&stl_matmul_composition>);
  m.impl("stl_matmul_backward", &backward_kernel<&stl_matmul_backward_composition>);
  m.impl("stl_matmul_keep", &forward_kernel<&keep_nothing<&stl_matmul_composition>>);
  m.impl("stl_matmul_backward_kept", &backward_kept_kernel<&stl_matmul_backward_composition>);
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, CPU, m) { impl_composition(m); }

// Without the kernels of src/cuda, CUDA tensors take the same composition (cuBLAS bmm underneath).
#ifndef STRASSENTILE_HAVE_CUDA_KERNELS
TORCH_LIBRARY_IMPL(strassentile, CUDA, m) { impl_composition(m); }
#endif

// encode_weight is built from differentiable ATen ops on symbolic sizes: autograd, every backend and
// torch.compile come for free.
TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) { m.impl("encode_weight", &encode_weight_aten); }

}  // namespace strassentile::torch_ops
