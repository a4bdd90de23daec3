// strassentile::build_info(): what this op library was built with, as a JSON object, so that a bug report or a
// test can tell which torch it was compiled against and whether (and for which GPUs) it carries the CUDA kernels.
#include <torch/library.h>
#include <torch/version.h>

#include <string>

#ifndef STRASSENTILE_VERSION
#error "src/torch/CMakeLists.txt defines STRASSENTILE_VERSION"
#endif
#ifndef STRASSENTILE_CUDA_ARCHS
#error "src/torch/CMakeLists.txt defines STRASSENTILE_CUDA_ARCHS"
#endif

namespace strassentile::torch_ops {
namespace {

#ifdef STRASSENTILE_HAVE_CUDA_KERNELS
constexpr bool cuda_kernels = true;
#else
constexpr bool cuda_kernels = false;
#endif

// Every value is a version or an architecture list from the build: digits, letters, '.', ';', '+', '-', never a
// character JSON would need escaped.
std::string build_info() {
  return std::string("{\"version\": \"") + STRASSENTILE_VERSION + "\", \"torch\": \"" + TORCH_VERSION +
         "\", \"cuda_kernels\": " + (cuda_kernels ? "true" : "false") + ", \"cuda_archs\": \"" +
         STRASSENTILE_CUDA_ARCHS + "\"}";
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) { m.impl("build_info", &build_info); }

}  // namespace strassentile::torch_ops
