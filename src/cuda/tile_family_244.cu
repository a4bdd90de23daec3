// Specialised encode <2,4> and decode <2,4> kernels for the <2,4,4> family (one file per family so
// builds parallelise).
// The backward pass runs the same kernels with transposed coefficients (launchers.hpp).
#include "decode_launch.cuh"
#include "encode_kernel.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_fast<2, 4>(const EncodeParams&, CoefLayout);
template void launch_decode_fast<2, 4>(const DecodeParams&, CoefLayout);

}  // namespace strassentile::cuda::detail
