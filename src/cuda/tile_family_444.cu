// Specialised encode <4,4> and decode <4,4> kernels for the <4,4,4> family: CUDA-core, and the bf16
// tensor-core ones (codec_mma.cuh). One file per family so that builds
// parallelise.
// The backward pass runs the same kernels with transposed coefficients (launchers.hpp).
#include "codec_mma.cuh"
#include "decode_launch.cuh"
#include "encode_kernel.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_fast<4, 4>(const EncodeParams&, CoefLayout);
template void launch_decode_fast<4, 4>(const DecodeParams&, CoefLayout);

// bf16 here, fp16 in codec_mma_f16.cu (the two sets of instantiations compile in parallel).
bool launch_encode_mma(const EncodeParams& p, CoefLayout enc) {
  return p.dtype == DType::f16 ? launch_encode_mma_f16(p, enc) : run_encode_mma<__nv_bfloat16>(p, enc);
}
bool launch_decode_mma(const DecodeParams& p, CoefLayout dec) {
  return p.dtype == DType::f16 ? launch_decode_mma_f16(p, dec) : run_decode_mma<__nv_bfloat16>(p, dec);
}

}  // namespace strassentile::cuda::detail
