// libFuzzer harness for one .npy entry (header parser, numeric decoder, restricted unpickler). The zip layer
// is libzip's and is not instrumented, so this harness is what reaches our pickle code deeply.
#include <cstddef>
#include <cstdint>

#include "ndarray.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto array = strassentile::detail::parse_npy({data, size}, "fuzz.npy");
    (void)array;
  } catch (const strassentile::FormatError&) {
  }
  return 0;
}
