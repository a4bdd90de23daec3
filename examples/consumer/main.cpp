// Looks up Strassen's algorithm and the vendored <4,4,4>:48 one through an installed strassentile, checks both
// against the matrix-multiplication tensor, and exits 1 if either is not exact.
#include <cstdio>

#include "strassentile/algorithm.hpp"

int main() {
  strassentile::set_data_dir(STRASSENTILE_FMM_DIR);  // the installed data, from find_package
  int failed = 0;
  for (const char* name : {"strassen", "dps-4x4x4-48"}) {
    const strassentile::Algorithm alg = strassentile::get(name);
    const double error = alg.verify();
    std::printf("%s: %s rank %zu, error %.1e\n", alg.name.c_str(), alg.tile.to_string().c_str(), alg.rank(),
                error);
    if (error > 1e-12) ++failed;
  }
  return failed == 0 ? 0 : 1;
}
