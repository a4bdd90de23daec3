#include "causal_basis.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "strassentile/causal.hpp"

namespace strassentile::torch_ops {
namespace {

// Caches one small constant per key. Built on the CPU and copied once per (levels, shape, device): a fresh
// host-to-device copy on every call made the process wait for the GPU about six times per layer and step
// (measured: causal STL trained 25x slower than mode tile when processes shared a GPU). The cached tensors are
// never written to, so sharing them is safe.
template <class Key, class Value, class Make>
const Value& cached(const Key& key, Make make) {
  static std::mutex mutex;
  static std::map<Key, Value> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  if (auto hit = cache.find(key); hit != cache.end()) return hit->second;
  return cache.emplace(key, make()).first->second;
}

// Boolean keep-mask of shape (rows, cols) on `like`'s device: true where the causal masks let the entry through.
template <class Allowed>
at::Tensor keep_mask(const at::Tensor& like, char which, int64_t row_width, const std::vector<int64_t>& levels,
                     Allowed allowed) {
  using Key = std::tuple<char, int64_t, std::vector<int64_t>, int64_t, int64_t, std::string>;
  const Key key{which, row_width, levels, like.size(0), like.size(1), like.device().str()};
  return cached<Key, at::Tensor>(key, [&] {
    at::Tensor m = at::empty({like.size(0), like.size(1)}, at::kBool);
    auto acc = m.accessor<bool, 2>();
    for (int64_t i = 0; i < like.size(0); ++i)
      for (int64_t j = 0; j < like.size(1); ++j) acc[i][j] = allowed(i, j);
    return m.to(like.device());
  });
}

std::size_t level_of(const StlDims& d, int64_t p) {
  return static_cast<std::size_t>(d.levels[static_cast<std::size_t>(p)]);
}

}  // namespace

at::Tensor causal_enc_x(const at::Tensor& enc_x, const StlDims& d) {
  if (d.mode != Mode::Causal || !enc_x.defined()) return enc_x;
  const auto b = static_cast<int64_t>(d.tile.b);
  const at::Tensor keep = keep_mask(enc_x, 'x', b, d.levels, [&](int64_t p, int64_t q) {
    return causal_reads(level_of(d, p), static_cast<std::size_t>(q / b));
  });
  return at::where(keep, enc_x, 0);
}

at::Tensor causal_dec(const at::Tensor& dec, const StlDims& d) {
  if (d.mode != Mode::Causal || !dec.defined()) return dec;
  const auto c = static_cast<int64_t>(d.tile.c);
  const at::Tensor keep = keep_mask(dec, 'd', c, d.levels, [&](int64_t q, int64_t p) {
    return causal_writes(level_of(d, p), static_cast<std::size_t>(q / c));
  });
  return at::where(keep, dec, 0);
}

at::Tensor causal_levels_on(const StlDims& d, at::Device device) {
  using Key = std::tuple<std::vector<int64_t>, std::string>;
  return cached<Key, at::Tensor>(Key{d.levels, device.str()}, [&] {
    return at::tensor(d.levels, at::kLong).to(at::kInt).to(device);
  });
}

CausalSchedule causal_schedule(const StlDims& d, at::Device device) {
  using Key = std::tuple<std::vector<int64_t>, int64_t, std::string>;
  const auto a = static_cast<int64_t>(d.tile.a);
  return cached<Key, CausalSchedule>(Key{d.levels, a, device.str()}, [&] {
    CausalSchedule s;
    s.level_begin.assign(static_cast<std::size_t>(a + 1), 0);
    for (const int64_t l : d.levels) ++s.level_begin[static_cast<std::size_t>(l + 1)];
    std::partial_sum(s.level_begin.begin(), s.level_begin.end(), s.level_begin.begin());
    if (!std::is_sorted(d.levels.begin(), d.levels.end())) {
      std::vector<int64_t> order(d.levels.size());
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t p, int64_t q) { return level_of(d, p) < level_of(d, q); });
      std::vector<int64_t> inverse(order.size());
      for (std::size_t i = 0; i < order.size(); ++i)
        inverse[static_cast<std::size_t>(order[i])] = static_cast<int64_t>(i);
      s.order = at::tensor(order, at::kLong).to(device);
      s.inverse = at::tensor(inverse, at::kLong).to(device);
    }
    return s;
  });
}

at::Tensor causal_encode(const at::Tensor& enc, const at::Tensor& tiles, const StlDims& d, const CausalSchedule& s) {
  const auto a = static_cast<int64_t>(d.tile.a), b = static_cast<int64_t>(d.tile.b);
  at::Tensor x_hat = at::empty({d.rank, tiles.size(0)}, tiles.options());
  for (int64_t l = 0; l < a; ++l) {
    const int64_t first = s.level_begin[l], count = s.level_begin[l + 1] - first, width = (l + 1) * b;
    if (count == 0) continue;
    at::Tensor rows = x_hat.narrow(0, first, count);
    at::mm_out(rows, enc.narrow(0, first, count).narrow(1, 0, width),
               tiles.narrow(1, 0, width).t());
  }
  return x_hat;
}

at::Tensor causal_decode(const at::Tensor& dec, const at::Tensor& z, const StlDims& d, const CausalSchedule& s) {
  const auto a = static_cast<int64_t>(d.tile.a), c = static_cast<int64_t>(d.tile.c);
  at::Tensor y = at::empty({a * c, z.size(1)}, z.options());
  for (int64_t u = 0; u < a; ++u) {
    const int64_t feeding = s.level_begin[u + 1];  // products of level <= u
    at::Tensor rows = y.narrow(0, u * c, c);
    if (feeding == 0)
      rows.zero_();
    else
      at::mm_out(rows, dec.narrow(0, u * c, c).narrow(1, 0, feeding), z.narrow(0, 0, feeding));
  }
  return y;
}

at::Tensor causal_decode_transposed(const at::Tensor& dec, const at::Tensor& g, const StlDims& d,
                                    const CausalSchedule& s) {
  const auto a = static_cast<int64_t>(d.tile.a), c = static_cast<int64_t>(d.tile.c);
  at::Tensor grad_z = at::empty({d.rank, g.size(1)}, g.options());
  for (int64_t l = 0; l < a; ++l) {
    const int64_t first = s.level_begin[l], count = s.level_begin[l + 1] - first, written = (a - l) * c;
    if (count == 0) continue;
    at::Tensor rows = grad_z.narrow(0, first, count);
    at::mm_out(rows, dec.narrow(0, l * c, written).narrow(1, first, count).t(),
               g.narrow(0, l * c, written));
  }
  return grad_z;
}

at::Tensor causal_encode_transposed(const at::Tensor& enc, const at::Tensor& g, const StlDims& d,
                                    const CausalSchedule& s) {
  const auto a = static_cast<int64_t>(d.tile.a), b = static_cast<int64_t>(d.tile.b);
  // Products of level ℓ write tile rows <= ℓ, the first (ℓ+1)·b columns: accumulated there, level by level.
  at::Tensor grad_tiles = at::zeros({g.size(1), a * b}, g.options());
  for (int64_t l = 0; l < a; ++l) {
    const int64_t first = s.level_begin[l], count = s.level_begin[l + 1] - first, width = (l + 1) * b;
    if (count == 0) continue;
    grad_tiles.narrow(1, 0, width)
        .addmm_(g.narrow(0, first, count).t(), enc.narrow(0, first, count).narrow(1, 0, width));
  }
  return grad_tiles;
}

}  // namespace strassentile::torch_ops
