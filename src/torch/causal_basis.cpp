#include "causal_basis.hpp"

#include "strassentile/causal.hpp"

namespace strassentile::torch_ops {
namespace {

// 0/1 mask of shape (rows, cols) built on the CPU (it is tiny) and moved to `like`'s device and dtype.
template <class Allowed>
at::Tensor mask_like(const at::Tensor& like, Allowed allowed) {
  at::Tensor m = at::empty({like.size(0), like.size(1)}, at::kFloat);
  auto acc = m.accessor<float, 2>();
  for (int64_t i = 0; i < like.size(0); ++i)
    for (int64_t j = 0; j < like.size(1); ++j) acc[i][j] = allowed(i, j) ? 1.0f : 0.0f;
  return m.to(like.device(), like.scalar_type());
}

}  // namespace

at::Tensor causal_enc_x(const at::Tensor& enc_x, const StlDims& d) {
  if (d.mode != Mode::Causal || !enc_x.defined()) return enc_x;
  const auto b = static_cast<int64_t>(d.tile.b);
  return enc_x * mask_like(enc_x, [&](int64_t p, int64_t q) {
           return causal_reads(static_cast<std::size_t>(d.levels[static_cast<std::size_t>(p)]), static_cast<std::size_t>(q / b));
         });
}

at::Tensor causal_dec(const at::Tensor& dec, const StlDims& d) {
  if (d.mode != Mode::Causal || !dec.defined()) return dec;
  const auto c = static_cast<int64_t>(d.tile.c);
  return dec * mask_like(dec, [&](int64_t q, int64_t p) {
           return causal_writes(static_cast<std::size_t>(d.levels[static_cast<std::size_t>(p)]), static_cast<std::size_t>(q / c));
         });
}

}  // namespace strassentile::torch_ops
