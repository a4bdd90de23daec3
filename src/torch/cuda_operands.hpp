// Internal: what the CUDA-key implementations (stl_matmul_cuda.cpp, stl_mlp_cuda.cpp) share to call the
// torch-free kernels of src/cuda: tensors made contiguous and cast to what the kernels take, workspaces from the
// caching allocator, CUDA-layer errors turned into c10::Error, and the GEMM choice.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <exception>

#include "error_message.hpp"
#include "stl_args.hpp"
#include "strassentile/cuda/stl_cuda.hpp"

namespace strassentile::torch_ops {

// float64 has no kernels (nor tensor-core GEMMs): any float64 input keeps the ATen composition on CUDA, as do
// empty problems and tile sides or ranks beyond the kernels' int shape.
bool use_aten(const StlDims& d);

cuda::DType kernel_dtype(at::ScalarType t);
cuda::StlShape shape_of(const StlDims& d);

// A layer's parameters as the kernels take them. Storage is `dtype` (x's; the output's too, as in the ATen
// path); Ŵ is cast to it for the GEMM (fp32 weights with 16-bit activations, as under autocast); E_X and D are
// tiny and the kernels do their arithmetic in fp32 (their data in fp32; 1-D views where they were converted). Mode
// causal: the products' levels as int32 on the device, which the kernels select rows by (CodecLaunch::causal_levels);
// undefined for the other modes.
struct LayerOperands {
  cuda::StlShape shape;
  cuda::DType dtype;
  at::Tensor w_hat, enc_x, dec;
  at::Tensor causal_levels;
};
LayerOperands prepare_layer(const StlDims& d, at::ScalarType storage, const at::Tensor& w_hat, const at::Tensor& enc_x,
                            const at::Tensor& dec);
// x as rows × in_features, contiguous.
at::Tensor kernel_input(const at::Tensor& x, const cuda::StlShape& shape);

at::Tensor workspace(std::size_t bytes, const at::Tensor& like);
void* ptr_or_null(const at::Tensor& t);

// torch.use_deterministic_algorithms(True) asks for the same results on every run; the timed GEMM choice
// (GemmChoice::tuned) may pick other kernels in another process, so it then keeps cuBLAS's own choice.
cuda::GemmChoice gemm_choice();

// The CUDA layer reports errors as std exceptions; PyTorch users expect c10::Error (RuntimeError in Python).
template <class F>
void run_kernels(F&& f) {
  try {
    f();
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    STL_CHECK(false, "strassentile (CUDA): ", e.what());
  }
}

}  // namespace strassentile::torch_ops
