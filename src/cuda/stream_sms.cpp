// stream_sm_count: the SMs that kernels launched on a stream may run on (see launchers.hpp).
#include "driver_entry.hpp"  // the two driver functions, without linking libcuda
#include "launchers.hpp"

namespace strassentile::cuda::detail {
namespace {

using StreamGetCtx = CUresult (*)(CUstream, CUcontext*);
using CtxGetDevResource = CUresult (*)(CUcontext, CUdevResource*, CUdevResourceType);

}  // namespace

int stream_sm_count(cudaStream_t stream, int device) {
  static const auto get_ctx = driver_function<StreamGetCtx>("cuStreamGetCtx");
  static const auto get_resource = driver_function<CtxGetDevResource>("cuCtxGetDevResource");
  int device_sms = 0;
  check_cuda(cudaDeviceGetAttribute(&device_sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  // Asked on every launch, not cached by context: a destroyed green context's handle may be reused by one with
  // a different SM count. Both calls only read the driver's state (well under a microsecond).
  CUcontext ctx = nullptr;
  if (get_ctx == nullptr || get_resource == nullptr || get_ctx(stream, &ctx) != CUDA_SUCCESS || ctx == nullptr)
    return device_sms;
  CUdevResource resource{};
  const bool known = get_resource(ctx, &resource, CU_DEV_RESOURCE_TYPE_SM) == CUDA_SUCCESS &&
                     resource.sm.smCount > 0 && static_cast<int>(resource.sm.smCount) <= device_sms;
  return known ? static_cast<int>(resource.sm.smCount) : device_sms;
}

}  // namespace strassentile::cuda::detail
