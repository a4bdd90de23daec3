// The speed model's ops (strassentile::gpu_spec, predict_speed): the core's GpuSpec and predict_speed
// (strassentile/cost_model.hpp) for Python, so that convert(min_speedup=...) in both languages runs one model.
// A GPU travels as the float list [matmul_flops, matmul_flops_f32, bandwidth, launch_seconds, gemm_half_inner].
#include <ATen/ATen.h>
#include <torch/library.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "error_message.hpp"
#include "stl_args.hpp"
#include "strassentile/cost_model.hpp"

namespace strassentile::torch_ops {
namespace {

std::vector<double> to_list(const GpuSpec& gpu) {
  return {gpu.matmul_flops, gpu.matmul_flops_f32, gpu.bandwidth, gpu.launch_seconds, gpu.gemm_half_inner,
          gpu.fused_forward ? 1.0 : 0.0};
}

// Five numbers, or six with fused_forward (0 or 1) last.
GpuSpec from_list(at::ArrayRef<double> values) {
  STL_CHECK(values.size() == 5 || values.size() == 6, "strassentile: a GPU description is [matmul_flops, "
            "matmul_flops_f32, bandwidth, launch_seconds, gemm_half_inner(, fused_forward)], got ", values.size(),
            " values");
  GpuSpec gpu;
  gpu.matmul_flops = values[0];
  gpu.matmul_flops_f32 = values[1];
  gpu.bandwidth = values[2];
  gpu.launch_seconds = values[3];
  gpu.gemm_half_inner = values[4];
  gpu.fused_forward = values.size() == 6 && values[5] != 0.0;
  return gpu;
}

// (the description as a list, its name, whether it is scaled from another GPU rather than known).
std::tuple<std::vector<double>, std::string, bool> gpu_spec_op(std::string_view name, int64_t sm_count,
                                                               double clock_hz) {
  STL_CHECK(sm_count >= 1, "strassentile: gpu_spec needs sm_count >= 1 (the GPU's multiprocessor count), got ",
            sm_count);
  const GpuSpec gpu = gpu_spec(std::string(name), static_cast<std::size_t>(sm_count), clock_hz);
  return {to_list(gpu), gpu.name, gpu.guessed};
}

// [dense_seconds, stl_seconds] of one call on `gpu` as the op runs it (predict_op_speed: one-row tiles take their
// dense equivalent pass by pass where it is faster); learn_basis, keep, lean and keep_z as BackwardSetup's.
std::vector<double> predict_speed_op(int64_t m, int64_t k, int64_t n, at::IntArrayRef tile, int64_t rank,
                                     at::ArrayRef<double> gpu, int64_t bytes_per_element, bool training,
                                     std::string_view mode, bool learn_basis, bool keep, bool lean,
                                     bool keep_z) {
  parse_mode(mode);  // throws with the list of modes
  STL_CHECK(m >= 1 && k >= 1 && n >= 1 && rank >= 1 && bytes_per_element >= 1,
            "strassentile: predict_speed needs m, k, n, rank and bytes_per_element >= 1");
  try {
    const SpeedEstimate e =
        predict_op_speed({static_cast<std::size_t>(m), static_cast<std::size_t>(k), static_cast<std::size_t>(n)},
                         parse_tile(tile), static_cast<std::size_t>(rank), from_list(gpu),
                         static_cast<std::size_t>(bytes_per_element), training, mode == "causal",
                         BackwardSetup{learn_basis, keep, lean, keep_z});
    return {e.dense_seconds, e.stl_seconds};
  } catch (const std::invalid_argument& e) {
    STL_CHECK(false, "strassentile: ", e.what());
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(strassentile, CompositeImplicitAutograd, m) {
  m.impl("gpu_spec", &gpu_spec_op);
  m.impl("predict_speed", &predict_speed_op);
}

}  // namespace strassentile::torch_ops
