// Test helper: writes .npy / .npz bytes (numeric arrays and NumPy-style pickled object arrays), so the
// loaders can be tested on synthetic and deliberately broken inputs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace strassentile::testing {

// .npy v1 of little-endian int64 values.
std::string npy_int64(const std::vector<std::size_t>& shape, const std::vector<std::int64_t>& values,
                      bool fortran_order = false);
// .npy v1 with an arbitrary header dict and body (for malformed inputs).
std::string npy_raw(const std::string& header_dict, const std::string& body);
// Pickle (protocol 3) of a 1-D object array holding 2-D int64 arrays, exactly as np.save writes it.
std::string pickle_object_array(const std::vector<std::pair<std::vector<std::size_t>, std::vector<std::int64_t>>>& arrays);
// .npy of such an object array.
std::string npy_object_array(const std::vector<std::pair<std::vector<std::size_t>, std::vector<std::int64_t>>>& arrays);
// A zip archive with the given (name, bytes) entries, stored or deflated.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries, bool compress = true);

}  // namespace strassentile::testing
