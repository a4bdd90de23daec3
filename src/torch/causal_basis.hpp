// Internal: mode causal (strassentile/causal.hpp) inside strassentile::stl_matmul, applied by SELECTION: a masked
// coefficient is never multiplied with anything. Multiplying by a 0/1 mask would not do: 0·Inf = NaN, so an Inf in
// a later row of a tile would turn the earlier rows' outputs into NaN, against "row u depends only on rows <= u"
// and against token-by-token decoding (STLLinear.forward_step), which never sees the later rows.
//
// The products are grouped by level: products of level ℓ read only the first (ℓ+1)·b columns of the row-major
// a·b tile vector, and output row u sums only the products of level <= u. Levels need not be sorted: the ATen
// composition runs on the products in level order (CausalSchedule::order) and puts the gradients back.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "stl_args.hpp"

namespace strassentile::torch_ops {

// enc_x with every masked entry (p, u·b + v), u > ℓ(p), set to zero by selection (at::where); unchanged for modes
// other than "causal". For the gradient of enc_x, and for kernels that read the whole basis.
at::Tensor causal_enc_x(const at::Tensor& enc_x, const StlDims& d);
// dec with every masked entry (u·c + w, p), u < ℓ(p), set to zero by selection; unchanged for other modes.
at::Tensor causal_dec(const at::Tensor& dec, const StlDims& d);

// ℓ(p) as int32 on `device`, for the CUDA kernels (cached: no host-to-device copy per call).
at::Tensor causal_levels_on(const StlDims& d, at::Device device);

// The products in level order: sorted position i holds product order[i]; level ℓ occupies positions
// [level_begin[ℓ], level_begin[ℓ+1]).
struct CausalSchedule {
  std::vector<int64_t> level_begin;  // a + 1 entries
  at::Tensor order;                  // int64 on the basis's device; undefined when the levels are already sorted
  at::Tensor inverse;                // product p sits at sorted position inverse[p]; undefined with order

  // Tensors indexed by product along `dim`, into level order and back.
  at::Tensor sorted(const at::Tensor& t, int64_t dim) const { return order.defined() ? t.index_select(dim, order) : t; }
  at::Tensor unsorted(const at::Tensor& t, int64_t dim) const {
    return inverse.defined() ? t.index_select(dim, inverse) : t;
  }
};
CausalSchedule causal_schedule(const StlDims& d, at::Device device);

// The four codec passes of the composition with the causal masks, on products in level order (enc (r, ab) and
// dec (ac, r) sorted by CausalSchedule::sorted). Each reads only unmasked coefficients and the inputs they meet.
// X̂ = E_X·tilesᵀ: tiles (T, ab) → (r, T).
at::Tensor causal_encode(const at::Tensor& enc, const at::Tensor& tiles, const StlDims& d, const CausalSchedule& s);
// Y tiles = D·Z: z (r, T) → (ac, T).
at::Tensor causal_decode(const at::Tensor& dec, const at::Tensor& z, const StlDims& d, const CausalSchedule& s);
// dZ = Dᵀ·dY tiles: g (ac, T) → (r, T).
at::Tensor causal_decode_transposed(const at::Tensor& dec, const at::Tensor& g, const StlDims& d,
                                    const CausalSchedule& s);
// d tiles = dX̂ᵀ·E_X: g (r, T) → (T, ab).
at::Tensor causal_encode_transposed(const at::Tensor& enc, const at::Tensor& g, const StlDims& d,
                                    const CausalSchedule& s);

}  // namespace strassentile::torch_ops
