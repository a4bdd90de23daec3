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

bool launch_encode_mma(const EncodeParams& p, CoefLayout enc) { return run_encode_mma(p, enc); }
bool launch_decode_mma(const DecodeParams& p, CoefLayout dec) { return run_decode_mma(p, dec); }

}  // namespace strassentile::cuda::detail
