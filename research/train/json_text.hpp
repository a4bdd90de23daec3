// The small JSON writer of the training programs' result files: string quoting, numbers (non-finite as null),
// and an all-or-nothing file write (a run cut short never leaves half a file behind).
#pragma once

#include <cstdint>
#include <string>

namespace strassentile::train {

std::string json_quote(const std::string& s);
std::string json_number(double v);  // %.9g; NaN and infinities become null
std::string json_number(int64_t v);
// Writes `text` to `path` through a temporary file and a rename; errors name the option `what` (e.g. "--json").
void write_file_atomically(const std::string& path, const std::string& text, const std::string& what);

}  // namespace strassentile::train
