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
  const auto device_sms = [device] {
    int sms = 0;
    check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    return sms;
  };
  CUcontext ctx = nullptr;
  if (get_ctx == nullptr || get_resource == nullptr || get_ctx(stream, &ctx) != CUDA_SUCCESS || ctx == nullptr)
    return device_sms();
  // Every launch asks; only a context's first launch pays for the queries.
  const std::lock_guard<std::mutex> lock(mutex);
  auto found = sms_of_context.find(ctx);
  if (found == sms_of_context.end()) {
    const int all = device_sms();
    CUdevResource resource{};
    const bool known = get_resource(ctx, &resource, CU_DEV_RESOURCE_TYPE_SM) == CUDA_SUCCESS &&
                       resource.sm.smCount > 0 && static_cast<int>(resource.sm.smCount) <= all;
    found = sms_of_context.emplace(ctx, known ? static_cast<int>(resource.sm.smCount) : all).first;
  }
  return found->second;
}

}  // namespace strassentile::cuda::detail
