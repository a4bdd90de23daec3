// libFuzzer harness for the .sms sparse-matrix reader. Any input parses or raises FormatError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "strassentile/loaders.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto m = strassentile::parse_sms(std::string(reinterpret_cast<const char*>(data), size), "fuzz.sms");
    (void)m;
  } catch (const strassentile::FormatError&) {
  }
  return 0;
}
