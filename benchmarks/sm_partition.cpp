// SmPartition: two green contexts over disjoint SM groups, through the driver's entry points (the library does not
// link libcuda itself).
#include "sm_partition.hpp"

#include <stdexcept>
#include <string>

#include "check.hpp"         // src/cuda
#include "driver_entry.hpp"  // src/cuda

namespace strassentile::bench {
namespace {

template <class Fn>
Fn driver(const char* name) {
  const Fn fn = strassentile::cuda::detail::driver_function<Fn>(name);
  if (fn == nullptr)
    throw std::runtime_error(std::string("SmPartition: the driver has no ") + name +
                             " (green contexts need a driver for CUDA 12.5 or newer)");
  return fn;
}

void check(CUresult status, const char* what) {
  if (status != CUDA_SUCCESS)
    throw std::runtime_error(std::string("SmPartition: ") + what + " failed with CUresult " + std::to_string(status));
}

struct Api {
  CUresult (*device_get)(CUdevice*, int) = driver<decltype(device_get)>("cuDeviceGet");
  CUresult (*get_resource)(CUdevice, CUdevResource*, CUdevResourceType) =
      driver<decltype(get_resource)>("cuDeviceGetDevResource");
  CUresult (*split)(CUdevResource*, unsigned*, const CUdevResource*, CUdevResource*, unsigned, unsigned) =
      driver<decltype(split)>("cuDevSmResourceSplitByCount");
  CUresult (*make_desc)(CUdevResourceDesc*, CUdevResource*, unsigned) =
      driver<decltype(make_desc)>("cuDevResourceGenerateDesc");
  CUresult (*ctx_create)(CUgreenCtx*, CUdevResourceDesc, CUdevice, unsigned) =
      driver<decltype(ctx_create)>("cuGreenCtxCreate");
  CUresult (*ctx_destroy)(CUgreenCtx) = driver<decltype(ctx_destroy)>("cuGreenCtxDestroy");
  CUresult (*stream_create)(CUstream*, CUgreenCtx, unsigned, int) =
      driver<decltype(stream_create)>("cuGreenCtxStreamCreate");
  CUresult (*stream_destroy)(CUstream) = driver<decltype(stream_destroy)>("cuStreamDestroy");
};

const Api& api() {
  static const Api a;
  return a;
}

// One green context over `resource` with a non-blocking stream; destroyed in reverse order.
struct Group {
  CUgreenCtx ctx = nullptr;
  CUstream stream = nullptr;
  int sms = 0;

  Group(CUdevice dev, CUdevResource resource) : sms(static_cast<int>(resource.sm.smCount)) {
    CUdevResourceDesc desc = nullptr;
    check(api().make_desc(&desc, &resource, 1), "cuDevResourceGenerateDesc");
    check(api().ctx_create(&ctx, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM), "cuGreenCtxCreate");
    if (const CUresult status = api().stream_create(&stream, ctx, CU_STREAM_NON_BLOCKING, 0); status != CUDA_SUCCESS) {
      api().ctx_destroy(ctx);
      check(status, "cuGreenCtxStreamCreate");
    }
  }
  ~Group() {
    if (stream != nullptr) api().stream_destroy(stream);
    if (ctx != nullptr) api().ctx_destroy(ctx);
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
};

}  // namespace

struct SmPartition::Impl {
  std::unique_ptr<Group> gemm, codec;
};

SmPartition::SmPartition(int device, int gemm_sms) : impl_(std::make_unique<Impl>()) {
  if (gemm_sms < 1) throw std::invalid_argument("SmPartition: gemm_sms must be >= 1, got " + std::to_string(gemm_sms));
  strassentile::cuda::detail::check_cuda(cudaFree(nullptr), "cudaFree (initialising the runtime)");
  CUdevice dev = 0;
  check(api().device_get(&dev, device), "cuDeviceGet");
  CUdevResource all{};
  check(api().get_resource(dev, &all, CU_DEV_RESOURCE_TYPE_SM), "cuDeviceGetDevResource");
  if (static_cast<unsigned>(gemm_sms) >= all.sm.smCount)
    throw std::invalid_argument("SmPartition: gemm_sms " + std::to_string(gemm_sms) + " leaves none of the " +
                                std::to_string(all.sm.smCount) + " SMs for the encode/decode; ask for fewer");
  // The products get the split's one guaranteed group; encode/decode take the remainder, which needs no clusters.
  CUdevResource gemm_part{}, rest{};
  unsigned groups = 1;
  check(api().split(&gemm_part, &groups, &all, &rest, 0, static_cast<unsigned>(gemm_sms)),
        "cuDevSmResourceSplitByCount");
  if (groups != 1 || rest.sm.smCount == 0)
    throw std::runtime_error("SmPartition: the driver left no SMs beside " + std::to_string(gemm_part.sm.smCount) +
                             " for the products (asked for " + std::to_string(gemm_sms) + "); ask for fewer");
  impl_->gemm = std::make_unique<Group>(dev, gemm_part);
  impl_->codec = std::make_unique<Group>(dev, rest);
}

SmPartition::~SmPartition() = default;
SmPartition::SmPartition(SmPartition&&) noexcept = default;
SmPartition& SmPartition::operator=(SmPartition&&) noexcept = default;

cudaStream_t SmPartition::gemm_stream() const { return impl_->gemm->stream; }
cudaStream_t SmPartition::codec_stream() const { return impl_->codec->stream; }
int SmPartition::gemm_sms() const { return impl_->gemm->sms; }
int SmPartition::codec_sms() const { return impl_->codec->sms; }

}  // namespace strassentile::bench
