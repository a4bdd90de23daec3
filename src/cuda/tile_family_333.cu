// Specialised encode <3,3> and decode <3,3> kernels for the <3,3,3> family (one file per family so
// builds parallelise).
// The backward pass runs the same kernels with transposed coefficients (launchers.hpp).
#include "decode_launch.cuh"
#include "encode_kernel.cuh"

namespace strassentile::cuda::detail {

template void launch_encode_fast<3, 3>(const EncodeParams&, CoefLayout);
template void launch_decode_fast<3, 3>(const DecodeParams&, CoefLayout);

}  // namespace strassentile::cuda::detail
