// Internal: driver API functions through the runtime's entry-point query, so that nothing here links libcuda.
#pragma once

#include <cuda.h>
#include <cuda_runtime_api.h>

namespace strassentile::cuda::detail {

// The driver function `name`, typed Fn, with the ABI of the headers this was compiled against (a newer driver still
// serves it); null when the driver lacks it.
template <class Fn>
Fn driver_function(const char* name) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  if (cudaGetDriverEntryPointByVersion(name, &fn, CUDA_VERSION, cudaEnableDefault, &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess)
    return nullptr;
  return reinterpret_cast<Fn>(fn);
}

}  // namespace strassentile::cuda::detail
