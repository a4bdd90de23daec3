// Internal: a value known only at run time turned into a template argument, for the launchers that instantiate one
// kernel per value (storage types, fused activations).
#pragma once

#include <type_traits>

namespace strassentile::cuda::detail {

// Calls f(std::integral_constant<E, v>{}) for the v among Values that equals `value` and returns true, or returns
// false when none does.
template <class E, E... Values, class F>
bool with_constant(E value, F&& f) {
  return ((value == Values ? (f(std::integral_constant<E, Values>{}), true) : false) || ...);
}

}  // namespace strassentile::cuda::detail
