// stream_sm_count: the SMs that kernels launched on a stream may run on (see launchers.hpp).
#include <map>
#include <mutex>

#include "driver_entry.hpp"  // the two driver functions, without linking libcuda
#include "launchers.hpp"

namespace strassentile::cuda::detail {
namespace {

using StreamGetCtx = CUresult (*)(CUstream, CUcontext*);
using CtxGetDevResource = CUresult (*)(CUcontext, CUdevResource*, CUdevResourceType);

}  // namespace

int stream_sm_count(cudaStream_t stream, int device) {
  static std::mutex mutex;
  static std::map<CUcontext, int> sms_of_context;
  static const auto get_ctx = driver_function<StreamGetCtx>("cuStreamGetCtx");
  static const auto get_resource = driver_function<CtxGetDevResource>("cuCtxGetDevResource");
  int device_sms = 0;
  check_cuda(cudaDeviceGetAttribute(&device_sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  CUcontext ctx = nullptr;
  if (get_ctx == nullptr || get_resource == nullptr || get_ctx(stream, &ctx) != CUDA_SUCCESS || ctx == nullptr)
    return device_sms;
  const std::lock_guard<std::mutex> lock(mutex);
  auto found = sms_of_context.find(ctx);
  if (found == sms_of_context.end()) {
    CUdevResource resource{};
    const bool known = get_resource(ctx, &resource, CU_DEV_RESOURCE_TYPE_SM) == CUDA_SUCCESS &&
                       resource.sm.smCount > 0 && static_cast<int>(resource.sm.smCount) <= device_sms;
    found = sms_of_context.emplace(ctx, known ? static_cast<int>(resource.sm.smCount) : device_sms).first;
  }
  return found->second;
}

}  // namespace strassentile::cuda::detail
