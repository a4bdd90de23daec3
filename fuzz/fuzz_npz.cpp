// libFuzzer harness for the AlphaTensor .npz loader (zip + .npy + restricted unpickler).
// Contract under test: any byte string either parses or raises FormatError; nothing else escapes,
// nothing crashes, leaks or reads out of bounds.
#include <cstddef>
#include <cstdint>

#include "strassentile/loaders.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto algorithms = strassentile::parse_alphatensor_npz({data, size}, "fuzz.npz");
    for (const auto& alg : algorithms)
      if (alg.tile.naive_rank() <= 64) (void)alg.verify();  // loaded algorithms must be usable
  } catch (const strassentile::FormatError&) {
  }
  return 0;
}
